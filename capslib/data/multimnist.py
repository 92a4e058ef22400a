"""MultiMNIST pairs made on demand from the digits themselves: no stored images, fresh pairs every epoch.

The paper (Sabour et al. 2017, Section 6) overlays "a digit on top of another
digit from the same set (training or test) but different class.  Each digit
is shifted up to 4 pixels in each direction resulting in a 36x36 image", and
trains on 60M such pairs.  Storing them is out of the question (600,000 pairs
with their two component digits, as float32, were about 15 GB), and there is
no need: a pair is defined by two indices and two shifts.

:class:`MultiMNISTPairs` keeps the digits (uint8, 784 bytes each) and draws,
for every epoch, a *plan*: which digit is the base, which the top (a
different class, uniform among the examples of that class) and the shifts of
both.  A batch is composed from its plan when it is needed, on the digits'
device.  Training data gets a fresh plan each epoch (a pure function of the
seed and the epoch, so an interrupted run resumes exactly); validation and
test use one fixed plan, so every evaluation sees the same pairs.

Each batch comes with both components (the two shifted digits before they
were overlaid): the paper reconstructs each digit from its own capsule,
against that digit's own image.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
from torch import Tensor

from ..checks import require_shape
from .device import pad_to_canvas, shift_images
from .sources import MNIST_CLASSES, MNIST_CREDIT

CANVAS = 36
MAX_SHIFT = 4


@dataclass
class PairPlan:
    """Which digits make each pair and how they are shifted: ``base``, ``top`` ``(n,)``, ``shifts`` ``(n, 2, 2)``."""

    base: Tensor
    top: Tensor
    shifts: Tensor


def draw_pairs(
    labels: Tensor,
    n: int,
    generator: torch.Generator,
    *,
    base: Tensor | None = None,
    max_shift: int = MAX_SHIFT,
) -> PairPlan:
    """Draw ``n`` pairs of different classes from digits with ``labels`` (on the CPU, with ``generator``).

    ``base``: the base digit of each pair (default: uniform over all digits); the top digit has a
    different class, uniform among the classes present, and is a uniform example of that class.
    Each digit's shift ``(dy, dx)`` is uniform in ``[-max_shift, max_shift]``.
    """
    labels = labels.cpu()
    classes = int(labels.max()) + 1 if len(labels) else 0
    counts = torch.bincount(labels, minlength=classes)
    present = torch.nonzero(counts).flatten()
    if len(present) < 2:
        raise ValueError("MultiMNIST: the digits must hold at least two classes")
    if base is None:
        base = torch.randint(len(labels), (n,), generator=generator)
    rank_of_class = torch.full((classes,), -1, dtype=torch.int64)
    rank_of_class[present] = torch.arange(len(present))
    offset = torch.randint(1, len(present), (n,), generator=generator)
    top_class = present[(rank_of_class[labels[base]] + offset) % len(present)]
    by_class = torch.argsort(labels, stable=True)
    starts = torch.cumsum(counts, 0) - counts
    pick = (
        (torch.rand(n, generator=generator, dtype=torch.float64) * counts[top_class])
        .floor()
        .long()
    )
    top = by_class[starts[top_class] + pick.clamp_max(counts[top_class] - 1)]
    shifts = torch.randint(-max_shift, max_shift + 1, (n, 2, 2), generator=generator)
    return PairPlan(base, top, shifts)


def compose(
    digits: Tensor, plan: PairPlan, canvas: int = CANVAS, max_shift: int = MAX_SHIFT
):
    """The pairs of ``plan``: ``(images, components)``.

    ``digits``: ``(n, 1, 28, 28)`` uint8 or float in [0, 1].  Each digit is centred on a ``canvas`` x
    ``canvas`` black background and shifted by its own offset; the image is the two summed and clipped
    to 1 (as the paper's generator adds and clips).  ``images`` ``(b, 1, canvas, canvas)`` float32,
    ``components`` ``(b, 2, 1, canvas, canvas)``.
    """

    device = digits.device
    parts = []
    for which, index in enumerate((plan.base, plan.top)):
        chosen = digits[index.to(device)]
        chosen = (
            chosen.float() / 255 if not chosen.is_floating_point() else chosen.float()
        )
        parts.append(
            shift_images(
                pad_to_canvas(chosen, canvas),
                plan.shifts[:, which].to(device),
                max_shift,
            )
        )
    components = torch.stack(parts, 1)
    return components.sum(1).clamp_(max=1.0), components


@dataclass
class MultiMNISTPairs:
    """MultiMNIST from ``digits`` ``(n, 1, 28, 28)`` uint8 and ``labels`` ``(n,)``, on one device.

    ``pairs``: the pairs per epoch (training) or in the set (evaluation).  ``fresh``: a new plan every
    epoch (training) or one fixed plan (validation, test).  With ``pairs == len(digits)``
    every digit is the base of one pair per epoch, in a shuffled order.
    """

    digits: Tensor
    labels: Tensor
    pairs: int
    seed: int
    fresh: bool
    name: str = "MultiMNIST"
    split: str = "train"
    canvas: int = CANVAS
    max_shift: int = MAX_SHIFT
    classes: tuple[str, ...] = MNIST_CLASSES
    credit: str = MNIST_CREDIT
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        fn = "MultiMNISTPairs"
        shape = ("n", "channels", "height", "width")
        require_shape(self.digits, fn, "digits", shape, dtype=torch.uint8)
        n = len(self.digits)
        require_shape(self.labels, fn, "labels", (n,), fix="one label per digit")
        if self.pairs < 1:
            raise ValueError(f"MultiMNISTPairs: expected pairs >= 1, got {self.pairs}")
        self._fixed_plan = None

    @classmethod
    def from_dataset(
        cls,
        dataset,
        pairs: int | None,
        *,
        seed: int,
        fresh: bool,
        split: str,
        device: torch.device | str = "cpu",
    ) -> MultiMNISTPairs:
        """From an :class:`~capslib.data.ImageDataset` of float digits in [0, 1] (stored back as uint8)."""
        digits = (dataset.images * 255).round_().clamp_(0, 255).to(torch.uint8)
        n = len(dataset) if pairs is None else pairs
        note = (
            f"{n:,} {'fresh pairs each epoch' if fresh else 'fixed pairs'} of different classes on "
            f"{CANVAS}x{CANVAS}, each digit shifted by up to {MAX_SHIFT} px (seed {seed})"
        )
        return cls(
            digits.to(device),
            dataset.labels.to(device),
            n,
            seed,
            fresh,
            f"MultiMNIST from {dataset.name}",
            split,
            classes=tuple(dataset.classes),
            credit=dataset.credit,
            notes=list(getattr(dataset, "notes", [])) + [note],
        )

    def __len__(self) -> int:
        return self.pairs

    @property
    def image_size(self) -> int:
        return self.canvas

    @property
    def labels_per_image(self) -> int:
        return 2

    @property
    def device(self) -> torch.device:
        return self.digits.device

    def describe(self) -> str:
        return f"{self.name}, {self.split} split: {self.pairs:,} pairs"

    def plan(self, epoch: int = 0) -> PairPlan:
        """The epoch's pairs (training: depends on ``(seed, epoch)``; evaluation: always the same)."""
        if not self.fresh:
            if self._fixed_plan is None:
                self._fixed_plan = self._draw(0)
            return self._fixed_plan
        return self._draw(epoch)

    def _draw(self, epoch: int) -> PairPlan:
        generator = torch.Generator().manual_seed(
            (self.seed * 1_000_003 + epoch * 7_919 + 29) % 2**63
        )
        n_digits = len(self.digits)
        if (
            self.pairs <= n_digits
        ):  # each digit at most once as the base, in a random order
            base = torch.randperm(n_digits, generator=generator)[: self.pairs]
        else:
            base = torch.randint(n_digits, (self.pairs,), generator=generator)
        return draw_pairs(
            self.labels, self.pairs, generator, base=base, max_shift=self.max_shift
        )

    def batches(
        self,
        batch_size: int,
        *,
        epoch: int = 0,
        start_step: int = 0,
        drop_last: bool = True,
        rank: int = 0,
        world_size: int = 1,
    ) -> Iterator[tuple[Tensor, Tensor, Tensor]]:
        """Yield ``(images, labels, components)``: ``(b, 1, 36, 36)``, ``(b, 2)`` (base, top), ``(b, 2, 1, 36, 36)``."""
        plan = self.plan(epoch)
        steps = self.pairs // batch_size if drop_last else -(-self.pairs // batch_size)
        share = batch_size // world_size
        for step in range(start_step, steps):
            lo, hi = step * batch_size, min((step + 1) * batch_size, self.pairs)
            if world_size > 1:
                lo, hi = lo + rank * share, min(lo + (rank + 1) * share, hi)
            part = PairPlan(plan.base[lo:hi], plan.top[lo:hi], plan.shifts[lo:hi])
            images, components = compose(self.digits, part, self.canvas, self.max_shift)
            labels = torch.stack(
                [
                    self.labels[part.base.to(self.device)],
                    self.labels[part.top.to(self.device)],
                ],
                1,
            )
            yield images, labels, components
