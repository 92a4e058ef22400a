"""EM routing as a loop (chapter 11): the M-step fits a Gaussian per parent, the E-step reassigns.

Eight children vote for two parents with 2-D votes :math:`V_{ij}` (a pose of two entries, so that
the votes can be drawn as points).  Children 0-4 agree about parent 0, children 5-7 about parent
1; each child's vote for the other parent is scattered.  Every number drawn comes from
:func:`capslib.em_routing.m_step` and :func:`capslib.em_routing.e_step`, run from uniform
assignments: each panel shows one M-step, its votes coloured by the assignments :math:`R_{ij}`
it used, each parent's Gaussian (the ellipse at 2 standard deviations, :math:`\\mu_j \\pm
2\\sigma_j` on each axis) and the activation :math:`a_j` that its cost gives.  Above the panels,
the loop that connects them.
"""

from __future__ import annotations

import torch
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Ellipse

from capslib.em_routing import e_step, m_step

from ._style import (
    COLOURS,
    DPI,
    FONT,
    GREY,
    INK,
    MIN_FONT,
    PALE,
    WIDTH_IN,
    arrow,
    box,
    show_figures_as_png_in_ipython,
    text,
)
from .clustering import ASSIGNMENT_CMAP

#: Which children agree about which parent.
CLUSTERS = {0: (0, 1, 2, 3, 4), 1: (5, 6, 7)}
#: The toy's constants: each child's activation, the learned costs and the inverse temperature.
CHILD_ACTIVATION = 0.9
BETA_U, BETA_A, LAMBDA = 1.0, 0.0, 1.0
M_STEPS = 3
#: The panels' ticks, all inside their limits (-1.9 to 1.9).
TICKS = (-1, 0, 1)
#: One colour and one marker per parent, the same in the panels and the text.
PARENT_STYLE = {0: (COLOURS["parent"], "o"), 1: (COLOURS["decoder"], "s")}


def _votes() -> torch.Tensor:
    """``V`` ``(1, 8, 2, 2)``: each child's 2-D vote for each parent (fixed seed, float64)."""
    g = torch.Generator().manual_seed(2)
    f64 = torch.float64
    V = torch.zeros(1, 8, 2, 2, dtype=f64)
    V[0, :5, 0] = torch.tensor([0.9, 0.7], dtype=f64) + 0.12 * torch.randn(
        5, 2, generator=g, dtype=f64
    )
    V[0, 5:, 1] = torch.tensor([-0.8, -0.6], dtype=f64) + 0.12 * torch.randn(
        3, 2, generator=g, dtype=f64
    )
    V[0, 5:, 0] = torch.tensor([[-0.9, 0.6], [0.2, -1.0], [-0.6, -0.2]], dtype=f64)
    V[0, :5, 1] = torch.tensor(
        [[0.8, -0.4], [-0.3, 0.9], [0.4, 0.3], [1.0, -1.0], [-1.0, 0.4]], dtype=f64
    )
    return V


def em_numbers(m_steps: int = M_STEPS) -> dict[str, torch.Tensor]:
    """The routing drawn by :func:`em_routing_loop`, from capslib's ``m_step`` and ``e_step``.

    Returns ``V`` ``(8, 2, 2)`` (child, parent, entry), ``a_in`` ``(8,)``; and one row per
    M-step ``t = 1 .. m_steps``: ``R`` ``(t, 8, 2)`` the assignments that M-step used (uniform
    for the first, then each E-step's), ``mu`` and ``sigma`` ``(t, 2, 2)`` each parent's Gaussian,
    ``cost`` ``(t, 2)`` :math:`\\sum_h \\text{cost}_j^h` and ``a`` ``(t, 2)`` the activations.
    """
    V = _votes()
    a_in = torch.full((1, V.shape[1]), CHILD_ACTIVATION, dtype=V.dtype)
    R = torch.full((1, V.shape[1], 2), 0.5, dtype=V.dtype)  # uniform start
    rows = {key: [] for key in ("R", "mu", "sigma", "cost", "a")}
    for _ in range(m_steps):
        mu, var, a = m_step(R, a_in, V, BETA_U, BETA_A, LAMBDA)
        # the cost that m_step turned into a: lambda (beta_a - cost) = logit(a)
        cost = BETA_A - torch.logit(a) / LAMBDA
        for key, value in zip(rows, (R, mu, var.sqrt(), cost, a)):
            rows[key].append(value[0])
        R = e_step(mu, var, a, V)
    numbers = {key: torch.stack(values) for key, values in rows.items()}
    return {"V": V[0], "a_in": a_in[0], **numbers}


def _loop(ax) -> None:
    """The loop of Procedure 1 in inch coordinates: votes -> M-step <-> E-step."""
    top, h = 0.12, 1.3
    box(ax, 0.05, top, 1.25, h, lw=1.0)
    text(
        ax,
        0.675,
        top + h / 2,
        "votes $V_{ij}$\nchild\nactivations $a_i$",
        size=MIN_FONT,
    )
    box(ax, 1.45, top, 3.8, h, face=PALE["parent"], lw=1.0)
    text(ax, 3.35, top + h - 0.17, "M-step: each parent $j$", size=FONT, weight="bold")
    text(
        ax,
        1.52,
        top + 0.5,
        "fit a Gaussian ($\\mu_j$, $\\sigma_j$) to the votes weighted by $R_{ij} a_i$\n"
        "cost$_j = \\Sigma_h (\\beta_u + \\log\\sigma_j^h)\\,\\Sigma_i R_{ij} a_i$\n"
        "$a_j = $ logistic$(\\lambda(\\beta_a - $cost$_j))$: a tight Gaussian\n"
        "that many votes feed makes an active parent; the last\n"
        "M-step's $\\mu_j$ and $a_j$ are the parents' poses and activations",
        size=MIN_FONT,
        ha="left",
    )
    box(ax, 5.45, top, 2.0, h, face=PALE["capsule"], lw=1.0)
    text(ax, 6.45, top + h - 0.17, "E-step: each child $i$", size=FONT, weight="bold")
    text(
        ax,
        5.52,
        top + 0.5,
        "$p_{ij}$: density of $V_{ij}$\nunder parent $j$'s Gaussian\n"
        "$R_{ij} = a_j p_{ij}\\,/\\,\\Sigma_k a_k p_{ik}$",
        size=MIN_FONT,
        ha="left",
    )
    mid = top + h / 2
    arrow(ax, (1.3, mid), (1.45, mid), lw=1.2)
    arrow(ax, (5.25, mid + 0.25), (5.45, mid + 0.25), lw=1.2, colour=COLOURS["parent"])
    arrow(ax, (5.45, mid - 0.25), (5.25, mid - 0.25), lw=1.2, colour=COLOURS["capsule"])


def em_routing_loop():
    """The loop (top) and its first three M-steps on the toy (bottom), one panel per M-step.

    Returns a Figure 7.5 in wide; ``fig.capslib_numbers`` holds :func:`em_numbers`.
    """
    show_figures_as_png_in_ipython()
    numbers = em_numbers()
    V, R, mu, sigma, a = (numbers[k] for k in ("V", "R", "mu", "sigma", "a"))
    fig = Figure(figsize=(WIDTH_IN, 5.2), dpi=DPI)
    FigureCanvasAgg(fig)
    loop = fig.add_axes((0, 0.70, 1, 1.6 / 5.2))
    loop.set_xlim(0, WIDTH_IN), loop.set_ylim(0, 1.6), loop.axis("off")
    _loop(loop)
    cmap = colormaps[ASSIGNMENT_CMAP]
    shown = None
    panels = [fig.add_axes((0.07 + 0.27 * t, 0.1, 0.23, 0.5)) for t in range(M_STEPS)]
    for t, ax in enumerate(panels):
        ax.axhline(0, color=GREY, lw=0.5, zorder=0)
        ax.axvline(0, color=GREY, lw=0.5, zorder=0)
        for j, (colour, marker) in PARENT_STYLE.items():
            shown = ax.scatter(
                V[:, j, 0],
                V[:, j, 1],
                c=R[t, :, j],
                cmap=cmap,
                vmin=0,
                vmax=1,
                marker=marker,
                s=38,
                edgecolors=colour,
                linewidths=1.3,
                zorder=3,
            )
            ax.add_patch(
                Ellipse(
                    tuple(mu[t, j].tolist()),
                    4 * sigma[t, j, 0].item(),
                    4 * sigma[t, j, 1].item(),
                    fill=False,
                    edgecolor=colour,
                    lw=1.6,
                    zorder=4,
                )
            )
            ax.plot(*mu[t, j].tolist(), marker="+", color=colour, ms=9, mew=2, zorder=5)
            ax.text(
                0.03 if j == 0 else 0.97,
                1.02,
                f"$a_{j}$ = {a[t, j]:.2f}",
                transform=ax.transAxes,
                ha="left" if j == 0 else "right",
                va="bottom",
                fontsize=MIN_FONT,
                color=colour,
                weight="bold",
            )
        ax.set_xlim(-1.9, 1.9)
        ax.set_ylim(-1.9, 1.9)
        # ticks only inside the limits: no tick label is laid out, undrawn, on another
        ax.set_xticks(TICKS)
        ax.set_yticks(TICKS)
        ax.set_aspect("equal")
        ax.tick_params(labelsize=MIN_FONT)
        ax.set_xlabel("vote entry 1", fontsize=MIN_FONT)
        used = "uniform $R$" if t == 0 else f"$R$ of E-step {t}"
        ax.set_title(f"M-step {t + 1}, {used}", fontsize=FONT, pad=16)
    panels[0].set_ylabel("vote entry 2", fontsize=MIN_FONT)
    bar = fig.colorbar(shown, cax=fig.add_axes((0.87, 0.1, 0.015, 0.5)))
    bar.set_label("$R_{ij}$ (share of child $i$\nassigned to $j$)", fontsize=MIN_FONT)
    bar.ax.tick_params(labelsize=MIN_FONT)
    fig.text(
        0.5,
        0.665,
        "votes for parent 0: circles, orange Gaussian;  for parent 1: squares, purple;"
        "  ellipses at 2 sigma",
        ha="center",
        va="center",
        fontsize=MIN_FONT,
        color=INK,
    )
    fig.capslib_numbers = numbers
    return fig
