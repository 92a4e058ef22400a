"""The data of a run: the three splits on the device, how to name them, and a fingerprint of their contents.

:func:`load_run_data` loads the dataset a :class:`~capslib.train.config.TrainConfig`
names, carves the validation split from the training data (the test set is
used once, at the end), cuts each split to its configured size and moves it to
the device.  :func:`data_fingerprint` is what a resumed run must find again.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import torch

from ..data import derived, sources
from ..data.device import (
    DeviceDataset,
    epoch_plan,
    iterate_batches,
    train_validation_split,
)
from ..data.multimnist import MultiMNISTPairs
from .config import TrainConfig
from .distributed import all_reduce_sum
from .interrupts import TrainingDiverged
from .metrics import accuracy_counts


@dataclass
class RunData:
    """The three splits on the device and how to describe them."""

    train: DeviceDataset
    validation: DeviceDataset
    test: DeviceDataset
    name: str
    credit: str
    #: The test set's own source, when it is not the training data's (e.g. the complete
    #: Fashion-MNIST's training files beside the bundled sample's test set).
    test_name: str | None = None

    def describe(self) -> str:
        if self.test_name:
            return (
                f"{self.name}: {len(self.train):,} train / {len(self.validation):,} validation; "
                f"{self.test_name}: {len(self.test):,} test"
            )
        return (
            f"{self.name}: {len(self.train):,} train / {len(self.validation):,} validation / "
            f"{len(self.test):,} test"
        )


def load_run_data(
    config: TrainConfig, device: torch.device, *, verbose: bool = True
) -> RunData:
    """Load ``config.dataset``, carve the validation split, cut to the configured sizes, move to ``device``."""

    def cut(dataset, size, seed=None):
        return (
            dataset
            if size is None or size >= len(dataset)
            else dataset.subset(size, seed=seed)
        )

    name = config.dataset
    if name in ("mnist", "mnist-sample", "multimnist", "affine"):
        # "mnist" in full mode insists on the complete data; in quick mode it takes the complete data when it
        # is there and otherwise the bundled sample, saying which (the run's data name records it too).
        source = {
            "mnist": "full" if config.mode == "full" else "auto",
            "mnist-sample": "sample",
        }.get(name, "auto")
        train_all = sources.load_mnist("train", source=source, verbose=verbose)
        test = sources.load_mnist("test", source=source, verbose=verbose)
    else:
        train_all = sources.load_fashion_mnist("train", verbose=verbose)
        test = sources.load_fashion_mnist("test", verbose=verbose)

    def bundled(dataset) -> bool:
        return any(note.startswith("bundled sample") for note in dataset.notes)

    # each split names its own source when the two differ (one from the complete set, one from the sample)
    test_name = test.name if bundled(test) != bundled(train_all) else None
    if config.validation_size >= len(train_all):
        raise ValueError(
            f"validation_size {config.validation_size} leaves no training data out of "
            f"{len(train_all):,} images"
        )
    train, validation = train_validation_split(
        train_all, config.validation_size, seed=config.seed
    )
    train_all_digits = (
        train  # MultiMNIST pairs every training digit; train_size counts its pairs
    )
    train = cut(train, config.train_size, seed=config.seed)
    test = cut(test, config.test_size)
    if name == "multimnist":
        parts = [
            MultiMNISTPairs.from_dataset(
                train_all_digits,
                config.train_size,
                seed=config.seed,
                fresh=True,
                split="train",
                device=device,
            ),
            MultiMNISTPairs.from_dataset(
                validation,
                None,
                seed=config.seed + 1,
                fresh=False,
                split="validation",
                device=device,
            ),
            MultiMNISTPairs.from_dataset(
                test,
                None,
                seed=config.seed + 2,
                fresh=False,
                split="test",
                device=device,
            ),
        ]
        return RunData(
            *parts,
            f"MultiMNIST from {train_all.name}",
            train_all.credit,
            test_name and f"MultiMNIST from {test_name}",
        )
    if name == "affine":
        # Training digits are centred on 40x40; the trainer's shift augmentation (up to 6 px) places them
        # anywhere on the canvas, fresh each epoch. Validation: a fixed shifted set; test: the affine set.
        train = sources.ImageDataset(
            derived.pad_to_canvas(train.images, derived.AFFINE_CANVAS),
            train.labels,
            train.name,
            "train",
            train.source,
            train.classes,
            train.credit,
            train.notes,
        )
        validation = derived.shifted_mnist(validation, seed=config.seed + 1)
        validation.split = "validation"
        test = derived.affine_mnist(test, seed=config.seed + 2)
        data_name = (
            f"{train_all.name} 40x40 shifted (train, validation) / affine (test)"
        )
    else:
        data_name = train_all.name
    return RunData(
        DeviceDataset.from_dataset(train, device),
        DeviceDataset.from_dataset(validation, device),
        DeviceDataset.from_dataset(test, device),
        data_name,
        train_all.credit,
        test_name,
    )


DATA_ENV_HINT = "CAPSLIB_DATA"


def data_fingerprint(data: RunData, *, every: int = 1) -> dict:
    """What the run trains and chooses its model on: the data's name, the training and validation sizes,
    and a SHA256 over every label and every image of both splits (a fraction of a second for MNIST,
    next to minutes for an epoch).  Stored in each checkpoint; a resume must find the same.  (The test
    set may change on resume, as ``test_size`` may.)  ``every``: hash every N-th image only, as
    checkpoints made before the whole contents were hashed did (``every=97``, no ``"images"`` key)."""
    digest = hashlib.sha256()
    for split in (data.train, data.validation):
        images = split.digits if isinstance(split, MultiMNISTPairs) else split.images
        for tensor in (split.labels, images[::every]):
            digest.update(
                tensor.detach()
                .cpu()
                .contiguous()
                .reshape(-1)
                .view(torch.uint8)
                .numpy()
                .tobytes()
            )
    return {
        "data": data.name,
        "sizes": [len(data.train), len(data.validation)],
        "sha256": digest.hexdigest(),
        **({"images": "all"} if every == 1 else {}),
    }


class Batches:
    """The trainer's batches and its evaluation (a part of :class:`~capslib.train.trainer.Trainer`)."""

    def batches(
        self,
        dataset,
        *,
        epoch: int | None = None,
        start_step: int = 0,
        training: bool = False,
    ):
        """``(images, labels, components or None)`` batches of ``dataset``: the epoch's plan when training."""
        c = self.config
        world = (
            dict(rank=self.context.rank, world_size=self.context.world_size)
            if training
            else {}
        )
        size = c.batch_size if training else c.eval_batch_size
        if isinstance(dataset, MultiMNISTPairs):
            yield from dataset.batches(
                size,
                epoch=epoch or 0,
                start_step=start_step,
                drop_last=training,
                **world,
            )
            return
        plan = (
            epoch_plan(
                len(dataset),
                seed=c.seed,
                epoch=epoch,
                max_shift=c.max_shift,
                device=self.device,
            )
            if training
            else None
        )
        for images, labels in iterate_batches(
            dataset, size, plan=plan, start_step=start_step, drop_last=training, **world
        ):
            yield images, labels, None

    @torch.no_grad()
    def evaluate(self, dataset) -> dict[str, float]:
        """Loss and accuracy on ``dataset`` (in order, no augmentation), shared among processes."""
        self.model.eval()
        totals = torch.zeros(3, dtype=torch.float64, device=self.device)
        for index, (images, labels, components) in enumerate(self.batches(dataset)):
            if index % self.context.world_size != self.context.rank:
                continue
            with self._autocast():
                loss, scores = self.compute_loss(self.model, images, labels, components)
            totals += torch.stack(
                [
                    loss.double() * len(labels),
                    accuracy_counts(scores, labels).double(),
                    torch.tensor(
                        float(len(labels)), dtype=torch.float64, device=self.device
                    ),
                ]
            )
        all_reduce_sum(totals, self.context)
        loss_sum, correct, seen = totals.tolist()
        if not math.isfinite(loss_sum):
            raise TrainingDiverged(
                f"the {dataset.split} loss is not finite after step {self.step} (epoch "
                f"{self.epoch + 1}): the weights hold NaN or infinite values"
            )
        return {"loss": loss_sum / seen, "accuracy": correct / seen}
