"""Reproducibility: one call seeds every random number generator the course uses."""
from __future__ import annotations

import os
import random

import numpy as np
import torch


def seed_everything(seed: int = 0, *, deterministic: bool = True) -> int:
    """Seed Python's, NumPy's and PyTorch's generators (CPU and every GPU).

    With ``deterministic=True`` PyTorch is also asked for deterministic
    algorithms where they exist (``warn_only``, so an operation without one
    still runs), which makes two CPU runs with the same seed bitwise identical.
    Returns the seed, so a notebook can print what it used.
    """
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed_everything: expected an int seed, got {type(seed).__name__}")
    if not 0 <= seed < 2**32:
        raise ValueError(f"seed_everything: expected 0 <= seed < 2**32, got {seed}")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    return seed
