"""A convolution as a picture: a 3 x 3 window of the input, the kernel, one output value.

:func:`convolution_window` draws chapter 1's diagram.  The feature map it shows
is computed here with ``F.conv2d`` (:func:`convolution_example`), never typed,
so the test of the diagram checks it against a sum of products by hand.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from matplotlib.patches import Rectangle

from ._style import COLOURS, GREY, MIN_FONT, PALE, arrow, new_figure, text
from .pooling import _grid

#: A 5 x 5 patch of a digit: a stroke running down from the upper right (1 = ink).
INPUT = [
    [0, 0, 1, 1, 0],
    [0, 0, 1, 1, 0],
    [0, 1, 1, 0, 0],
    [0, 1, 1, 0, 0],
    [1, 1, 0, 0, 0],
]
#: The Sobel filter for vertical edges (left column minus right column), as in chapter 1.
KERNEL = [[1, 0, -1], [2, 0, -2], [1, 0, -1]]
#: The window the diagram follows (its top-left corner in the input), and the next one.
WINDOW = (1, 0)
NEXT = (1, 1)
#: The middle of the figure, in inches.
WIDTH_HALF = 3.75


def convolution_example() -> dict:
    """The grids :func:`convolution_window` draws.

    ``input`` and ``kernel`` as above; ``output``: the 3 x 3 feature map
    ``F.conv2d(input, kernel)`` (a cross-correlation, no padding, stride 1);
    ``window``: the input values under :data:`WINDOW`; ``products``: those
    values times the kernel, entry by entry; ``value``: the output at
    :data:`WINDOW`, the sum of the products.
    """
    x = torch.tensor(INPUT, dtype=torch.float32)[None, None]
    k = torch.tensor(KERNEL, dtype=torch.float32)[None, None]
    output = F.conv2d(x, k)[0, 0].int().tolist()
    r, c = WINDOW
    window = [row[c : c + 3] for row in INPUT[r : r + 3]]
    products = [[v * w for v, w in zip(a, b)] for a, b in zip(window, KERNEL)]
    return {
        "input": INPUT,
        "kernel": KERNEL,
        "output": output,
        "window": window,
        "products": products,
        "value": output[r][c],
    }


def _outline(ax, x0, y0, cell, rows, top_left, size, colour, *, lw=2.6, ls="-"):
    """Outline a ``size`` x ``size`` block of a grid drawn by ``_grid`` (row 0 on top)."""
    r, c = top_left
    x, y = x0 + c * cell, y0 + (rows - r - size) * cell
    ax.add_patch(
        Rectangle(
            (x, y),
            size * cell,
            size * cell,
            fill=False,
            edgecolor=colour,
            lw=lw,
            ls=ls,
            zorder=3,
        )
    )


def convolution_window():
    """Chapter 1's diagram of one convolution step.

    Left: a 5 x 5 input with the 3 x 3 window at :data:`WINDOW` filled and
    outlined, and the next window (one pixel to the right, dashed).  Middle: the
    kernel.  Right: the 3 x 3 feature map, its value at the window's place
    outlined in the same colour.  Below: the nine products and their sum.
    """
    ex = convolution_example()
    fig, ax = new_figure(3.5)
    cell = 0.4
    colour, pale = COLOURS["capsule"], PALE["capsule"]
    r0, c0 = WINDOW

    # input, with the window shaded
    ix, iy = 0.3, 1.05
    fills = {(r, c): pale for r in range(r0, r0 + 3) for c in range(c0, c0 + 3)}
    _grid(ax, ix, iy, cell, ex["input"], colours=fills, size=10)
    _outline(ax, ix, iy, cell, 5, WINDOW, 3, colour)
    _outline(ax, ix, iy, cell, 5, NEXT, 3, GREY, lw=1.6, ls="--")
    text(ax, ix + 2.5 * cell, iy + 5 * cell + 0.22, "input (5 x 5)", size=10)
    text(
        ax,
        ix + 2.5 * cell,
        iy - 0.22,
        "dashed: the next window, 1 pixel on",
        size=MIN_FONT,
        colour=GREY,
    )

    # the kernel
    kx, ky = 3.0, iy + cell
    text(ax, kx - 0.35, ky + 1.5 * cell, "×", size=16)
    kernel_fills = {(r, c): pale for r in range(3) for c in range(3)}
    _grid(ax, kx, ky, cell, ex["kernel"], colours=kernel_fills, size=10)
    text(ax, kx + 1.5 * cell, ky + 3 * cell + 0.22, "kernel (3 x 3)", size=10)

    # the output
    ox, oy = 5.55, iy + cell
    arrow(ax, (kx + 3 * cell + 0.15, ky + 1.5 * cell), (ox - 0.15, oy + 1.5 * cell))
    text(
        ax,
        (kx + 3 * cell + ox) / 2,
        ky + 1.5 * cell + 0.3,
        "sum of the\n9 products",
        size=MIN_FONT,
    )
    out_fills = {WINDOW: pale}
    _grid(ax, ox, oy, cell, ex["output"], colours=out_fills, size=10)
    _outline(ax, ox, oy, cell, 3, WINDOW, 1, colour)
    text(ax, ox + 1.5 * cell, oy + 3 * cell + 0.22, "feature map (3 x 3)", size=10)

    # the arithmetic of the outlined value
    text(ax, WIDTH_HALF, 0.3, _sum_line(ex), size=MIN_FONT)
    return fig


def _sum_line(ex: dict) -> str:
    """The outlined output value written out: the nine products of window and kernel, summed."""
    terms = []
    for a, b in zip(ex["window"], ex["kernel"]):
        for v, w in zip(a, b):
            terms.append(f"{v}·({w})" if w < 0 else f"{v}·{w}")
    return "outlined value = " + " + ".join(terms) + f" = {ex['value']}"
