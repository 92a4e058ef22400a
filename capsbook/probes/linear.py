"""Linear probes: how much of a quantity a linear map can read from a representation.

Chapter 6 asks what the reconstruction loss buys: do the digit capsules' poses
carry the digit's appearance (its ink, width, height and slant, from
:func:`capsbook.probes.ink_statistics`) beyond its class?  :func:`probe_r2` fits
a ridge regression from the features to each quantity on one random half of the
examples and scores it on the other half (held-out R²), over several random
splits, so that the spread between splits shows the noise.
"""

from __future__ import annotations

import torch
from torch import Tensor


def probe_r2(
    features: Tensor,
    targets: Tensor,
    *,
    splits: int = 5,
    ridge: float = 1e-2,
    seed: int = 0,
) -> Tensor:
    """Held-out R² of a ridge regression from ``features`` to each column of ``targets``.

    ``features``: ``(n, d)``; ``targets``: ``(n, k)``.  For each of ``splits``
    random halvings (``torch.Generator`` seeded with ``seed``), the features and
    targets are standardised on the fitting half, a ridge regression with an
    intercept is fitted there (penalty ``ridge`` times the number of fitting
    examples) and scored on the other half: ``R² = 1 - SSE / SST`` with ``SST``
    around the fitting half's mean.  Returns ``(splits, k)``.  1 means the
    quantity is read exactly, 0 no better than its mean; it can be negative.
    """
    x = torch.as_tensor(features).detach().double().cpu()
    y = torch.as_tensor(targets).detach().double().cpu()
    if x.ndim != 2 or y.ndim != 2 or len(x) != len(y) or len(x) < 4:
        raise ValueError(
            f"probe_r2: expected features (n, d) and targets (n, k) with the same n >= 4, "
            f"got {tuple(x.shape)} and {tuple(y.shape)}"
        )
    if not (splits >= 1 and ridge >= 0):
        raise ValueError(
            f"probe_r2: expected splits >= 1 and ridge >= 0, got {splits}, {ridge}"
        )
    generator = torch.Generator().manual_seed(seed)
    n, half = len(x), len(x) // 2
    scores = []
    for _ in range(splits):
        order = torch.randperm(n, generator=generator)
        fit, test = order[:half], order[half:]
        mean, std = x[fit].mean(0), x[fit].std(0).clamp_min(1e-12)
        xf, xt = (x[fit] - mean) / std, (x[test] - mean) / std
        xf = torch.cat([xf, torch.ones(len(xf), 1, dtype=xf.dtype)], 1)
        xt = torch.cat([xt, torch.ones(len(xt), 1, dtype=xt.dtype)], 1)
        penalty = ridge * len(fit) * torch.eye(xf.shape[1], dtype=xf.dtype)
        penalty[-1, -1] = 0  # the intercept is not penalised
        weights = torch.linalg.solve(xf.T @ xf + penalty, xf.T @ y[fit])
        sse = (y[test] - xt @ weights).square().sum(0)
        sst = (y[test] - y[fit].mean(0)).square().sum(0).clamp_min(1e-12)
        scores.append(1 - sse / sst)
    return torch.stack(scores)
