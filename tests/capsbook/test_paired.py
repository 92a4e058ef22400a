"""capsbook.paired: the paired comparisons, against computations by hand."""

from __future__ import annotations

import math

import pytest
import torch

from capsbook import loss_experiments, robustness, routing_iterations
from capsbook.paired import (
    difference_standard_error,
    paired_comparison,
    paired_count_standard_error,
    paired_difference,
    t_critical,
    t_test_p,
)
from capsbook.runs import recorded


def test_paired_difference_is_the_mean_difference_and_its_standard_error():
    # d = (3, 1, 2): mean 2; sample variance ((1 + 1 + 0) / 2) = 1; se = 1 / sqrt(3)
    d, se = paired_difference(
        torch.tensor([4.0, 3.0, 5.0]), torch.tensor([1.0, 2.0, 3.0])
    )
    assert d == pytest.approx(2.0) and se == pytest.approx(1 / math.sqrt(3))
    # a constant difference has no noise
    d, se = paired_difference(torch.tensor([5.0, 6.0]), torch.tensor([4.0, 5.0]))
    assert (d, se) == (pytest.approx(1.0), pytest.approx(0.0))
    # the pairing matters: the same values unpaired would have a far larger spread
    a = torch.tensor([10.0, 20.0, 30.0, 40.0])
    d, se = paired_difference(a + torch.tensor([1.0, -1.0, 1.0, -1.0]), a)
    assert d == pytest.approx(0.0) and se == pytest.approx(math.sqrt(4 / 3) / 2)


def test_paired_difference_refuses_unpaired_shapes():
    with pytest.raises(ValueError, match="expected two"):
        paired_difference(torch.zeros(3), torch.zeros(4))
    with pytest.raises(ValueError, match="n >= 2"):
        paired_difference(torch.zeros(1), torch.zeros(1))


def test_paired_comparison_counts_discordant_examples_and_the_sign_test():
    # {1, 2} wrong only for a, nothing only for b: p = 2 * (1/2)^2 = 0.5
    assert paired_comparison([1, 2, 3], [3]) == (2, 0, 0.5)
    only_a, only_b, p = paired_comparison(range(12), [])
    assert (only_a, only_b) == (12, 0) and p == pytest.approx(2 / 2**12)
    # 3 against 1 of 4: P(X <= 1) = (1 + 4) / 16, two-sided 10 / 16
    assert paired_comparison([1, 2, 3, 9], [4, 9]) == (3, 1, pytest.approx(10 / 16))
    assert paired_comparison([1, 2], [1, 2]) == (0, 0, 1.0)
    assert paired_comparison([5], [6])[2] == 1.0


def test_the_chapters_modules_use_this_one_implementation():
    assert loss_experiments.paired_difference is paired_difference
    assert loss_experiments.paired_comparison is paired_comparison
    assert routing_iterations.paired_comparison is paired_comparison


def test_difference_standard_error_by_hand():
    # sqrt(0.79 * 0.21 / 10000 + 0.66 * 0.34 / 10000) = sqrt(1.659e-5 + 2.244e-5)
    assert difference_standard_error(0.79, 10_000, 0.66, 10_000) == pytest.approx(
        math.sqrt(3.903e-5)
    )
    # unequal sizes: each accuracy with its own n
    assert difference_standard_error(1.0, 50, 0.9, 200) == pytest.approx(
        math.sqrt(0.09 / 200)
    )


def test_paired_count_standard_error_is_paired_difference_of_the_outcomes():
    # 100 examples: a wrong on 12, b wrong on 4, 2 wrong for both: D = 10 + 2, d = 8
    wrong_a = torch.zeros(100)
    wrong_a[:12] = 1
    wrong_b = torch.zeros(100)
    wrong_b[10:14] = 1
    discordant = int((wrong_a != wrong_b).sum())
    se = paired_count_standard_error(discordant, 8, 100)
    assert (discordant, se) == (12, pytest.approx(math.sqrt(12 - 64 / 100)))
    # the same standard error from the per-example outcomes, with n - 1 for n
    _, per_example = paired_difference(wrong_a, wrong_b)
    assert se == pytest.approx(100 * per_example * math.sqrt(99 / 100))
    with pytest.raises(ValueError, match="discordant"):
        paired_count_standard_error(3, 5, 100)


def test_robustness_and_recorded_runs_use_these_standard_errors():
    assert robustness.difference_standard_error is difference_standard_error
    assert robustness.paired_difference is paired_difference
    assert recorded.paired_count_standard_error is paired_count_standard_error
    assert not hasattr(robustness, "paired_difference_standard_error")


def test_t_test_p_by_hand_for_one_and_two_degrees_of_freedom():
    # 1 degree of freedom: the Cauchy distribution, P(|T| >= t) = 1 - 2 atan(t) / pi
    assert t_test_p(1.0, 1) == pytest.approx(0.5)
    assert t_test_p(3.0, 1) == pytest.approx(1 - 2 * math.atan(3.0) / math.pi)
    # 2 degrees of freedom: P(|T| >= t) = 1 - t / sqrt(t^2 + 2)
    assert t_test_p(2.0, 2) == pytest.approx(1 - 2 / math.sqrt(6))
    # chapter 6's test errors, differences -6, -2, -4: mean -4, se 2 / sqrt(3)
    t = -4 / (2 / math.sqrt(3))
    assert t_test_p(t, 2) == pytest.approx(1 - 4 / math.sqrt(16 + 8 / 3))
    assert t_test_p(0.0, 5) == 1.0 and t_test_p(-2.5, 4) == t_test_p(2.5, 4)


def test_t_test_p_for_more_degrees_of_freedom_against_the_series_by_hand():
    # 3: A = (2/pi)(theta + sin cos); 4: A = sin (1 + cos^2 / 2), theta = atan(t/sqrt(df))
    th = math.atan(2.0 / math.sqrt(3))
    a3 = 2 / math.pi * (th + math.sin(th) * math.cos(th))
    assert t_test_p(2.0, 3) == pytest.approx(1 - a3)
    th = math.atan(2.0 / 2)
    assert t_test_p(2.0, 4) == pytest.approx(1 - math.sin(th) * (1 + 0.5 * 0.5))
    # many degrees of freedom: the normal's two-sided 5% point
    assert t_test_p(1.959964, 100_000) == pytest.approx(0.05, abs=1e-4)
    with pytest.raises(ValueError, match="degrees of freedom"):
        t_test_p(1.0, 0)


def test_t_critical_inverts_t_test_p():
    # 2 degrees of freedom, by hand: t / sqrt(t^2 + 2) = 0.95
    assert t_critical(2) == pytest.approx(0.95 * math.sqrt(2 / (1 - 0.95**2)))
    assert t_critical(1) == pytest.approx(math.tan(0.95 * math.pi / 2))
    for df in (3, 4, 9):
        assert t_test_p(t_critical(df), df) == pytest.approx(0.05)
    assert t_critical(2) > t_critical(3) > t_critical(30) > 1.96
