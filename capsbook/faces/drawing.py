"""Drawing faces in code: a face's geometry, and shapes turned into anti-aliased ink.

Every shape is drawn for the whole batch at once: coordinates are ``(n, size, size)`` tensors in the
frame of each face, and a shape's ink is ``clamp(0.5 - distance, 0, 1)``, with the distance in
pixels (negative inside).  Images combine shapes with a maximum, as strokes of one pen would.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

# Where each part sits in a face, in the face's own frame, in units of the
# image size (x to the right, y downwards, origin at the face's centre).
PART_SLOTS = torch.tensor([[-0.13, -0.10], [0.13, -0.10], [0.0, 0.04], [0.0, 0.20]])
OVAL_RADII = (
    0.31,
    0.39,
)  # half-width and half-height of the face oval, in units of the size
EYE_RADII = (0.055, 0.045)
NOSE_HALF_LENGTH = 0.055
MOUTH_HALF_WIDTH = 0.10
MOUTH_CURVE = 0.9  # the mouth is the arc y = MOUTH_CURVE * x**2 / size (a smile)
MIN_SIZE = 20


@dataclass(frozen=True)
class FaceLayout:
    """Where a face's parts and oval sit, in units of the image size (the face's frame).

    ``slots``: the ``(x, y)`` place of each part of PART_NAMES in a face;
    ``oval_radii``: the oval's half-width and half-height (``None``: no oval);
    ``mouth_half_width``;
    ``movable``: the slots a scrambled face permutes its parts among (a part
    whose slot is not listed stays in it).
    """

    slots: tuple[tuple[float, float], ...]
    oval_radii: tuple[float, float] | None
    mouth_half_width: float
    movable: tuple[int, ...] = (0, 1, 2, 3)

    def __post_init__(self) -> None:
        if len(self.slots) != 4 or any(len(slot) != 2 for slot in self.slots):
            raise ValueError(f"FaceLayout: expected 4 (x, y) slots, got {self.slots}")
        if 3 not in self.movable or not set(self.movable) <= {0, 1, 2, 3}:
            raise ValueError(
                "FaceLayout: expected movable slots among 0..3 that include the "
                f"mouth's (3), got {self.movable}"
            )


STANDARD_LAYOUT = FaceLayout(
    slots=tuple(tuple(slot) for slot in PART_SLOTS.tolist()),
    oval_radii=OVAL_RADII,
    mouth_half_width=MOUTH_HALF_WIDTH,
)
"""The layout of chapter 2's and chapter 10's faces: eyes, nose and mouth close together."""

SPACED_LAYOUT = FaceLayout(
    slots=((-0.27, -0.27), (0.27, -0.27), (-0.27, 0.27), (0.27, 0.27)),
    oval_radii=None,
    mouth_half_width=0.085,
)
"""Four parts at the corners of a square, with no oval: eyes above, nose and mouth below.

The parts are about 15 pixels apart at size 28: with ``FaceStyle(max_centre_shift=1.0,
scale=(0.95, 1.0))``, inked pixels of two parts are at least 9 pixels apart in x or y
(tested), so no 9 x 9 window (what two 5 x 5 convolutions see) holds ink of two
parts.  A scrambled face shows, window by window, what a face shows; it differs
from it only in where the parts are (and in what touches the frame's border).
"""


@dataclass(frozen=True)
class FaceStyle:
    """How much the drawings vary.  All ranges are sampled uniformly.

    Distances are in pixels, angles in degrees, ``scale`` multiplies the whole
    face, ``ink`` is the brightness of the strokes.
    """

    max_centre_shift: float = 1.5
    scale: tuple[float, float] = (0.9, 1.05)
    max_tilt: float = 10.0
    max_part_jitter: float = 0.6
    stroke: tuple[float, float] = (1.2, 1.7)
    ink: tuple[float, float] = (0.75, 1.0)
    layout: FaceLayout = STANDARD_LAYOUT

    def __post_init__(self) -> None:
        for name in ("scale", "stroke", "ink"):
            low, high = getattr(self, name)
            if not 0 < low <= high:
                raise ValueError(
                    f"FaceStyle.{name}: expected 0 < low <= high, got ({low}, {high})"
                )
        for name in ("max_centre_shift", "max_tilt", "max_part_jitter"):
            if getattr(self, name) < 0:
                raise ValueError(
                    f"FaceStyle.{name}: expected a value >= 0, got {getattr(self, name)}"
                )


def frame_to_image(points: torch.Tensor, poses: torch.Tensor) -> torch.Tensor:
    """Points ``(n, k, 2)`` in each face's frame -> image pixels ``(n, k, 2)``.

    ``poses``: ``(n, 4)``, each face's ``(cx, cy, scale, tilt in degrees)``; the
    frame's origin is the face's centre and its axes are tilted with it.
    """
    cx, cy, _, tilt = poses.unbind(1)
    cos, sin = torch.cos(torch.deg2rad(tilt)), torch.sin(torch.deg2rad(tilt))
    px, py = points[..., 0], points[..., 1]
    return torch.stack(
        [
            cx[:, None] + cos[:, None] * px - sin[:, None] * py,
            cy[:, None] + sin[:, None] * px + cos[:, None] * py,
        ],
        dim=-1,
    )


def _ink(distance: torch.Tensor) -> torch.Tensor:
    return (0.5 - distance).clamp(0.0, 1.0)


def _ellipse_distance(x, y, a, b):
    """Approximate signed distance (pixels) to the ellipse (x/a)^2 + (y/b)^2 = 1; negative inside."""
    return (torch.sqrt((x / a) ** 2 + (y / b) ** 2) - 1.0) * torch.sqrt(a * b)


def _segment_distance(x, y, x0, y0, x1, y1):
    """Distance (pixels) from each point to the segment from (x0, y0) to (x1, y1)."""
    dx, dy = x1 - x0, y1 - y0
    t = (((x - x0) * dx + (y - y0) * dy) / (dx * dx + dy * dy).clamp_min(1e-9)).clamp(
        0.0, 1.0
    )
    return torch.hypot(x - x0 - t * dx, y - y0 - t * dy)


def _draw_part(
    part: int, x, y, cx, cy, scale, size, stroke, mouth_half_width=MOUTH_HALF_WIDTH
):
    """Ink of one part (index into PART_NAMES) centred at (cx, cy) in the face frame; x, y: (n, s, s)."""
    u, v = x - cx, y - cy
    if part in (0, 1):  # an eye: a filled ellipse
        return _ink(
            _ellipse_distance(
                u, v, EYE_RADII[0] * size * scale, EYE_RADII[1] * size * scale
            )
        )
    if part == 2:  # the nose: a short vertical stroke
        half = NOSE_HALF_LENGTH * size * scale
        zero = torch.zeros_like(half)
        return _ink(_segment_distance(u, v, zero, -half, zero, half) - stroke / 2)
    half = (
        mouth_half_width * size * scale
    )  # the mouth: a shallow arc, bent into a smile
    curve = MOUTH_CURVE / (size * scale)
    bent_v = v - curve * (u**2 - half**2 / 3)
    zero = torch.zeros_like(half)
    return _ink(_segment_distance(u, bent_v, -half, zero, half, zero) - stroke / 2)


def uniform(generator, n, low, high):
    """``n`` uniform draws in ``[low, high)`` from ``generator``."""
    return low + (high - low) * torch.rand(n, generator=generator)


def _pixel_grid(n, size):
    """Each pixel's ``(x, y)``: two ``(n, size, size)`` tensors (columns, rows)."""
    rows, cols = torch.meshgrid(
        torch.arange(size, dtype=torch.float32),
        torch.arange(size, dtype=torch.float32),
        indexing="ij",
    )
    return cols.expand(n, size, size), rows.expand(n, size, size)


def _face_frames(n, size, style, generator):
    """Sample n faces' poses and return the pixel grid in each face's frame.

    Returns ``(x, y, poses)``: ``x, y`` of shape ``(n, size, size)`` are each
    pixel's coordinates in its face's frame (origin at the face's centre, axes
    tilted with it) and ``poses`` is ``(n, 4)`` (cx, cy, scale, tilt in degrees).
    """
    middle = (size - 1) / 2
    cx = middle + uniform(generator, n, -style.max_centre_shift, style.max_centre_shift)
    cy = middle + uniform(generator, n, -style.max_centre_shift, style.max_centre_shift)
    scale = uniform(generator, n, *style.scale)
    tilt = uniform(generator, n, -style.max_tilt, style.max_tilt)
    cos, sin = torch.cos(torch.deg2rad(tilt)), torch.sin(torch.deg2rad(tilt))
    columns, rows = _pixel_grid(n, size)
    dx, dy = columns - cx[:, None, None], rows - cy[:, None, None]
    # rotate image offsets by -tilt to get frame coordinates
    x = cos[:, None, None] * dx + sin[:, None, None] * dy
    y = -sin[:, None, None] * dx + cos[:, None, None] * dy
    return x, y, torch.stack([cx, cy, scale, tilt], dim=1)


def draw_ovals_with_parts(n, size, style, generator, slots_of_parts, present):
    """Draw ovals holding parts.

    ``slots_of_parts``: ``(n, 4)`` int, the slot (index into PART_SLOTS) where
    each part is drawn; ``present``: ``(n, 4)`` bool, which parts are drawn.
    Returns ``(images (n, 1, s, s), part_centres (n, 4, 2), poses (n, 4))``.
    """
    x, y, poses = _face_frames(n, size, style, generator)
    scale = poses[:, 2]
    stroke = uniform(generator, n, *style.stroke)[:, None, None]
    ink = uniform(generator, n, *style.ink)
    s3 = scale[:, None, None]
    layout = style.layout
    radii = layout.oval_radii
    if radii is None:
        oval = torch.zeros_like(x)
    else:
        oval = _ink(
            _ellipse_distance(x, y, radii[0] * size * s3, radii[1] * size * s3).abs()
            - stroke / 2
        )
    jitter = uniform(
        generator, n * 4 * 2, -style.max_part_jitter, style.max_part_jitter
    ).view(n, 4, 2)
    slots = torch.tensor(layout.slots, dtype=torch.float32)
    centres = (
        slots[slots_of_parts] * size * scale[:, None, None] + jitter
    )  # (n, 4, 2) frame
    image = oval
    for part in range(4):
        ink_part = _draw_part(
            part,
            x,
            y,
            centres[:, part, 0, None, None],
            centres[:, part, 1, None, None],
            s3,
            size,
            stroke,
            layout.mouth_half_width,
        )
        image = torch.maximum(image, ink_part * present[:, part, None, None])
    part_centres = frame_to_image(centres, poses).masked_fill(
        ~present[..., None], float("nan")
    )
    return (image * ink[:, None, None])[:, None], part_centres, poses


# --- the three kinds of non-face ------------------------------------------------------------------


def incomplete_faces(n, size, style, generator, max_parts=3):
    """Ovals with between one and ``max_parts`` (at most 3) of the four parts, in their places."""
    n_parts = torch.randint(1, max_parts + 1, (n,), generator=generator)
    order = torch.argsort(torch.rand(n, 4, generator=generator), dim=1)
    present = torch.zeros(n, 4, dtype=torch.bool)
    present.scatter_(1, order, torch.arange(4).expand(n, 4) < n_parts[:, None])
    return draw_ovals_with_parts(
        n, size, style, generator, torch.arange(4).expand(n, 4), present
    )


def ovals_with_other_shapes(n, size, style, generator):
    """Ovals holding two to four squares and crosses instead of a face's parts."""
    images, _, poses = draw_ovals_with_parts(
        n,
        size,
        style,
        generator,
        torch.arange(4).expand(n, 4),
        torch.zeros(n, 4, dtype=torch.bool),
    )
    x, y = _pixel_grid(n, size)
    stroke = uniform(generator, n, *style.stroke)[:, None, None]
    ink = images.flatten(1).amax(1).clamp_min(style.ink[0])
    n_shapes = torch.randint(2, 5, (n,), generator=generator)
    for k in range(4):
        # a shape somewhere inside the oval: a small square outline (even k) or a cross (odd k)
        angle = uniform(generator, n, 0, 2 * math.pi)
        radius = uniform(generator, n, 0, 0.22 * size) * poses[:, 2]
        cx = (poses[:, 0] + radius * torch.cos(angle))[:, None, None]
        cy = (poses[:, 1] + radius * torch.sin(angle))[:, None, None]
        half = uniform(generator, n, 1.2, 2.2)[:, None, None]
        if k % 2 == 0:
            distance = (torch.maximum((x - cx).abs(), (y - cy).abs()) - half).abs()
        else:
            distance = torch.minimum(
                _segment_distance(x, y, cx - half, cy - half, cx + half, cy + half),
                _segment_distance(x, y, cx - half, cy + half, cx + half, cy - half),
            )
        shape = _ink(distance - stroke / 2) * (k < n_shapes)[:, None, None]
        images = torch.maximum(images, (shape * ink[:, None, None])[:, None])
    no_parts = torch.full((n, 4, 2), float("nan"))
    return images, no_parts, poses


def scattered_strokes(n, size, style, generator):
    """No oval: three to six straight strokes and dots scattered over the image."""
    x, y = _pixel_grid(n, size)
    stroke = uniform(generator, n, *style.stroke)[:, None, None]
    ink = uniform(generator, n, *style.ink)
    n_strokes = torch.randint(3, 7, (n,), generator=generator)
    image = torch.zeros(n, size, size)
    margin = 0.15 * size
    for k in range(6):
        x0 = uniform(generator, n, margin, size - 1 - margin)[:, None, None]
        y0 = uniform(generator, n, margin, size - 1 - margin)[:, None, None]
        length = uniform(generator, n, 0.0, 0.3 * size)[:, None, None]
        angle = uniform(generator, n, 0, math.pi)[:, None, None]
        x1, y1 = x0 + length * torch.cos(angle), y0 + length * torch.sin(angle)
        ink_k = (
            _ink(_segment_distance(x, y, x0, y0, x1, y1) - stroke / 2)
            * (k < n_strokes)[:, None, None]
        )
        image = torch.maximum(image, ink_k)
    no_parts = torch.full((n, 4, 2), float("nan"))
    no_pose = torch.full((n, 4), float("nan"))
    return (image * ink[:, None, None])[:, None], no_parts, no_pose


__all__ = [
    "EYE_RADII",
    "FaceLayout",
    "FaceStyle",
    "MIN_SIZE",
    "MOUTH_CURVE",
    "MOUTH_HALF_WIDTH",
    "NOSE_HALF_LENGTH",
    "OVAL_RADII",
    "PART_SLOTS",
    "SPACED_LAYOUT",
    "STANDARD_LAYOUT",
    "draw_ovals_with_parts",
    "frame_to_image",
    "incomplete_faces",
    "ovals_with_other_shapes",
    "scattered_strokes",
    "uniform",
]
