"""Training pipeline of Fitting Room's PF-AFN models (teacher -> tutor -> student).

Modules:

* ``data``: VITON in the CP-VTON layout, read from a folder or from a packed ``.zip``
  archive (``pack_data.py``); augmentation; the dataset the trainers use.
* ``person``: the parser-based teacher's person representation (masks, coarse body
  shape, arm region, pose heatmaps) built from the human parse and the pose.
* ``warp``: a training forward pass through ``pfafn.AFWM`` that also returns the
  per-level warps, flows, offsets and person features the losses need.
* ``losses``: SSIM (the perceptual term; there are no VGG19 weights), flow smoothness,
  multi-scale warp losses, the generator losses and adjustable knowledge distillation.
* ``nets``: width presets, building teacher and student networks, checkpoints.
* ``tutor``: the teacher dressing persons in other garments, and the cache of those fakes.
* ``steps``: one optimisation step of the teacher or the student (loss computation).
* ``loop``: the resumable, time-budgeted training loop used by ``train.py``.
* ``synthetic``: a tiny synthetic VITON-layout folder for tests and dry runs.

The networks themselves are ``pfafn.AFWM`` and ``pfafn.ResUnetGenerator`` (the
inference reference), so trained students export with the official key names.
"""
