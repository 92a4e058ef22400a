"""A labelled image dataset held in memory: what every loader of :mod:`capslib.data` returns.

:func:`capslib.data.load_mnist` and :func:`capslib.data.load_fashion_mnist`
(:mod:`capslib.data.sources`) return an :class:`ImageDataset` that names its
data, split and source, so that every result can say what it was measured on.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..checks import require_shape

__all__ = ["MNIST_CLASSES", "MNIST_CREDIT", "ImageDataset"]

MNIST_CLASSES = tuple(str(d) for d in range(10))
MNIST_CREDIT = (
    "MNIST by Yann LeCun, Corinna Cortes and Christopher J.C. Burges (CC BY-SA 3.0)"
)


@dataclass
class ImageDataset(torch.utils.data.Dataset):
    """Labelled images held in memory.

    ``images``: ``(n, 1, height, width)`` float32 in [0, 1];
    ``labels``: ``(n,)`` int64.  Works as a ``torch.utils.data.Dataset``.
    """

    images: torch.Tensor
    labels: torch.Tensor
    name: str
    split: str
    source: str
    classes: tuple[str, ...] = MNIST_CLASSES
    credit: str = MNIST_CREDIT
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        shape = ("n", "channels", "height", "width")
        require_shape(self.images, "ImageDataset", "images", shape)
        n = len(self.images)
        require_shape(
            self.labels, "ImageDataset", "labels", (n,), fix="one label per image"
        )

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index):
        return self.images[index], self.labels[index]

    def describe(self) -> str:
        """E.g. ``"MNIST sample, train split: 5,000 images"`` (used in every result's provenance)."""
        return f"{self.name}, {self.split} split: {len(self):,} images"

    def subset(self, n: int, *, seed: int | None = None) -> ImageDataset:
        """The first ``n`` examples (or ``n`` drawn at random with ``seed``), as a new dataset."""
        if not 0 < n <= len(self):
            raise ValueError(f"subset: expected 0 < n <= {len(self)}, got {n}")
        if n == len(self):
            return self
        if seed is None:
            index = torch.arange(n)
        else:
            index = torch.randperm(
                len(self), generator=torch.Generator().manual_seed(seed)
            )[:n]
        return ImageDataset(
            self.images[index],
            self.labels[index],
            self.name,
            self.split,
            self.source,
            self.classes,
            self.credit,
            self.notes + [f"subset of {n:,} of {len(self):,}"],
        )
