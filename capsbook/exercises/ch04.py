"""Checks for the exercises of chapter 4 (the squash)."""

from __future__ import annotations

import torch

import capslib.functional as cf

from .report import CheckReport, check, guarded

__all__ = [
    "check_unsquash",
    "check_linear_squash",
    "check_safe_length",
    "reference_unsquash",
    "reference_linear_squash",
    "agreement_contrast",
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
# Exercise 4.2: a squash that is linear near zero, and the agreement contrast
# ---------------------------------------------------------------------------------------------
def reference_linear_squash(
    s: torch.Tensor, dim: int = -1, eps: float = 1e-12
) -> torch.Tensor:
    """The direction of s with the length tanh(|s|): linear near 0, saturating below 1.

    eps, inside the square root, keeps the zero vector from becoming 0/0 in the
    value and in the gradient."""
    length = torch.sqrt((s * s).sum(dim=dim, keepdim=True) + eps)
    return torch.tanh(length) * s / length


def agreement_contrast(
    squash_fn,
    n: int,
    vote: float = 0.05,
    dim: int = 16,
    draws: int = 2_000,
    seed: int = 0,
) -> tuple[float, float]:
    """The contrast of chapter 4's agreement section, for any squash.

    ``n`` votes of length ``vote`` in ``dim`` dimensions, summed either all along
    one direction (agreeing) or along random unit directions (``draws`` draws,
    float64).  Returns ``(ratio_in, ratio_out)``: the agreeing sum's length over
    the random sums' mean length, before and after ``squash_fn``.
    """
    generator = torch.Generator().manual_seed(seed)
    directions = torch.randn(draws, n, dim, generator=generator, dtype=torch.float64)
    random_sum = (vote * torch.nn.functional.normalize(directions, dim=-1)).sum(1)
    agreeing = torch.zeros(1, dim, dtype=torch.float64)
    agreeing[0, 0] = n * vote
    length_in = random_sum.norm(dim=-1).mean()
    out_random = torch.as_tensor(squash_fn(random_sum)).double().norm(dim=-1).mean()
    out_agreeing = torch.as_tensor(squash_fn(agreeing)).double().norm()
    return float(n * vote / length_in), float(out_agreeing / out_random)


@guarded
def check_linear_squash(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise 4.2: ``fn(s, dim=-1)`` keeps the direction of ``s`` and gives it the length ``tanh(|s|)``.

    Checked: shape, direction, lengths against ``tanh`` (hand values), the
    slope near zero (1, where the squash of Eq. 1 has 0), the ``dim``
    argument, and the zero vector (value 0 and a finite gradient).
    """
    hand = torch.tensor(
        [[0.03, 0.04], [0.6, 0.8], [0.0, 3.0], [-6.0, 8.0]], dtype=torch.float64
    )
    hand_lengths = hand.norm(dim=-1)
    generator = torch.Generator().manual_seed(7)
    s = 2 * torch.randn(4, 3, 8, generator=generator, dtype=torch.float64)
    with check("Exercise 4.2: a squash linear near zero", verbose=verbose) as report:
        with report.attempt("runs on a (4, 2) batch of capsule inputs"):
            out = torch.as_tensor(fn(hand.clone())).double()
            if not report.expect(
                out.shape == hand.shape,
                "keeps the shape",
                f"got {tuple(out.shape)}, expected {tuple(hand.shape)}: "
                "reduce with keepdim=True",
            ):
                return report
            got = out.norm(dim=-1)
            cosine = (out * hand).sum(-1) / (got * hand_lengths).clamp_min(1e-12)
            elementwise = torch.allclose(out, torch.tanh(hand), atol=1e-6)
            report.expect(
                bool((cosine > 1 - 1e-6).all()),
                "keeps each vector's direction",
                "torch.tanh(s) squashes each component on its own and turns the "
                "vector: apply tanh to the length |s|, then scale the unit vector "
                "s / |s|"
                if elementwise
                else "the output must be a positive multiple of s",
            )
            quadratic = torch.allclose(
                got, hand_lengths**2 / (1 + hand_lengths**2), atol=1e-4
            )
            report.expect(
                torch.allclose(got, torch.tanh(hand_lengths), atol=1e-6),
                "lengths tanh(|s|): 0.05 -> 0.0500, 1 -> 0.762, 3 -> 0.995",
                "that is the squash of Eq. 1, |s|^2 / (1 + |s|^2): use tanh(|s|)"
                if quadratic
                else f"got lengths {[round(x, 4) for x in got.tolist()]}",
            )
            report.expect(
                abs(float(got[0]) / float(hand_lengths[0]) - 1) < 0.01,
                "linear near zero: |v| / |s| is about 1 at |s| = 0.05",
                f"got {float(got[0]) / float(hand_lengths[0]):.3f}: a linear squash "
                "passes short vectors through almost unchanged",
            )
        with report.attempt("works along the dim argument"):
            along_1 = torch.as_tensor(fn(s.transpose(1, 2).clone(), dim=1)).double()
            along_last = torch.as_tensor(fn(s.clone())).double().transpose(1, 2)
            report.expect(
                torch.allclose(along_1, along_last, atol=1e-6),
                "squashes along dim=1 when asked",
                "reduce with sum(dim=dim, keepdim=True), not over the last axis",
            )
        with report.attempt("runs on a zero vector, forward and backward"):
            zero = torch.zeros(2, 4, dtype=torch.float64, requires_grad=True)
            v_zero = torch.as_tensor(fn(zero))
            value_ok = bool(torch.isfinite(v_zero).all()) and bool(
                (v_zero.abs() < 1e-6).all()
            )
            report.expect(
                value_ok,
                "the zero vector gives the zero vector, not NaN",
                "s / |s| is 0/0 at s = 0: add a small eps to |s|",
            )
            if value_ok and v_zero.requires_grad:
                (grad,) = torch.autograd.grad(v_zero.sum(), zero)
                report.expect(
                    bool(torch.isfinite(grad).all()),
                    "a finite gradient at the zero vector",
                    "the gradient of sqrt at 0 is infinite: put the eps inside "
                    "the square root or add it to the length",
                )
    return report


# ---------------------------------------------------------------------------------------------
# Exercise 4.3: a length that survives float16, at both ends of its range and at zero
# ---------------------------------------------------------------------------------------------
def reference_safe_length(
    v: torch.Tensor, dim: int = -1, eps: float = 1e-4
) -> torch.Tensor:
    """The length of v along dim in v's own format, accurate in float16 for tiny and
    huge components, with a finite gradient at v = 0.

    v is divided by its largest component (a constant for autograd), so the sum of
    squares lies between 1 and v.shape[dim]: it can neither underflow nor overflow,
    and an eps of 1e-4 (which float16 can hold, unlike 1e-8) changes it by at most
    a relative 5e-5.
    """
    scale = v.detach().abs().amax(dim=dim, keepdim=True)
    scale = scale.clamp_min(torch.finfo(v.dtype).tiny)  # the zero vector: 0 / tiny
    u = v / scale
    return scale.squeeze(dim) * torch.sqrt((u * u).sum(dim=dim) + eps)


@guarded
def check_safe_length(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise 4.3: ``fn(v)`` returns each vector's length in ``v``'s format (float16).

    ``v``: ``(batch, dim)``; the answer: ``(batch,)``, accurate to 1% for
    components of 1e-4 (their squares underflow float16) and of 300 (16 squares
    overflow its largest number, 65,504), with a finite gradient at zero.  The
    naive ``torch.sqrt((v * v).sum(-1))`` gives 0 for the first, inf for the
    second and a NaN gradient at zero; an eps of 1e-8 is 0 in float16.
    """
    half = torch.float16
    generator = torch.Generator().manual_seed(3)
    v = torch.randn(5, 16, generator=generator).to(half)
    with check(
        "Exercise 4.3: a length that survives float16", verbose=verbose
    ) as report:
        with report.attempt("runs on 5 random float16 vectors"):
            out = torch.as_tensor(fn(v.clone()))
            if not report.expect(
                out.shape == (5,),
                "returns shape (batch,)",
                f"got {tuple(out.shape)}: reduce over the last axis",
            ):
                return report
            report.expect(
                out.dtype == half,
                "stays in float16",
                f"got {out.dtype}: compute in v's format, without converting it",
            )
            report.expect(
                torch.allclose(out.double(), v.double().norm(dim=-1), rtol=1e-2),
                "equals the length of ordinary vectors (within 1%)",
                "the square root of the sum of squares, for vectors of length ~4",
            )
        cases = (
            (
                1e-4,
                "underflow",
                "the squares (1e-8) are below float16's smallest "
                "number, 6e-8, and round to 0",
            ),
            (
                300.0,
                "overflow",
                "16 squares of 300 sum to 1.44e6, above float16's "
                "largest number, 65,504: inf",
            ),
        )
        for component, name, why in cases:
            with report.attempt(f"vectors of 16 components of {component:g}"):
                tiny_or_huge = torch.full((2, 16), component, dtype=half)
                truth = 4 * float(tiny_or_huge[0, 0])  # sqrt(16) x the component
                got = torch.as_tensor(fn(tiny_or_huge.clone())).double()
                report.expect(
                    bool(torch.isfinite(got).all())
                    and bool(((got - truth).abs() <= 0.01 * truth).all()),
                    f"right for components of {component:g} (no {name})",
                    f"got {got.tolist()} for {truth:.3g}: {why}; the length of v is "
                    "m times the length of v / m, for any m > 0",
                )
        with report.attempt("value and gradient at a zero vector"):
            zero = torch.zeros(2, 16, dtype=half, requires_grad=True)
            length = torch.as_tensor(fn(zero))
            value = length.detach().double()
            report.expect(
                bool(torch.isfinite(value).all()) and float(value.abs().max()) < 1e-3,
                "a zero vector has (almost) zero length",
                f"got {value.tolist()}",
            )
            length.sum().backward()
            report.expect(
                zero.grad is not None and bool(torch.isfinite(zero.grad).all()),
                "the gradient at a zero vector is finite (no NaN)",
                "sqrt has an infinite slope at 0: keep what is under the root away "
                "from 0, with an eps that float16 can hold (1e-8 rounds to 0)",
            )
    return report
