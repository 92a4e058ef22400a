r"""When does the squash widen the contrast between two capsule inputs?

Chapter 4's rule, derived from Eq. 1 of Sabour et al. (2017).  The squash maps an
input length :math:`r` to :math:`f(r) = r^2 / (1 + r^2)`.  For two inputs of
lengths :math:`a > b > 0` (say, a sum of agreeing votes and a sum of random ones),

.. math::

    \frac{f(a)}{f(b)} = \frac{a}{b} \cdot \frac{a\,(1 + b^2)}{b\,(1 + a^2)},
    \qquad
    a\,(1 + b^2) - b\,(1 + a^2) = (a - b)(1 - ab),

so the output ratio exceeds the input ratio (the squash *widens* the contrast)
exactly when :math:`ab < 1`, equals it when :math:`ab = 1` and narrows it when
:math:`ab > 1`.  How long the longer input is, on its own, decides nothing.

Chapter 4 applies the rule to the shipped CapsNet: for each MNIST test digit the
capsule of the digit shown (``present``) against its strongest rival among the
nine others.  The measurement over all 10,000 test digits is committed as
``results/squash-contrast.json`` (made by ``scripts/measure_squash_contrast.py``);
the chapter re-measures a subset live and checks it against the record.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch

from capsbook.runs.folder import results_file

RESULT_NAME = "squash-contrast.json"
#: Where the script writes the record: the repository's results/ folder.
RESULT = Path(__file__).resolve().parents[1] / "results" / RESULT_NAME
#: Digits whose product of input lengths lies this close to 1 are on the boundary:
#: float rounding may flip their flag, so the live check skips them.
BOUNDARY = 1e-4


def digit_order(n: int = 10_000) -> torch.Tensor:
    """The order in which the record visits the test digits: a permutation (seed 0),
    so that the first ``k`` measured digits are a random sample of the test set."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(0))


def squashed_length(r):
    """``f(r) = r**2 / (1 + r**2)``, the output length of Eq. 1 for an input of length ``r``."""
    return r * r / (1 + r * r)


def input_length(v):
    """The inverse: ``|s| = sqrt(|v| / (1 - |v|))`` for an output length ``0 <= v < 1``."""
    if isinstance(v, torch.Tensor):
        return (v / (1 - v)).sqrt()
    return math.sqrt(v / (1 - v))


def contrast(a, b):
    """``(ratio_in, ratio_out)``: ``a / b`` and ``f(a) / f(b)`` for input lengths ``a``, ``b`` > 0."""
    return a / b, squashed_length(a) / squashed_length(b)


def widens(a, b):
    """True where the output ratio ``f(a) / f(b)`` exceeds the input ratio ``a / b``.

    By the identity in the module's docstring this is ``(a - b) * (1 - a * b) > 0``:
    for ``a > b`` (``a`` the longer input, so the squash widens their contrast),
    exactly when ``a * b < 1``.  Works on numbers and on tensors (elementwise).
    """
    return (a - b) * (1 - a * b) > 0


def present_and_rival(lengths: torch.Tensor, labels: torch.Tensor):
    """``(v_present, v_rival)``, each ``(n,)``: the capsule length of the labelled class
    and the longest of the other classes, from ``lengths``: ``(n, classes)``."""
    rows = torch.arange(len(labels))
    present = torch.zeros_like(lengths, dtype=torch.bool)
    present[rows, labels] = True
    return lengths[rows, labels], lengths.masked_fill(present, -1).amax(1)


@torch.no_grad()
def capsule_lengths(model, images: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """The digit capsules' lengths ``(n, classes)``, float64, of a CapsNet ``model``
    on ``images`` ``(n, 1, 28, 28)``, in batches of ``batch_size``."""
    model.eval()
    parameter = next(model.parameters())
    out = []
    for start in range(0, len(images), batch_size):
        batch = images[start : start + batch_size]
        batch = batch.to(device=parameter.device, dtype=parameter.dtype)
        out.append(model(batch).lengths.double().cpu())
    return torch.cat(out)


def summarise(v_present: torch.Tensor, v_rival: torch.Tensor) -> dict:
    """What chapter 4 reports, from the output lengths of the two capsules per digit.

    ``widened``: the share of digits whose output ratio exceeds the input ratio;
    ``se``: its standard error, ``sqrt(p (1 - p) / n)``; the medians of the input
    lengths, their product and the two ratios; ``saturated``: the share of digits
    whose present capsule's input reaches 3 (output 0.9, the margin loss's target).
    """
    s_p, s_a = input_length(v_present), input_length(v_rival)
    flags = widens(s_p, s_a)
    n = len(flags)
    share = flags.double().mean().item()
    return {
        "digits": n,
        "widened": share,
        "se": math.sqrt(share * (1 - share) / n),
        "median_present": s_p.median().item(),
        "median_rival": s_a.median().item(),
        "median_product": (s_p * s_a).median().item(),
        "median_ratio_in": (s_p / s_a).median().item(),
        "median_ratio_out": (v_present / v_rival).median().item(),
        "saturated": (s_p >= 3).double().mean().item(),
        "present_wins": (s_p > s_a).double().mean().item(),
    }


def verdict(share: float, n: int) -> str:
    """The chapter's rule: ``"widens"`` if ``share`` exceeds one half by more than two
    standard errors of a share at one half (``2 * sqrt(0.25 / n)``), ``"narrows"`` if
    it falls short of one half by as much, otherwise ``"undecided"``."""
    margin = 2 * math.sqrt(0.25 / n)
    if share > 0.5 + margin:
        return "widens"
    if share < 0.5 - margin:
        return "narrows"
    return "undecided"


def read_result(path: str | Path | None = None) -> dict:
    """The committed measurement (``summary``, ``narrowed``: the indices of the test
    digits whose contrast the squash does not widen, ``near_boundary``, provenance).
    ``path`` defaults to the record in the results folder (``$CAPSLIB_RESULTS`` if set)."""
    path = Path(path) if path is not None else results_file(RESULT_NAME)
    return json.loads(path.read_text(encoding="utf-8"))
