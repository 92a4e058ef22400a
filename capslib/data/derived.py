"""Datasets derived from MNIST for the robustness and overlapping-digits experiments.

Sabour, Frosst & Hinton (2017) test two claims with MNIST-derived data:

* robustness to affine transformations (section 5.2): train on MNIST digits
  "placed randomly on a black background of 40x40 pixels" and test on affNIST,
  where each test digit is put on a 40x40 canvas and given a random small
  affine transformation.  :func:`shifted_mnist` makes the training set,
  :func:`affine_mnist` makes a test set "in the manner of affNIST" (affNIST
  itself is not redistributed here; the ranges below are stated so the
  experiment can be repeated);
* segmentation of overlapping digits (section 6): MultiMNIST, "a digit on top
  of another digit from the same set but different class, each shifted up to
  4 pixels in each direction, resulting in a 36x36 image", made on demand by
  :class:`capslib.data.multimnist.MultiMNISTPairs`.

Every function is seeded: the same seed gives the same tensors, bit for bit,
on any machine (they draw on the CPU with their own ``torch.Generator``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..checks import require_shape
from .device import pad_to_canvas, random_shifts, shift_images
from .sources import ImageDataset

#: The ranges of the affine test set (uniform draws, independently per image).
AFFINE_RANGES = {
    "rotation_degrees": 20.0,  # rotation in [-20, 20] degrees
    "shear": 0.2,  # horizontal shear factor in [-0.2, 0.2]
    "scale": (0.8, 1.2),  # vertical and horizontal scale, each in [0.8, 1.2]
    "translation": "uniform over the integer offsets that keep the digit's ink inside the 40x40 canvas",
}
AFFINE_CANVAS = 40
SHIFTED_MAX_SHIFT = (
    6  # 28x28 centred on 40x40 and shifted by up to 6 px: every placement on the canvas
)


def _images_of(dataset, fn: str) -> tuple[torch.Tensor, torch.Tensor]:
    if not hasattr(dataset, "images") or not hasattr(dataset, "labels"):
        raise TypeError(
            f"{fn}: expected an ImageDataset or DeviceDataset, "
            f"got {type(dataset).__name__}"
        )
    n = len(dataset.images)
    require_shape(dataset.labels, fn, "labels", (n,), fix="one class index per image")
    return dataset.images.detach().to("cpu", torch.float32), dataset.labels.detach().to(
        "cpu", torch.int64
    )


def _with(dataset, images, labels, name, note) -> ImageDataset:
    return ImageDataset(
        images,
        labels,
        name,
        getattr(dataset, "split", "train"),
        getattr(dataset, "source", "derived"),
        tuple(dataset.classes),
        dataset.credit,
        list(getattr(dataset, "notes", [])) + [note],
    )


def shifted_mnist(
    dataset,
    *,
    canvas: int = AFFINE_CANVAS,
    max_shift: int = SHIFTED_MAX_SHIFT,
    seed: int = 0,
) -> ImageDataset:
    """Each digit centred on a ``canvas`` x ``canvas`` background and shifted by up to ``max_shift`` px.

    With the defaults (40x40, 6 px) every position of the 28x28 digit on the
    canvas is possible: the paper's training set for the affNIST test.
    ``images``: ``(n, 1, canvas, canvas)``; labels unchanged.
    """
    images, labels = _images_of(dataset, "shifted_mnist")
    padded = pad_to_canvas(images, canvas)
    if 2 * max_shift > canvas - images.shape[-1]:
        raise ValueError(
            f"shifted_mnist: a shift of {max_shift} px would push a {images.shape[-1]} px digit "
            f"off a {canvas} px canvas"
        )
    generator = torch.Generator().manual_seed(seed)
    shifts = random_shifts(len(images), max_shift, generator=generator)
    shifted = shift_images(padded, shifts, max_shift)
    return _with(
        dataset,
        shifted,
        labels,
        f"{dataset.name} on {canvas}x{canvas}, shifted",
        f"centred on a {canvas}x{canvas} canvas, shifted by up to {max_shift} px (seed {seed})",
    )


def random_affine_matrices(
    n: int,
    *,
    generator: torch.Generator,
    rotation_degrees: float,
    shear: float,
    scale: tuple[float, float],
) -> torch.Tensor:
    """``(n, 2, 2)`` matrices ``R(theta) @ Shear(k) @ diag(s_x, s_y)`` with uniform random parameters."""

    def uniform(lo, hi):
        return lo + (hi - lo) * torch.rand(n, generator=generator, dtype=torch.float64)

    theta = uniform(-rotation_degrees, rotation_degrees) * math.pi / 180
    k = uniform(-shear, shear)
    sx, sy = uniform(*scale), uniform(*scale)
    cos, sin = torch.cos(theta), torch.sin(theta)
    rotation = torch.stack(
        [torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2
    )
    shearing = torch.eye(2, dtype=torch.float64).repeat(n, 1, 1)
    shearing[:, 0, 1] = k
    scaling = torch.diag_embed(torch.stack([sx, sy], -1))
    return rotation @ shearing @ scaling


def affine_mnist(
    dataset,
    *,
    canvas: int = AFFINE_CANVAS,
    seed: int = 0,
    rotation_degrees: float = AFFINE_RANGES["rotation_degrees"],
    shear: float = AFFINE_RANGES["shear"],
    scale: tuple[float, float] = AFFINE_RANGES["scale"],
    batch: int = 2048,
) -> ImageDataset:
    """An affine-transformed MNIST in the manner of affNIST, ``(n, 1, canvas, canvas)``.

    Each digit is centred on a ``canvas`` x ``canvas`` black background, then
    (independently per image, uniform draws) rotated by up to
    ``rotation_degrees``, sheared horizontally by a factor up to ``shear``,
    scaled vertically and horizontally by factors in ``scale`` (bilinear
    resampling about the canvas centre), and finally translated by an integer
    offset drawn uniformly from those that keep the digit's ink inside the
    canvas (as affNIST keeps the digit in its 40x40 box).  Labels unchanged.
    """
    images, labels = _images_of(dataset, "affine_mnist")
    generator = torch.Generator().manual_seed(seed)
    matrices = random_affine_matrices(
        len(images),
        generator=generator,
        rotation_degrees=rotation_degrees,
        shear=shear,
        scale=scale,
    )
    padded = pad_to_canvas(images, canvas)
    out = torch.empty_like(padded)
    for lo in range(0, len(images), batch):
        # affine_grid maps output coordinates to input ones: use the inverse transform.
        inverse = torch.linalg.inv(matrices[lo : lo + batch])
        theta = torch.cat(
            [inverse, torch.zeros(len(inverse), 2, 1, dtype=torch.float64)], 2
        ).float()
        grid = F.affine_grid(
            theta, list(padded[lo : lo + batch].shape), align_corners=False
        )
        out[lo : lo + batch] = F.grid_sample(
            padded[lo : lo + batch],
            grid,
            mode="bilinear",
            padding_mode="zeros",
            align_corners=False,
        ).clamp_(0, 1)
    # Translation: uniform among the offsets that keep the ink (pixels > 0.05) on the canvas.
    ink = out[:, 0] > 0.05
    rows, cols = ink.any(2), ink.any(1)
    positions = torch.arange(canvas)
    big = canvas + 1
    top = torch.where(rows, positions, big).min(1).values
    bottom = torch.where(rows, positions, -1).max(1).values
    left = torch.where(cols, positions, big).min(1).values
    right = torch.where(cols, positions, -1).max(1).values
    blank = bottom < 0
    top, left = torch.where(blank, 0, top), torch.where(blank, 0, left)
    bottom, right = (
        torch.where(blank, canvas - 1, bottom),
        torch.where(blank, canvas - 1, right),
    )

    def draw(low, high):  # uniform integer in [low, high]
        return low + (
            torch.rand(len(low), generator=generator, dtype=torch.float64)
            * (high - low + 1)
        ).floor().long().clamp_max(high - low)

    dy, dx = draw(-top, canvas - 1 - bottom), draw(-left, canvas - 1 - right)
    shifts = torch.stack([dy, dx], 1)
    for lo in range(0, len(images), batch):
        part = shifts[lo : lo + batch]
        if len(part):
            out[lo : lo + batch] = shift_images(
                out[lo : lo + batch], part, int(part.abs().max())
            )
    return _with(
        dataset,
        out,
        labels,
        f"{dataset.name}, affine {canvas}x{canvas}",
        f"affine-transformed on a {canvas}x{canvas} canvas in the manner of affNIST: rotation "
        f"up to {rotation_degrees} deg, shear up to {shear}, scale {scale[0]}-{scale[1]} per axis, "
        f"translation keeping the ink on the canvas (seed {seed})",
    )
