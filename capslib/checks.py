"""Checks at the public boundary: what a function expected, and what it got.

Every public function of :mod:`capslib.functional`, the layers of
:mod:`capslib.nn`, the models and the datasets check their inputs with these
helpers and say, in one line, what they expected and what they got, e.g.
``CapsNet: expected floating images of shape (batch, 1, 28, 28), got shape
(2, 28, 28) of dtype float32; set input_size / in_channels in CapsNetConfig for
other sizes``.  :func:`require_shape` is the one check of a tensor argument's
kind, dtype and shape; the book's aids (:mod:`capsbook`) use it too.
These checks read shapes, dtypes and settings only; the checks that read tensor
*values* (a host sync on a GPU) are switched by
:class:`capslib.functional.value_checks`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = ["TensorTypeError", "require_shape"]


class TensorTypeError(TypeError, ValueError):
    """An argument that is not a tensor, or a tensor of the wrong dtype.

    A ``TypeError``, as Python raises for an argument of the wrong type; also a
    ``ValueError``, because several checks raised that before they shared
    :func:`require_shape`, so callers that catch ``ValueError`` still catch it.
    """


def _describe(x: Tensor) -> str:
    return f"shape {tuple(x.shape)} of dtype {_dtype_name(x.dtype)}"


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).replace("torch.", "")


def _require_tensor(x, fn: str, name: str) -> None:
    if not isinstance(x, Tensor):
        raise TensorTypeError(
            f"{fn}: expected {name} to be a torch.Tensor, got {type(x).__name__}"
        )


def _require_floating(x: Tensor, fn: str, name: str, fix: str | None = None) -> None:
    _require_tensor(x, fn, name)
    if not x.is_floating_point():
        raise TensorTypeError(
            f"{fn}: expected {name} to be a floating tensor (float32, float64, float16 or "
            f"bfloat16), got {_describe(x)}; {fix or _convert_to_float(name)}"
        )


def _convert_to_float(name: str) -> str:
    return (
        f"convert it with {name}.float()"
        if name.isidentifier()
        else "convert it with .float()"
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


def _shape_text(shape: Sequence[int | str]) -> str:
    return f"({', '.join(map(str, shape))}{',' if len(shape) == 1 else ''})"


def _fits(actual: tuple[int, ...], shape: Sequence[int | str]) -> bool:
    if len(actual) != len(shape):
        return False
    named: dict[str, int] = {}
    for size, want in zip(actual, shape):
        if isinstance(want, str):
            if named.setdefault(want, size) != size:
                return False
        elif size != want:
            return False
    return True


def require_shape(
    x,
    fn: str,
    name: str,
    shape: Sequence[int | str],
    *,
    floating: bool = False,
    dtype: torch.dtype | None = None,
    fix: str | None = None,
    dtype_fix: str | None = None,
) -> None:
    """Raise unless ``x`` is a tensor of ``shape`` (and, if asked, of a floating or given dtype).

    Whatever is wrong, the message has one form: the function, what it expected
    (dtype, argument, shape), what it got and, where given, the fix, e.g.
    ``CapsNet: expected floating images of shape (batch, 1, 28, 28), got shape
    (2, 1, 28, 28) of dtype uint8; convert it with images.float() / 255``.

    Args:
        x: the argument to check.
        fn: the function or class whose argument it is, first in the message.
        name: the argument's name (or a short description: ``"input capsules"``).
        shape: one entry per dimension: an ``int`` is the size ``x`` must have
            there, a ``str`` names a size that may be anything (``"batch"``);
            entries with the same name must be equal (``("out", "in", "k", "k")``
            asks for a square kernel).
        floating: require a floating dtype (float32, float64, float16, bfloat16).
        dtype: require exactly this dtype.
        fix: what to do about a wrong shape, added to its message.
        dtype_fix: what to do about a wrong dtype (default with ``floating``:
            ``convert it with <name>.float()``).

    Raises:
        TensorTypeError: ``x`` is not a tensor, or not of the dtype asked for
            (checked first).
        ValueError: ``x`` has the wrong number of dimensions or the wrong sizes.

    >>> require_shape(torch.zeros(2, 28, 28), "CapsNet", "images", ("batch", 1, 28, 28))
    Traceback (most recent call last):
    ...
    ValueError: CapsNet: expected images of shape (batch, 1, 28, 28), got shape (2, 28, 28) of dtype float32
    """

    def error(cls: type[Exception], got: str, hint: str | None) -> Exception:
        # built only on failure: the check itself runs on every forward pass
        kind = "floating " if floating else ""
        kind = f"{_dtype_name(dtype)} " if dtype is not None else kind
        message = (
            f"{fn}: expected {kind}{name} of shape {_shape_text(shape)}, got {got}"
        )
        return cls(message + (f"; {hint}" if hint else ""))

    if not isinstance(x, Tensor):
        raise error(TensorTypeError, type(x).__name__, None)
    if (floating and not x.is_floating_point()) or (
        dtype is not None and x.dtype != dtype
    ):
        fix_dtype = dtype_fix or (_convert_to_float(name) if floating else None)
        raise error(TensorTypeError, _describe(x), fix_dtype)
    if not _fits(tuple(x.shape), shape):
        raise error(ValueError, _describe(x), fix)
