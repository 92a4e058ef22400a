"""Measuring what pooling keeps and what it throws away (chapter 2).

Hinton's criticism of pooling (Hinton 2014; Sabour, Frosst & Hinton 2017):
max pooling buys a little translation *invariance* (the output does not
change when the input moves) at the price of the precise position, whereas
what we want is *equivariance* (the output moves with the input), which
convolutions have.  The functions here turn those statements into numbers:

* :func:`shift_images`: move images by whole pixels, filling with zeros;
* :func:`pooling_invariance_rate`: how often max pooling's output is
  unchanged when its input moves by a pixel;
* :func:`conv_equivariance_error`: how far ``conv(shift(x))`` is from
  ``shift(conv(x))``, away from the borders and at them;
* :func:`preimages_of_max_pool`: many different inputs with the same max-pooled output.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from capslib.data.device import shift_images as shift_each_image

from .classifiers import check_images


def _check_shift(dx, dy, where: str) -> tuple[int, int]:
    for value in (dx, dy):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(
                f"{where}: expected whole-pixel shifts (ints), got dx={dx!r}, dy={dy!r}"
            )
    return dx, dy


def shift_images(images: torch.Tensor, dx: int = 0, dy: int = 0) -> torch.Tensor:
    """Move ``images (n, c, h, w)`` by ``dx`` pixels right and ``dy`` pixels down.

    What leaves the frame is lost and what enters it is zero (background):
    unlike ``torch.roll``, nothing wraps around.  Returns a new tensor of the same shape.
    The same shift for every image: :func:`capslib.data.shift_images`, which shifts each
    image by its own ``(dy, dx)``, does the work.
    """
    check_images(images, "shift_images")
    dx, dy = _check_shift(dx, dy, "shift_images")
    h, w = images.shape[-2:]
    # A shift by the whole side or more leaves nothing: clipped there, the padding stays small.
    dx, dy = max(-w, min(w, dx)), max(-h, min(h, dy))
    shifts = torch.tensor([[dy, dx]]).expand(len(images), 2)
    return shift_each_image(images, shifts, max(1, abs(dx), abs(dy)))


@dataclass(frozen=True)
class InvarianceRate:
    """How often max pooling's output survived a shift of its input unchanged.

    ``units``: the fraction of pooled values (over all images, channels and
    positions) that did not change; ``active_units``: the same over the pooled
    values that are not zero before or after the shift (background that stays
    background is trivially unchanged); ``images``: the fraction of images
    whose whole pooled output did not change.
    """

    units: float
    active_units: float
    images: float
    n_images: int
    shift: tuple[int, int]
    kernel_size: int


def pooling_invariance_rate(
    images: torch.Tensor,
    *,
    shift: tuple[int, int] = (1, 0),
    kernel_size: int = 2,
    atol: float = 0.0,
) -> InvarianceRate:
    """Shift ``images (n, c, h, w)`` by ``shift = (dx, dy)`` pixels and count the unchanged max-pooled values.

    Max pooling with a ``kernel_size`` window (stride = window) is applied to
    the images and to their shifted copies; a pooled value counts as
    unchanged when it differs by at most ``atol``.  Returns an :class:`InvarianceRate`.
    """
    check_images(images, "pooling_invariance_rate")
    dx, dy = _check_shift(*shift, "pooling_invariance_rate")
    if (
        isinstance(kernel_size, bool)
        or not isinstance(kernel_size, int)
        or kernel_size < 1
    ):
        raise ValueError(
            f"pooling_invariance_rate: expected kernel_size >= 1 (an int), got {kernel_size!r}"
        )
    before = F.max_pool2d(images, kernel_size)
    after = F.max_pool2d(shift_images(images, dx, dy), kernel_size)
    same = (before - after).abs() <= atol
    active = (before != 0) | (after != 0)
    return InvarianceRate(
        units=float(same.float().mean()),
        active_units=float(same[active].float().mean()) if active.any() else 1.0,
        images=float(same.flatten(1).all(1).float().mean()),
        n_images=len(images),
        shift=(dx, dy),
        kernel_size=kernel_size,
    )


@dataclass(frozen=True)
class EquivarianceError:
    """``conv(shift(x))`` against ``shift(conv(x))``: the largest absolute difference
    in the ``interior`` (farther than ``margin`` pixels from every border) and at the ``border``."""

    interior: float
    border: float
    margin: int


def conv_equivariance_error(
    conv, images: torch.Tensor, dx: int, dy: int
) -> EquivarianceError:
    """Compare convolving a shifted image with shifting the convolved image.

    ``conv``: a module or function mapping ``(n, c, h, w)`` to ``(n, c', h, w)``
    (a 'same'-size convolution, e.g. ``nn.Conv2d(1, 8, 5, padding=2)``);
    ``images``: ``(n, c, h, w)``.  Away from the borders the two agree (the
    convolution is translation equivariant); near them zero padding and what
    the shift pushed out of the frame make them differ.  ``margin`` is the
    shift plus the kernel's reach (read from ``conv.kernel_size`` when it has one, else 2).
    """
    check_images(images, "conv_equivariance_error")
    dx, dy = _check_shift(dx, dy, "conv_equivariance_error")
    with torch.no_grad():
        a = conv(shift_images(images, dx, dy))
        b = shift_images(conv(images), dx, dy)
    if a.shape[-2:] != images.shape[-2:]:
        raise ValueError(
            f"conv_equivariance_error: expected a size-preserving convolution, got output "
            f"{tuple(a.shape)} for input {tuple(images.shape)}"
        )
    kernel = getattr(conv, "kernel_size", (5, 5))
    reach = max(kernel) // 2 if isinstance(kernel, tuple) else int(kernel) // 2
    margin = max(abs(dx), abs(dy)) + reach
    h, w = images.shape[-2:]
    interior = torch.zeros(h, w, dtype=torch.bool)
    interior[margin : h - margin, margin : w - margin] = True
    difference = (a - b).abs()
    return EquivarianceError(
        interior=float(difference[..., interior].max()) if interior.any() else 0.0,
        border=float(difference[..., ~interior].max()),
        margin=margin,
    )


def preimages_of_max_pool(
    pooled: torch.Tensor,
    n: int,
    *,
    kernel_size: int = 2,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """``n`` different inputs whose ``kernel_size`` max pooling is exactly ``pooled``.

    ``pooled``: ``(c, h, w)`` with values >= 0 -> ``(n, c, h * k, w * k)``.
    In every window, the window's maximum goes to a random one of its ``k*k``
    places and the others get random values between 0 and that maximum: all
    of them pool to the same output, so the pooled output cannot tell them apart.
    """
    if (
        not torch.is_tensor(pooled)
        or pooled.ndim != 3
        or not pooled.is_floating_point()
    ):
        got = (
            f"shape {tuple(pooled.shape)}"
            if torch.is_tensor(pooled)
            else type(pooled).__name__
        )
        raise ValueError(
            f"preimages_of_max_pool: expected a floating tensor (c, h, w), got {got}"
        )
    if (pooled < 0).any():
        raise ValueError(
            "preimages_of_max_pool: expected pooled values >= 0 (e.g. after a ReLU or pixels)"
        )
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"preimages_of_max_pool: expected n >= 1 (an int), got {n!r}")
    k = kernel_size
    c, h, w = pooled.shape
    generator = generator if generator is not None else torch.Generator().manual_seed(0)
    # (n, c, h, w, k*k): random fillers below each window's maximum, then the maximum in one random place
    windows = torch.rand(n, c, h, w, k * k, generator=generator) * pooled[..., None]
    where = torch.randint(k * k, (n, c, h, w, 1), generator=generator)
    windows.scatter_(-1, where, pooled[None, ..., None].expand(n, c, h, w, 1).clone())
    # (n, c, h, w, k, k) -> (n, c, h, k, w, k) -> (n, c, h*k, w*k)
    return (
        windows.view(n, c, h, w, k, k)
        .permute(0, 1, 2, 4, 3, 5)
        .reshape(n, c, h * k, w * k)
    )


__all__ = [
    "EquivarianceError",
    "InvarianceRate",
    "conv_equivariance_error",
    "pooling_invariance_rate",
    "preimages_of_max_pool",
    "shift_images",
]
