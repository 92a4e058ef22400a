"""The worked toys of chapters 3 and 5: part capsules that predict a face, and 2-D routing data.

Chapter 3 (inverse graphics, Hinton, Krizhevsky & Wang 2011, *Transforming
Auto-Encoders*).  A part capsule (left eye, right eye, nose, mouth) outputs the
*pose* of its part: position ``(x, y)``, scale and rotation, held as a 3x3
similarity matrix in homogeneous coordinates::

    P = [[s cos a, -s sin a, x],
         [s sin a,  s cos a, y],
         [0,        0,       1]]

Each part knows where it sits inside a face: its canonical pose ``R_i`` in the
face's own frame.  If the face has pose ``F``, the part has pose ``F @ R_i``;
inverting, every part predicts the face's pose with its own part-to-whole
transform ``W_i = R_i^{-1}``: ``F_hat_i = P_i @ W_i``.  In a capsule network the
``W_i`` are the learned weight matrices; here they are known.

When the parts are arranged as a face, all predictions coincide (they *agree*);
when the same parts are scrambled, the predictions scatter.
:func:`agreement_spread` measures that.

Chapter 5.  :func:`routing_toy_predictions` builds 2-D predictions
``u_hat: (1, in_caps, out_caps, 2)`` where some input capsules agree on a parent
and others are outliers, for watching routing by agreement step by step; and
:func:`whole_predictions` routes the face toy's parts to two competing wholes,
the face and a "Picasso" (:data:`PICASSO_PARTS`, the same parts in other
places).  Routing compares predictions by dot products, so each predicted pose
is first turned into a unit vector by :func:`embed_poses`, whose dot products
are close to 1 for nearby poses and close to 0 for distant ones.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

__all__ = [
    "FACE_PARTS",
    "PICASSO_PARTS",
    "pose_matrix",
    "pose_parameters",
    "pose_vector",
    "part_to_whole_transforms",
    "face_parts",
    "scramble_parts",
    "jitter_parts",
    "predict_whole",
    "agreement_spread",
    "draw_face_predictions",
    "embed_poses",
    "WHOLES",
    "whole_predictions",
    "RoutingToy",
    "routing_toy_predictions",
]

# Canonical pose of each part in the face's frame: (x, y, scale, angle in radians); y points up.
FACE_PARTS: dict[str, tuple[float, float, float, float]] = {
    "left eye": (-0.35, 0.30, 0.22, 0.0),
    "right eye": (0.35, 0.30, 0.22, 0.0),
    "nose": (0.0, -0.02, 0.18, math.pi / 2),
    "mouth": (0.0, -0.42, 0.40, 0.0),
}

# A second whole made of the same four parts, each with its own size and angle, in other places
# (a derangement of the face's positions): the eyes sit where the mouth and the left eye were,
# the nose where the right eye was, the mouth where the nose was.  Chapter 5 routes parts to it.
PICASSO_PARTS: dict[str, tuple[float, float, float, float]] = {
    "left eye": (0.0, -0.42, 0.22, 0.0),
    "right eye": (-0.35, 0.30, 0.22, 0.0),
    "nose": (0.35, 0.30, 0.18, math.pi / 2),
    "mouth": (0.0, -0.02, 0.40, 0.0),
}


#: The default noise of :func:`jitter_parts` (standard deviations): position in face
#: widths, angle in radians, log-scale.
JITTER_NOISE = {"position": 0.03, "angle": 0.05, "log_scale": 0.05}


def pose_matrix(
    x: float, y: float, scale: float = 1.0, angle: float = 0.0
) -> torch.Tensor:
    """The 3x3 similarity matrix of a pose: position ``(x, y)``, ``scale`` > 0, rotation ``angle`` (radians)."""
    if not scale > 0:
        raise ValueError(f"pose_matrix: expected scale > 0, got {scale}")
    c, s = scale * math.cos(angle), scale * math.sin(angle)
    return torch.tensor([[c, -s, x], [s, c, y], [0.0, 0.0, 1.0]], dtype=torch.float64)


def _check_poses(name: str, poses: torch.Tensor) -> None:
    if not isinstance(poses, torch.Tensor) or poses.shape[-2:] != (3, 3):
        got = (
            tuple(poses.shape)
            if isinstance(poses, torch.Tensor)
            else type(poses).__name__
        )
        raise ValueError(
            f"{name}: expected pose matrices of shape (..., 3, 3), got {got}"
        )


def pose_parameters(poses: torch.Tensor) -> torch.Tensor:
    """``(..., 3, 3)`` pose matrices -> ``(..., 4)`` parameters ``(x, y, scale, angle)``."""
    _check_poses("pose_parameters", poses)
    a, b = poses[..., 0, 0], poses[..., 1, 0]
    return torch.stack(
        [poses[..., 0, 2], poses[..., 1, 2], torch.hypot(a, b), torch.atan2(b, a)],
        dim=-1,
    )


def pose_vector(poses: torch.Tensor) -> torch.Tensor:
    """``(..., 3, 3)`` pose matrices -> ``(..., 4)`` vectors ``(x, y, s cos a, s sin a)``.

    The four free numbers of a similarity transform: a capsule's instantiation
    parameters.  Euclidean distances between these vectors compare poses
    without the wrap-around of an angle.
    """
    _check_poses("pose_vector", poses)
    return torch.stack(
        [poses[..., 0, 2], poses[..., 1, 2], poses[..., 0, 0], poses[..., 1, 0]], dim=-1
    )


def part_to_whole_transforms(
    layout: dict[str, tuple[float, float, float, float]] | None = None,
) -> dict[str, torch.Tensor]:
    """Each part's transform ``W_i = R_i^{-1}`` (3x3) that maps its pose to the whole's pose.

    ``layout``: each part's canonical pose ``(x, y, scale, angle)`` in the
    whole's frame; :data:`FACE_PARTS` by default (:data:`PICASSO_PARTS` for
    the other whole of chapter 5).
    """
    layout = FACE_PARTS if layout is None else layout
    return {
        name: torch.linalg.inv(pose_matrix(*params)) for name, params in layout.items()
    }


def face_parts(
    x: float = 0.0,
    y: float = 0.0,
    scale: float = 1.0,
    angle: float = 0.0,
    *,
    layout: dict[str, tuple[float, float, float, float]] | None = None,
) -> dict[str, torch.Tensor]:
    """The part poses (name -> 3x3) of a whole with pose ``(x, y, scale, angle)``: ``P_face @ R_i``.

    ``layout``: the parts' canonical poses in the whole's frame (default
    :data:`FACE_PARTS`; :data:`PICASSO_PARTS` draws a "Picasso").
    """
    layout = FACE_PARTS if layout is None else layout
    whole = pose_matrix(x, y, scale, angle)
    return {name: whole @ pose_matrix(*params) for name, params in layout.items()}


def scramble_parts(
    parts: dict[str, torch.Tensor], seed: int = 0
) -> dict[str, torch.Tensor]:
    """The same parts in the wrong places: positions permuted so that no part keeps its own.

    Each part keeps its scale and rotation but takes the position of another
    part (a random derangement, reproducible with ``seed``), as in the
    "Picasso" faces of chapter 2.
    """
    names = list(parts)
    if len(names) < 2:
        raise ValueError(f"scramble_parts: expected at least 2 parts, got {len(names)}")
    generator = torch.Generator().manual_seed(seed)
    while True:
        order = torch.randperm(len(names), generator=generator).tolist()
        if all(i != j for i, j in enumerate(order)):
            break
    scrambled = {}
    for name, source in zip(names, order):
        pose = parts[name].clone()
        pose[:2, 2] = parts[names[source]][:2, 2]
        scrambled[name] = pose
    return scrambled


def jitter_parts(
    parts: dict[str, torch.Tensor],
    *,
    position: float = JITTER_NOISE["position"],
    angle: float = JITTER_NOISE["angle"],
    log_scale: float = JITTER_NOISE["log_scale"],
    seed: int = 0,
) -> dict[str, torch.Tensor]:
    """The parts as an imperfect detector would see them: each pose slightly perturbed.

    Each part's position moves by Gaussian noise of standard deviation
    ``position`` (in face units, where the face is about 1 wide), its angle by
    ``angle`` radians and its log-scale by ``log_scale``; reproducible with
    ``seed``.
    """
    if min(position, angle, log_scale) < 0:
        raise ValueError(
            f"jitter_parts: expected noise levels >= 0, got position={position}, angle={angle}, "
            f"log_scale={log_scale}"
        )
    generator = torch.Generator().manual_seed(seed)
    jittered = {}
    for name, pose in parts.items():
        noise = torch.randn(4, generator=generator, dtype=torch.float64)
        x, y, scale, turn = pose_parameters(pose).tolist()
        jittered[name] = pose_matrix(
            x + position * float(noise[0]),
            y + position * float(noise[1]),
            scale * math.exp(log_scale * float(noise[2])),
            turn + angle * float(noise[3]),
        )
    return jittered


def predict_whole(
    parts: dict[str, torch.Tensor], transforms: dict[str, torch.Tensor] | None = None
) -> torch.Tensor:
    """Every part's prediction of the face's pose, ``P_i @ W_i``: ``(n_parts, 3, 3)`` in the order of ``parts``."""
    transforms = part_to_whole_transforms() if transforms is None else transforms
    missing = [name for name in parts if name not in transforms]
    if missing:
        raise ValueError(
            f"predict_whole: expected parts among {sorted(transforms)}, got unknown {missing}"
        )
    for name, pose in parts.items():
        _check_poses(f"predict_whole ({name})", pose)
    return torch.stack([parts[name] @ transforms[name] for name in parts])


def agreement_spread(predictions: torch.Tensor) -> float:
    """How much the predictions disagree: RMS distance of their pose vectors from their mean.

    ``predictions``: ``(n, 3, 3)`` pose matrices.  0 means perfect agreement;
    the unit is the face's size (a face of scale 1 spans about 1 unit).
    """
    _check_poses("agreement_spread", predictions)
    vectors = pose_vector(predictions)
    return float(((vectors - vectors.mean(dim=0)) ** 2).sum(dim=-1).mean().sqrt())


def _outline(pose: torch.Tensor, kind: str) -> torch.Tensor:
    """Points (2, n) of a part's drawing in world coordinates."""
    t = torch.linspace(0, 2 * math.pi, 40, dtype=torch.float64)
    if kind == "nose":  # a triangle pointing along the part's x axis
        local = torch.tensor(
            [[-0.5, 0.5, -0.5, -0.5], [-0.35, 0.0, 0.35, -0.35]], dtype=torch.float64
        )
    elif kind == "mouth":
        local = torch.stack(
            [0.5 * torch.cos(t / 2 + math.pi), 0.25 * torch.sin(t / 2 + math.pi)]
        )
    elif kind == "face":
        local = torch.stack([0.62 * torch.cos(t), 0.75 * torch.sin(t)])
    else:  # an eye
        local = torch.stack([0.5 * torch.cos(t), 0.3 * torch.sin(t)])
    homogeneous = torch.cat([local, torch.ones(1, local.shape[1], dtype=torch.float64)])
    return (pose @ homogeneous)[:2]


def draw_face_predictions(
    parts: dict[str, torch.Tensor], ax=None, *, title: str | None = None
):
    """Draw the parts (solid) and each part's predicted face (dashed outline, dot at its centre).

    Returns the matplotlib axes.  Agreeing predictions draw one face outline;
    disagreeing ones draw several.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4))
    predictions = predict_whole(parts)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, (name, pose) in enumerate(parts.items()):
        colour = colours[k % len(colours)]
        kind = "eye" if "eye" in name else name
        points = _outline(pose, kind)
        ax.plot(points[0], points[1], color=colour, lw=2.5, label=name)
        face = _outline(predictions[k], "face")
        ax.plot(face[0], face[1], color=colour, lw=1, ls="--")
        ax.plot(predictions[k, 0, 2], predictions[k, 1, 2], "o", color=colour, ms=6)
    ax.set_aspect("equal")
    ax.set_xlim(-1.6, 1.6)
    ax.set_ylim(-1.6, 1.6)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(
        title if title is not None else f"spread = {agreement_spread(predictions):.3f}",
    )
    return ax


def embed_poses(
    poses: torch.Tensor, dim: int = 16, *, length_scale: float = 0.15, seed: int = 0
) -> torch.Tensor:
    """``(..., 3, 3)`` poses -> ``(..., dim)`` unit vectors whose dot products say how close two poses are.

    Routing by agreement compares predictions by their dot product.  The raw
    pose vector :func:`pose_vector` is a poor input for that: every pose has a
    large scale component, so two very different poses still have similar
    directions.  These *random Fourier features* (Rahimi & Recht 2007) of the
    pose vector ``p`` fix it::

        e(p) = [cos(omega_k . p), sin(omega_k . p)]_k / sqrt(dim / 2),  omega_k ~ N(0, I / length_scale^2)

    so that ``e(p) . e(q) = mean_k cos(omega_k . (p - q))``: exactly 1 when
    the poses are equal, and on average ``exp(-|p - q|^2 / (2 length_scale^2))``
    (near 0 for poses further apart than a few ``length_scale``).  The same
    ``seed`` gives the same frequencies, so embeddings are comparable.  A
    trained capsule layer learns vectors of this kind; here they are built by
    hand.
    """
    _check_poses("embed_poses", poses)
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 2 or dim % 2:
        raise ValueError(f"embed_poses: expected an even dim >= 2, got {dim!r}")
    if not length_scale > 0:
        raise ValueError(f"embed_poses: expected length_scale > 0, got {length_scale}")
    generator = torch.Generator().manual_seed(seed)
    omega = (
        torch.randn(dim // 2, 4, generator=generator, dtype=torch.float64)
        / length_scale
    )
    phase = pose_vector(poses.double()) @ omega.T  # (..., dim / 2)
    return torch.cat([torch.cos(phase), torch.sin(phase)], dim=-1) / math.sqrt(dim // 2)


WHOLES: dict[str, dict[str, tuple[float, float, float, float]]] = {
    "face": FACE_PARTS,
    "Picasso": PICASSO_PARTS,
}
"""The two wholes of chapter 5's routing toy, in the order of ``whole_predictions``' parent axis."""


def whole_predictions(
    parts: dict[str, torch.Tensor],
    wholes: dict[str, dict[str, tuple[float, float, float, float]]] | None = None,
    *,
    dim: int = 16,
    length_scale: float = 0.15,
    seed: int = 0,
) -> torch.Tensor:
    """Every part's prediction of every whole's pose, embedded for routing: ``(1, n_parts, n_wholes, dim)``.

    ``u_hat[0, i, j] = embed_poses(P_i @ W_ij)`` where ``W_ij`` is part ``i``'s
    part-to-whole transform for whole ``j`` (the inverse of its canonical
    pose in ``wholes[j]``; default :data:`WHOLES`: the face and the
    Picasso).  Parts in the order of ``parts``, wholes in the order of
    ``wholes``; float32, ready for :func:`capslib.functional.dynamic_routing`.
    """
    wholes = WHOLES if wholes is None else wholes
    columns = []
    for name, layout in wholes.items():
        try:
            columns.append(
                predict_whole(parts, part_to_whole_transforms(layout))
            )  # (n_parts, 3, 3)
        except ValueError as err:
            raise ValueError(f"whole_predictions: whole {name!r}: {err}") from None
    poses = torch.stack(columns, dim=1)  # (n_parts, n_wholes, 3, 3)
    return (
        embed_poses(poses, dim, length_scale=length_scale, seed=seed)
        .unsqueeze(0)
        .float()
    )


class RoutingToy(NamedTuple):
    """2-D predictions for routing: ``u_hat`` ``(1, in_caps, out_caps, 2)`` and ``agreeing`` ``(in_caps,)`` bool."""

    u_hat: torch.Tensor
    agreeing: torch.Tensor


def routing_toy_predictions(
    n_agreeing: int = 6,
    n_outliers: int = 4,
    *,
    out_caps: int = 2,
    centre: tuple[float, float] = (0.9, 0.6),
    cluster_spread: float = 0.08,
    outlier_length: float = 0.9,
    outlier_arc: tuple[float, float] = (90.0, 270.0),
    seed: int = 0,
) -> RoutingToy:
    """2-D predictions where the first ``n_agreeing`` input capsules agree on parent 0.

    * Parent 0: the agreeing capsules predict ``centre`` plus small Gaussian
      noise (``cluster_spread``); the outliers predict vectors of length
      ``outlier_length`` in random directions whose angle from the cluster's
      direction, counted anticlockwise in degrees, lies in ``outlier_arc``
      (default ``(90, 270)``: anywhere at least 90 degrees away, so that they
      roughly cancel; ``(90, 150)`` puts them all on one side, so that they
      pull the parent's output sideways).
    * Every other parent: every input capsule predicts a random direction of
      length ``outlier_length`` (no agreement anywhere).

    Returns a :class:`RoutingToy` with ``u_hat``: ``(1, in_caps, out_caps, 2)``
    (float32) and the boolean mask ``agreeing``: ``(in_caps,)``.
    """
    if n_agreeing < 1 or n_outliers < 0 or out_caps < 2:
        raise ValueError(
            f"routing_toy_predictions: expected n_agreeing >= 1, n_outliers >= 0, out_caps >= 2, "
            f"got {n_agreeing}, {n_outliers}, {out_caps}"
        )
    low, high = outlier_arc
    if not 0 <= low <= high <= 360:
        raise ValueError(
            f"routing_toy_predictions: expected 0 <= outlier_arc[0] <= outlier_arc[1] <= 360 "
            f"(degrees from the cluster's direction), got {outlier_arc}"
        )
    generator = torch.Generator().manual_seed(seed)
    in_caps = n_agreeing + n_outliers

    def random_directions(n: int, avoid: float | None = None) -> torch.Tensor:
        angle = torch.rand(n, generator=generator) * 2 * math.pi
        if avoid is not None:  # an angle from `avoid` inside the outlier arc
            angle = (
                avoid
                + math.radians(low)
                + angle / (2 * math.pi) * math.radians(high - low)
            )
        return outlier_length * torch.stack(
            [torch.cos(angle), torch.sin(angle)], dim=-1
        )

    u_hat = torch.zeros(1, in_caps, out_caps, 2)
    noise = cluster_spread * torch.randn(n_agreeing, 2, generator=generator)
    u_hat[0, :n_agreeing, 0] = torch.tensor(centre) + noise
    u_hat[0, n_agreeing:, 0] = random_directions(
        n_outliers, avoid=math.atan2(centre[1], centre[0])
    )
    for j in range(1, out_caps):
        u_hat[0, :, j] = random_directions(in_caps)
    agreeing = torch.arange(in_caps) < n_agreeing
    return RoutingToy(u_hat, agreeing)
