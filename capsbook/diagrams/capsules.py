"""What a capsule is, and how parts vote for a whole."""

from __future__ import annotations

import math

import numpy as np
import torch
from matplotlib.patches import Circle, Polygon, Rectangle

from capslib import functional as cf

from ._style import (
    COLOURS,
    FONT,
    GREY,
    LIGHT,
    MIN_FONT,
    PALE,
    TITLE_FONT,
    arrow,
    box,
    new_figure,
    text,
)

# -- neuron vs capsule ---------------------------------------------------------------------------
#: The toy numbers drawn by :func:`neuron_vs_capsule`: a neuron's inputs, weights and bias ...
NEURON_X = (0.2, 0.9, 0.4)
NEURON_W = (0.8, -0.3, 1.1)
NEURON_B = 0.1
#: ... and a capsule's three 2-D input capsules u_i, with the rotation (degrees) and scale of each
#: W_ij, chosen so that the three predictions roughly agree (all point up and to the right).
CAPSULE_U = ((0.6, 0.25), (-0.2, 0.6), (0.35, -0.5))
CAPSULE_W = ((18.0, 2.0), (-62.0, 2.0), (104.0, 2.0))


def neuron_output() -> float:
    """The neuron's output drawn in :func:`neuron_vs_capsule`: ReLU(w . x + b)."""
    z = sum(w * x for w, x in zip(NEURON_W, NEURON_X)) + NEURON_B
    return max(0.0, z)


def _rotation_scale(degrees: float, scale: float) -> torch.Tensor:
    a = math.radians(degrees)
    return scale * torch.tensor(
        [[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]]
    )


def capsule_computation():
    """The capsule drawn in :func:`neuron_vs_capsule`, computed with :mod:`capslib.functional`.

    Returns ``(u, u_hat, v)``: inputs ``(3, 2)``, predictions
    ``u_hat[i] = W_ij u_i`` ``(3, 2)``, and ``v = squash(mean_i u_hat[i])``
    ``(2,)`` (uniform couplings, as in the first routing iteration with one parent).
    """
    u = torch.tensor(CAPSULE_U)
    u_hat = torch.stack([_rotation_scale(*wij) @ ui for wij, ui in zip(CAPSULE_W, u)])
    v = cf.squash(u_hat.mean(dim=0))
    return u, u_hat, v


def _frame(ax, cx: float, cy: float, half: float) -> None:
    """The white square, grey-edged, that a vector is drawn in, centred on ``(cx, cy)``."""
    ax.add_patch(
        Rectangle(
            (cx - half, cy - half),
            2 * half,
            2 * half,
            facecolor="white",
            edgecolor=GREY,
            linewidth=0.8,
            zorder=1,
        )
    )


def _vector_frame(
    ax,
    cx: float,
    cy: float,
    half: float,
    vec,
    colour: str,
    label: str | None = None,
    label_side: str = "left",
    unit: float | None = None,
):
    """A small square with faint axes and ``vec`` drawn as an arrow from its centre."""
    _frame(ax, cx, cy, half)
    ax.plot([cx - half, cx + half], [cy, cy], color=LIGHT, lw=0.8, zorder=1.1)
    ax.plot([cx, cx], [cy - half, cy + half], color=LIGHT, lw=0.8, zorder=1.1)
    unit = unit if unit is not None else 0.9 * half
    end = (cx + unit * float(vec[0]), cy + unit * float(vec[1]))
    arrow(ax, (cx, cy), end, colour=colour, lw=1.8, mutation=10, zorder=3)
    if label:
        if label_side == "left":
            text(ax, cx - half - 0.06, cy, label, size=FONT, ha="right")
        else:
            text(ax, cx + half + 0.06, cy, label, size=FONT, ha="left")


def neuron_vs_capsule():
    """A neuron maps scalars to a scalar; a capsule maps vectors to a vector.

    Left: three inputs ``x_i``, weights ``w_i``, ``a = ReLU(sum w_i x_i + b)``:
    one number says *how much*.  Right: three input capsules ``u_i`` (drawn in
    2-D), predictions ``W_ij u_i``, their combination squashed into ``v_j``:
    the length says *whether* the entity is there, the direction *how* (its
    pose).  The numbers and arrows are computed (:func:`neuron_output`,
    :func:`capsule_computation`).  Returns a matplotlib Figure, 7.5 in wide.
    """
    fig, ax = new_figure(3.5)
    # a divider between the panels
    ax.plot([3.62, 3.62], [0.15, 3.35], color=LIGHT, lw=1.5)

    # ---- left: the neuron ----
    text(
        ax,
        1.8,
        3.3,
        "Neuron: scalars in, a scalar out",
        size=TITLE_FONT,
        weight="bold",
        colour=COLOURS["neuron"],
    )
    ys = (2.45, 1.7, 0.95)
    sx, sy, r = 1.85, 1.7, 0.36
    for k, (x, w, y) in enumerate(zip(NEURON_X, NEURON_W, ys), start=1):
        ax.add_patch(
            Circle(
                (0.55, y),
                0.25,
                facecolor=PALE["neuron"],
                edgecolor=COLOURS["neuron"],
                lw=1.2,
            )
        )
        text(ax, 0.55, y, f"{x:g}", size=FONT)
        text(ax, 0.22, y, f"$x_{k}$", size=FONT, ha="right")
        start, end = (0.8, y), (sx - r, sy + (y - sy) * 0.35)
        arrow(ax, start, end, colour=COLOURS["neuron"], lw=1.2)
        lift = -0.17 if k == 3 else 0.15
        mid = (
            start[0] + 0.45 * (end[0] - start[0]),
            start[1] + 0.45 * (end[1] - start[1]) + lift,
        )
        text(ax, mid[0], mid[1], f"$w_{k}={w:g}$", size=MIN_FONT, colour="#444444")
    ax.add_patch(
        Circle((sx, sy), r, facecolor="white", edgecolor=COLOURS["neuron"], lw=1.5)
    )
    text(ax, sx, sy + 0.08, r"$\Sigma$", size=TITLE_FONT)
    text(ax, sx, sy - 0.14, "ReLU", size=MIN_FONT)
    a = neuron_output()
    arrow(ax, (sx + r, sy), (2.75, sy), colour=COLOURS["neuron"], lw=1.4)
    ax.add_patch(
        Circle(
            (3.05, sy),
            0.28,
            facecolor=PALE["neuron"],
            edgecolor=COLOURS["neuron"],
            lw=1.4,
        )
    )
    text(ax, 3.05, sy, f"{a:.2f}", size=FONT, weight="bold")
    text(ax, 3.05, sy - 0.45, "$a$", size=FONT)
    text(
        ax,
        1.8,
        0.38,
        r"$a = \mathrm{ReLU}(\sum_i w_i x_i + b)$" + f", $b={NEURON_B:g}$",
        size=FONT,
    )
    text(
        ax,
        1.8,
        0.12,
        "one number: how strongly the feature is there",
        size=MIN_FONT,
        colour="#444444",
    )

    # ---- right: the capsule ----
    text(
        ax,
        5.56,
        3.3,
        "Capsule: vectors in, a vector out",
        size=TITLE_FONT,
        weight="bold",
        colour=COLOURS["capsule"],
    )
    u, u_hat, v = capsule_computation()
    half = 0.3
    fx, sx2 = 4.3, 5.75
    for k, (ui, y) in enumerate(zip(u, ys), start=1):
        _vector_frame(
            ax,
            fx,
            y,
            half,
            ui,
            COLOURS["capsule"],
            label=rf"$\mathbf{{u}}_{k}$",
            unit=0.45,
        )
        start, end = (fx + half, y), (sx2 - 0.42, sy + (y - sy) * 0.35)
        arrow(ax, start, end, colour=COLOURS["capsule"], lw=1.2)
        lift = -0.17 if k == 3 else 0.15
        mid = (
            start[0] + 0.45 * (end[0] - start[0]),
            start[1] + 0.45 * (end[1] - start[1]) + lift,
        )
        text(
            ax, mid[0], mid[1], rf"$\mathbf{{W}}_{{{k}j}}$", size=FONT, colour="#444444"
        )
    box(
        ax,
        sx2 - 0.42,
        sy - 0.36,
        0.84,
        0.72,
        face="white",
        edge=COLOURS["capsule"],
        lw=1.5,
    )
    text(ax, sx2, sy + 0.14, r"$\Sigma_i\, c_{ij}\,\hat{\mathbf{u}}_{j|i}$", size=FONT)
    text(ax, sx2, sy - 0.16, "squash", size=MIN_FONT)
    arrow(ax, (sx2 + 0.42, sy), (6.55, sy), colour=COLOURS["capsule"], lw=1.4)
    ox, ohalf = 6.95, 0.38
    _vector_frame(ax, ox, sy, ohalf, v, COLOURS["parent"], unit=0.92 * ohalf)
    length = float(torch.linalg.vector_norm(v))
    text(
        ax, ox, sy - ohalf - 0.14, rf"$\mathbf{{v}}_j$, length {length:.2f}", size=FONT
    )
    text(
        ax,
        5.56,
        0.38,
        r"$\hat{\mathbf{u}}_{j|i} = \mathbf{W}_{ij}\mathbf{u}_i$,"
        r"  $\mathbf{v}_j = \mathrm{squash}(\Sigma_i\, c_{ij}\hat{\mathbf{u}}_{j|i})$",
        size=FONT,
    )
    text(
        ax,
        5.56,
        0.12,
        "length: is it there?  direction: its pose",
        size=MIN_FONT,
        colour="#444444",
    )
    fig.capslib_values = {"neuron_output": a, "capsule_length": length}
    return fig


# -- parts voting for a whole ------------------------------------------------------------------
def pose(x: float, y: float, angle: float = 0.0, scale: float = 1.0) -> np.ndarray:
    """A 2-D pose as a 3x3 homogeneous matrix: rotate by ``angle`` (radians), scale, then move."""
    c, s = scale * math.cos(angle), scale * math.sin(angle)
    return np.array([[c, -s, x], [s, c, y], [0.0, 0.0, 1.0]])


#: Where each part sits in the frame of the whole (a house): the part-whole relations, i.e. the
#: transformation matrices W_ij that a capsule network learns.
HOUSE_PARTS = {
    "roof": pose(0.0, 0.5),
    "wall": pose(0.0, -0.2),
    "door": pose(0.0, -0.475),
}
#: Each part's outline in its own frame.
PART_SHAPES = {
    "roof": np.array([[-0.62, -0.2], [0.62, -0.2], [0.0, 0.38]]),
    "wall": np.array([[-0.5, -0.5], [0.5, -0.5], [0.5, 0.5], [-0.5, 0.5]]),
    "door": np.array([[-0.12, -0.225], [0.12, -0.225], [0.12, 0.225], [-0.12, 0.225]]),
}
#: The whole's outline in its own frame (wall and roof).
HOUSE_OUTLINE = np.array(
    [
        [-0.5, -0.7],
        [0.5, -0.7],
        [0.5, 0.3],
        [0.62, 0.3],
        [0.0, 0.88],
        [-0.62, 0.3],
        [-0.5, 0.3],
    ]
)
PART_COLOURS = {
    "roof": COLOURS["part2"],
    "wall": COLOURS["part1"],
    "door": COLOURS["part3"],
}


def _apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ matrix[:2, :2].T + matrix[:2, 2]


def house_votes(part_poses: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Each part's prediction of the house's pose: ``pose(part) @ inverse(relation(part))``."""
    return {
        name: p @ np.linalg.inv(HOUSE_PARTS[name]) for name, p in part_poses.items()
    }


def vote_spread(votes: dict[str, np.ndarray]) -> float:
    """How far the predicted house centres lie from their mean (root mean square, house units)."""
    centres = np.array([v[:2, 2] for v in votes.values()])
    return float(np.sqrt(((centres - centres.mean(axis=0)) ** 2).sum(axis=1).mean()))


def parts_scenes() -> dict[str, dict[str, np.ndarray]]:
    """The two scenes of :func:`parts_vote`: the parts of one house, and the same parts scrambled."""
    house = pose(0.0, 0.0, angle=0.25)
    in_place = {name: house @ rel for name, rel in HOUSE_PARTS.items()}
    scrambled = {
        "roof": pose(0.6, -0.5, angle=math.pi * 0.9),
        "wall": pose(-0.6, -0.05, angle=-0.35),
        "door": pose(0.75, 0.25, angle=1.3),
    }
    return {"in place": in_place, "scrambled": scrambled}


def parts_vote():
    """Parts vote for a whole: agreeing votes mean the whole is there.

    Each detected part (solid) predicts the pose of the house it would belong
    to (dashed, in the part's colour), through its part-whole relation.  With
    the parts in place the three predictions coincide, so the house capsule
    is active; with the same parts scrambled they scatter, so it is not,
    although the same parts are present (what max pooling cannot tell
    apart).  The votes are computed (:func:`house_votes`, :func:`vote_spread`).
    Returns a matplotlib Figure, 7.5 in wide.
    """
    fig, ax = new_figure(3.7)
    scenes = parts_scenes()
    centres = {"in place": (1.85, 2.05), "scrambled": (5.65, 1.95)}
    unit = 1.05  # inches per house unit
    titles = {
        "in place": "Parts in place: the votes agree",
        "scrambled": "Scrambled: the votes disagree",
    }
    spreads = {}
    for name, parts in scenes.items():
        cx, cy = centres[name]
        votes = house_votes(parts)
        spreads[name] = vote_spread(votes)
        to_page = np.array([[unit, 0, cx], [0, unit, cy], [0, 0, 1]])
        for part, p in parts.items():
            pts = _apply(to_page @ p, PART_SHAPES[part])
            ax.add_patch(
                Polygon(
                    pts,
                    closed=True,
                    facecolor=PART_COLOURS[part],
                    alpha=0.35,
                    edgecolor=PART_COLOURS[part],
                    lw=1.8,
                    zorder=2,
                )
            )
        for part, vote in votes.items():
            pts = _apply(to_page @ vote, HOUSE_OUTLINE)
            ax.add_patch(
                Polygon(
                    pts,
                    closed=True,
                    fill=False,
                    edgecolor=PART_COLOURS[part],
                    lw=1.3,
                    ls=(0, (4, 3)),
                    zorder=3,
                )
            )
            centre = _apply(to_page @ vote, np.zeros((1, 2)))[0]
            ax.add_patch(Circle(centre, 0.045, color=PART_COLOURS[part], zorder=4))
        agree = spreads[name] < 0.1
        text(
            ax,
            cx,
            3.5,
            titles[name],
            size=TITLE_FONT,
            weight="bold",
            colour=COLOURS["agree"] if agree else COLOURS["disagree"],
        )
        verdict = "house capsule: active" if agree else "house capsule: inactive"
        text(
            ax,
            cx,
            0.55,
            f"spread of the predicted centres: {spreads[name]:.2f}\n{verdict}",
            size=FONT,
            colour=COLOURS["agree"] if agree else COLOURS["disagree"],
            linespacing=1.2,
        )
    ax.plot([3.75, 3.75], [0.35, 3.35], color=LIGHT, lw=1.5)
    text(
        ax,
        3.75,
        0.13,
        "solid: a detected part    dashed: the house that part predicts    "
        "dot: its predicted centre",
        size=MIN_FONT,
        colour="#444444",
    )
    fig.capslib_values = {
        "spread_in_place": spreads["in place"],
        "spread_scrambled": spreads["scrambled"],
    }
    return fig


# -- the vote chain into a squash (chapter 4) -------------------------------------------------
#: :func:`vote_chain`'s votes: 4 votes of one length, all one way or in scattered directions
#: (degrees), chosen so that the scattered sum is near the random-walk length 2 x the vote.
VOTE_LENGTH = 0.2
AGREEING_ANGLES = (35.0, 35.0, 35.0, 35.0)
SCATTERED_ANGLES = (35.0, 130.0, 300.0, 20.0)


def vote_chain_numbers() -> dict[str, dict[str, torch.Tensor]]:
    """The numbers :func:`vote_chain` draws, computed with :func:`capslib.functional.squash`.

    For ``"agreeing"`` and ``"scattered"``: ``votes`` ``(4, 2)``, their sum ``s``
    ``(2,)`` and ``v = squash(s)`` ``(2,)``.  (The scattered sum is about twice a vote,
    as a random walk of four steps is on average.)
    """
    out = {}
    for name, angles in (
        ("agreeing", AGREEING_ANGLES),
        ("scattered", SCATTERED_ANGLES),
    ):
        radians = torch.tensor(angles, dtype=torch.float64) * math.pi / 180
        votes = VOTE_LENGTH * torch.stack([radians.cos(), radians.sin()], dim=1)
        s = votes.sum(dim=0)
        out[name] = {"votes": votes, "s": s, "v": cf.squash(s)}
    return out


def vote_chain():
    """Votes -> their sum s -> squash -> v, for agreeing and for scattered votes.

    The same four vote lengths make a long sum when the votes agree and a short
    one when they scatter; the squash, quadratic for short inputs, widens that
    contrast.  All numbers come from :func:`vote_chain_numbers`.
    """
    numbers = vote_chain_numbers()
    fig, ax = new_figure(3.9)
    scale, half = 1.0, 0.62  # inches per unit of length; half a frame's side
    offsets = (-0.09, -0.03, 0.03, 0.09)  # agreeing votes side by side, not on top
    columns = {"votes": 1.1, "s": 3.0, "v": 4.9}
    titles = {
        "votes": f"4 votes of length {VOTE_LENGTH}",
        "s": "their sum $\\mathbf{s}$",
        "v": "$\\mathbf{v} = \\mathrm{squash}(\\mathbf{s})$",
    }
    for key, x in columns.items():
        text(ax, x, 3.65, titles[key], size=FONT)
    rows = {"agreeing": 2.6, "scattered": 0.95}
    colour = {"agreeing": COLOURS["agree"], "scattered": COLOURS["disagree"]}
    for name, y in rows.items():
        nums = numbers[name]
        text(ax, 0.05, y + half + 0.12, name, size=FONT, ha="left", weight="bold")
        for x in columns.values():
            _frame(ax, x, y, half)
        # the votes, each from the centre; the sum, head to tail
        x0 = columns["votes"]
        for k, vote in enumerate(nums["votes"]):
            dx, dy = (float(vote[1]), -float(vote[0])) if name == "agreeing" else (0, 0)
            start = (
                x0 + offsets[k] * dx / VOTE_LENGTH,
                y + offsets[k] * dy / VOTE_LENGTH,
            )
            end = (start[0] + scale * float(vote[0]), start[1] + scale * float(vote[1]))
            arrow(ax, start, end, colour=colour[name], lw=1.6, mutation=9, zorder=3)
        x0, point = columns["s"] - 0.45, np.array([0.0, 0.0])
        for vote in nums["votes"]:
            nxt = point + vote.numpy()
            start = (x0 + scale * point[0], y - 0.2 + scale * point[1])
            end = (x0 + scale * nxt[0], y - 0.2 + scale * nxt[1])
            arrow(ax, start, end, colour=GREY, lw=1.0, mutation=7, zorder=2)
            point = nxt
        s_end = (x0 + scale * point[0], y - 0.2 + scale * point[1])
        arrow(ax, (x0, y - 0.2), s_end, colour=INK_VEC, lw=2.0, mutation=10, zorder=3)
        x0 = columns["v"] - 0.45
        v = nums["v"]
        v_end = (x0 + scale * float(v[0]), y - 0.2 + scale * float(v[1]))
        arrow(ax, (x0, y - 0.2), v_end, colour=INK_VEC, lw=2.0, mutation=10, zorder=3)
        s_len, v_len = float(nums["s"].norm()), float(v.norm())
        text(ax, columns["s"], y - half - 0.14, f"$|\\mathbf{{s}}|$ = {s_len:.2f}")
        text(ax, columns["v"], y - half - 0.14, f"$|\\mathbf{{v}}|$ = {v_len:.2f}")
    agree, scatter = numbers["agreeing"], numbers["scattered"]
    ratio_s = float(agree["s"].norm() / scatter["s"].norm())
    ratio_v = float(agree["v"].norm() / scatter["v"].norm())
    text(ax, 6.45, 2.35, "agreeing / scattered", size=FONT)
    text(ax, 6.45, 2.0, f"sums: {ratio_s:.1f} x", size=FONT)
    text(ax, 6.45, 1.65, f"squashed: {ratio_v:.1f} x", size=FONT, weight="bold")
    arrow(ax, (1.1 + half + 0.05, 3.35), (3.0 - half - 0.05, 3.35), colour=GREY)
    arrow(ax, (3.0 + half + 0.05, 3.35), (4.9 - half - 0.05, 3.35), colour=GREY)
    return fig


INK_VEC = COLOURS["parent"]
