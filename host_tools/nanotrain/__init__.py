"""nanotrain: the trainer behind host_tools/train.py (tape autodiff on numpy, AdamW, L-BFGS, BPE).

Importing the package installs the operator sugar of autodiff.Tensor (ops.py)."""
from . import ops  # noqa: F401
