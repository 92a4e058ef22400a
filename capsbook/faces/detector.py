"""A small CNN trained to tell faces from everything else, and the probability it gives a face."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from capslib.runtime import seed_everything

from ..classifiers import SmallCNN, predict_proba, train_classifier
from .dataset import FaceDataset

DETECTOR_POOLING = ("max", "none", "global")
"""What :func:`train_face_detector` puts between the convolutions and the head."""


class BagOfFeaturesCNN(nn.Module):
    """Two 5x5 convolutions, then each feature map's maximum over *all* positions.

    ``conv(5x5) -> ReLU -> conv(5x5) -> ReLU -> max over the image -> linear ->
    ReLU -> linear``.  The head sees, for each of the ``channels[1]`` features,
    only its strongest response anywhere in the image: *whether* a 9 x 9 pattern
    occurs, never *where*.  Moving two patches that hold no shared pixels leaves
    its output unchanged, so it is blind to the arrangement by construction and
    can tell images apart only by what each 9 x 9 window shows (local cues).

    ``forward(images)``: ``images (batch, in_channels, s, s)`` -> logits
    ``(batch, num_classes)``.
    """

    receptive_field = 9  # two 5 x 5 convolutions, stride 1: 5 + 4 pixels

    def __init__(
        self,
        num_classes: int = 2,
        *,
        channels: tuple[int, int] = (4, 8),
        hidden: int = 32,
        in_channels: int = 1,
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels[0], kernel_size=5, padding=2)
        self.conv2 = nn.Conv2d(channels[0], channels[1], kernel_size=5, padding=2)
        self.fc1 = nn.Linear(channels[1], hidden)
        self.fc2 = nn.Linear(hidden, num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv2(F.relu(self.conv1(images))))  # (batch, c2, s, s)
        bag = x.amax(dim=(2, 3))  # (batch, c2): each feature's strongest response
        return self.fc2(F.relu(self.fc1(bag)))


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
    """A small CNN trained to say face (1) or not (0).

    The weights are initialised from ``seed`` and the batches drawn from it, so
    one seed gives one network, bit for bit on a CPU.  ``pooling``: ``"max"``
    (:class:`capsbook.classifiers.SmallCNN`, two 2x2 max poolings before a
    dense head), ``"none"`` (the same network without its poolings) or
    ``"global"`` (:class:`BagOfFeaturesCNN`: the maximum of each feature map
    over the whole image, blind to the arrangement by construction).
    Returns the trained model in eval mode.
    """
    if not isinstance(train_set, FaceDataset):
        raise TypeError(
            f"train_face_detector: expected a FaceDataset, got {type(train_set).__name__}"
        )
    if pooling not in DETECTOR_POOLING:
        raise ValueError(
            f"train_face_detector: expected pooling in {DETECTOR_POOLING}, "
            f"got {pooling!r}"
        )
    seed_everything(seed)
    if pooling == "global":
        model = BagOfFeaturesCNN(2, channels=channels, hidden=hidden)
    else:
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


__all__ = [
    "BagOfFeaturesCNN",
    "DETECTOR_POOLING",
    "face_probability",
    "train_face_detector",
]
