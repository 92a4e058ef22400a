"""A small CNN trained to tell faces from everything else, and the probability it gives a face."""

from __future__ import annotations

import torch

from capslib.runtime import seed_everything

from ..classifiers import SmallCNN, predict_proba, train_classifier
from .dataset import FaceDataset


def train_face_detector(
    train_set: FaceDataset,
    *,
    pooling: str = "max",
    seed: int = 0,
    epochs: int = 4,
    batch_size: int = 64,
    lr: float = 2e-3,
    channels: tuple[int, int] = (4, 8),
    hidden: int = 32,
    device: torch.device | str | None = None,
):
    """A small CNN (:class:`capsbook.classifiers.SmallCNN`) trained to say face (1) or not (0).

    The weights are initialised from ``seed`` and the batches drawn from it, so
    one seed gives one network, bit for bit on a CPU.  ``pooling``: ``"max"``
    or ``"none"`` (the same network without its two 2x2 max poolings).
    Returns the trained model in eval mode.
    """
    if not isinstance(train_set, FaceDataset):
        raise TypeError(
            f"train_face_detector: expected a FaceDataset, got {type(train_set).__name__}"
        )
    seed_everything(seed)
    model = SmallCNN(
        num_classes=2,
        image_size=train_set.size,
        channels=channels,
        hidden=hidden,
        pooling=pooling,
    )
    train_classifier(
        model,
        train_set.images,
        train_set.labels,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        device=device,
        seed=seed,
    )
    return model


def face_probability(model, images: torch.Tensor) -> torch.Tensor:
    """``P(face)`` that a two-class detector gives each of ``images (n, 1, s, s)``: ``(n,)`` on the CPU."""
    return predict_proba(model, images)[:, 1]


__all__ = ["face_probability", "train_face_detector"]
