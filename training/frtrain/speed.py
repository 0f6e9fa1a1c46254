"""Machine settings of a training step (measured by ``training/recipe_bench.py``)."""

from typing import Dict

import torch


def apply_cpu_recipe(mkldnn: bool) -> None:
    """oneDNN convolutions on or off for this process.

    oneDNN prepares each new convolution shape once (seconds), then runs faster; training
    repeats the same shapes every step, while one-off inference on many sizes does not.
    bfloat16 convolutions on a CPU need it (without it they take a slow reference path).
    """
    torch.backends.mkldnn.enabled = mkldnn


def channels_last_batch(batch: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """The batch's 4-d tensors in channels-last memory format (values unchanged)."""
    return {k: v.contiguous(memory_format=torch.channels_last) if torch.is_tensor(v) and v.dim() == 4 else v for k, v in batch.items()}
