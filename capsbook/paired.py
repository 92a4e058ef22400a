"""Paired statistics: two settings measured on the same examples, compared example by example.

Where two networks (or two settings of one) are measured on the same test
examples, the noise of the comparison is that of the per-example differences,
not that of each measurement alone: an easy digit is easy for both.  The
book's standard errors of a difference, each kept here once:

* :func:`paired_difference` for a number per example (a reconstruction error,
  a loss, a 1/0 outcome), or per seed: the mean difference and its standard
  error;
* :func:`paired_count_standard_error` for two error counts on the same examples
  when only the counts and the number of discordant examples are known
  (McNemar's standard error);
* :func:`paired_comparison` for right-or-wrong per example (a test error): the
  examples only one setting gets wrong, and McNemar's exact test on them;
* :func:`difference_standard_error`, the unpaired one, for two accuracies whose
  per-example outcomes were not recorded (two proportions on independent
  examples, or the cautious bound where they were the same examples).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def paired_difference(a: Tensor, b: Tensor) -> tuple[float, float]:
    """``(mean of a - b, its standard error)`` for two measurements of the same examples.

    ``a``, ``b``: ``(n,)`` with ``n >= 2``, entry ``i`` of each measured on
    example ``i``.  The standard error is that of the mean of the per-example
    differences ``d = a - b`` (their standard deviation, with ``n - 1`` in its
    denominator, over ``sqrt(n)``).  Where ``i`` is an example, it says how much
    the mean difference would vary with another sample of examples, not with
    another training run; where ``i`` is a seed (both settings retrained on
    each), it is the between-seed error, which covers the training run.

    >>> paired_difference(torch.tensor([1.0, 2.0, 3.0]), torch.zeros(3))[0]
    2.0
    """
    a, b = torch.as_tensor(a).double(), torch.as_tensor(b).double()
    if a.shape != b.shape or a.ndim != 1 or len(a) < 2:
        raise ValueError(
            f"paired_difference: expected two (n,) tensors with n >= 2, got "
            f"{tuple(a.shape)} and {tuple(b.shape)}"
        )
    d = a - b
    return d.mean().item(), (d.std() / math.sqrt(len(d))).item()


def paired_count_standard_error(discordant: int, difference: int, n: int) -> float:
    """The standard error of ``difference = errors_a - errors_b``, counts on the same ``n`` examples.

    ``discordant``: the examples exactly one of the two gets wrong (``D``).  McNemar's standard
    error, ``sqrt(D - difference**2 / n)``, in examples: it is :func:`paired_difference` of the
    two 1/0 error vectors times ``n``, with ``n`` in place of ``n - 1`` in the variance.

    >>> paired_count_standard_error(10, 10, 100)  # doctest: +ELLIPSIS
    3.0
    """
    if not 0 <= abs(difference) <= discordant <= n:
        raise ValueError(
            "paired_count_standard_error: expected |difference| <= discordant <= n, got "
            f"difference {difference}, discordant {discordant}, n {n}"
        )
    return math.sqrt(max(discordant - difference * difference / n, 0.0))


def difference_standard_error(p1: float, n1: int, p2: float, n2: int) -> float:
    """The standard error of ``p1 - p2``: two accuracies on ``n1`` and ``n2``
    independent examples.

    Each accuracy is a mean of ``n`` right/wrong outcomes, with variance
    ``p (1 - p) / n``; the two are independent, so the variances add.

    >>> round(difference_standard_error(0.5, 100, 0.5, 100) ** 2, 6)
    0.005
    """
    return math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)


def paired_comparison(wrong_a, wrong_b) -> tuple[int, int, float]:
    """Compare two settings on the same examples: ``(only_a, only_b, p)``.

    ``wrong_a``, ``wrong_b``: the indices of the examples each setting gets
    wrong.  ``only_a``: examples that setting ``a`` gets wrong and ``b`` right;
    ``only_b`` the reverse.  ``p``: the exact two-sided sign-test p-value
    (McNemar's exact test) of ``only_a`` against ``only_b``: how often sampling
    alone would split the discordant examples at least this unevenly.  Examples
    both settings get wrong (or right) say nothing about the difference.

    >>> paired_comparison([1, 2, 3], [3])
    (2, 0, 0.5)
    """
    a, b = set(wrong_a), set(wrong_b)
    only_a, only_b = len(a - b), len(b - a)
    n = only_a + only_b
    if n == 0:
        return 0, 0, 1.0
    tail = sum(math.comb(n, k) for k in range(min(only_a, only_b) + 1)) / 2**n
    return only_a, only_b, min(1.0, 2 * tail)


__all__ = [
    "difference_standard_error",
    "paired_comparison",
    "paired_count_standard_error",
    "paired_difference",
]
