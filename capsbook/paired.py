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
  examples, or the cautious bound where they were the same examples);
* :func:`t_test_p` and :func:`t_critical`, Student's t for a mean difference over
  few pairs (seeds): with ``n`` pairs the standard error rests on ``n - 1``
  degrees of freedom, so "beyond 2 standard errors" is too lax at ``n = 3``
  (``p`` about 0.18); the critical value there is 4.30.
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


def t_test_p(t: float, df: int) -> float:
    """The two-sided p-value of Student's t statistic ``t`` with ``df`` degrees of freedom.

    How often a mean difference of zero would give ``|T| >= |t|``: the paired
    t-test's p when ``t`` is the mean difference over its standard error and
    ``df = n - 1`` for ``n`` pairs.  Exact, by the finite series for an integer
    ``df`` (Abramowitz & Stegun 26.7.3-4, with ``theta = atan(t / sqrt(df))``);
    with 1 degree of freedom ``1 - 2 atan|t| / pi``, with 2 ``1 - |t| / sqrt(t^2 + 2)``.

    >>> round(t_test_p(2.0, 2), 4)  # 1 - 2 / sqrt(6)
    0.1835
    """
    if int(df) != df or df < 1:
        raise ValueError(
            f"t_test_p: expected a whole number of degrees of freedom >= 1, got {df}"
        )
    df = int(df)
    if math.isinf(t):
        return 0.0
    theta = math.atan(abs(t) / math.sqrt(df))
    s, c2 = math.sin(theta), math.cos(theta) ** 2
    if df % 2 == 0:  # A = sin(theta) (1 + 1/2 c^2 + 1*3/(2*4) c^4 + ...), df/2 terms
        term, total = 1.0, 1.0
        for k in range(1, df // 2):
            term *= c2 * (2 * k - 1) / (2 * k)
            total += term
        inside = s * total
    else:  # A = (2/pi)(theta + sin cos (1 + 2/3 c^2 + 2*4/(3*5) c^4 + ...)), (df-1)/2 terms
        total = 0.0
        if df > 1:
            term, total = 1.0, 1.0
            for k in range(1, (df - 1) // 2):
                term *= c2 * (2 * k) / (2 * k + 1)
                total += term
        inside = 2 / math.pi * (theta + s * math.cos(theta) * total)
    return min(1.0, max(0.0, 1.0 - inside))


def t_critical(df: int, p: float = 0.05) -> float:
    """The ``|t|`` beyond which :func:`t_test_p` falls below ``p`` (two-sided).

    The number of standard errors a mean difference over ``df + 1`` pairs must
    exceed to count at level ``p``: 12.71 with 1 degree of freedom, 4.30 with 2,
    3.18 with 3, towards 1.96 with many.  By bisection on :func:`t_test_p`.

    >>> round(t_critical(2), 3)  # 0.95 * sqrt(2 / (1 - 0.95**2))
    4.303
    """
    if not 0 < p < 1:
        raise ValueError(f"t_critical: expected a level 0 < p < 1, got {p}")
    low, high = 0.0, 1.0
    while t_test_p(high, df) > p:
        high *= 2
    for _ in range(200):
        mid = (low + high) / 2
        if t_test_p(mid, df) > p:
            low = mid
        else:
            high = mid
        if high - low < 1e-12:
            break
    return high


__all__ = [
    "difference_standard_error",
    "paired_comparison",
    "paired_count_standard_error",
    "paired_difference",
    "t_critical",
    "t_test_p",
]
