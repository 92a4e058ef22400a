"""How far sampling alone moves a test error: the yardstick for "is 0.31% the paper's 0.25%?"."""

from __future__ import annotations

import math


def error_count_range(
    error_rate: float, n: int, coverage: float = 0.95
) -> tuple[int, int]:
    """The central range of the number of errors a model with true ``error_rate`` makes on ``n`` examples.

    The errors on ``n`` independent test examples are Binomial(``n``, ``error_rate``); returns
    ``(low, high)``, its quantiles at (1 - coverage) / 2 and 1 - (1 - coverage) / 2: the smallest
    ``low`` with P(errors <= low) >= (1 - coverage) / 2 and the smallest ``high`` with
    P(errors <= high) >= 1 - (1 - coverage) / 2, so that at least ``coverage`` of the probability
    lies in ``[low, high]``.  For the paper's 0.25% on 10,000 digits:

    >>> error_count_range(0.0025, 10_000)
    (16, 35)

    Sampling is all this covers: two runs that trained differently differ by more.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(
            f"error_count_range: expected a positive number of examples n, got {n!r}"
        )
    if not (isinstance(error_rate, (int, float)) and 0 <= error_rate <= 1):
        raise ValueError(
            f"error_count_range: expected an error rate in [0, 1] (0.0025 for 0.25%), got {error_rate!r}"
        )
    if not 0 < coverage < 1:
        raise ValueError(
            f"error_count_range: expected a coverage in (0, 1), e.g. 0.95, got {coverage!r}"
        )
    if error_rate == 0:
        return 0, 0
    if error_rate == 1:
        return n, n
    tail = (1.0 - coverage) / 2
    log_p, log_q = math.log(error_rate), math.log1p(-error_rate)
    log_n = math.lgamma(n + 1)
    cumulative, low = 0.0, None
    for k in range(n + 1):
        cumulative += math.exp(
            log_n
            - math.lgamma(k + 1)
            - math.lgamma(n - k + 1)
            + k * log_p
            + (n - k) * log_q
        )
        if low is None and cumulative >= tail - 1e-12:
            low = k
        if cumulative >= 1.0 - tail - 1e-12:
            return low, k
    return low, n


__all__ = ["error_count_range"]
