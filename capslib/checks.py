"""Checks at capslib's public boundary: what a function expected, and what it got.

Every public function of :mod:`capslib.functional` and the layers of
:mod:`capslib.nn` check their inputs with these helpers and say, in one line,
what they expected and what they got, e.g. ``squash: expected s to be a
floating tensor (float32, float64, float16 or bfloat16), got shape (3,) of
dtype int64``.  These checks read shapes, dtypes and settings only; the checks
that read tensor *values* (a host sync on a GPU) are switched by
:class:`capslib.functional.value_checks`.
"""

from __future__ import annotations

import math

from torch import Tensor


def _describe(x: Tensor) -> str:
    return f"shape {tuple(x.shape)} of dtype {str(x.dtype).replace('torch.', '')}"


def _require_tensor(x, fn: str, name: str) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(
            f"{fn}: expected {name} to be a torch.Tensor, got {type(x).__name__}"
        )


def _require_floating(x: Tensor, fn: str, name: str) -> None:
    _require_tensor(x, fn, name)
    if not x.is_floating_point():
        raise TypeError(
            f"{fn}: expected {name} to be a floating tensor (float32, float64, float16 or "
            f"bfloat16), got {_describe(x)}; convert it with {name}.float()"
        )


def _require_number(
    value, fn: str, name: str, *, low: float, high: float = math.inf, low_open=False
) -> None:
    """A hyper-parameter: a real number in ``[low, high]`` (``(low, high]`` with ``low_open``)."""
    ok = (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and (value > low if low_open else value >= low)
        and value <= high
    )
    if not ok:
        bracket = "(" if low_open else "["
        raise ValueError(
            f"{fn}: expected {name} a finite number in {bracket}{low:g}, {high:g}], got {value!r}"
        )


def _require_nonempty(batch: int, fn: str) -> None:
    if batch == 0:
        raise ValueError(
            f"{fn}: expected a batch of at least one example, got an empty batch (0 examples); "
            "a loss averaged over no examples is undefined (drop empty batches before the loss)"
        )


def _check_dim(x: Tensor, dim: int, fn: str, name: str) -> int:
    if isinstance(dim, bool) or not isinstance(dim, int):
        raise TypeError(f"{fn}: expected dim to be an int, got {type(dim).__name__}")
    if x.dim() == 0:
        raise ValueError(
            f"{fn}: expected {name} with a capsule dimension (at least 1-D), got {_describe(x)}"
        )
    if not -x.dim() <= dim < x.dim():
        raise ValueError(
            f"{fn}: dim={dim} is out of range for {name} of {_describe(x)} "
            f"(expected {-x.dim()} <= dim < {x.dim()})"
        )
    return dim
