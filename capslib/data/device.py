"""Datasets held on the device: batches drawn there, augmentation done there.

A GPU trains a CapsNet on MNIST far faster than a Python ``DataLoader`` can
feed it one example at a time.  MNIST is small (60,000 x 28 x 28 float32 is
188 MB), so the whole dataset is moved to the device once and every batch is
an index into it: no per-example Python work, no host-to-device copy per step.

* :class:`DeviceDataset`: images and labels as tensors on one device;
* :func:`random_shift`: the paper's only augmentation, "shifted by up to 2
  pixels in each direction with zero padding" (Sabour et al. 2017, section 5),
  one random shift per example, done with one gather on the device;
* :func:`train_validation_split`: a validation split carved from the
  training data, so that the test set never chooses a model;
* :func:`epoch_plan` and :func:`iterate_batches`: the order and shifts of an
  epoch are a pure function of ``(seed, epoch)``, which makes an interrupted
  run resume exactly and lets every distributed process draw the same plan.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from ..checks import require_shape
from .sources import MNIST_CLASSES, MNIST_CREDIT, ImageDataset

_IMAGES = ("batch", "channels", "height", "width")


@dataclass
class DeviceDataset:
    """Images and labels held as tensors on one device.

    ``images``: ``(n, channels, height, width)`` floating, in [0, 1];
    ``labels``: ``(n,)`` int64 class indices, or ``(n, k)`` int64 for
    ``k`` labels per image (MultiMNIST: two digits).
    """

    images: torch.Tensor
    labels: torch.Tensor
    name: str = "dataset"
    split: str = "train"
    classes: tuple[str, ...] = MNIST_CLASSES
    credit: str = MNIST_CREDIT
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not isinstance(self.images, torch.Tensor) or not isinstance(
            self.labels, torch.Tensor
        ):
            raise TypeError(
                f"DeviceDataset: expected tensors, got {type(self.images).__name__} and {type(self.labels).__name__}"
            )
        shape = ("n", "channels", "height", "width")
        require_shape(
            self.images,
            "DeviceDataset",
            "images",
            shape,
            floating=True,
            dtype_fix="convert it with images.float() / 255 (values in [0, 1])",
        )
        if (
            self.labels.ndim not in (1, 2)
            or len(self.labels) != len(self.images)
            or self.labels.dtype != torch.int64
        ):
            raise ValueError(
                f"DeviceDataset: expected int64 labels of shape ({len(self.images)},) or ({len(self.images)}, k), "
                f"got shape {tuple(self.labels.shape)} of dtype {self.labels.dtype}"
            )
        if self.labels.device != self.images.device:
            raise ValueError(
                f"DeviceDataset: images on {self.images.device} but labels on {self.labels.device}"
            )

    @classmethod
    def from_dataset(cls, dataset, device: torch.device | str = "cpu") -> DeviceDataset:
        """Move an :class:`~capslib.data.ImageDataset` (or anything with ``images``/``labels``) to ``device`` once."""
        device = torch.device(device)
        return cls(
            dataset.images.to(device, torch.float32),
            dataset.labels.to(device, torch.int64),
            getattr(dataset, "name", "dataset"),
            getattr(dataset, "split", "train"),
            tuple(getattr(dataset, "classes", MNIST_CLASSES)),
            getattr(dataset, "credit", MNIST_CREDIT),
            list(getattr(dataset, "notes", [])),
        )

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def device(self) -> torch.device:
        return self.images.device

    @property
    def image_size(self) -> int:
        return self.images.shape[-1]

    @property
    def labels_per_image(self) -> int:
        return 1 if self.labels.ndim == 1 else self.labels.shape[1]

    def to(self, device: torch.device | str) -> DeviceDataset:
        return DeviceDataset(
            self.images.to(device),
            self.labels.to(device),
            self.name,
            self.split,
            self.classes,
            self.credit,
            list(self.notes),
        )

    def take(
        self, index: torch.Tensor, *, split: str | None = None, note: str | None = None
    ) -> DeviceDataset:
        """The examples at ``index`` (a 1-D index tensor), as a new dataset on the same device."""
        index = index.to(self.device)
        return DeviceDataset(
            self.images[index],
            self.labels[index],
            self.name,
            split or self.split,
            self.classes,
            self.credit,
            self.notes + ([note] if note else []),
        )

    def describe(self) -> str:
        """E.g. ``"MNIST, validation split: 5,000 images"``."""
        return f"{self.name}, {self.split} split: {len(self):,} images"


def pad_to_canvas(images: torch.Tensor, canvas: int) -> torch.Tensor:
    """Centre ``(n, c, h, w)`` images on a ``canvas`` x ``canvas`` black background."""
    height, width = images.shape[-2:]
    if canvas < max(height, width) or (canvas - height) % 2 or (canvas - width) % 2:
        raise ValueError(
            f"pad_to_canvas: canvas {canvas} must be at least {max(height, width)} and leave "
            f"an even margin, got images of {height}x{width}"
        )
    top, left = (canvas - height) // 2, (canvas - width) // 2
    return F.pad(images, (left, canvas - width - left, top, canvas - height - top))


def shift_images(
    images: torch.Tensor, shifts: torch.Tensor, max_shift: int
) -> torch.Tensor:
    """Translate each image by its own integer ``(dy, dx)``, filling with zeros.

    ``images``: ``(batch, channels, height, width)``; ``shifts``: ``(batch, 2)``
    integers in ``[-max_shift, max_shift]`` (rows down, columns right).
    Returns a tensor of the same shape.  One pad and one gather, on the
    images' device: ``out[b, :, y, x] = images[b, :, y - dy, x - dx]`` (zero
    where that falls outside the image).
    """
    require_shape(images, "shift_images", "images", _IMAGES, floating=True)
    if shifts.shape != (images.shape[0], 2):
        raise ValueError(
            f"shift_images: expected shifts of shape ({images.shape[0]}, 2), got {tuple(shifts.shape)}"
        )
    if max_shift < 0:
        raise ValueError(f"shift_images: expected max_shift >= 0, got {max_shift}")
    if max_shift == 0:
        return images
    if (
        shifts.device.type == "cpu"
        and shifts.numel()
        and shifts.abs().max() > max_shift
    ):  # (no GPU sync)
        raise ValueError(
            f"shift_images: shifts must lie in [-{max_shift}, {max_shift}], got up to {int(shifts.abs().max())}"
        )
    batch, channels, height, width = images.shape
    padded = torch.nn.functional.pad(images, (max_shift,) * 4)
    shifts = shifts.to(images.device, torch.int64)
    rows = (
        torch.arange(height, device=images.device) + max_shift - shifts[:, :1]
    )  # (batch, height)
    cols = (
        torch.arange(width, device=images.device) + max_shift - shifts[:, 1:]
    )  # (batch, width)
    batch_index = torch.arange(batch, device=images.device)[:, None, None, None]
    channel_index = torch.arange(channels, device=images.device)[None, :, None, None]
    return padded[
        batch_index, channel_index, rows[:, None, :, None], cols[:, None, None, :]
    ]


def random_shifts(
    batch: int,
    max_shift: int,
    *,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """``(batch, 2)`` int64 shifts drawn uniformly from ``[-max_shift, max_shift]`` per example and direction."""
    if max_shift < 0:
        raise ValueError(f"random_shifts: expected max_shift >= 0, got {max_shift}")
    device = generator.device if generator is not None else device
    return torch.randint(
        -max_shift, max_shift + 1, (batch, 2), generator=generator, device=device
    )


def random_shift(
    images: torch.Tensor,
    max_shift: int = 2,
    *,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """The paper's augmentation: shift every image by its own random offset of up to ``max_shift`` pixels.

    ``images``: ``(batch, channels, height, width)``, returns the same shape.
    Each example gets an independent ``(dy, dx)`` uniform in
    ``[-max_shift, max_shift]``; pixels shifted in are zeros (Sabour et al.
    2017: "shifted by up to 2 pixels in each direction with zero padding").
    Training only: evaluation never calls it.
    """
    require_shape(images, "random_shift", "images", _IMAGES, floating=True)
    if generator is not None and generator.device != images.device:
        raise ValueError(
            f"random_shift: generator on {generator.device} but images on {images.device}"
        )
    shifts = random_shifts(
        images.shape[0], max_shift, generator=generator, device=images.device
    )
    return shift_images(images, shifts, max_shift)


def train_validation_split(dataset, validation_size: int, *, seed: int = 0):
    """Carve a validation split of ``validation_size`` examples out of the training data.

    Works for :class:`DeviceDataset` and :class:`~capslib.data.ImageDataset`.
    The split is a fixed random permutation drawn with ``seed`` (on the CPU,
    so it is the same on every device).  Returns ``(train, validation)``,
    disjoint, together the whole dataset.  The test set is never used for
    model selection, early stopping or the learning rate.
    """
    n = len(dataset)
    if not 0 <= validation_size < n:
        raise ValueError(
            f"train_validation_split: expected 0 <= validation_size < {n}, got {validation_size}"
        )
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    train_index, validation_index = (
        order[validation_size:].sort().values,
        order[:validation_size].sort().values,
    )
    note = f"validation split of {validation_size:,} carved from {n:,} training images (seed {seed})"
    if isinstance(dataset, DeviceDataset):
        return (
            dataset.take(train_index, split="train", note=note),
            dataset.take(validation_index, split="validation", note=note),
        )
    if isinstance(dataset, ImageDataset):

        def part(index, split):
            return ImageDataset(
                dataset.images[index],
                dataset.labels[index],
                dataset.name,
                split,
                dataset.source,
                dataset.classes,
                dataset.credit,
                dataset.notes + [note],
            )

        return part(train_index, "train"), part(validation_index, "validation")
    raise TypeError(
        f"train_validation_split: expected a DeviceDataset or ImageDataset, got {type(dataset).__name__}"
    )


def epoch_generator(
    seed: int, epoch: int, device: torch.device | str = "cpu"
) -> torch.Generator:
    """A generator on ``device`` whose stream depends only on ``(seed, epoch)``."""
    return torch.Generator(device=device).manual_seed(
        (seed * 1_000_003 + epoch * 7_919 + 17) % (2**63)
    )


@dataclass
class EpochPlan:
    """The order and augmentation of one epoch: ``order`` ``(n,)``, ``shifts`` ``(n, 2)`` (or ``None``)."""

    order: torch.Tensor
    shifts: torch.Tensor | None
    max_shift: int


def epoch_plan(
    n: int,
    *,
    seed: int,
    epoch: int,
    shuffle: bool = True,
    max_shift: int = 0,
    device: torch.device | str = "cpu",
) -> EpochPlan:
    """Draw, on ``device``, the permutation and per-example shifts of epoch ``epoch``.

    A pure function of ``(n, seed, epoch, shuffle, max_shift)``: an
    interrupted run redraws the same plan and skips the batches it had done,
    and all distributed processes draw the same plan and each take their share.
    """
    generator = epoch_generator(seed, epoch, device)
    order = (
        torch.randperm(n, generator=generator, device=device)
        if shuffle
        else torch.arange(n, device=device)
    )
    shifts = random_shifts(n, max_shift, generator=generator) if max_shift > 0 else None
    return EpochPlan(order, shifts, max_shift)


def steps_per_epoch(n: int, batch_size: int, *, drop_last: bool = True) -> int:
    """The number of batches of an epoch (the last partial batch dropped when ``drop_last``)."""
    if batch_size < 1:
        raise ValueError(f"batch_size: expected >= 1, got {batch_size}")
    return n // batch_size if drop_last else -(-n // batch_size)


def iterate_batches(
    dataset: DeviceDataset,
    batch_size: int,
    *,
    plan: EpochPlan | None = None,
    start_step: int = 0,
    drop_last: bool = True,
    rank: int = 0,
    world_size: int = 1,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield ``(images, labels)`` batches drawn on the dataset's device.

    ``plan``: from :func:`epoch_plan` (shuffled order and shifts for
    training); ``None`` walks the data in order without augmentation (for
    evaluation).  ``start_step`` skips the first batches (resume).  With
    ``world_size > 1`` each global batch of ``batch_size`` examples is cut
    into ``world_size`` equal shares and this process gets share ``rank``.
    """
    if not isinstance(dataset, DeviceDataset):
        raise TypeError(
            f"iterate_batches: expected a DeviceDataset, got {type(dataset).__name__}"
        )
    if batch_size % world_size:
        raise ValueError(
            f"iterate_batches: the global batch size {batch_size} must be divisible by the "
            f"number of processes {world_size}"
        )
    n = len(dataset)
    order = plan.order if plan is not None else None
    share = batch_size // world_size
    for step in range(start_step, steps_per_epoch(n, batch_size, drop_last=drop_last)):
        lo, hi = step * batch_size, min((step + 1) * batch_size, n)
        if world_size > 1:
            lo, hi = lo + rank * share, min(lo + (rank + 1) * share, hi)
        index = (
            order[lo:hi]
            if order is not None
            else torch.arange(lo, hi, device=dataset.device)
        )
        images = dataset.images[index]
        if plan is not None and plan.shifts is not None:
            images = shift_images(images, plan.shifts[lo:hi], plan.max_shift)
        yield images, dataset.labels[index]
