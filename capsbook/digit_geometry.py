"""The slant of a handwritten 7's stem: what a "7" neuron must throw away.

Chapter 3 fits :func:`stem_slant` to MNIST sevens: they differ in slant and
amount of ink while their class is the same.  The centre of mass and the
ink-weighted slant come from :mod:`capsbook.probes.perturbation`
(:func:`~capsbook.probes.perturbation.centre_of_mass`,
:func:`~capsbook.probes.perturbation.ink_statistics`); this module only
chooses the part of the digit they are measured on, the stem below the bar.
"""

from __future__ import annotations

import torch

from capsbook.probes.perturbation import centre_of_mass, ink_statistics
from capslib.checks import require_shape


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
    slant = ink_statistics(stem)["slant"].to(sevens.dtype)  # columns right per row up
    centre_y, centre_x = centre_of_mass(stem).unbind(-1)
    return {
        "slant": torch.rad2deg(torch.atan(slant)),
        "lean": -slant,
        "centre_x": centre_x,
        "centre_y": centre_y,
        "first_row": first_row,
        "last_row": bottom,
        "ink": sevens.sum(dim=(1, 2)),
    }
