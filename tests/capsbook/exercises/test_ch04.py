"""Exercise checks of chapter 4: typical wrong answers fail on the property they break, with the hint
that names the mistake.  (Every check's reference solution and unfinished stub: tests/capsbook/exercises/test_checks.py.)"""

import pytest
import torch
from check_reports import hint_of

import capslib.functional as cf
from capsbook.exercises import ch04


# --- Exercise 4.1: the squash inverted --------------------------------------------------------
def test_unsquash_without_the_square_root_is_named():
    def no_root(v, dim=-1):
        length = v.norm(dim=dim, keepdim=True)
        return v / length.clamp_min(1e-12) * length / (1 - length)

    report = ch04.check_unsquash(no_root, verbose=False)
    assert "take its square root" in hint_of(report, "hand values")
    assert report.failed_on("squash(your s) = v")
    assert not report.failed_on("dim=1")  # the dim case tests only the axis


def test_unsquash_scaling_v_instead_of_its_direction_is_named():
    report = ch04.check_unsquash(
        lambda v, dim=-1: (
            v
            * torch.sqrt(
                v.norm(dim=dim, keepdim=True) / (1 - v.norm(dim=dim, keepdim=True))
            )
        ),
        verbose=False,
    )
    assert "unit vector v / |v|" in hint_of(report, "hand values")


def test_unsquash_dividing_by_the_norm_fails_only_at_zero():
    def naive(v, dim=-1):
        length = v.norm(dim=dim, keepdim=True)
        return v / length * torch.sqrt(length / (1 - length))

    report = ch04.check_unsquash(naive, verbose=False)
    assert report.failures == [
        "a zero vector (a capsule that says 'absent') needs a zero input, not NaN"
    ]


def test_unsquash_ignoring_dim_fails_the_dim_case():
    report = ch04.check_unsquash(
        lambda v, dim=-1: ch04.reference_unsquash(v, dim=-1), verbose=False
    )
    assert report.failures == [
        "inverts along dim=1 when asked (the same answer as along the last axis, transposed)"
    ]


def test_unsquash_reference_inverts_capslib_squash():
    s = 3 * torch.randn(
        50, 16, generator=torch.Generator().manual_seed(0), dtype=torch.float64
    )
    torch.testing.assert_close(
        ch04.reference_unsquash(cf.squash(s)), s, rtol=1e-6, atol=1e-6
    )
    assert float(
        ch04.reference_unsquash(torch.tensor([0.9, 0.0], dtype=torch.float64)).norm()
    ) == pytest.approx(3.0)


# --- Exercise 4.2: a squash linear near zero -------------------------------------------------
def test_linear_squash_elementwise_tanh_is_named():
    report = ch04.check_linear_squash(lambda s, dim=-1: torch.tanh(s), verbose=False)
    assert "apply tanh to the length" in hint_of(report, "direction")
    assert report.failed_on("lengths tanh(|s|)")


def test_linear_squash_that_is_eq1_is_named():
    report = ch04.check_linear_squash(
        lambda s, dim=-1: cf.squash(s, dim=dim), verbose=False
    )
    assert "squash of Eq. 1" in hint_of(report, "lengths tanh(|s|)")
    assert report.failed_on("linear near zero")
    assert not report.failed_on("direction")


def test_linear_squash_without_eps_fails_only_at_zero():
    def no_eps(s, dim=-1):
        length = torch.sqrt((s * s).sum(dim=dim, keepdim=True))
        return torch.tanh(length) * s / length

    report = ch04.check_linear_squash(no_eps, verbose=False)
    assert report.failures == ["the zero vector gives the zero vector, not NaN"]


def test_linear_squash_eps_outside_the_root_has_nan_gradient():
    def eps_outside(s, dim=-1):
        length = torch.sqrt((s * s).sum(dim=dim, keepdim=True))
        return torch.tanh(length) * s / (length + 1e-9)

    report = ch04.check_linear_squash(eps_outside, verbose=False)
    assert report.failures == ["a finite gradient at the zero vector"]


def test_agreement_contrast_against_hand_values():
    # one vote: the agreeing and the random sum are the same length, ratio 1
    ratio_in, ratio_out = ch04.agreement_contrast(cf.squash, 1)
    assert ratio_in == pytest.approx(1.0) and ratio_out == pytest.approx(1.0)
    # n random unit votes in 16-D: mean length close to sqrt(n), so ratio_in ~ sqrt(n)
    ratio_in, _ = ch04.agreement_contrast(cf.squash, 16)
    assert ratio_in == pytest.approx(4.0, rel=0.05)
    # the identity keeps the contrast exactly; tanh keeps it while the sums are short
    identity_in, identity_out = ch04.agreement_contrast(lambda s: s, 16)
    assert identity_out == pytest.approx(identity_in, rel=1e-12)
    tanh_in, tanh_out = ch04.agreement_contrast(ch04.reference_linear_squash, 4)
    assert tanh_out == pytest.approx(tanh_in, rel=0.02)
    # Eq. 1 squares short lengths: the contrast goes towards n
    _, eq1_out = ch04.agreement_contrast(cf.squash, 4, vote=0.01)
    assert 3.8 < eq1_out < 4.1


# --- Exercise 4.3 --------------------------------------------------------------------------------
def test_naive_length_fails_at_both_ends_of_float16_and_at_zero():
    report = ch04.check_safe_length(
        lambda v: torch.sqrt((v * v).sum(-1)), verbose=False
    )
    assert report.failures == [
        "right for components of 0.0001 (no underflow)",
        "right for components of 300 (no overflow)",
        "the gradient at a zero vector is finite (no NaN)",
    ]


def test_reference_length_passes_and_matches_hand_values():
    assert ch04.check_safe_length(ch04.reference_safe_length, verbose=False).passed
    v = torch.tensor([[3e-4, 4e-4], [300.0, 400.0]], dtype=torch.float16)
    got = ch04.reference_safe_length(v).double()
    assert got.dtype == torch.float64 and torch.allclose(
        got, torch.tensor([5e-4, 500.0], dtype=torch.float64), rtol=2e-3
    )


def test_scaling_without_eps_fails_only_the_gradient_at_zero():
    def scaled(v):
        m = v.detach().abs().amax(-1, keepdim=True).clamp_min(1e-4)
        return m.squeeze(-1) * torch.sqrt(((v / m) ** 2).sum(-1))

    report = ch04.check_safe_length(scaled, verbose=False)
    assert report.failures == ["the gradient at a zero vector is finite (no NaN)"]


def test_widening_the_format_is_named():
    report = ch04.check_safe_length(
        lambda v: (v.double() ** 2).sum(-1).sqrt(), verbose=False
    )
    assert "stays in float16" in report.failures
