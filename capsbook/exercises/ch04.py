"""Checks for the exercises of chapter 4 (the squash)."""

from __future__ import annotations

import math

import torch

import capslib.functional as cf

from .report import CheckReport, check, guarded

__all__ = [
    "check_unsquash",
    "check_squash_slope",
    "check_safe_length",
    "reference_unsquash",
    "reference_squash_slope",
    "reference_safe_length",
]


# ---------------------------------------------------------------------------------------------
# Exercise 4.1: the input a capsule needs (the squash, inverted)
# ---------------------------------------------------------------------------------------------
def reference_unsquash(
    v: torch.Tensor, dim: int = -1, eps: float = 1e-12
) -> torch.Tensor:
    """The input s with squash(s) = v, for |v| < 1: the direction of v, the length
    sqrt(|v| / (1 - |v|)). eps keeps the zero vector from becoming 0/0."""
    length = torch.sqrt((v * v).sum(dim=dim, keepdim=True))
    return v / (length + eps) * torch.sqrt(length / (1 - length))


@guarded
def check_unsquash(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise 4.1: ``fn(v, dim=-1)`` returns the input ``s`` whose squash is ``v`` (for ``|v| < 1``).

    Checked: shape, hand values (a capsule that says 0.5 needs ``|s| = 1``,
    0.9 needs 3, 0.2 needs 0.5), direction kept, both round trips through
    :func:`capslib.functional.squash`, the ``dim`` argument, and the zero vector.
    """
    lengths = torch.tensor([0.5, 0.9, 0.2], dtype=torch.float64)
    hand_v = lengths[:, None] * torch.tensor(
        [[0.6, 0.8], [1.0, 0.0], [0.0, -1.0]], dtype=torch.float64
    )
    generator = torch.Generator().manual_seed(5)
    directions = torch.nn.functional.normalize(
        torch.randn(6, 5, 8, generator=generator, dtype=torch.float64), dim=-1
    )
    v = torch.rand(6, 5, 1, generator=generator, dtype=torch.float64) * 0.98 + 0.01
    v = v * directions  # lengths in (0.01, 0.99)
    with check("Exercise 4.1: the input a capsule needs", verbose=verbose) as report:
        with report.attempt("runs on a (3, 2) batch of capsule outputs"):
            out = torch.as_tensor(fn(hand_v.clone())).double()
            if not report.expect(
                out.shape == hand_v.shape,
                "keeps the shape",
                f"got {tuple(out.shape)}, expected {tuple(hand_v.shape)}: reduce with keepdim=True",
            ):
                return report
            got = out.norm(dim=-1)
            if torch.allclose(got, lengths / (1 - lengths), atol=1e-4):
                hint = "|v| = r^2 / (1 + r^2) gives r^2 = |v| / (1 - |v|): you have r^2, take its square root"
            elif torch.allclose(
                got, lengths * torch.sqrt(lengths / (1 - lengths)), atol=1e-4
            ):
                hint = "scale the unit vector v / |v| by the length r, not v itself (that gives |v| r)"
            else:
                hint = "solve |v| = r^2 / (1 + r^2) for r"
            report.expect(
                torch.allclose(
                    got, torch.tensor([1.0, 3.0, 0.5], dtype=torch.float64), atol=1e-4
                ),
                "hand values: |v| = 0.5 needs |s| = 1, 0.9 needs 3, 0.2 needs 0.5",
                f"got lengths {[round(x, 4) for x in got.tolist()]}; {hint}",
            )
            cosine = (out * hand_v).sum(-1) / (got * lengths).clamp_min(1e-12)
            report.expect(
                bool((cosine > 1 - 1e-6).all()),
                "keeps each vector's direction",
                "the squash keeps the direction, so its inverse does too: a positive multiple of v",
            )
        with report.attempt("round trips through capslib.functional.squash"):
            s = torch.as_tensor(fn(v.clone())).double()
            report.expect(
                torch.allclose(cf.squash(s), v, atol=1e-6),
                "squash(your s) = v for 30 random v",
                "check the hand values above first",
            )
            s_known = (
                5
                * torch.rand(6, 5, 1, generator=generator, dtype=torch.float64)
                * directions
                + 0.05 * directions
            )
            back = torch.as_tensor(fn(cf.squash(s_known))).double()
            report.expect(
                torch.allclose(back, s_known, rtol=1e-4, atol=1e-4),
                "your function(squash(s)) = s",
                "check the hand values above first",
            )
        with report.attempt("inverts along the dim argument"):
            along_1 = torch.as_tensor(fn(v.transpose(1, 2).clone(), dim=1)).double()
            along_last = torch.as_tensor(fn(v.clone())).double().transpose(1, 2)
            report.expect(
                torch.allclose(along_1, along_last, atol=1e-6),
                "inverts along dim=1 when asked (the same answer as along the last axis, transposed)",
                "reduce with sum(dim=dim, keepdim=True), not over the last axis",
            )
        with report.attempt("runs on a zero vector"):
            zero = torch.as_tensor(fn(torch.zeros(2, 4, dtype=torch.float64))).double()
            report.expect(
                bool(torch.isfinite(zero).all()) and bool((zero.abs() < 1e-6).all()),
                "a zero vector (a capsule that says 'absent') needs a zero input, not NaN",
                "v / |v| is 0/0 at v = 0: add a small eps to |v|, or use torch.where",
            )
    return report


# ---------------------------------------------------------------------------------------------
# Exercise 4.2: the slope of the squash
# ---------------------------------------------------------------------------------------------
def reference_squash_slope(r: torch.Tensor) -> torch.Tensor:
    """The slope d|v|/d|s| of the squash at input length r: 2r / (1 + r^2)^2."""
    return 2 * r / (1 + r * r) ** 2


@guarded
def check_squash_slope(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise 4.2: ``fn(r)`` returns d|v|/d|s|, the slope of the output length at input length ``r``.

    ``r``: a 1-D tensor of lengths >= 0.  Checked against autograd through
    :func:`capslib.functional.squash`, at 0, where it peaks (r = 1/sqrt(3)) and
    for long vectors (where it vanishes).
    """
    r = torch.linspace(0, 6, 61, dtype=torch.float64)
    s = torch.stack([r, torch.zeros_like(r)], dim=-1).requires_grad_(True)
    cf.squash(s).norm(dim=-1).sum().backward()
    expected = s.grad[:, 0]
    expected[0] = 0.0  # the one-sided derivative at r = 0
    with check("Exercise 4.2: the slope of the squash", verbose=verbose) as report:
        with report.attempt("runs on 61 lengths from 0 to 6"):
            out = torch.as_tensor(fn(r.clone())).double()
            if not report.expect(
                out.shape == r.shape,
                "returns one slope per length",
                f"got shape {tuple(out.shape)}, expected {tuple(r.shape)}",
            ):
                return report
            report.expect(
                torch.allclose(out, expected, atol=1e-4),
                "matches autograd through capslib.functional.squash",
                "differentiate f(r) = r^2 / (1 + r^2) with the quotient rule",
            )
            report.expect(
                abs(float(out[0])) < 1e-6,
                "slope 0 at r = 0 (short vectors are pushed to 0)",
                f"got {float(out[0]):.4g}",
            )
            peak = float(r[out.argmax()]) if torch.isfinite(out).all() else float("nan")
            report.expect(
                abs(peak - 1 / math.sqrt(3)) < 0.06,
                "steepest near r = 1/sqrt(3) = 0.577",
                f"your slope peaks at r = {peak:.2f}",
            )
            report.expect(
                float(out[-1]) < 0.01,
                "almost flat for long vectors (r = 6)",
                f"got {float(out[-1]):.4g}",
            )
    return report


# ---------------------------------------------------------------------------------------------
# Exercise 4.3: a length that is safe at zero
# ---------------------------------------------------------------------------------------------
def reference_safe_length(
    v: torch.Tensor, dim: int = -1, eps: float = 1e-8
) -> torch.Tensor:
    """The length of v along dim, with a finite gradient at v = 0."""
    return torch.sqrt((v * v).sum(dim=dim) + eps)  # eps: sqrt has no slope at 0


@guarded
def check_safe_length(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise 4.3: ``fn(v)`` returns each capsule's length, with a finite gradient at ``v = 0``.

    ``v``: ``(batch, dim)``; the answer: ``(batch,)``.  The naive
    ``torch.sqrt((v * v).sum(-1))`` has gradient ``0 * inf = NaN`` at zero.
    """
    generator = torch.Generator().manual_seed(3)
    v = torch.randn(5, 4, generator=generator, dtype=torch.float64)
    with check(
        "Exercise 4.3: a length that is safe at zero", verbose=verbose
    ) as report:
        with report.attempt("runs on 5 random vectors"):
            out = torch.as_tensor(fn(v.clone())).double()
            if not report.expect(
                out.shape == (5,),
                "returns shape (batch,)",
                f"got {tuple(out.shape)}: reduce over the last axis",
            ):
                return report
            report.expect(
                torch.allclose(out, v.norm(dim=-1), atol=1e-4),
                "equals the length away from zero",
                "sqrt of the sum of squares (an eps of 1e-8 or less changes it by < 1e-4)",
            )
        with report.attempt("value and gradient at a zero vector"):
            zero = torch.zeros(2, 4, dtype=torch.float64, requires_grad=True)
            length = torch.as_tensor(fn(zero))
            value = length.detach()
            report.expect(
                bool(torch.isfinite(value).all()) and float(value.abs().max()) < 1e-3,
                "a zero vector has (almost) zero length",
                f"got {value.tolist()}",
            )
            length.sum().backward()
            report.expect(
                zero.grad is not None and bool(torch.isfinite(zero.grad).all()),
                "the gradient at a zero vector is finite (no NaN)",
                "sqrt has an infinite slope at 0: add eps inside the square root",
            )
    return report
