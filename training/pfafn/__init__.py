"""PyTorch reference implementation of PF-AFN inference (Ge et al., CVPR 2021).

The modules here reproduce the official test-time network with the official
state-dict key names, so official checkpoints load unchanged, while allowing
reduced widths for small student models. Everything the Rust engine computes is
defined here first; `training/make_fixtures.py` turns it into parity fixtures.
"""

from .afwm import AFWM
from .generator import ResUnetGenerator
from .tryon import tryon

__all__ = ["AFWM", "ResUnetGenerator", "tryon"]
