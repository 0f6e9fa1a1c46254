"""The losses of one teacher step and one student step (the recipe of PF-AFN's training).

Both take a batch from ``data.VitonDataset`` (already on the device) and return
``(loss, parts, visuals)``: the scalar to minimise, a dict of detached scalar tensors to
log (left on the device: reading them forces a synchronisation), and a dict
of (N,C,H,W) images for the sample sheet. ``stage`` is ``"warp"`` (warp module only, as
the official first stage) or ``"e2e"`` (warp module and generator together).
"""

from typing import Dict, Optional, Tuple

import torch

from . import losses as L
from . import old_garment
from .data import on_app_background
from .person import garment_mask, teacher_cond, teacher_gen_input
from .tutor import make_fakes
from .warp import WarpOutput, warp_forward

STAGES = ("warp", "e2e")


def _garment_targets(batch):
    region = garment_mask(batch["parse"])  # the person's upper garment (parse 5, 6, 7)
    return region, batch["person"] * region


def teacher_step(warp, gen, batch: Dict[str, torch.Tensor], w: L.LossWeights, stage: str = "e2e") -> Tuple[torch.Tensor, Dict, Dict]:
    """PB-AFN on a real pair: reconstruct the person in their own garment from the
    parse/pose representation (which hides the garment) and the garment photo."""
    parts: Dict[str, torch.Tensor] = {}
    region, person_clothes = _garment_targets(batch)
    edge = batch["cloth_mask"]
    clothes = batch["cloth"] * edge
    cond = teacher_cond(batch["parse"], batch["pose"])
    out = warp_forward(warp, cond, clothes, edge)
    loss_warp = L.warp_loss(out, person_clothes, region, w, parts)
    visuals = {"person": batch["person"], "garment": clothes, "target": person_clothes, "warped": out.warped}
    if stage == "warp":
        parts["warp"] = loss_warp.detach()
        return loss_warp, parts, visuals
    gen_in = teacher_gen_input(batch["person"], batch["parse"], batch["pose"], out.warped, out.warped_edge, covered=region)
    rendered, mask, tryon = L.composite(gen(gen_in), out.warped, out.warped_edge, region)
    loss_gen = L.generator_loss(tryon, rendered, mask, batch["person"], w, parts)
    parts["warp"] = loss_warp.detach()
    parts["gen"] = loss_gen.detach()
    visuals.update({"kept": gen_in[:, 0:3], "rendered": rendered, "tryon": tryon})
    return w.teacher_warp * loss_warp + loss_gen, parts, visuals


def student_step(
    warp,
    gen,
    batch: Dict[str, torch.Tensor],
    w: L.LossWeights,
    stage: str = "e2e",
    teacher: Optional[Tuple[torch.nn.Module, torch.nn.Module]] = None,
    adapters: Optional[L.FeatureAdapters] = None,
) -> Tuple[torch.Tensor, Dict, Dict]:
    """PF-AFN: from the tutor's fake (person in G') and garment G, reproduce the real photo.

    The fake comes from the batch (``fake``/``fake_edge``, a cache) or is made now by
    ``teacher`` from ``cloth_un``, with an old garment painted in where the batch asks for one
    (``old_garment``); with a ``matte`` in the batch it is put on the app's
    background as the photo was (``data.VitonDataset``). With a teacher, its warp of G from the parse/pose
    representation is distilled into the student (features and flows), weighted per
    sample where the teacher's warp error is lower than the student's.
    """
    parts: Dict[str, torch.Tensor] = {}
    region, person_clothes = _garment_targets(batch)
    if "fake" in batch:
        fake, fake_edge = batch["fake"], batch["fake_edge"]
    elif teacher is not None:
        fake, fake_edge = make_fakes(teacher[0], teacher[1], batch)
    else:
        raise ValueError("the student needs fakes: a fake cache or a teacher to make them")
    if "old_garment" in batch:
        fake, fake_edge = old_garment.paint(fake, fake_edge, batch)
    fake_orig = None
    if w.consistency > 0 and "person_orig" in batch:
        # The fake of the photo as it was: a cached fake was made from it; the tutor dresses it now.
        fake_orig = fake if "fake" in batch else make_fakes(teacher[0], teacher[1], batch, person="person_orig")[0]
    if "matte" in batch:
        # The person was put on the app's background by the app's matte (the target too): the
        # fake goes there the same way, keeping the new garment where it reaches past the matte
        # but not past the photo's edge.
        fake = on_app_background(fake, torch.maximum(batch["matte"], fake_edge) * batch["frame"])
    edge = batch["cloth_mask"]
    clothes = batch["cloth"] * edge
    out = warp_forward(warp, fake, clothes, edge)
    loss_warp = L.warp_loss(out, person_clothes, region, w, parts)

    use_kd = teacher is not None and (w.kd_feature > 0 or w.kd_flow > 0)
    if use_kd:
        with torch.no_grad():
            t_out: WarpOutput = warp_forward(teacher[0], teacher_cond(batch["parse"], batch["pose"]), clothes, edge)
        weight = L.kd_weights(t_out, out, person_clothes)
        loss_warp = loss_warp + L.distillation_loss(out, t_out, weight, w, parts, adapters)

    visuals = {"real": batch["person"], "fake": fake, "garment": clothes, "warped": out.warped}
    if stage == "warp":
        parts["warp"] = loss_warp.detach()
        return loss_warp, parts, visuals
    gen_in = torch.cat([fake, out.warped, out.warped_edge], dim=1)
    gen_out = gen(gen_in)
    rendered, mask, tryon = L.composite(gen_out, out.warped, out.warped_edge, region)
    # Skin: where the fake's garment was but the real garment is not (arms to restore).
    skin = L.skin_region(fake_edge, region)
    loss_gen = L.generator_loss(tryon, rendered, mask, batch["person"], w, parts, skin=skin)
    parts["warp"] = loss_warp.detach()
    parts["gen"] = loss_gen.detach()
    visuals.update({"rendered": rendered, "tryon": tryon})
    total = w.student_warp * loss_warp + loss_gen
    if fake_orig is not None:
        loss_c = consistency_loss(warp, gen, batch, fake_orig, clothes, edge, out, gen_out, parts)
        if loss_c is not None:
            total = total + w.consistency * loss_c
    return total, parts, visuals


def consistency_loss(warp, gen, batch, fake_orig, clothes, edge, out: WarpOutput, gen_out, parts) -> Optional[torch.Tensor]:
    """How far the student's try-on of the app's input (the person on the app's background,
    maybe cut by the photo's edge) is from its own try-on of the photo as it was, inside the
    person and the photo: L1 plus 1 - SSIM of the try-ons as the app composes them (no real
    garment region), and L1 of the warped garments. The photo-as-it-was side is a fixed target
    (no gradient): the network learns to dress a person the same whatever was around them,
    as the app's "in the wild" measure (b) asks. None when no sample of the batch was changed."""
    changed = (batch["matte"] < 1.0).flatten(1).any(1)
    if not bool(changed.any()):
        return None
    with torch.no_grad():
        o = warp_forward(warp, fake_orig[changed], clothes[changed], edge[changed])
        _, _, target = L.composite(gen(torch.cat([fake_orig[changed], o.warped, o.warped_edge], dim=1)), o.warped, o.warped_edge)
    _, _, tryon = L.composite(gen_out[changed], out.warped[changed], out.warped_edge[changed])
    inside = (batch["parse"][changed] > 0).unsqueeze(1).to(tryon.dtype) * batch["frame"][changed]
    frame = batch["frame"][changed]
    target = target.to(tryon.dtype)
    l1 = ((tryon - target).abs() * inside).sum() / (3.0 * inside.sum()).clamp(min=1.0)
    ssim = L.perceptual_loss(tryon * inside, target * inside)
    warped = ((out.warped[changed] - o.warped.to(tryon.dtype)).abs() * frame).mean()
    parts["consistency_l1"] = l1.detach()
    parts["consistency_ssim"] = 1.0 - ssim.detach()
    return l1 + ssim + warped
