"""The paired comparison of two models on the same digits, as the 2 x 2 table McNemar reads.

Score two models (or two epochs of one run) on the same ``n`` digits and
every digit falls in one of four cells: both right, both wrong, or right for
one model only.  The difference of the two mistake counts is the difference
of the two off-diagonal cells, since the digits both get wrong count for both;
and its standard error, McNemar's ``sqrt(D - d**2 / n)``, depends on the
off-diagonal cells only (:func:`capsbook.paired.paired_count_standard_error`).
Where only the two counts were recorded, the off-diagonal cells are unknown
and the standard error only bounded (:func:`capsbook.runs.recorded.paired_two_se`).
The diagram draws both, with every number computed by those functions.
"""

from __future__ import annotations

from capsbook.paired import paired_count_standard_error
from capsbook.runs.recorded import paired_two_se, paired_verdict

from ._style import (
    COLOURS,
    FONT,
    GREY,
    INK,
    MIN_FONT,
    PALE,
    TITLE_FONT,
    box,
    new_figure,
    text,
)

__all__ = ["paired_table", "paired_table_values"]


def paired_table_values(a_only: int, b_only: int, both_wrong: int, n: int) -> dict:
    """The numbers :func:`paired_table` prints, from the four cells' counts.

    ``a_only``: digits model A gets wrong and B right; ``b_only`` the reverse;
    ``both_wrong``; ``n`` digits in all.  Returns the cells, the two mistake
    counts, ``d`` (A's minus B's), ``D`` (discordant), two McNemar standard
    errors, the verdict with the cells known (``"beyond"`` when ``d`` exceeds
    two SEs, else ``"within"``), and, from the counts alone, the bounds of two
    SEs and :func:`~capsbook.runs.recorded.paired_verdict`.

    >>> v = paired_table_values(20, 5, 20, 5000)
    >>> v["d"], v["D"], round(v["two_se"], 2), v["verdict"], v["counts_verdict"]
    (15, 25, 9.99, 'beyond', 'undecided')
    """
    for name, value in (
        ("a_only", a_only),
        ("b_only", b_only),
        ("both_wrong", both_wrong),
    ):
        if not isinstance(value, int) or value < 0:
            raise ValueError(
                f"paired_table: {name} must be a count (an int >= 0), got {value!r}"
            )
    both_right = n - a_only - b_only - both_wrong
    if both_right < 0:
        raise ValueError(f"paired_table: the three counts add up to more than n = {n}")
    d, discordant = a_only - b_only, a_only + b_only
    two_se = 2 * paired_count_standard_error(discordant, d, n)
    errors_a, errors_b = a_only + both_wrong, b_only + both_wrong
    return {
        "both_right": both_right,
        "a_only": a_only,
        "b_only": b_only,
        "both_wrong": both_wrong,
        "n": n,
        "errors_a": errors_a,
        "errors_b": errors_b,
        "d": d,
        "D": discordant,
        "two_se": two_se,
        "verdict": "beyond" if abs(d) > two_se else "within",
        "counts_bounds": paired_two_se(errors_a, errors_b, n),
        "counts_verdict": paired_verdict(errors_a, errors_b, n),
    }


def paired_table(
    a_only: int = 20,
    b_only: int = 5,
    both_wrong: int = 20,
    n: int = 5000,
    *,
    names: tuple[str, str] = ("A", "B"),
    title: str | None = None,
):
    """Left: the 2 x 2 table of right and wrong; right: what decides, with and without the cells.

    The default is an illustration, not a measurement: two epochs scored on
    5,000 validation digits, A with 40 mistakes and B with 25, 20 of them
    shared.  The off-diagonal cells are coloured: only they enter ``d`` and
    its standard error.  Returns a matplotlib Figure, 7.5 in wide;
    ``fig.capslib_values`` holds :func:`paired_table_values`.
    """
    v = paired_table_values(a_only, b_only, both_wrong, n)
    a, b = names
    fig, ax = new_figure(3.3)
    top = 3.08
    if title:
        text(ax, 3.75, top, title, size=TITLE_FONT, weight="bold")
    # the table: rows are A right / wrong, columns B right / wrong
    x_head, cw, ch = 0.15, 1.25, 0.66
    x_cells = [x_head + 0.95, x_head + 0.95 + cw + 0.08]
    y_rows = [1.72, 1.72 - ch - 0.08]  # lower edges: row "A right", row "A wrong"
    for j, label in enumerate((f"{b} right", f"{b} wrong")):
        text(ax, x_cells[j] + cw / 2, y_rows[0] + ch + 0.2, label, weight="bold")
    for i, label in enumerate((f"{a} right", f"{a} wrong")):
        text(ax, x_head, y_rows[i] + ch / 2, label, ha="left", weight="bold")
    cells = [
        [
            (v["both_right"], "both right", False),
            (v["b_only"], f"only {b} wrong", True),
        ],
        [
            (v["a_only"], f"only {a} wrong", True),
            (v["both_wrong"], "both wrong", False),
        ],
    ]
    for i in range(2):
        for j in range(2):
            count, label, off_diagonal = cells[i][j]
            colour = COLOURS["parent"] if off_diagonal else GREY
            box(
                ax,
                x_cells[j],
                y_rows[i],
                cw,
                ch,
                face=PALE["parent"] if off_diagonal else PALE["setup"],
                edge=colour,
                lw=1.8 if off_diagonal else 1.0,
                radius=0.03,
            )
            text(
                ax,
                x_cells[j] + cw / 2,
                y_rows[i] + ch * 0.64,
                f"{count:,}",
                size=TITLE_FONT,
                weight="bold",
                colour=INK,
            )
            text(
                ax,
                x_cells[j] + cw / 2,
                y_rows[i] + ch * 0.27,
                label,
                size=MIN_FONT,
                colour=INK,
            )
    footer = (
        f"{a}: {v['errors_a']} mistakes = {v['a_only']} + {v['both_wrong']}; "
        f"{b}: {v['errors_b']} = {v['b_only']} + {v['both_wrong']}",
        f"two models (or epochs), the same {n:,} digits",
    )
    for k, line in enumerate(footer):
        y = y_rows[1] - 0.3 - 0.27 * k
        text(ax, x_head, y, line, size=MIN_FONT, colour=GREY, ha="left")
    # the reading, on the right
    x_r = 4.05
    lines = [
        ("Only the coloured cells decide.", FONT, "bold", INK),
        (f"d = {a}'s mistakes − {b}'s", FONT, "normal", INK),
        (
            f"   = {v['a_only']} − {v['b_only']} = {v['d']}  (both wrong cancels)",
            FONT,
            "normal",
            INK,
        ),
        (
            f"D = discordant digits = {v['a_only']} + {v['b_only']} = {v['D']}",
            FONT,
            "normal",
            INK,
        ),
        (
            f"2 SE = 2√(D − d²/n) = {v['two_se']:.1f}: d is {v['verdict']} it",
            FONT,
            "normal",
            COLOURS["parent"],
        ),
        ("Only the counts recorded (metrics.jsonl):", FONT, "bold", INK),
        (
            f"D between |d| = {abs(v['d'])} and {v['errors_a']} + {v['errors_b']}"
            f" = {min(v['errors_a'] + v['errors_b'], n)},",
            FONT,
            "normal",
            INK,
        ),
        (
            f"2 SE between {v['counts_bounds'][0]:.1f} and {v['counts_bounds'][1]:.1f}:"
            f" {v['counts_verdict']}",
            FONT,
            "normal",
            GREY,
        ),
    ]
    y = 2.62
    for k, (line, size, weight, colour) in enumerate(lines):
        if k == 5:
            y -= 0.16
        text(ax, x_r, y, line, size=size, weight=weight, colour=colour, ha="left")
        y -= 0.3
    fig.capslib_values = v
    return fig
