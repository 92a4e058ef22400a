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


# --- Exercises 4.2 and 4.3 ---------------------------------------------------------------------
def test_slope_of_the_wrong_function_fails():
    report = ch04.check_squash_slope(
        lambda r: 1 / (1 + r) ** 2, verbose=False
    )  # slope of r / (1 + r)
    assert report.failed_on("matches autograd")
    assert report.failed_on("slope 0 at r = 0")


def test_naive_length_has_nan_gradient_at_zero():
    report = ch04.check_safe_length(
        lambda v: torch.sqrt((v * v).sum(-1)), verbose=False
    )
    assert report.failures == ["the gradient at a zero vector is finite (no NaN)"]
