"""Add chapter 6's floor to its record, from the complete MNIST; nothing is trained.

The floor is the squared error of drawing, for every test digit, the mean
training digit of its class (:func:`capsbook.loss_experiments.floor_record`).  It
depends on the training digits: a build that has only the bundled sample of
5,000 training digits would compute another floor than the runs' 55,000.  So the
record keeps the class-mean digits of seed 0's training split (the runs' own
split: 5,000 of the 60,000 held out for validation), and chapter 6 reads them
whatever data its build has.

Usage (from the repository root; CAPSLIB_DATA: the folder holding mnist/)::

    CAPSLIB_DATA=../shared/data python -m capsbook.loss_experiments.floor

It checks that the split is the runs' (the mean training digit's error must be
the record's) and writes ``reconstruction.floor``, with its provenance, into
``results/reconstruction-losses.json``, in seconds.
"""

from __future__ import annotations

import datetime
import json
import sys
from pathlib import Path

import torch

from capsbook.loss_experiments import RESULT, floor_record, squared_errors
from capslib.train import TrainConfig
from capslib.train.run_data import load_run_data
from capslib.train.trainer import git_commit

COMMAND = "python -m capsbook.loss_experiments.floor"
#: The record's name for the mean training digit of all classes.
MEAN_DIGIT = "mean training digit"


def add_floor(path: Path = RESULT) -> dict:
    """Write the floor into the record at ``path``; returns it."""
    record = json.loads(path.read_text(encoding="utf-8"))
    schedule = record["schedule"]
    seed = record["seeds"][0]
    config = TrainConfig(
        mode="full",
        model="capsnet",
        config=schedule["model"],
        dataset="mnist",
        validation_size=schedule["validation_size"],
        seed=seed,
        device="cpu",
    )
    data = load_run_data(config, torch.device("cpu"), verbose=False)
    images, labels = data.test.images.float().cpu(), data.test.labels.cpu()
    train = data.train
    floor = floor_record(
        train.images.float().cpu(),
        train.labels.cpu(),
        images,
        labels,
        training=f"the {len(train):,} training digits of seed {seed}'s split "
        f"({schedule['validation_size']:,} of MNIST's 60,000 held out for "
        "validation), the digits the seed-0 runs trained on",
    )
    counts = torch.tensor(floor["class_counts"], dtype=torch.float64)
    digits = torch.tensor(floor["class_mean_digits"], dtype=torch.float64)
    mean_digit = ((counts[:, None] * digits).sum(0) / counts.sum()).view(
        1, *floor["shape"]
    )
    again = squared_errors(mean_digit, images).mean().item()
    recorded = record["reconstruction"]["errors"][MEAN_DIGIT]
    if abs(again - recorded) > 1e-4:
        raise SystemExit(
            f"the mean training digit's error is {again:.4f} here and {recorded:.4f} "
            "in the record: these are not the training digits the runs used"
        )
    floor["provenance"] = {
        "data": data.describe(),
        "commit": git_commit(),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime(
            "%Y-%m-%d %H:%M UTC"
        ),
        "command": COMMAND,
    }
    record["reconstruction"]["floor"] = floor
    path.write_text(dumps(record), encoding="utf-8")
    return floor


def dumps(record: dict) -> str:
    """The record as the script writes it (``indent=1``), but each class-mean digit
    on one line rather than 784."""
    floor = record["reconstruction"].get("floor")
    if floor is None:
        return json.dumps(record, indent=1) + "\n"
    digits = floor["class_mean_digits"]
    marks = [f"@class-mean-digit-{k}@" for k in range(len(digits))]
    text = json.dumps(
        record | {"reconstruction": record["reconstruction"]
                  | {"floor": floor | {"class_mean_digits": marks}}},
        indent=1,
    )  # fmt: skip
    for mark, digit in zip(marks, digits):
        text = text.replace(json.dumps(mark), json.dumps(digit))
    return text + "\n"


def main() -> int:
    floor = add_floor()
    print(
        f"floor: {floor['error']:.2f} per test digit (sd {floor['sd']:.2f}), from "
        f"{floor['training_digits']:,} training digits; written into {RESULT.name}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
