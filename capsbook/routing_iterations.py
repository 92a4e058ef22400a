"""How many routing iterations a trained CapsNet needs: test errors per iteration count.

Chapter 7 reads the committed measurement ``results/routing-iterations.json``
(made by ``scripts/measure_routing_iterations.py`` over all 10,000 MNIST test
digits) and re-measures a quick subset live with :func:`errors_by_iterations`;
two counts are compared digit by digit with
:func:`capsbook.paired.paired_comparison` (importable from here too).
The routing iterations are a property of the forward pass, not of the weights:
the same trained ``W_ij`` are run with 1, 2, 3 or 5 iterations.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from capsbook.paired import paired_comparison as paired_comparison
from capslib.functional import capsule_length
from capslib.pretrained import test_batches

RESULT = Path(__file__).resolve().parents[1] / "results" / "routing-iterations.json"


@torch.no_grad()
def errors_by_iterations(
    model, iterations=(1, 2, 3, 5), *, limit: int | None = None, batch_size: int = 500
) -> dict[int, list[int]]:
    """The indices of the MNIST test digits ``model`` gets wrong, for each routing iteration count.

    ``model``: a trained :class:`capslib.models.CapsNet` (e.g. the shipped
    ``mnist-capsnet``); its ``digit_caps.iterations`` is set for each count and
    restored afterwards.  ``limit``: only the first ``limit`` test digits.
    Returns ``{iterations: sorted list of wrong test-digit indices}``.
    """
    model.eval()
    layer = model.digit_caps
    saved = layer.iterations
    device = next(model.parameters()).device
    wrong: dict[int, list[int]] = {int(k): [] for k in iterations}
    try:
        start = 0
        for images, labels in test_batches(
            "mnist", 0, batch_size=batch_size, limit=limit
        ):
            u = model.primary_capsules(images.to(device))
            for k in wrong:
                layer.iterations = k
                predicted = capsule_length(layer(u)).argmax(1).cpu()
                bad = (predicted != labels).nonzero().flatten() + start
                wrong[k].extend(bad.tolist())
            start += len(labels)
    finally:
        layer.iterations = saved
    return wrong


def read_result(path: str | Path = RESULT) -> dict:
    """The committed measurement: ``{"errors": {k: n}, "wrong": {k: [...]}, "digits": n, ...}``.

    JSON keys are strings; this returns ``errors`` and ``wrong`` keyed by int.
    """
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    data["errors"] = {int(k): v for k, v in data["errors"].items()}
    data["wrong"] = {int(k): v for k, v in data["wrong"].items()}
    return data
