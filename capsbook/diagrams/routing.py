"""One iteration of routing by agreement, on a 2-D toy computed with :func:`capslib.functional.dynamic_routing`."""

from __future__ import annotations

import numpy as np
import torch
from matplotlib.patches import Arc, Rectangle

from capslib import functional as cf

from ._style import (
    COLOURS,
    FONT,
    GREY,
    INK,
    MIN_FONT,
    TITLE_FONT,
    arrow,
    new_figure,
    text,
)

#: Predictions u_hat[i, j] of 4 children for 2 parents (2-D).  Children 1-3 agree about
#: parent 1; child 4 disagrees with them and agrees with parent 2's other votes.
TOY_U_HAT = (
    ((1.0, 0.8), (0.3, -0.4)),
    ((1.15, 0.55), (-0.2, -0.5)),
    ((0.85, 0.95), (0.1, 0.3)),
    ((-0.9, 0.35), (-1.0, 0.4)),
)
#: The iteration drawn (the couplings of the first are uniform, so the second shows more).
SHOWN_ITERATION = 2
#: The five steps, in the order they happen.
STEPS = ("Predictions", "Couplings", "Sum", "Squash", "Agreement")


def routing_toy():
    """The numbers drawn by :func:`routing_iteration`, for parent ``j = 1``.

    Returns a dict of tensors: ``u_hat`` ``(4, 2)`` (the predictions for
    parent 1), ``c`` ``(4,)`` (its couplings in iteration
    :data:`SHOWN_ITERATION`), ``s`` and ``v`` ``(2,)``, ``agreement`` ``(4,)``
    (``u_hat . v``, what is added to the routing logits).  ``c`` and ``v``
    come from :func:`capslib.functional.dynamic_routing`.
    """
    u_hat = torch.tensor(TOY_U_HAT, dtype=torch.float64).unsqueeze(
        0
    )  # (1, in=4, out=2, dim=2)
    v, c = cf.dynamic_routing(u_hat, iterations=SHOWN_ITERATION, return_couplings=True)
    u1, c1, v1 = u_hat[0, :, 0], c[0, :, 0], v[0, 0]
    s1 = (c1[:, None] * u1).sum(dim=0)
    return {"u_hat": u1, "c": c1, "s": s1, "v": v1, "agreement": u1 @ v1}


def _frame(ax, x0, y0, size):
    ax.add_patch(
        Rectangle(
            (x0, y0), size, size, facecolor="white", edgecolor=GREY, lw=0.8, zorder=1
        )
    )


def routing_iteration():
    """Predictions -> couplings -> sum -> squash -> agreement, and back to the couplings.

    Five panels, left to right, for one parent capsule ``j`` and four children
    ``i`` (children 1-3 agree, child 4 is an outlier), drawn from
    :func:`routing_toy`.  Panels 1, 3 and 4 share one scale, so lengths can be
    compared; the loop arrow below says that the agreement updates the routing
    logits ``b_ij`` and so the next iteration's couplings.  Returns a
    matplotlib Figure, 7.5 in wide.
    """
    toy = routing_toy()
    u_hat, c, s, v, agreement = (
        toy[k].numpy() for k in ("u_hat", "c", "s", "v", "agreement")
    )
    fig, ax = new_figure(3.8)
    n, margin, gap = 5, 0.05, 0.16
    col = (7.5 - 2 * margin - (n - 1) * gap) / n  # column width
    size = 1.3  # picture frame side
    fy = 1.6  # lower edge of the frames
    xs = [margin + k * (col + gap) for k in range(n)]
    frame_x = [x + (col - size) / 2 for x in xs]
    child_colour = [COLOURS["capsule"]] * 3 + [COLOURS["disagree"]]

    # one scale (inches per unit) for the vector panels 1, 3 and 4, fitted to the sum of panel 3
    chain = np.vstack([np.zeros(2), np.cumsum(c[:, None] * u_hat, axis=0)])
    scale = (
        0.75 * size / max(float(np.abs(chain).max()), float(np.abs(u_hat).max()), 1.0)
    )

    def vec(o, start, d, colour, lw=1.6):
        a = (o[0] + scale * start[0], o[1] + scale * start[1])
        b = (a[0] + scale * d[0], a[1] + scale * d[1])
        arrow(ax, a, b, colour=colour, lw=lw, mutation=10, zorder=3)
        return b

    titles = []
    for k, step in enumerate(STEPS):
        titles.append(
            text(
                ax,
                xs[k] + col / 2,
                3.55,
                f"{k + 1}  {step}",
                size=TITLE_FONT,
                weight="bold",
            )
        )
        _frame(ax, frame_x[k], fy, size)
    # 1: predictions u_hat_{j|i}
    o1 = (frame_x[0] + 0.6, fy + 0.3)
    for i in range(4):
        vec(o1, (0, 0), u_hat[i], child_colour[i])
    # 2: couplings c_ij, as horizontal bars (one row per child), dotted: uniform 1/2
    row_y = [fy + size - 0.22 - i * 0.28 for i in range(4)]
    bx0, bar_len = frame_x[1] + 0.24, 0.72
    ax.plot(
        [bx0 + 0.5 * bar_len] * 2,
        [fy + 0.06, fy + size - 0.06],
        color=GREY,
        lw=0.9,
        ls=":",
        zorder=2,
    )
    for i in range(4):
        text(
            ax,
            frame_x[1] + 0.12,
            row_y[i],
            f"{i + 1}",
            size=MIN_FONT,
            colour=child_colour[i],
        )
        ax.add_patch(
            Rectangle(
                (bx0, row_y[i] - 0.08),
                float(c[i]) * bar_len,
                0.16,
                color=child_colour[i],
                zorder=3,
            )
        )
        text(
            ax,
            bx0 + float(c[i]) * bar_len + 0.04,
            row_y[i],
            f"{c[i]:.2f}",
            size=MIN_FONT,
            ha="left",
        )
    # 3: the weighted sum, head to tail, and s_j
    o3 = (frame_x[2] + 0.12, fy + 0.12)
    for i in range(4):
        vec(o3, chain[i], c[i] * u_hat[i], child_colour[i], lw=1.3)
    tip = vec(o3, (0, 0), s, COLOURS["parent"], lw=2.2)
    text(
        ax,
        tip[0] - 0.55,
        tip[1] - 0.08,
        r"$\mathbf{s}_j$",
        size=FONT,
        colour=COLOURS["parent"],
    )
    # 4: squash shortens s_j to v_j (length < 1: inside the dashed unit circle)
    o4 = (frame_x[3] + 0.12, fy + 0.12)
    ax.add_patch(
        Arc(
            o4,
            2 * scale,
            2 * scale,
            theta1=0,
            theta2=90,
            edgecolor=GREY,
            lw=1.0,
            ls="--",
            zorder=2,
        )
    )
    tip_s = vec(o4, (0, 0), s, "#bbbbbb", lw=2.0)
    tip_v = vec(o4, (0, 0), v, COLOURS["parent"], lw=2.4)
    text(
        ax,
        tip_s[0] + 0.06,
        tip_s[1] - 0.12,
        r"$\mathbf{s}_j$",
        size=FONT,
        colour=GREY,
        ha="left",
    )
    mid_v = (o4[0] + 0.5 * (tip_v[0] - o4[0]), o4[1] + 0.5 * (tip_v[1] - o4[1]))
    text(
        ax,
        mid_v[0] + 0.1,
        mid_v[1] - 0.04,
        r"$\mathbf{v}_j$",
        size=FONT,
        colour=COLOURS["parent"],
        ha="left",
    )
    text(
        ax,
        o4[0] + scale,
        o4[1] - 0.03,
        "1",
        size=MIN_FONT,
        colour=GREY,
        ha="center",
        va="top",
    )
    # 5: agreement u_hat . v_j, as horizontal bars around zero
    zero = frame_x[4] + 0.5
    unit = 0.42 / max(float(np.abs(agreement).max()), 1e-9)
    ax.plot([zero, zero], [fy + 0.06, fy + size - 0.06], color=GREY, lw=0.9, zorder=2)
    for i in range(4):
        length = float(agreement[i]) * unit
        ax.add_patch(
            Rectangle(
                (min(zero, zero + length), row_y[i] - 0.08),
                abs(length),
                0.16,
                color=child_colour[i],
                zorder=3,
            )
        )
        text(
            ax,
            zero + max(length, 0.0) + 0.04,
            row_y[i],
            f"{agreement[i]:+.2f}",
            size=MIN_FONT,
            ha="left",
            colour=child_colour[i] if length < 0 else INK,
        )

    formula = [
        r"$\hat{\mathbf{u}}_{j|i} = \mathbf{W}_{ij}\mathbf{u}_i$",
        r"$c_{ij} = \mathrm{softmax}_j(b_{ij})$",
        r"$\mathbf{s}_j = \Sigma_i\, c_{ij}\hat{\mathbf{u}}_{j|i}$",
        r"$\mathbf{v}_j = \mathrm{squash}(\mathbf{s}_j)$",
        r"$b_{ij} \leftarrow b_{ij} + \hat{\mathbf{u}}_{j|i}\cdot\mathbf{v}_j$",
    ]
    note = [
        "each child $i$\npredicts parent $j$",
        "share of child $i$\nsent to parent $j$",
        "weighted sum of\nthe predictions",
        "length below 1,\ndirection kept",
        "agreeing children\ngain weight",
    ]
    for k in range(n):
        text(
            ax, xs[k] + col / 2, fy - 0.2, formula[k], size=FONT if k < 4 else MIN_FONT
        )
        text(
            ax,
            xs[k] + col / 2,
            fy - 0.6,
            note[k],
            size=MIN_FONT,
            colour="#444444",
            linespacing=1.15,
        )
    for k in range(n - 1):
        arrow(
            ax,
            (frame_x[k] + size + 0.01, fy + size / 2),
            (frame_x[k + 1] - 0.01, fy + size / 2),
            lw=1.6,
            mutation=12,
            zorder=4,
        )
    # the loop: agreement -> logits -> next iteration's couplings
    y_loop, y_from = 0.45, fy - 0.85
    xa, xb = xs[4] + col / 2, xs[1] + col / 2
    ax.plot(
        [xa, xa, xb], [y_from, y_loop, y_loop], color=COLOURS["agree"], lw=1.6, zorder=2
    )
    arrow(ax, (xb, y_loop), (xb, y_from), colour=COLOURS["agree"], lw=1.6)
    text(
        ax,
        (xa + xb) / 2,
        y_loop - 0.2,
        "next iteration: the new $b_{ij}$ give new couplings "
        "(the paper runs 3 iterations)",
        size=MIN_FONT,
        colour=COLOURS["agree"],
    )
    text(
        ax,
        3.75,
        3.25,
        f"One parent $j$, four children $i$ (red: the outlier); iteration "
        f"{SHOWN_ITERATION} is shown; dotted line: uniform couplings",
        size=MIN_FONT,
        colour="#444444",
    )
    fig.capslib_steps = [t.get_text() for t in titles]
    fig.capslib_values = {k: t.numpy().copy() for k, t in toy.items()}
    return fig
