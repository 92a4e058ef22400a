"""How many routing iterations a trained CapsNet needs: test errors per iteration count.

Chapter 7 reads the committed measurement ``results/routing-iterations.json``
(made by ``scripts/measure_routing_iterations.py`` over all 10,000 MNIST test
digits) and re-measures a quick subset live with :func:`errors_by_iterations`;
two counts are compared digit by digit with
:func:`capsbook.paired.paired_comparison` (importable from here too).
:func:`routing_profile` measures what the iterations do change: the winning
capsule's length, and the couplings and vote sums behind it.
The routing iterations are a property of the forward pass, not of the weights:
the same trained ``W_ij`` are run with 1, 2, 3 or 5 iterations.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

import capslib.functional as cf
from capsbook.paired import paired_comparison as paired_comparison
from capsbook.runs.folder import results_file
from capslib.functional import capsule_length
from capslib.pretrained import test_batches

RESULT_NAME = "routing-iterations.json"
#: Where the script writes the record: the repository's results/ folder.
RESULT = Path(__file__).resolve().parents[1] / "results" / RESULT_NAME


@torch.no_grad()
def errors_by_iterations(
    model,
    iterations=(1, 2, 3, 5),
    *,
    limit: int | None = None,
    batch_size: int = 500,
    dataset: str = "mnist",
    source: str = "full",
) -> dict[int, list[int]]:
    """The indices of the test images ``model`` gets wrong, for each routing iteration count.

    ``model``: a trained :class:`capslib.models.CapsNet` (e.g. the shipped
    ``mnist-capsnet``); its ``digit_caps.iterations`` is set for each count and
    restored afterwards.  ``limit``: only the first ``limit`` test images.
    ``dataset`` and ``source``: the test set, as
    :func:`capslib.pretrained.test_batches` makes it (the appendix measures
    ``"fashion-mnist"``).  Returns ``{iterations: sorted list of wrong indices}``.
    """
    model.eval()
    layer = model.digit_caps
    saved = layer.iterations
    device = next(model.parameters()).device
    wrong: dict[int, list[int]] = {int(k): [] for k in iterations}
    try:
        start = 0
        for images, labels in test_batches(
            dataset, 0, batch_size=batch_size, limit=limit, source=source
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


def read_result(path: str | Path | None = None) -> dict:
    """The committed measurement: ``{"errors": {k: n}, "wrong": {k: [...]}, "digits": n, ...}``.

    JSON keys are strings; this returns ``errors`` and ``wrong`` keyed by int. ``path``
    defaults to the record in the results folder (``$CAPSLIB_RESULTS`` if set).
    """
    path = Path(path) if path is not None else results_file(RESULT_NAME)
    data = json.loads(path.read_text(encoding="utf-8"))
    data["errors"] = {int(k): v for k, v in data["errors"].items()}
    data["wrong"] = {int(k): v for k, v in data["wrong"].items()}
    return data


@torch.no_grad()
def routing_profile(model, u, iterations=(1, 2, 3, 5)) -> dict[int, dict]:
    r"""What each routing iteration count does to the winning capsule, per image.

    ``model``: a trained :class:`capslib.models.CapsNet`; ``u``: ``(n, in_caps,
    in_dim)``, the primary capsules of ``n`` images
    (``model.primary_capsules(images)``, computed once by the caller, who may have
    them already).  The same predictions :math:`\hat u_{j|i}` are routed with each count
    (the reference :func:`capslib.functional.dynamic_routing`).  The *winner* is
    the longest digit capsule for that count.  Returns ``{k: {name: (n,)
    tensor}}`` with

    * ``winner``: its class; ``length`` and ``runner_up``: the longest and the
      second-longest capsule's length;
    * ``s_norm``: :math:`\|s_j\|` of the winner before the squash;
    * ``uniform_part`` and ``reweighted_part``: the norms of the two terms of
      :math:`s_j = \frac{1}{J}\sum_i \hat u_{j|i} + \sum_i (c_{ij} - \frac{1}{J})
      \hat u_{j|i}`: what uniform couplings give, and what routing's change of the
      couplings adds;
    * ``coupling_mean``, ``coupling_sd``, ``coupling_max``: the winner's couplings
      over the input capsules (their mean, standard deviation and largest);
    * ``coherence``: :math:`\|\sum_i \hat u_{j|i}\| / \sum_i \|\hat u_{j|i}\|`
      for the winner, 1 when its votes all point the same way, near 0 when they
      cancel.
    """
    model.eval()
    device = next(model.parameters()).device
    u_hat = model.digit_caps.predictions(u.to(device))
    n, in_caps, out_caps, _ = u_hat.shape
    rows = torch.arange(n, device=device)
    profile = {}
    for k in iterations:
        v, c = cf.dynamic_routing(u_hat, int(k), return_couplings=True)
        lengths = v.norm(dim=-1)
        top2 = lengths.topk(2, dim=1)
        winner = top2.indices[:, 0]
        votes = u_hat[rows, :, winner]  # (n, in_caps, out_dim)
        c_win = c[rows, :, winner]  # (n, in_caps)
        uniform = votes.sum(1) / out_caps
        reweighted = ((c_win - 1 / out_caps)[..., None] * votes).sum(1)
        profile[int(k)] = {
            name: value.cpu()
            for name, value in {
                "winner": winner,
                "length": top2.values[:, 0],
                "runner_up": top2.values[:, 1],
                "s_norm": (uniform + reweighted).norm(dim=-1),
                "uniform_part": uniform.norm(dim=-1),
                "reweighted_part": reweighted.norm(dim=-1),
                "coupling_mean": c_win.mean(1),
                "coupling_sd": c_win.std(1),
                "coupling_max": c_win.max(1).values,
                "coherence": votes.sum(1).norm(dim=-1) / votes.norm(dim=-1).sum(1),
            }.items()
        }
    return profile
