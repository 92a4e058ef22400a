"""The book's path: which chapter builds on which."""

from __future__ import annotations

from typing import NamedTuple

from ._style import (
    COLOURS,
    FONT,
    GREY,
    INK,
    MIN_FONT,
    PALE,
    TITLE_FONT,
    arrow,
    box,
    new_figure,
    text,
)


class Chapter(NamedTuple):
    number: str  # as the book numbers it: "0".."11", "A" and "B" for the appendices
    title: str  # short title shown in the box
    gives: str  # what the reader takes from it (two short lines at most)
    file: str  # the page in _toc.yml


#: The chapters in reading order, as in ``_toc.yml`` (a test checks that they agree).
CHAPTERS: tuple[Chapter, ...] = (
    Chapter("0", "Setup", "tools, data,\nquick/full mode", "notebooks/00_setup"),
    Chapter("1", "CNN basics", "convolution,\npooling", "notebooks/01_cnn_basics"),
    Chapter("2", "Pooling", "what it keeps,\nwhat it loses", "notebooks/02_pooling"),
    Chapter("3", "Capsules", "a vector:\npresence + pose", "notebooks/03_capsules"),
    Chapter("4", "Squash", "length read\nas presence", "notebooks/04_squash"),
    Chapter("5", "Routing", "parts vote\nfor wholes", "notebooks/05_routing"),
    Chapter("6", "Losses", "margin +\nreconstruction", "notebooks/06_losses"),
    Chapter("7", "CapsNet", "the network,\nshape by shape", "notebooks/07_capsnet"),
    Chapter(
        "8", "Training", "the recipe; what\na GPU changes", "notebooks/08_gpu_training"
    ),
    Chapter(
        "9",
        "Inside\ncapsules",  # "What capsules learn" is wider than the box
        "pose, couplings",
        "notebooks/09_what_capsules_learn",
    ),
    Chapter(
        "10",
        "Robustness",
        "affine, overlap,\nscrambled parts",
        "notebooks/10_robustness",
    ),
    Chapter("11", "Beyond\nrouting", "EM routing, cost", "notebooks/11_beyond_routing"),
    Chapter(
        "A",
        "Fashion-MNIST",
        "a smaller CapsNet\non clothes",
        "notebooks/appendix_fashion_mnist",
    ),
    Chapter(
        "B",
        "Number\nformats",
        "bf16 on a CPU:\nspeed, parity",
        "notebooks/appendix_cpu_precision",
    ),
)

#: The book's parts: (caption, chapter numbers), as in ``_toc.yml``.
PARTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Getting started", ("0",)),
    ("Part I: from pooling to routing", ("1", "2", "3", "4", "5")),
    ("Part II: the full CapsNet", ("6", "7", "8", "9", "10", "11")),
    ("Appendix", ("A", "B")),
)


def book_path():
    """The book's path: chapters 0-5 lead from CNNs to routing, 6-11 build and test CapsNet.

    One box per chapter (number, title, what it gives), arrows in reading
    order, one row per part; the two appendices branch off chapter
    8, whose trainer they reuse.  Returns a matplotlib Figure, 7.5 in (750 px)
    wide.  ``fig.capslib_boxes`` maps each chapter number to its box
    ``(x, y, w, h)`` in inches (used by the tests).
    """
    fig, ax = new_figure(4.75)
    n_row, margin, gap = 6, 0.06, 0.12
    w = (7.5 - 2 * margin - (n_row - 1) * gap) / n_row
    h = 1.15
    rows_y = (
        3.25,
        1.5,
    )  # lower edge of the boxes of row 1 (chapters 0-5) and row 2 (6-11)
    boxes: dict[str, tuple[float, float, float, float]] = {}
    for k, chapter in enumerate(CHAPTERS[:12]):
        row, col = divmod(k, n_row)
        boxes[chapter.number] = (margin + col * (w + gap), rows_y[row], w, h)
    x8 = boxes["8"][0]
    boxes["A"] = (x8 - 0.15, 0.06, w + 0.3, 1.05)
    boxes["B"] = (x8 + w + 0.4, 0.06, w + 0.3, 1.05)

    colour = {
        "Getting started": GREY,
        "Part I: from pooling to routing": COLOURS["capsule"],
        "Part II: the full CapsNet": COLOURS["parent"],
        "Appendix": GREY,
    }
    face = {
        "Getting started": PALE["setup"],
        "Part I: from pooling to routing": PALE["capsule"],
        "Part II: the full CapsNet": PALE["parent"],
        "Appendix": PALE["setup"],
    }
    for chapter in CHAPTERS:
        x, y, bw, bh = boxes[chapter.number]
        part = next(p for p, numbers in PARTS if chapter.number in numbers)
        box(ax, x, y, bw, bh, face=face[part], edge=colour[part], lw=1.4)
        cx = x + bw / 2
        text(
            ax,
            cx,
            y + bh - 0.17,
            chapter.number,
            size=TITLE_FONT,
            weight="bold",
            colour=colour[part] if part.startswith("Part") else INK,
        )
        title_lines = chapter.title.count("\n") + 1
        text(
            ax,
            cx,
            y + bh - (0.40 if title_lines == 1 else 0.50),
            chapter.title,
            size=FONT,
            weight="bold",
            linespacing=1.0,
        )
        gives_lines = chapter.gives.count("\n") + 1
        text(
            ax,
            cx,
            y + (0.27 if gives_lines == 2 else 0.17),
            chapter.gives,
            size=MIN_FONT,
            colour="#444444",
            linespacing=1.1,
        )

    # reading order: along each row, then from 5 down to 6
    order = [c.number for c in CHAPTERS[:12]]
    for a, b in zip(order, order[1:]):
        xa, ya, wa, ha = boxes[a]
        xb, yb, _, hb = boxes[b]
        if ya == yb:
            arrow(ax, (xa + wa, ya + ha / 2), (xb, yb + hb / 2))
    x5, y5, w5, _ = boxes["5"]
    x6, y6, w6, h6 = boxes["6"]
    turn = y5 - 0.14
    ax.plot(
        [x5 + w5 / 2, x5 + w5 / 2, x6 + w6 / 2],
        [y5, turn, turn],
        color=INK,
        lw=1.4,
        zorder=2,
    )
    arrow(ax, (x6 + w6 / 2, turn), (x6 + w6 / 2, y6 + h6))
    # the appendix reuses chapter 8's trainer on other data
    xa, ya, wa, ha = boxes["A"]
    arrow(ax, (x8 + w / 2, rows_y[1]), (x8 + w / 2, ya + ha), colour=GREY, ls="--")
    # and so does the appendix on number formats, on the same data in other formats
    xb, yb, wb, hb = boxes["B"]
    arrow(ax, (x8 + 0.8 * w, rows_y[1]), (xb + wb / 2, yb + hb), colour=GREY, ls="--")

    # captions of the parts, above their boxes
    top = rows_y[0] + h + 0.15
    text(
        ax,
        margin,
        top,
        "Getting started",
        size=FONT,
        colour=GREY,
        ha="left",
        style="italic",
    )
    text(
        ax,
        boxes["1"][0],
        top,
        "Part I: from pooling to routing",
        size=TITLE_FONT,
        colour=COLOURS["capsule"],
        ha="left",
        weight="bold",
    )
    text(
        ax,
        x6 + w6 / 2 + 0.12,
        rows_y[1] + h + 0.15,
        "Part II: the full CapsNet",
        size=TITLE_FONT,
        colour=COLOURS["parent"],
        ha="left",
        weight="bold",
    )
    text(
        ax,
        xa - 0.12,
        ya + ha / 2,
        "Appendices",
        size=FONT,
        colour=GREY,
        ha="right",
        style="italic",
    )
    fig.capslib_boxes = boxes
    return fig
