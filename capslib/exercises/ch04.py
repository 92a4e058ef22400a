"""Checks for the exercises of chapter 4 (the squash)."""
from __future__ import annotations

import math

import torch

from capslib import functional as F

from .report import CheckReport, check

__all__ = [
    "check_squash",
    "check_squash_slope",
    "check_safe_length",
    "reference_squash",
    "reference_squash_slope",
    "reference_safe_length",
]


# ---------------------------------------------------------------------------------------------
# Exercise 4.1: the squash, by hand
# ---------------------------------------------------------------------------------------------
def reference_squash(s: torch.Tensor, dim: int = -1, eps: float = 1e-8) -> torch.Tensor:
    """Eq. 1 of the paper, with ``eps`` under the square root: finite at ``s = 0``."""
    squared_norm = (s * s).sum(dim=dim, keepdim=True)
    return squared_norm / (1 + squared_norm) * s / torch.sqrt(squared_norm + eps)


def check_squash(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise 4.1: ``fn(s, dim=-1)`` is the squash, :math:`v = \\frac{|s|^2}{1+|s|^2}\\frac{s}{|s|}`.

    Checked: shape, hand values (length 1 -> 0.5, length 3 -> 0.9), direction
    kept, lengths in [0, 1), the ``dim`` argument, a zero vector gives a zero
    (finite) output, and agreement with :func:`capslib.functional.squash`.
    """
    generator = torch.Generator().manual_seed(4)
    s = 3 * torch.randn(6, 5, 8, generator=generator, dtype=torch.float64)
    with check("Exercise 4.1: the squash", verbose=verbose) as report:
        with report.attempt("runs on a (6, 5, 8) tensor"):
            v = torch.as_tensor(fn(s.clone())).double()
            if not report.expect(v.shape == s.shape, "keeps the shape", f"got {tuple(v.shape)}, expected "
                                 f"{tuple(s.shape)}: use keepdim=True when you reduce"):
                return report
            hand = torch.as_tensor(fn(torch.tensor([[1.0, 0.0], [0.0, 3.0], [0.3, 0.4]], dtype=torch.float64)))
            expected = torch.tensor([[0.5, 0.0], [0.0, 0.9], [0.6 * 0.2, 0.8 * 0.2]], dtype=torch.float64)
            report.expect(torch.allclose(hand.double(), expected, atol=1e-6),
                          "hand values: length 1 -> 0.5, length 3 -> 0.9, length 0.5 -> 0.2",
                          f"got {hand.double().tolist()}; the output length is |s|^2 / (1 + |s|^2)")
            cosine = (v * s).sum(-1) / (v.norm(dim=-1) * s.norm(dim=-1))
            report.expect(bool((cosine > 1 - 1e-6).all()), "keeps each vector's direction",
                          "multiply the unit vector s / |s| by a positive scalar")
            lengths = v.norm(dim=-1)
            report.expect(bool(((lengths >= 0) & (lengths < 1)).all()), "output lengths in [0, 1)",
                          f"got lengths from {lengths.min():.3f} to {lengths.max():.3f}")
            report.expect(torch.allclose(v, F.squash(s), atol=1e-6), "equals capslib.functional.squash",
                          "compare your formula with Eq. 1")
        with report.attempt("squashes along the dim argument"):
            along_1 = torch.as_tensor(fn(s.transpose(1, 2).clone(), dim=1)).double()
            report.expect(torch.allclose(along_1, F.squash(s).transpose(1, 2), atol=1e-6),
                          "squashes along dim=1 when asked", "reduce with sum(dim=dim, keepdim=True)")
        with report.attempt("runs on a zero vector"):
            zero = torch.as_tensor(fn(torch.zeros(2, 4, dtype=torch.float64))).double()
            report.expect(bool(torch.isfinite(zero).all()) and bool((zero.abs() < 1e-6).all()),
                          "a zero vector gives a zero vector, not NaN",
                          "s / |s| is 0/0 at s = 0: add a small eps under the square root")
    return report


# ---------------------------------------------------------------------------------------------
# Exercise 4.2: the slope of the squash
# ---------------------------------------------------------------------------------------------
def reference_squash_slope(r: torch.Tensor) -> torch.Tensor:
    """d|v|/d|s| at input length ``r``: the derivative of r^2 / (1 + r^2), i.e. 2r / (1 + r^2)^2."""
    return 2 * r / (1 + r * r) ** 2


def check_squash_slope(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise 4.2: ``fn(r)`` returns d|v|/d|s|, the slope of the output length at input length ``r``.

    ``r``: a 1-D tensor of lengths >= 0.  Checked against autograd through
    :func:`capslib.functional.squash`, at 0, where it peaks (r = 1/sqrt(3)) and
    for long vectors (where it vanishes).
    """
    r = torch.linspace(0, 6, 61, dtype=torch.float64)
    s = torch.stack([r, torch.zeros_like(r)], dim=-1).requires_grad_(True)
    F.squash(s).norm(dim=-1).sum().backward()
    expected = s.grad[:, 0]
    expected[0] = 0.0  # the one-sided derivative at r = 0
    with check("Exercise 4.2: the slope of the squash", verbose=verbose) as report:
        with report.attempt("runs on 61 lengths from 0 to 6"):
            out = torch.as_tensor(fn(r.clone())).double()
            if not report.expect(out.shape == r.shape, "returns one slope per length",
                                 f"got shape {tuple(out.shape)}, expected {tuple(r.shape)}"):
                return report
            report.expect(torch.allclose(out, expected, atol=1e-4),
                          "matches autograd through capslib.functional.squash",
                          "differentiate f(r) = r^2 / (1 + r^2) with the quotient rule")
            report.expect(abs(float(out[0])) < 1e-6, "slope 0 at r = 0 (short vectors are pushed to 0)",
                          f"got {float(out[0]):.4g}")
            peak = float(r[out.argmax()]) if torch.isfinite(out).all() else float("nan")
            report.expect(abs(peak - 1 / math.sqrt(3)) < 0.06, "steepest near r = 1/sqrt(3) = 0.577",
                          f"your slope peaks at r = {peak:.2f}")
            report.expect(float(out[-1]) < 0.01, "almost flat for long vectors (r = 6)",
                          f"got {float(out[-1]):.4g}")
    return report


# ---------------------------------------------------------------------------------------------
# Exercise 4.3: a length that is safe at zero
# ---------------------------------------------------------------------------------------------
def reference_safe_length(v: torch.Tensor, dim: int = -1, eps: float = 1e-8) -> torch.Tensor:
    """|v| along ``dim`` whose gradient is finite at ``v = 0``: ``sqrt(sum v^2 + eps)``."""
    return torch.sqrt((v * v).sum(dim=dim) + eps)


def check_safe_length(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise 4.3: ``fn(v)`` returns each capsule's length, with a finite gradient at ``v = 0``.

    ``v``: ``(batch, dim)``; the answer: ``(batch,)``.  The naive
    ``torch.sqrt((v * v).sum(-1))`` has gradient ``0 * inf = NaN`` at zero.
    """
    generator = torch.Generator().manual_seed(3)
    v = torch.randn(5, 4, generator=generator, dtype=torch.float64)
    with check("Exercise 4.3: a length that is safe at zero", verbose=verbose) as report:
        with report.attempt("runs on 5 random vectors"):
            out = torch.as_tensor(fn(v.clone())).double()
            if not report.expect(out.shape == (5,), "returns shape (batch,)",
                                 f"got {tuple(out.shape)}: reduce over the last axis"):
                return report
            report.expect(torch.allclose(out, v.norm(dim=-1), atol=1e-4), "equals the length away from zero",
                          "sqrt of the sum of squares (an eps of 1e-8 or less changes it by < 1e-4)")
        with report.attempt("value and gradient at a zero vector"):
            zero = torch.zeros(2, 4, dtype=torch.float64, requires_grad=True)
            length = torch.as_tensor(fn(zero))
            value = length.detach()
            report.expect(bool(torch.isfinite(value).all()) and float(value.abs().max()) < 1e-3,
                          "a zero vector has (almost) zero length", f"got {value.tolist()}")
            length.sum().backward()
            report.expect(zero.grad is not None and bool(torch.isfinite(zero.grad).all()),
                          "the gradient at a zero vector is finite (no NaN)",
                          "sqrt has an infinite slope at 0: add eps inside the square root")
    return report
