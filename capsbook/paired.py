"""Paired statistics: two settings measured on the same examples, compared example by example.

Where two networks (or two settings of one) are measured on the same test
examples, the noise of the comparison is that of the per-example differences,
not that of each measurement alone: an easy digit is easy for both.  The book
uses two forms of the same paired comparison, kept here once:

* :func:`paired_difference` for a number per example (a reconstruction error,
  a loss): the mean difference and its standard error;
* :func:`paired_comparison` for right-or-wrong per example (a test error): the
  examples only one setting gets wrong, and McNemar's exact test on them.
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
    denominator, over ``sqrt(n)``): it says how much the mean difference would
    vary with another sample of examples, not with another training run.

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


__all__ = ["paired_comparison", "paired_difference"]
