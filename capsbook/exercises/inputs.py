"""Did the reader's function change its inputs?  Copies of the tensors it was given, and the comparison.

An answer that modifies a tensor it was given (``x *= 2``, ``x.zero_()``, an indexed assignment)
may still return the right values, but it corrupts the caller's data.  The guard takes a
:func:`snapshot` of every argument before the call and compares it with :func:`same` after.
"""

from __future__ import annotations

import inspect

__all__ = ["argument_names", "same", "snapshot"]


def _tensor_like(value) -> bool:
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return False
    return isinstance(value, torch.Tensor)


def snapshot(value):
    """A copy of every tensor in ``value`` (itself, or one level inside a list, tuple or dict)."""
    if _tensor_like(value):
        return value.detach().clone()
    if isinstance(value, (list, tuple)):
        return [snapshot(v) if _tensor_like(v) else None for v in value]
    if isinstance(value, dict):
        return {k: snapshot(v) if _tensor_like(v) else None for k, v in value.items()}
    return None


def same(before, after) -> bool:
    import torch

    if before is None:
        return True
    if isinstance(before, torch.Tensor):
        if (
            not isinstance(after, torch.Tensor)
            or after.shape != before.shape
            or after.dtype != before.dtype
        ):
            return False
        now = after.detach()
        if before.is_floating_point() or before.is_complex():
            return bool(
                torch.equal(torch.isnan(before), torch.isnan(now))
                and torch.equal(torch.nan_to_num(before), torch.nan_to_num(now))
            )
        return bool(torch.equal(before, now))
    if isinstance(before, list):
        if not isinstance(after, (list, tuple)) or len(after) != len(before):
            return False
        return all(same(b, a) for b, a in zip(before, after))
    if isinstance(before, dict):
        return isinstance(after, dict) and all(
            same(b, after.get(k)) for k, b in before.items()
        )
    return True


def argument_names(fn, args, kwargs) -> list[str]:
    try:
        bound = inspect.signature(fn).bind(*args, **kwargs)
        names = list(bound.arguments)
        extra = [
            f"argument {k + 1}" for k in range(len(names), len(args) + len(kwargs))
        ]
        return names + extra
    except (TypeError, ValueError):
        return [f"argument {k + 1}" for k in range(len(args))] + list(kwargs)
