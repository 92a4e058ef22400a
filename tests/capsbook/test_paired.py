"""capsbook.paired: the paired comparisons, against computations by hand."""

from __future__ import annotations

import math

import pytest
import torch

from capsbook import loss_experiments, routing_iterations
from capsbook.paired import paired_comparison, paired_difference


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
