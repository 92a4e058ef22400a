"""How MNIST placed each digit: its ink in a 20x20 box, its centre of mass in pixel (14, 14).

:func:`digit_geometry_of` measures, on real digits, what the figure draws: the box the ink
fills and the ink-weighted centre (rows and columns counted from 0, a pixel's centre at
its whole-number coordinate, so the 28x28 field's own centre is at 13.5, between pixels
13 and 14).  :func:`mnist_centring` draws chapter 0's figure from the digits it is given:
one digit on its grid, with its ink box, its centre of mass and the field's centre; and
the centres of mass of all the digits given, in a close-up of the four middle pixels.
"""

from __future__ import annotations

import torch
from matplotlib.patches import Rectangle

from ._style import COLOURS, FONT, GREY, INK, new_figure, text

#: Labels and ticks of this figure: it is drawn 750 px wide and often shown narrower.
LABEL = FONT + 1
#: The field's centre, in pixel coordinates (pixel k's centre is at k).
FIELD_CENTRE = 13.5


def digit_geometry_of(images: torch.Tensor) -> dict[str, torch.Tensor]:
    """Box and centre of the ink of pictures ``(n, H, W)`` in [0, 1].

    Returns ``top``, ``bottom``, ``left``, ``right`` (the first and last inked row and
    column, inclusive), ``height`` and ``width`` (the box's sides, ``bottom - top + 1``
    pixels) and ``centre`` ``(n, 2)``: the ink-weighted mean (row, column).  A blank
    picture has no ink: its box is empty (height 0) and its centre 0.
    """
    images = torch.as_tensor(images, dtype=torch.float64)
    n, h, w = images.shape
    ink = images > 0
    rows, cols = ink.any(dim=2), ink.any(dim=1)
    r_idx, c_idx = torch.arange(h).expand(n, h), torch.arange(w).expand(n, w)
    top = torch.where(rows, r_idx, h).min(dim=1).values
    bottom = torch.where(rows, r_idx, -1).max(dim=1).values
    left = torch.where(cols, c_idx, w).min(dim=1).values
    right = torch.where(cols, c_idx, -1).max(dim=1).values
    mass = images.sum(dim=(1, 2)).clamp_min(1e-12)
    centre = torch.stack(
        [
            (images.sum(dim=2) * torch.arange(h)).sum(dim=1) / mass,
            (images.sum(dim=1) * torch.arange(w)).sum(dim=1) / mass,
        ],
        dim=1,
    )
    return {
        "top": top,
        "bottom": bottom,
        "left": left,
        "right": right,
        "height": (bottom - top + 1).clamp_min(0),
        "width": (right - left + 1).clamp_min(0),
        "centre": centre,
    }


def _mark_field_centre(axes) -> None:
    """The field's centre (13.5, 13.5) as an open circle, in both panels' style."""
    axes.plot(
        FIELD_CENTRE,
        FIELD_CENTRE,
        "o",
        mfc="none",
        mec=COLOURS["agree"],
        ms=9,
        mew=2,
        zorder=4,
    )


def _ticks(axes, ticks) -> None:
    axes.set_xticks(ticks)
    axes.set_yticks(ticks)
    axes.tick_params(labelsize=LABEL, length=3)
    axes.set_xlabel("column", fontsize=LABEL, labelpad=1)
    axes.set_ylabel("row", fontsize=LABEL, labelpad=1)


def mnist_centring(images: torch.Tensor, index: int = 0):
    """Chapter 0's figure of MNIST's preprocessing, drawn from ``images`` ``(n, 1, 28, 28)``.

    Left: digit ``index`` on its 28x28 grid, with the box its ink fills (its larger side
    20 pixels), its centre of mass (a cross) and the field's centre (a circle). Right: the
    four middle pixels, with the centre of mass of every digit given as a dot.
    """
    pictures = torch.as_tensor(images)[:, 0].double()
    if pictures.shape[1:] != (28, 28):
        raise ValueError(
            f"mnist_centring: expected MNIST digits (n, 1, 28, 28), got {tuple(images.shape)}"
        )
    geo = digit_geometry_of(pictures)
    fig, ax = new_figure(3.9)
    # left panel: the digit, 3.2 in square
    left = fig.add_axes((0.5 / 7.5, 0.5 / 3.9, 3.2 / 7.5, 3.2 / 3.9))
    left.imshow(
        pictures[index].numpy(),
        cmap="Greys",
        vmin=0,
        vmax=1,
        extent=(-0.5, 27.5, 27.5, -0.5),
    )
    for k in range(29):
        left.axhline(k - 0.5, color="#dddddd", lw=0.4, zorder=1)
        left.axvline(k - 0.5, color="#dddddd", lw=0.4, zorder=1)
    t, b = int(geo["top"][index]), int(geo["bottom"][index])
    lo, r = int(geo["left"][index]), int(geo["right"][index])
    left.add_patch(  # the box the ink fills
        Rectangle(
            (lo - 0.5, t - 0.5),
            r - lo + 1,
            b - t + 1,
            fill=False,
            edgecolor=COLOURS["capsule"],
            lw=2.0,
            zorder=3,
        )
    )
    # the 20x20 box the digit was scaled to fit: its larger side, centred on the other axis
    rc, cc = (t + b) / 2, (lo + r) / 2
    left.add_patch(
        Rectangle(
            (cc - 10, rc - 10),
            20,
            20,
            fill=False,
            edgecolor=COLOURS["capsule"],
            lw=1.4,
            ls=(0, (4, 3)),
            zorder=3,
        )
    )
    cy, cx = (float(v) for v in geo["centre"][index])
    left.plot(cx, cy, "+", color=COLOURS["parent"], ms=16, mew=2.6, zorder=4)
    _mark_field_centre(left)
    _ticks(left, [0, 14, 27])
    # the legend, top right
    x_legend = 3.75
    legend = [
        (COLOURS["capsule"], f"ink box: {b - t + 1} rows x {r - lo + 1} columns"),
        (COLOURS["capsule"], "dashed: 20 x 20 around it"),
        (COLOURS["parent"], f"+ centre of mass: row {cy:.2f}, column {cx:.2f}"),
        (COLOURS["agree"], "o the field's centre: row 13.5, column 13.5"),
    ]
    for k, (colour, words) in enumerate(legend):
        text(ax, x_legend, 3.72 - 0.3 * k, words, size=LABEL, colour=colour, ha="left")
    # right panel: every centre of mass, in the middle pixels
    side = 1.75
    right = fig.add_axes((4.45 / 7.5, 0.5 / 3.9, side / 7.5, side / 3.9))
    right.set_xlim(12.5, 15.5)
    right.set_ylim(15.5, 12.5)
    right.set_aspect("equal")
    for k in range(13, 16):
        right.axhline(k - 0.5, color=GREY, lw=0.6)
        right.axvline(k - 0.5, color=GREY, lw=0.6)
    right.add_patch(
        Rectangle((13.5, 13.5), 1, 1, fill=False, edgecolor=INK, lw=1.6, zorder=3)
    )
    centres = geo["centre"]
    right.scatter(
        centres[:, 1].numpy(),
        centres[:, 0].numpy(),
        s=1.5,
        color=COLOURS["parent"],
        alpha=0.35,
        linewidths=0,
        zorder=2,
    )
    _mark_field_centre(right)
    _ticks(right, [13, 14, 15])
    text(
        ax, 4.45 + side + 0.12, 0.5 + side / 2, "pixel\n(14, 14)", size=LABEL, ha="left"
    )
    text(
        ax,
        3.75,
        2.5,
        f"the centres of mass of all {len(pictures):,} digits:",
        size=LABEL,
        colour=COLOURS["parent"],
        ha="left",
    )
    return fig


__all__ = ["FIELD_CENTRE", "digit_geometry_of", "mnist_centring"]
