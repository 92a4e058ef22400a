"""Chapter 10's scrambled-face test over seeds: a CapsNet and a CNN retrained per seed.

Chapter 2's face generator makes the data (:mod:`capsbook.faces`); for each
seed both detectors are built from that seed and trained on the same images
with the same budget (epochs, batch size, learning rate, example order), then
asked about the same held-out scrambled faces.  One seed decides nothing: the
rate at which a detector calls a scrambled face "face" moves by tens of points
from seed to seed.  So the rule (:func:`face_seeds_verdict`) judges the mean
over seeds of the per-seed difference against its between-seed standard
error.

``scripts/measure_face_seeds.py`` trains the seeds (about 20 CPU-minutes) and
writes :data:`RECORD`; the chapter reads it and re-measures one seed live with
:func:`train_face_pair`, at the record's sizes.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch

import capslib
from capslib.models import CapsNet, CapsNetConfig

from .. import faces
from ..classifiers import (
    SmallCNN,
    accuracy,
    capsnet_objective,
    map_batches,
    predict_proba,
    train_classifier,
)
from ..paired import paired_difference
from ..runs.folder import results_file

#: The committed record of the seeds, written by ``scripts/measure_face_seeds.py``.
RECORD_NAME = "face-seeds.json"
#: Where the script writes the record: the repository's results/ folder.
RECORD = Path(__file__).resolve().parents[2] / "results" / RECORD_NAME

#: Below this accuracy on held-out faces against non-faces a detector has not learned
#: its task, and what it says about scrambled faces says nothing about its architecture.
FACE_ACCURACY_FLOOR = 0.85

#: The fewest seeds the rule judges: fewer give no usable between-seed spread.
MIN_SEEDS = 5

#: The seeds of the data (fixed for every detector): training set, test set, scrambled faces.
DATA_SEEDS = {"train": 0, "test": 1, "scrambled": 2}

#: The sizes ``scripts/measure_face_seeds.py`` trains at (faces and as many non-faces; test
#: images of each kind, and as many scrambled faces; one budget for both detectors).
SIZES = {"n_each": 1000, "n_eval": 500, "epochs": 3, "batch_size": 32, "lr": 2e-3}

#: The seeds it trains: each builds both detectors and orders their examples.
SEEDS = tuple(range(20))


@dataclass(frozen=True)
class FaceData:
    """The images every detector of the test sees: ``(n, 1, 28, 28)`` each."""

    train: faces.FaceDataset
    test: faces.FaceDataset
    scrambled: faces.FaceDataset

    def describe(self) -> str:
        return (
            f"{self.train.describe()}; test {self.test.describe()}; "
            f"{len(self.scrambled):,} scrambled faces"
        )


def face_data(n_each: int, n_eval: int) -> FaceData:
    """``n_each`` faces and as many non-faces to train on; ``n_eval`` of each to test on,
    and ``n_eval`` scrambled faces, each set from its own seed (:data:`DATA_SEEDS`)."""
    return FaceData(
        faces.make_face_dataset(n_each, n_each, seed=DATA_SEEDS["train"]),
        faces.make_face_dataset(n_eval, n_eval, seed=DATA_SEEDS["test"]),
        faces.make_scrambled_faces(n_eval, seed=DATA_SEEDS["scrambled"]),
    )


def face_capsnet() -> CapsNet:
    """The small capsule face detector: 2 class capsules, "not a face" (0) and "face" (1)."""
    config = CapsNetConfig.small(
        num_classes=2, conv_channels=32, primary_types=8, decoder_hidden=(128, 256)
    )
    return CapsNet(config)


def face_cnn() -> SmallCNN:
    """Chapter 2's design: two convolutions, each followed by 2x2 max pooling."""
    return SmallCNN(num_classes=2, channels=(8, 16), hidden=32, pooling="max")


def _capsule_lengths(model, images):
    return model(images).lengths


def train_face_pair(
    seed: int,
    data: FaceData,
    *,
    epochs: int,
    batch_size: int = 32,
    lr: float = 2e-3,
    device: torch.device | str = "cpu",
) -> dict:
    """Build both detectors from ``seed``, train them on one budget, ask them about the scrambled faces.

    The seed sets each network's initial weights (:func:`capslib.seed_everything` before it is
    built) and the order of the examples; the data are the same for every seed.  Returns a dict:
    ``seed``; per network (``"cnn"``, ``"capsnet"``) its ``accuracy`` on faces against
    non-faces, its ``rate`` (the fraction of scrambled faces it calls "face"), ``face``
    (``(n,)`` bool, its answer on each scrambled face), ``examples_seen`` and ``cpu_seconds``.
    """
    budget = dict(epochs=epochs, batch_size=batch_size, lr=lr, device=device, seed=seed)
    out: dict = {"seed": seed}
    for name in ("cnn", "capsnet"):
        start = time.process_time()
        capslib.seed_everything(seed)
        if name == "cnn":
            model = face_cnn()
            history = train_classifier(
                model, data.train.images, data.train.labels, **budget
            )
            acc = accuracy(model, data.test.images, data.test.labels)
            said = predict_proba(model, data.scrambled.images)[:, 1] > 0.5
        else:
            model = face_capsnet().to(device)
            history = train_classifier(
                model,
                data.train.images,
                data.train.labels,
                **budget,
                objective=capsnet_objective,
            )
            acc = accuracy(
                model,
                data.test.images,
                data.test.labels,
                scores=_capsule_lengths,
                batch_size=300,
            )
            lengths = map_batches(
                lambda x, m=model: _capsule_lengths(m, x),
                data.scrambled.images,
                batch_size=300,
                device=device,
            )
            said = lengths.argmax(1) == 1
        out[name] = {
            "accuracy": acc,
            "rate": said.float().mean().item(),
            "face": said.cpu(),
            "examples_seen": history.examples_seen,
            "cpu_seconds": time.process_time() - start,
        }
    if out["cnn"]["examples_seen"] != out["capsnet"]["examples_seen"]:
        raise AssertionError("train_face_pair: the two budgets differ")
    return out


@dataclass(frozen=True)
class SeedsVerdict:
    """What :func:`face_seeds_verdict` decided, and the numbers that decided it."""

    verdict: str
    measured: str
    seeds: int
    cnn_rate: float  # mean over seeds
    capsnet_rate: float
    difference: float  # mean of (CNN rate - CapsNet rate) over seeds
    se: float  # its between-seed standard error


def face_seeds_verdict(
    per_seed: list[dict],
    *,
    floor: float = FACE_ACCURACY_FLOOR,
    min_seeds: int = MIN_SEEDS,
) -> SeedsVerdict:
    """The scrambled-face claim over seeds: does the CapsNet call fewer of them "face"?

    ``per_seed``: one dict per seed, with ``per_seed[i][net]["rate"]`` and ``["accuracy"]`` for
    ``net`` in ``"cnn"``, ``"capsnet"`` (as :func:`train_face_pair` returns, or as the record
    stores them).  The rule: with fewer than ``min_seeds`` seeds, "not tested (too few
    seeds)"; if any detector of any seed is below ``floor`` on faces against non-faces, "not
    tested" (naming the seeds); otherwise, with ``d_s`` = CNN rate - CapsNet rate on seed ``s``
    and its mean ``d`` over the seeds, "held" if ``d`` exceeds two between-seed standard errors
    (``sd(d_s) / sqrt(seeds)``), "did not hold" if ``-d`` does, else "not shown".
    """
    n = len(per_seed)
    cnn = torch.tensor([s["cnn"]["rate"] for s in per_seed], dtype=torch.float64)
    caps = torch.tensor([s["capsnet"]["rate"] for s in per_seed], dtype=torch.float64)
    if n >= 2:
        difference, se = paired_difference(cnn, caps)
    else:
        difference, se = (cnn - caps).sum().item(), float("nan")
    measured = (
        f"scrambled faces called 'face', mean of {n} seeds: CapsNet "
        f"{caps.mean().item():.1%}, CNN {cnn.mean().item():.1%} (CNN - CapsNet "
        f"{difference:+.1%}, 2 SE over seeds {2 * se:.1%})"
    )
    below = [
        s["seed"]
        for s in per_seed
        if min(s["cnn"]["accuracy"], s["capsnet"]["accuracy"]) < floor
    ]
    if n < min_seeds:
        verdict = f"not tested (fewer than {min_seeds} seeds)"
    elif below:
        seeds = ", ".join(str(s) for s in below)
        verdict = f"not tested (a detector below {floor:.0%} on seed {seeds})"
    elif difference > 2 * se:
        verdict = "held"
    elif difference < -2 * se:
        verdict = "did not hold (the CapsNet accepts more)"
    else:
        verdict = "not shown (within two standard errors over seeds)"
    return SeedsVerdict(
        verdict, measured, n, cnn.mean().item(), caps.mean().item(), difference, se
    )


def load_record(path: str | os.PathLike | None = None) -> dict | None:
    """The committed record, or ``None`` where it has not been made.

    ``path`` defaults to the record in the results folder (``$CAPSLIB_RESULTS`` if set).
    """
    path = Path(path) if path is not None else results_file(RECORD_NAME)
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))
