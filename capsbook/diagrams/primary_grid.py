"""Where CapsNet's primary capsules sit on the input: their grid and receptive fields (chapter 9)."""

from __future__ import annotations

from capsbook.conv_arithmetic import receptive_field_and_jump
from capslib.models import CapsNetConfig

from ._style import (
    COLOURS,
    FONT,
    GREY,
    INK,
    MIN_FONT,
    PALE,
    new_figure,
    text,
)
from .architecture import TIMES


def primary_positions(config: CapsNetConfig | None = None) -> list[dict]:
    """Where each primary-capsule position of ``config`` sits on the input, computed from the layers.

    One dict per grid position, in row-major order, with ``y``, ``x`` (the position on the
    ``primary_grid`` x ``primary_grid`` grid) and ``top``, ``left``, ``bottom``, ``right``: the
    first and last input rows and columns (inclusive) that the position's capsules depend on.
    The size and spacing of those patches come from conv1 (``conv_kernel``, stride 1) and the
    primary convolution (``primary_kernel``, ``primary_stride``) through
    :func:`capsbook.conv_arithmetic.receptive_field_and_jump`: for the paper's network, 17x17
    patches 2 pixels apart, the last ending at pixel 26.
    """
    c = config if config is not None else CapsNetConfig()
    size, jump = receptive_field_and_jump(
        [(c.conv_kernel, 1), (c.primary_kernel, c.primary_stride)]
    )
    return [
        {
            "y": y,
            "x": x,
            "top": jump * y,
            "left": jump * x,
            "bottom": jump * y + size - 1,
            "right": jump * x + size - 1,
        }
        for y in range(c.primary_grid)
        for x in range(c.primary_grid)
    ]


#: The positions :func:`primary_capsule_grid` highlights, as fractions of the grid's last index
#: (first, middle, last): for the paper's 6x6 grid (0, 0), (2, 3) and (5, 5).
_HIGHLIGHTS = ((0.0, 0.0), (0.5, 0.6), (1.0, 1.0))
_HIGHLIGHT_COLOURS = (COLOURS["capsule"], COLOURS["parent"], COLOURS["decoder"])


def primary_capsule_grid(config: CapsNetConfig | None = None, image=None):
    """Where the primary capsules sit: their grid over the input, and what each position sees.

    Left: the ``input_size`` x ``input_size`` input (``image``, an ``(H, W)`` or ``(1, H, W)``
    array in [0, 1], drawn faintly if given) with a dot at the centre of every primary-capsule
    position and the receptive fields of three positions outlined; the rows and columns that no
    position sees are hatched.  Right: the ``primary_grid`` x ``primary_grid`` grid as the
    coupling maps of chapter 9 draw it, each cell a miniature of the input with the patch that
    cell sees shaded.  Every patch comes from :func:`primary_positions`, computed from the
    layers of ``config`` (the paper's by default).  Returns a Figure 7.5 in wide.
    """
    import numpy as np
    from matplotlib.patches import Rectangle as Rect

    c = config if config is not None else CapsNetConfig()
    positions = primary_positions(c)
    g, n = c.primary_grid, c.input_size
    size = positions[0]["bottom"] - positions[0]["top"] + 1
    jump = positions[1]["left"] - positions[0]["left"] if g > 1 else size
    seen = max(p["bottom"] for p in positions)  # the last row (and column) any sees
    fig, ax = new_figure(4.25)
    t = TIMES

    # left: the input, in inches; pixel (row r, col q) is the square at (x0 + q s, top - r s)
    side, x0, y0 = 3.0, 0.35, 0.62
    s = side / n

    def square(top, left, bottom, right):
        """(x, y, w, h) in inches of the pixel box rows top..bottom, columns left..right."""
        return (
            x0 + left * s,
            y0 + side - (bottom + 1) * s,
            (right - left + 1) * s,
            (bottom - top + 1) * s,
        )

    if image is not None:
        picture = np.asarray(image, dtype=float).reshape(n, n)
        ax.imshow(
            picture,
            cmap="Greys",
            vmin=0,
            vmax=2.5,  # faint: the patches drawn over it stay readable
            extent=(x0, x0 + side, y0, y0 + side),
            interpolation="nearest",
            zorder=1,
        )
    ax.add_patch(
        Rect((x0, y0), side, side, fill=False, edgecolor=INK, lw=1.0, zorder=2)
    )
    if seen < n - 1:  # the border no position sees
        for box_ in (
            square(seen + 1, 0, n - 1, n - 1),
            square(0, seen + 1, seen, n - 1),
        ):
            ax.add_patch(
                Rect(
                    box_[:2],
                    *box_[2:],
                    facecolor="none",
                    edgecolor=GREY,
                    hatch="////",
                    lw=0,
                    zorder=2,
                )
            )
    centre = (size - 1) / 2
    ax.scatter(
        [x0 + (p["left"] + centre + 0.5) * s for p in positions],
        [y0 + side - (p["top"] + centre + 0.5) * s for p in positions],
        s=9,
        color=INK,
        zorder=4,
    )
    chosen = []
    for (fy, fx), colour in zip(_HIGHLIGHTS, _HIGHLIGHT_COLOURS):
        y, x = round(fy * (g - 1)), round(fx * (g - 1))
        if (y, x) in [(p["y"], p["x"]) for p in chosen]:
            continue
        p = positions[y * g + x]
        chosen.append({**p, "colour": colour})
        ax.add_patch(
            Rect(
                square(p["top"], p["left"], p["bottom"], p["right"])[:2],
                *square(p["top"], p["left"], p["bottom"], p["right"])[2:],
                fill=False,
                edgecolor=colour,
                lw=2.2,
                zorder=3,
            )
        )
        ax.scatter(
            [x0 + (p["left"] + centre + 0.5) * s],
            [y0 + side - (p["top"] + centre + 0.5) * s],
            s=40,
            color=colour,
            zorder=5,
        )
    text(ax, x0 + side / 2, y0 + side + 0.4, f"input, {n}{t}{n} pixels", size=FONT)
    notes = [f"dots: the {g}{t}{g} positions' centres, {jump} pixels apart"]
    if seen < n - 1:
        unseen = (
            f"row and column {n - 1}"
            if seen == n - 2
            else f"rows and columns {seen + 1}-{n - 1}"
        )
        notes.append(f"hatched: {unseen}, seen by no position")
    for k, note in enumerate(notes):
        text(
            ax,
            x0 + side / 2,
            y0 - 0.18 - 0.22 * k,
            note,
            size=MIN_FONT,
            colour="#444444",
        )

    # right: the grid as the coupling maps draw it, each cell a miniature input
    gx0, gside = 4.05, 3.2
    cell = gside / g
    gy0 = y0 + (side - gside) / 2
    m = cell * 0.86 / n  # one pixel of a miniature
    for p in positions:
        cx = gx0 + p["x"] * cell + cell * 0.07
        cy = gy0 + gside - (p["y"] + 1) * cell + cell * 0.07
        colour = next(
            (q["colour"] for q in chosen if (q["y"], q["x"]) == (p["y"], p["x"])), None
        )
        ax.add_patch(
            Rect((cx, cy), n * m, n * m, facecolor="white", edgecolor=GREY, lw=0.6)
        )
        ax.add_patch(
            Rect(
                (cx + p["left"] * m, cy + (n - 1 - p["bottom"]) * m),
                size * m,
                size * m,
                facecolor=colour if colour else PALE["capsule"],
                edgecolor=colour if colour else COLOURS["capsule"],
                alpha=0.55 if colour else 1.0,
                lw=0.6,
            )
        )
    for k in range(g):
        text(ax, gx0 + (k + 0.5) * cell, gy0 + gside + 0.12, f"{k}", size=MIN_FONT)
        text(ax, gx0 - 0.12, gy0 + gside - (k + 0.5) * cell, f"{k}", size=MIN_FONT)
    text(
        ax,
        gx0 + gside / 2,
        y0 + side + 0.4,
        f"the {g}{t}{g} grid of the coupling maps",
        size=FONT,
    )
    text(
        ax,
        gx0 + gside / 2,
        y0 - 0.18,
        f"cell (y, x) sees the shaded {size}{t}{size} patch",
        size=MIN_FONT,
        colour="#444444",
    )
    fig.capslib_positions = positions
    fig.capslib_highlighted = [(p["y"], p["x"]) for p in chosen]
    return fig
