"""Max pooling as a picture: the window, the stride, and a shift inside or across a window.

:func:`max_pool_windows` draws chapter 1's diagram.  The numbers it shows are
computed here with ``F.max_pool2d`` (:func:`pooling_example`), never typed, so
the test of the diagram checks them against PyTorch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from matplotlib.patches import Rectangle

from ._style import COLOURS, GREY, INK, LIGHT, MIN_FONT, PALE, arrow, new_figure, text

#: A 4 x 4 feature map to pool (top panel); each 2 x 2 window has one largest value.
FEATURE_MAP = [[1, 3, 2, 0], [4, 2, 1, 1], [0, 1, 5, 2], [2, 0, 3, 1]]
#: The row and the columns of the single feature in the bottom panels: where it starts,
#: then one pixel to the right (same window), then two (the next window).
FEATURE_ROW = 1
FEATURE_COLUMNS = (0, 1, 2)
#: One colour per pooling window (row-major), the same in the map and in the output.
WINDOW_COLOURS = [
    COLOURS["part1"],
    COLOURS["part2"],
    COLOURS["agree"],
    COLOURS["part3"],
]


def max_pool(grid: list[list[int]]) -> list[list[int]]:
    """2 x 2 max pooling with stride 2 of a small integer grid, by ``F.max_pool2d``."""
    x = torch.tensor(grid, dtype=torch.float32)[None, None]
    return F.max_pool2d(x, kernel_size=2, stride=2)[0, 0].int().tolist()


def one_feature(column: int, row: int = FEATURE_ROW, size: int = 4) -> list[list[int]]:
    """A ``size`` x ``size`` map of zeros with a single 1 at ``(row, column)``."""
    grid = [[0] * size for _ in range(size)]
    grid[row][column] = 1
    return grid


def pooling_example() -> dict:
    """The maps and pooled outputs that :func:`max_pool_windows` draws.

    ``map`` and ``pooled``: the top panel; ``shifted``: for each column of
    :data:`FEATURE_COLUMNS`, the one-feature map and its pooled output.
    """
    return {
        "map": FEATURE_MAP,
        "pooled": max_pool(FEATURE_MAP),
        "shifted": [
            (one_feature(c), max_pool(one_feature(c))) for c in FEATURE_COLUMNS
        ],
    }


def _grid(ax, x0, y0, cell, values, *, colours=None, highlight=None, size=MIN_FONT):
    """Draw ``values`` as a grid whose lower-left corner is ``(x0, y0)`` (row 0 on top).

    ``colours[(r, c)]`` fills a cell; ``highlight`` is a set of cells drawn in dark ink.
    """
    rows, cols = len(values), len(values[0])
    for r in range(rows):
        for c in range(cols):
            x, y = x0 + c * cell, y0 + (rows - 1 - r) * cell
            dark = highlight is not None and (r, c) in highlight
            face = INK if dark else (colours or {}).get((r, c), "white")
            ax.add_patch(
                Rectangle((x, y), cell, cell, facecolor=face, edgecolor=GREY, lw=0.8)
            )
            text(
                ax,
                x + cell / 2,
                y + cell / 2,
                str(values[r][c]),
                size=size,
                colour="white" if dark else INK,
            )


def _windows(ax, x0, y0, cell, rows, cols, *, lw=2.2, colours=None):
    """Outline the 2 x 2 windows of a ``rows`` x ``cols`` grid drawn by :func:`_grid`."""
    k = 0
    for r in range(0, rows, 2):
        for c in range(0, cols, 2):
            colour = colours[k] if colours else INK
            x, y = x0 + c * cell, y0 + (rows - 2 - r) * cell
            ax.add_patch(
                Rectangle(
                    (x, y), 2 * cell, 2 * cell, fill=False, edgecolor=colour, lw=lw
                )
            )
            k += 1


def max_pool_windows():
    """Chapter 1's diagram of 2 x 2 max pooling with stride 2.

    Top: a 4 x 4 map cut into four windows (one colour each), the stride, and
    the 2 x 2 output that keeps each window's largest value.  Bottom: one
    feature in row 1, at column 0, then shifted one pixel right (still in its
    window: the same output) and two pixels right (into the next window: the
    output changes).
    """
    example = pooling_example()
    fig, ax = new_figure(5.6)

    # -- top: the windows and the stride -----------------------------------------------------
    cell = 0.42
    x0, y0 = 0.55, 3.3
    pale = [PALE["capsule"], PALE["parent"], PALE["agree"], PALE["decoder"]]
    fills = {(r, c): pale[(r // 2) * 2 + c // 2] for r in range(4) for c in range(4)}
    _grid(ax, x0, y0, cell, example["map"], colours=fills, size=10)
    _windows(ax, x0, y0, cell, 4, 4, colours=WINDOW_COLOURS)
    text(ax, x0 + 2 * cell, y0 + 4 * cell + 0.22, "feature map (4 x 4)", size=10)
    # the stride: the window moves 2 pixels to its next position
    ys = y0 - 0.2
    arrow(ax, (x0 + cell, ys), (x0 + 3 * cell, ys), colour=INK, lw=1.2)
    text(ax, x0 + 2 * cell, ys - 0.2, "stride 2", size=MIN_FONT)

    out_x, out_y = 3.55, y0 + cell
    arrow(ax, (x0 + 4 * cell + 0.15, y0 + 2 * cell), (out_x - 0.15, y0 + 2 * cell))
    text(
        ax,
        (x0 + 4 * cell + out_x) / 2,
        y0 + 2 * cell + 0.42,
        "max of each\n2 x 2 window",
        size=MIN_FONT,
    )
    out_fills = {(r, c): pale[r * 2 + c] for r in range(2) for c in range(2)}
    _grid(ax, out_x, out_y, cell, example["pooled"], colours=out_fills, size=10)
    for r in range(2):
        for c in range(2):
            ax.add_patch(
                Rectangle(
                    (out_x + c * cell, out_y + (1 - r) * cell),
                    cell,
                    cell,
                    fill=False,
                    edgecolor=WINDOW_COLOURS[r * 2 + c],
                    lw=2.2,
                )
            )
    text(ax, out_x + cell, out_y + 2 * cell + 0.22, "pooled (2 x 2)", size=10)
    text(
        ax,
        5.05,
        y0 + 2 * cell,
        "Each output keeps its\nwindow's largest value;\n"
        "where in the window\nit was is dropped.",
        size=MIN_FONT,
        ha="left",
    )

    # -- bottom: one feature shifted within, then across, a window ---------------------------
    small = 0.3
    titles = [
        "a feature at column 0",
        "shifted 1 pixel:\nsame window",
        "shifted 2 pixels:\nnext window",
    ]
    verdicts = [("", INK), ("same output", COLOURS["agree"])]
    verdicts.append(("output changes", COLOURS["disagree"]))
    first_out = example["shifted"][0][1]
    ax.add_patch(
        Rectangle((0.05, 0.05), 7.4, 2.6, facecolor=LIGHT, edgecolor="none", zorder=0)
    )
    for k, ((grid, out), title) in enumerate(zip(example["shifted"], titles)):
        gx, gy = 0.25 + 2.4 * k, 0.75
        _grid(ax, gx, gy, small, grid, highlight={(FEATURE_ROW, FEATURE_COLUMNS[k])})
        _windows(ax, gx, gy, small, 4, 4, lw=1.8)
        text(ax, gx + 2 * small, gy + 4 * small + 0.3, title, size=MIN_FONT)
        ox, oy = gx + 4 * small + 0.45, gy + small
        arrow(ax, (gx + 4 * small + 0.07, gy + 2 * small), (ox - 0.07, gy + 2 * small))
        ones = {(r, c) for r in range(2) for c in range(2) if out[r][c]}
        _grid(ax, ox, oy, small, out, highlight=ones)
        _windows(ax, ox, oy, small, 2, 2, lw=1.8)
        label, colour = verdicts[k]
        if label:
            assert (out == first_out) == (colour == COLOURS["agree"])
            text(ax, (gx + ox + 2 * small) / 2, 0.35, label, size=10, colour=colour)
    return fig


#: The two features of :func:`pooling_grids`, as pixel columns of a 16-pixel row, and the
#: shifts it draws: by nothing, by pool1's stride (2 px) and by both strides (4 px).
GRID_FEATURES = (1, 6)
GRID_SHIFTS = (0, 2, 4)
GRID_WIDTH = 16


def pooled_columns(columns, stride: int, width: int = GRID_WIDTH) -> list[int]:
    """The cells of a ``stride``-wide max pooling that hold ink, for ink at ``columns``.

    Computed with ``F.max_pool1d`` on a row of ``width`` pixels (a 1 at each
    column), never by hand: what :func:`pooling_grids` draws.
    """
    row = torch.zeros(1, 1, width)
    row[0, 0, list(columns)] = 1.0
    pooled = F.max_pool1d(row, stride, stride)[0, 0]
    return [int(c) for c in torch.nonzero(pooled).flatten()]


def pooling_grids_example() -> list[dict]:
    """For each shift of :data:`GRID_SHIFTS`: the inked pixels, pool1's and pool2's cells."""
    rows = []
    for shift in GRID_SHIFTS:
        columns = [c + shift for c in GRID_FEATURES]
        rows.append(
            {
                "shift": shift,
                "pixels": columns,
                "pool1": pooled_columns(columns, 2),
                "pool2": pooled_columns(pooled_columns(columns, 2), 2, GRID_WIDTH // 2),
            }
        )
    return rows


def _strip(ax, x0, y0, cell, n, inked, *, colour, lw=0.8):
    """``n`` cells of width ``cell`` in a row from ``(x0, y0)``; cells in ``inked`` filled."""
    for k in range(n):
        ax.add_patch(
            Rectangle(
                (x0 + k * cell, y0),
                cell,
                0.26,
                facecolor=colour if k in inked else "white",
                edgecolor=GREY,
                lw=lw,
            )
        )


def pooling_grids():
    """Chapter 2's diagram of pool1's and pool2's grids, on one row of 16 pixels.

    Two features (pixels 1 and 6) move right by 0, 2 and 4 pixels.  Under each
    row of pixels: the pool1 cells (2 pixels wide) and the pool2 cells (4
    pixels wide) that hold them.  A 2-pixel shift moves both of pool1's cells
    by one; in pool2 one feature stays in its cell and the other moves, so
    pool2's map neither stays nor moves by a cell.  A 4-pixel shift moves
    pool2's map by exactly one cell.
    """
    rows = pooling_grids_example()
    fig, ax = new_figure(4.3)
    cell = 0.22
    x0 = 1.2
    verdicts = {
        0: ("", INK),
        2: (
            "pool1: moved 1 cell;\npool2: one stays, one\nmoves: no shift matches",
            COLOURS["disagree"],
        ),
        4: ("pool1: moved 2 cells;\npool2: moved 1 cell", COLOURS["agree"]),
    }
    first = rows[0]
    for k, row in enumerate(rows):
        top = 3.55 - 1.38 * k
        shift = row["shift"]
        text(
            ax,
            0.05,
            top + 0.3,
            "features" if shift == 0 else f"moved {shift} px",
            size=10,
            ha="left",
            weight="bold",
        )
        for y, name, n, width, inked, colour in (
            (top, "pixels", GRID_WIDTH, cell, row["pixels"], INK),
            (
                top - 0.36,
                "pool1",
                GRID_WIDTH // 2,
                2 * cell,
                row["pool1"],
                COLOURS["capsule"],
            ),
            (
                top - 0.72,
                "pool2",
                GRID_WIDTH // 4,
                4 * cell,
                row["pool2"],
                COLOURS["parent"],
            ),
        ):
            text(ax, x0 - 0.1, y + 0.13, name, size=MIN_FONT, ha="right")
            _strip(ax, x0, y, width, n, set(inked), colour=colour)
        label, colour = verdicts[shift]
        if label:
            assert (row["pool2"] == [c + shift // 4 for c in first["pool2"]]) == (
                colour == COLOURS["agree"]
            )
            text(
                ax,
                x0 + GRID_WIDTH * cell + 0.2,
                top - 0.23,
                label,
                size=MIN_FONT,
                ha="left",
                colour=colour,
            )
        else:
            text(
                ax,
                x0 + GRID_WIDTH * cell + 0.2,
                top - 0.23,
                "pool1's cells: 2 px wide;\npool2's cells: 4 px wide",
                size=MIN_FONT,
                ha="left",
            )
    return fig
