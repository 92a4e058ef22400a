"""Routing as clustering (chapter 11): votes as points, each parent the centre that agreement pulls.

Nine children vote for two parents with 2-D predictions :math:`\\hat u_{j|i}`, so that the votes
can be drawn as points.  Children 0-5 agree about parent A; children 6-8 agree about parent B and
are outliers among A's votes.  Every number drawn comes from
:func:`capslib.functional.dynamic_routing` run for 1, 2 and 3 iterations: the couplings
:math:`c_{ij}`, and the centre of each parent's votes weighted by them,
:math:`\\mathbf{s}_j / \\sum_i c_{ij}` (the direction of :math:`\\mathbf{v}_j =
\\operatorname{squash}(\\mathbf{s}_j)`), which moves from the plain mean of the votes
(iteration 1, uniform couplings) towards the votes that agree.
"""

from __future__ import annotations

import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from capslib import functional as cf

from ._style import (
    COLOURS,
    DPI,
    FONT,
    GREY,
    INK,
    MIN_FONT,
    WIDTH_IN,
    show_figures_as_png_in_ipython,
)

#: Which children agree about which parent: 0-5 about parent A (index 0), 6-8 about B (index 1).
CLUSTERS = {0: (0, 1, 2, 3, 4, 5), 1: (6, 7, 8)}
PARENTS = ("A", "B")
ITERATIONS = 3
#: The panels' ticks, all inside their limits (-1.35 to 1.55).
TICKS = (-1.0, -0.5, 0.0, 0.5, 1.0, 1.5)
#: The colour map of a share of a child sent to a parent (a coupling c_ij, an EM assignment R_ij),
#: from 0 (dark) to 1 (bright), in every figure of chapter 11 that shows one.
ASSIGNMENT_CMAP = "viridis"


def _votes() -> torch.Tensor:
    """``u_hat`` ``(1, 9, 2, 2)``: each child's 2-D vote for each parent (fixed seed, float64)."""
    g = torch.Generator().manual_seed(3)
    u_hat = torch.zeros(1, 9, 2, 2, dtype=torch.float64)
    # the agreeing votes: close to one point, a little noise
    u_hat[0, :6, 0] = torch.tensor(
        [1.0, 0.6], dtype=torch.float64
    ) + 0.12 * torch.randn(6, 2, generator=g, dtype=torch.float64)
    u_hat[0, 6:, 1] = torch.tensor(
        [-0.7, 0.9], dtype=torch.float64
    ) + 0.12 * torch.randn(3, 2, generator=g, dtype=torch.float64)
    # the other votes: scattered, as a child that belongs elsewhere predicts
    u_hat[0, 6:, 0] = torch.tensor(
        [[-0.9, 0.8], [0.3, -1.0], [-1.0, -0.5]], dtype=torch.float64
    )
    u_hat[0, :6, 1] = torch.tensor(
        [[0.9, -0.3], [0.6, 0.9], [0.2, -1.0], [1.1, 0.3], [-0.2, -0.6], [0.7, -0.9]],
        dtype=torch.float64,
    )
    return u_hat


def clustering_numbers(iterations: int = ITERATIONS) -> dict[str, torch.Tensor]:
    """The routing drawn by :func:`routing_as_clustering`, from :func:`capslib.functional.dynamic_routing`.

    Returns ``u_hat`` ``(9, 2, 2)`` (child, parent, xy); and, one row per iteration count
    ``r = 1 .. iterations``: ``c`` ``(r, 9, 2)`` the couplings that produced the outputs,
    ``s`` ``(r, 2, 2)`` the weighted sums, ``v`` ``(r, 2, 2)`` the outputs, ``centre``
    ``(r, 2, 2)`` each parent's weighted mean vote :math:`\\mathbf{s}_j / \\sum_i c_{ij}`, and
    ``agreement`` ``(r, 9, 2)``: :math:`\\hat u_{j|i} \\cdot \\mathbf{v}_j`.
    """
    u_hat = _votes()
    c_all, s_all, v_all = [], [], []
    for r in range(1, iterations + 1):
        v, c = cf.dynamic_routing(u_hat, r, return_couplings=True)
        s = (c[..., None] * u_hat).sum(1)  # (1, 2, 2): Eq. 2's weighted sum
        if not torch.allclose(cf.squash(s), v, atol=1e-12):
            raise AssertionError(
                "clustering_numbers: squash(s) is not dynamic_routing's v"
            )
        c_all.append(c[0]), s_all.append(s[0]), v_all.append(v[0])
    c, s, v = torch.stack(c_all), torch.stack(s_all), torch.stack(v_all)
    return {
        "u_hat": u_hat[0],
        "c": c,
        "s": s,
        "v": v,
        "centre": s / c.sum(1)[..., None],
        "agreement": (u_hat[0][None] * v[:, None]).sum(-1),
    }


def routing_as_clustering():
    """Two panels, one per parent: its nine votes as points, coloured and sized by their coupling
    after the last iteration, and its centre after iterations 1, 2, 3 joined by arrows.

    Returns a Figure 7.5 in wide; ``fig.capslib_numbers`` holds :func:`clustering_numbers`.
    """
    from matplotlib import colormaps

    # shown as a picture even where no pyplot figure came before it (chapter 11's first figure)
    show_figures_as_png_in_ipython()
    numbers = clustering_numbers()
    u_hat, c, centre, v = (numbers[k] for k in ("u_hat", "c", "centre", "v"))
    last = c.shape[0] - 1
    fig = Figure(figsize=(WIDTH_IN, 3.9), dpi=DPI)
    FigureCanvasAgg(fig)
    cmap = colormaps[ASSIGNMENT_CMAP]
    panels = [fig.add_axes((0.1 + 0.41 * j, 0.13, 0.34, 0.66)) for j in range(2)]
    shown = None
    for j, ax in enumerate(panels):
        inliers = CLUSTERS[j]
        points = u_hat[:, j]
        weight = c[last, :, j]
        ax.axhline(0, color=GREY, lw=0.6, zorder=0)
        ax.axvline(0, color=GREY, lw=0.6, zorder=0)
        shown = ax.scatter(
            points[:, 0],
            points[:, 1],
            c=weight,
            cmap=cmap,
            vmin=0,
            vmax=1,
            s=30 + 170 * weight,
            edgecolors=[INK if i in inliers else COLOURS["disagree"] for i in range(9)],
            linewidths=[0.6 if i in inliers else 1.6 for i in range(9)],
            zorder=3,
        )
        for i in range(9):  # the outliers' couplings, written beside them
            if i not in inliers:
                ax.annotate(
                    f"{weight[i]:.2f}",
                    (points[i, 0], points[i, 1]),
                    xytext=(8, -4),
                    textcoords="offset points",
                    fontsize=MIN_FONT,
                    color=COLOURS["disagree"],
                )
        path = centre[:, j]
        for r in range(last):
            ax.annotate(
                "",
                xy=tuple(path[r + 1].tolist()),
                xytext=tuple(path[r].tolist()),
                arrowprops={
                    "arrowstyle": "-|>",
                    "color": COLOURS["parent"],
                    "lw": 1.6,
                    "shrinkA": 3,
                    "shrinkB": 5,
                },
                zorder=4,
            )
        ax.scatter(
            path[:, 0],
            path[:, 1],
            marker="X",
            s=[60] * last + [130],
            color=COLOURS["parent"],
            edgecolors="white",
            linewidths=0.6,
            zorder=5,
        )
        # name the first and the last centre, beside the path rather than on it
        step = path[-1] - path[0]
        side = torch.stack([step[1], -step[0]]) / step.norm().clamp_min(1e-12)
        for r, sign in ((0, 16.0), (last, -30.0)):
            ax.annotate(
                f"r = {r + 1}",
                tuple(path[r].tolist()),
                xytext=tuple((sign * side).tolist()),
                textcoords="offset points",
                ha="center",
                va="center",
                fontsize=MIN_FONT,
                color=COLOURS["parent"],
                weight="bold",
            )
        ax.set_xlim(-1.35, 1.55)
        ax.set_ylim(-1.35, 1.55)
        # ticks only inside the limits: no tick label is laid out, undrawn, on another
        ax.set_xticks(TICKS)
        ax.set_yticks(TICKS)
        ax.set_aspect("equal")
        ax.tick_params(labelsize=MIN_FONT)
        ax.set_title(
            f"votes for parent {PARENTS[j]}: children {inliers[0]}-{inliers[-1]} agree",
            fontsize=FONT,
        )
        ax.set_xlabel("vote, first coordinate", fontsize=MIN_FONT)
    panels[0].set_ylabel("vote, second coordinate", fontsize=MIN_FONT)
    bar = fig.colorbar(shown, cax=fig.add_axes((0.88, 0.13, 0.015, 0.66)))
    bar.set_label(
        f"coupling $c_{{ij}}$ after {last + 1} iterations\n(share of child $i$ sent to $j$)",
        fontsize=MIN_FONT,
    )
    bar.ax.tick_params(labelsize=MIN_FONT)
    fig.text(
        0.5,
        0.955,
        "Each parent's centre (X, after iterations 1, 2, 3) moves from the mean of all its votes"
        "\ntowards the votes that agree; red-ringed outliers end with the low couplings written.",
        ha="center",
        va="center",
        fontsize=MIN_FONT,
        color=INK,
    )
    fig.capslib_numbers = numbers
    del v
    return fig
