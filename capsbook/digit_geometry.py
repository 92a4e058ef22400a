"""Measurements of a handwritten digit's geometry: its centre of mass and the slant of a 7's stem.

Chapter 3 uses :func:`stem_slant` to show what a "7" neuron must throw away:
sevens differ in slant and amount of ink while their class is the same.
"""

from __future__ import annotations

import torch

from capslib.checks import require_shape


def centre_of_mass(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x, y)``: each image's ink-weighted mean column and row, ``(n,)`` each.

    ``images``: ``(n, h, w)``, non-negative, each with some ink.  Pixel
    ``(row, col)`` sits at ``x = col, y = row`` (0-based).
    """
    require_shape(images, "centre_of_mass", "images", ("n", "h", "w"))
    n, h, w = images.shape
    ys, xs = torch.meshgrid(
        torch.arange(h, dtype=images.dtype),
        torch.arange(w, dtype=images.dtype),
        indexing="ij",
    )
    ink = images.sum(dim=(1, 2))
    if (ink <= 0).any():
        raise ValueError("centre_of_mass: an image has no ink; drop blank images first")
    return (images * xs).sum(dim=(1, 2)) / ink, (images * ys).sum(dim=(1, 2)) / ink


def stem_slant(sevens: torch.Tensor) -> dict[str, torch.Tensor]:
    """The axis of each 7's stem, fitted to its ink below the top third of the digit.

    ``sevens``: ``(n, h, w)``.  The bar of a 7 lies in the top third of its
    inked rows; below it, the stem's axis is the least-squares line
    ``x = centre_x + lean * (y - centre_y)`` through the ink (each pixel
    weighted by its value).  Returns, each ``(n,)``:

    * ``slant``: degrees, positive where the stem's top leans right
      (``atan(-lean)``, since rows grow downwards);
    * ``lean``: columns per row; ``centre_x``, ``centre_y``: the stem's centre
      of mass; ``first_row``, ``last_row``: the rows the fit used;
    * ``ink``: the digit's total ink.
    """
    require_shape(sevens, "stem_slant", "sevens", ("n", "h", "w"))
    n, h, w = sevens.shape
    inked = sevens.sum(dim=2) > 0  # (n, h): rows with ink
    if not inked.any(dim=1).all():
        raise ValueError("stem_slant: an image has no ink; drop blank images first")
    top = inked.float().argmax(dim=1)
    bottom = h - 1 - inked.flip(1).float().argmax(dim=1)
    first_row = top + (bottom - top + 1) // 3
    rows = torch.arange(h, dtype=sevens.dtype)[None, :, None]
    stem = sevens * (rows >= first_row[:, None, None])
    sx, sy = centre_of_mass(stem)
    ys, xs = torch.meshgrid(
        torch.arange(h, dtype=sevens.dtype),
        torch.arange(w, dtype=sevens.dtype),
        indexing="ij",
    )
    dx, dy = xs - sx[:, None, None], ys - sy[:, None, None]
    lean = (stem * dx * dy).sum(dim=(1, 2)) / (stem * dy**2).sum(dim=(1, 2))
    return {
        "slant": torch.rad2deg(torch.atan(-lean)),
        "lean": lean,
        "centre_x": sx,
        "centre_y": sy,
        "first_row": first_row,
        "last_row": bottom,
        "ink": sevens.sum(dim=(1, 2)),
    }
