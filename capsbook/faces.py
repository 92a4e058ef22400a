"""A synthetic face dataset drawn in code, for the "Picasso problem".

Hinton's criticism of pooling (Hinton 2014, "What is wrong with
convolutional neural nets?"; Sabour, Frosst & Hinton 2017) is that a network which only asks *whether* the parts of an
object are present, and not *where they are relative to each other*, takes a
face with its mouth where an eye should be for a face.  To measure that we
need images whose parts we control exactly, so this module draws them:

* **faces**: a face oval with two eyes, a nose and a mouth in their places;
* **non-faces**: an oval with some of the parts missing, an oval holding
  other shapes, or strokes scattered with no oval at all;
* **scrambled faces**: the *same* oval and the *same four parts* as a face,
  put in the wrong places (the mouth always leaves its place, so the image is
  never a face): every part a detector could look for is there.

Every image varies a little (position, size, tilt, stroke width, ink, each
part's place), and everything is generated from a seed, so a dataset is
reproducible bit for bit.  Images are ``(n, 1, size, size)`` float32 in
[0, 1], drawn with anti-aliased edges (a pixel's ink falls off linearly over
one pixel from a shape's edge), white strokes on black like MNIST.

Besides the images, each example carries what drew it, which chapter 10
uses to look inside a small capsule network: its ``kind`` (face, non-face,
scrambled), the centre of each of the four parts in pixels (``NaN`` for a
part that is absent) and the face's pose (centre, scale, tilt).

Typical use::

    from capsbook import faces
    train = faces.make_face_dataset(n_faces=1000, n_non_faces=1000, seed=0)
    scrambled = faces.make_scrambled_faces(500, seed=1)
    train.images.shape, train.labels[:8]      # (2000, 1, 28, 28), 1 = face
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from capslib.runtime import seed_everything

from .classifiers import SmallCNN, predict_proba, train_classifier

FACE, NON_FACE, SCRAMBLED = 0, 1, 2
"""Codes of the three kinds of image (``FaceDataset.kinds``)."""

KIND_NAMES = ("face", "non-face", "scrambled face")
"""``KIND_NAMES[kind]`` names a kind code."""

CLASS_NAMES = ("not a face", "face")
"""The classification task's classes: label 1 is a face, label 0 is anything else."""

PART_NAMES = ("left eye", "right eye", "nose", "mouth")
"""The four parts, in the order of ``FaceDataset.part_centres``'s second axis."""

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


@dataclass
class FaceDataset(torch.utils.data.Dataset):
    """Face / non-face images and what drew them.

    * ``images``: ``(n, 1, size, size)`` float32 in [0, 1];
    * ``labels``: ``(n,)`` int64, 1 for a face and 0 otherwise (a scrambled
      face is *not* a face: label 0);
    * ``kinds``: ``(n,)`` int64, :data:`FACE`, :data:`NON_FACE` or :data:`SCRAMBLED`;
    * ``part_centres``: ``(n, 4, 2)`` float32, the ``(x, y)`` pixel centre of
      each part in :data:`PART_NAMES` order, ``NaN`` where the part is absent;
    * ``face_poses``: ``(n, 4)`` float32, the oval's ``(x, y, scale, tilt in
      degrees)``, ``NaN`` where there is no oval.

    Works as a ``torch.utils.data.Dataset`` of ``(image, label)`` pairs.
    """

    images: torch.Tensor
    labels: torch.Tensor
    kinds: torch.Tensor
    part_centres: torch.Tensor
    face_poses: torch.Tensor
    notes: list[str] = field(default_factory=list)
    classes: tuple[str, ...] = CLASS_NAMES

    def __post_init__(self) -> None:
        n = len(self.images)
        if self.images.ndim != 4 or self.images.shape[1] != 1:
            raise ValueError(
                f"FaceDataset: expected images (n, 1, h, w), got {tuple(self.images.shape)}"
            )
        shapes = {
            "labels": (n,),
            "kinds": (n,),
            "part_centres": (n, 4, 2),
            "face_poses": (n, 4),
        }
        for name, shape in shapes.items():
            if tuple(getattr(self, name).shape) != shape:
                raise ValueError(
                    f"FaceDataset: expected {name} of shape {shape}, "
                    f"got {tuple(getattr(self, name).shape)}"
                )

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index):
        return self.images[index], self.labels[index]

    @property
    def size(self) -> int:
        """The images' height and width in pixels."""
        return self.images.shape[-1]

    def describe(self) -> str:
        """E.g. ``"synthetic faces (28x28): 1,000 faces, 1,000 non-faces"`` (a result's provenance)."""
        counts = [
            f"{int((self.kinds == k).sum()):,} {name}s"
            for k, name in enumerate(KIND_NAMES)
            if (self.kinds == k).any()
        ]
        return f"synthetic faces ({self.size}x{self.size}): " + ", ".join(counts)

    def select(self, index: torch.Tensor) -> FaceDataset:
        """The examples at ``index`` (a boolean mask or integer indices), as a new dataset."""
        return FaceDataset(
            self.images[index],
            self.labels[index],
            self.kinds[index],
            self.part_centres[index],
            self.face_poses[index],
            list(self.notes),
            self.classes,
        )

    def of_kind(self, kind: int) -> FaceDataset:
        """Only the faces, non-faces or scrambled faces (``kind`` is one of the kind codes)."""
        if kind not in (FACE, NON_FACE, SCRAMBLED):
            raise ValueError(
                f"of_kind: expected FACE (0), NON_FACE (1) or SCRAMBLED (2), got {kind!r}"
            )
        return self.select(self.kinds == kind)

    @staticmethod
    def concatenate(datasets: list[FaceDataset]) -> FaceDataset:
        """One dataset holding the examples of ``datasets`` in order."""
        if not datasets:
            raise ValueError("concatenate: expected at least one FaceDataset, got none")
        return FaceDataset(
            *(
                torch.cat([getattr(d, name) for d in datasets])
                for name in ("images", "labels", "kinds", "part_centres", "face_poses")
            ),
            notes=[note for d in datasets for note in d.notes],
        )


# --- drawing: signed distances turned into anti-aliased ink --------------------------------------
# Every shape is drawn for the whole batch at once: coordinates are (n, size, size) tensors in the
# frame of each face, and a shape's ink is clamp(0.5 - distance, 0, 1), with the distance in pixels
# (negative inside).  Images combine shapes with a maximum, as strokes of one pen would.


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


def _draw_part(part: int, x, y, cx, cy, scale, size, stroke):
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
        MOUTH_HALF_WIDTH * size * scale
    )  # the mouth: a shallow arc, bent into a smile
    curve = MOUTH_CURVE / (size * scale)
    bent_v = v - curve * (u**2 - half**2 / 3)
    zero = torch.zeros_like(half)
    return _ink(_segment_distance(u, bent_v, -half, zero, half, zero) - stroke / 2)


def _uniform(generator, n, low, high):
    return low + (high - low) * torch.rand(n, generator=generator)


def _check_request(n: int, size: int, style) -> FaceStyle:
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"expected a number of images n >= 0 (an int), got {n!r}")
    if isinstance(size, bool) or not isinstance(size, int) or size < MIN_SIZE:
        raise ValueError(
            f"expected an image size >= {MIN_SIZE} pixels (an int), got {size!r}"
        )
    style = FaceStyle() if style is None else style
    if not isinstance(style, FaceStyle):
        raise TypeError(f"expected a FaceStyle, got {type(style).__name__}")
    return style


def _generator(seed: int) -> torch.Generator:
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"expected an int seed, got {type(seed).__name__}")
    return torch.Generator().manual_seed(seed)


def _face_frames(n, size, style, generator):
    """Sample n faces' poses and return the pixel grid in each face's frame.

    Returns ``(x, y, poses, to_image)``: ``x, y`` of shape ``(n, size, size)``
    are each pixel's coordinates in its face's frame (origin at the face's
    centre, axes tilted with it), ``poses`` is ``(n, 4)`` (cx, cy, scale,
    tilt in degrees) and ``to_image`` maps frame points ``(n, k, 2)`` to pixels.
    """
    middle = (size - 1) / 2
    cx = middle + _uniform(
        generator, n, -style.max_centre_shift, style.max_centre_shift
    )
    cy = middle + _uniform(
        generator, n, -style.max_centre_shift, style.max_centre_shift
    )
    scale = _uniform(generator, n, *style.scale)
    tilt = _uniform(generator, n, -style.max_tilt, style.max_tilt)
    cos, sin = torch.cos(torch.deg2rad(tilt)), torch.sin(torch.deg2rad(tilt))
    rows, cols = torch.meshgrid(
        torch.arange(size, dtype=torch.float32),
        torch.arange(size, dtype=torch.float32),
        indexing="ij",
    )
    dx, dy = cols - cx[:, None, None], rows - cy[:, None, None]
    # rotate image offsets by -tilt to get frame coordinates
    x = cos[:, None, None] * dx + sin[:, None, None] * dy
    y = -sin[:, None, None] * dx + cos[:, None, None] * dy

    def to_image(points):  # (n, k, 2) frame -> image pixels
        px, py = points[..., 0], points[..., 1]
        return torch.stack(
            [
                cx[:, None] + cos[:, None] * px - sin[:, None] * py,
                cy[:, None] + sin[:, None] * px + cos[:, None] * py,
            ],
            dim=-1,
        )

    return x, y, torch.stack([cx, cy, scale, tilt], dim=1), to_image


def _draw_ovals_with_parts(n, size, style, generator, slots_of_parts, present):
    """Draw ovals holding parts.

    ``slots_of_parts``: ``(n, 4)`` int, the slot (index into PART_SLOTS) where
    each part is drawn; ``present``: ``(n, 4)`` bool, which parts are drawn.
    Returns ``(images (n, 1, s, s), part_centres (n, 4, 2), poses (n, 4))``.
    """
    x, y, poses, to_image = _face_frames(n, size, style, generator)
    scale = poses[:, 2]
    stroke = _uniform(generator, n, *style.stroke)[:, None, None]
    ink = _uniform(generator, n, *style.ink)
    s3 = scale[:, None, None]
    oval = _ink(
        _ellipse_distance(
            x, y, OVAL_RADII[0] * size * s3, OVAL_RADII[1] * size * s3
        ).abs()
        - stroke / 2
    )
    jitter = _uniform(
        generator, n * 4 * 2, -style.max_part_jitter, style.max_part_jitter
    ).view(n, 4, 2)
    centres = (
        PART_SLOTS[slots_of_parts] * size * scale[:, None, None] + jitter
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
        )
        image = torch.maximum(image, ink_part * present[:, part, None, None])
    part_centres = to_image(centres).masked_fill(~present[..., None], float("nan"))
    return (image * ink[:, None, None])[:, None], part_centres, poses


def _dataset(images, label, kind, part_centres, poses, note) -> FaceDataset:
    n = len(images)
    return FaceDataset(
        images.float().contiguous(),
        torch.full((n,), label, dtype=torch.long),
        torch.full((n,), kind, dtype=torch.long),
        part_centres.float(),
        poses.float(),
        [note],
    )


def make_faces(
    n: int, *, size: int = 28, seed: int = 0, style: FaceStyle | None = None
) -> FaceDataset:
    """``n`` faces: an oval with two eyes, a nose and a mouth in their places (label 1).

    Returns a :class:`FaceDataset`; the same ``seed`` gives the same images.
    """
    style = _check_request(n, size, style)
    generator = _generator(seed)
    slots = torch.arange(4).expand(n, 4)
    images, centres, poses = _draw_ovals_with_parts(
        n, size, style, generator, slots, torch.ones(n, 4, dtype=torch.bool)
    )
    return _dataset(images, 1, FACE, centres, poses, f"{n:,} faces (seed {seed})")


def scrambled_slots(n: int, generator: torch.Generator) -> torch.Tensor:
    """``(n, 4)`` random slot assignments in which the mouth never sits in the mouth's slot.

    Row ``i`` says where each part of PART_NAMES goes: a permutation of the
    four slots drawn uniformly among the 18 permutations that move the mouth.
    """
    permutations = torch.tensor([p for p in _all_permutations(4) if p[3] != 3])
    return permutations[torch.randint(len(permutations), (n,), generator=generator)]


def _all_permutations(k: int) -> list[tuple[int, ...]]:
    import itertools

    return list(itertools.permutations(range(k)))


def make_scrambled_faces(
    n: int, *, size: int = 28, seed: int = 0, style: FaceStyle | None = None
) -> FaceDataset:
    """``n`` "Picasso" faces: a face's oval and four parts, with the parts in the wrong places (label 0).

    The parts are permuted among the four places a face has for them (see
    :func:`scrambled_slots`: the mouth always moves, e.g. to an eye's place),
    so every part that a detector looks for is present, drawn exactly as in a
    face, but their arrangement is not a face's.
    """
    style = _check_request(n, size, style)
    generator = _generator(seed)
    slots = scrambled_slots(n, generator)
    images, centres, poses = _draw_ovals_with_parts(
        n, size, style, generator, slots, torch.ones(n, 4, dtype=torch.bool)
    )
    return _dataset(
        images, 0, SCRAMBLED, centres, poses, f"{n:,} scrambled faces (seed {seed})"
    )


def _incomplete_faces(n, size, style, generator):
    """Ovals with between one and three of the four parts, in their places."""
    n_parts = torch.randint(1, 4, (n,), generator=generator)
    order = torch.argsort(torch.rand(n, 4, generator=generator), dim=1)
    present = torch.zeros(n, 4, dtype=torch.bool)
    present.scatter_(1, order, torch.arange(4).expand(n, 4) < n_parts[:, None])
    return _draw_ovals_with_parts(
        n, size, style, generator, torch.arange(4).expand(n, 4), present
    )


def _ovals_with_other_shapes(n, size, style, generator):
    """Ovals holding two to four squares and crosses instead of a face's parts."""
    images, _, poses = _draw_ovals_with_parts(
        n,
        size,
        style,
        generator,
        torch.arange(4).expand(n, 4),
        torch.zeros(n, 4, dtype=torch.bool),
    )
    x, y = _pixel_grid(n, size)
    stroke = _uniform(generator, n, *style.stroke)[:, None, None]
    ink = images.flatten(1).amax(1).clamp_min(style.ink[0])
    n_shapes = torch.randint(2, 5, (n,), generator=generator)
    for k in range(4):
        # a shape somewhere inside the oval: a small square outline (even k) or a cross (odd k)
        angle = _uniform(generator, n, 0, 2 * math.pi)
        radius = _uniform(generator, n, 0, 0.22 * size) * poses[:, 2]
        cx = (poses[:, 0] + radius * torch.cos(angle))[:, None, None]
        cy = (poses[:, 1] + radius * torch.sin(angle))[:, None, None]
        half = _uniform(generator, n, 1.2, 2.2)[:, None, None]
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


def _scattered_strokes(n, size, style, generator):
    """No oval: three to six straight strokes and dots scattered over the image."""
    x, y = _pixel_grid(n, size)
    stroke = _uniform(generator, n, *style.stroke)[:, None, None]
    ink = _uniform(generator, n, *style.ink)
    n_strokes = torch.randint(3, 7, (n,), generator=generator)
    image = torch.zeros(n, size, size)
    margin = 0.15 * size
    for k in range(6):
        x0 = _uniform(generator, n, margin, size - 1 - margin)[:, None, None]
        y0 = _uniform(generator, n, margin, size - 1 - margin)[:, None, None]
        length = _uniform(generator, n, 0.0, 0.3 * size)[:, None, None]
        angle = _uniform(generator, n, 0, math.pi)[:, None, None]
        x1, y1 = x0 + length * torch.cos(angle), y0 + length * torch.sin(angle)
        ink_k = (
            _ink(_segment_distance(x, y, x0, y0, x1, y1) - stroke / 2)
            * (k < n_strokes)[:, None, None]
        )
        image = torch.maximum(image, ink_k)
    no_parts = torch.full((n, 4, 2), float("nan"))
    no_pose = torch.full((n, 4), float("nan"))
    return (image * ink[:, None, None])[:, None], no_parts, no_pose


def _pixel_grid(n, size):
    rows, cols = torch.meshgrid(
        torch.arange(size, dtype=torch.float32),
        torch.arange(size, dtype=torch.float32),
        indexing="ij",
    )
    return cols.expand(n, size, size), rows.expand(n, size, size)


NON_FACE_VARIANTS = ("incomplete face", "oval with other shapes", "scattered strokes")
"""The three ways :func:`make_non_faces` draws a non-face, in equal shares."""


def make_non_faces(
    n: int, *, size: int = 28, seed: int = 0, style: FaceStyle | None = None
) -> FaceDataset:
    """``n`` non-faces (label 0), a third of each variant in :data:`NON_FACE_VARIANTS`:

    * an oval with one to three of the four parts, in their places;
    * an oval holding squares and crosses instead of a face's parts;
    * three to six strokes scattered over the image, with no oval.

    None holds all four parts, so the images differ from faces in *what* is
    there; a scrambled face differs from a face only in *where* it is.
    """
    style = _check_request(n, size, style)
    generator = _generator(seed)
    shares = [n // 3 + (1 if i < n % 3 else 0) for i in range(3)]
    drawn = [
        variant(share, size, style, generator)
        for variant, share in zip(
            (_incomplete_faces, _ovals_with_other_shapes, _scattered_strokes), shares
        )
    ]
    images, centres, poses = (torch.cat(parts) for parts in zip(*drawn))
    order = torch.randperm(n, generator=generator)
    return _dataset(
        images[order],
        0,
        NON_FACE,
        centres[order],
        poses[order],
        f"{n:,} non-faces (seed {seed})",
    )


def make_face_dataset(
    n_faces: int,
    n_non_faces: int,
    n_scrambled: int = 0,
    *,
    size: int = 28,
    seed: int = 0,
    style: FaceStyle | None = None,
    shuffle: bool = True,
) -> FaceDataset:
    """A labelled mixture of faces (label 1), non-faces and scrambled faces (label 0).

    Each kind is drawn from its own seed derived from ``seed``, so adding
    scrambled faces does not change the faces and non-faces.  ``shuffle``
    mixes the kinds (seeded); otherwise faces come first, then non-faces, then
    scrambled faces.
    """
    parts = [
        make_faces(n_faces, size=size, seed=3 * seed, style=style),
        make_non_faces(n_non_faces, size=size, seed=3 * seed + 1, style=style),
    ]
    if n_scrambled:
        parts.append(
            make_scrambled_faces(n_scrambled, size=size, seed=3 * seed + 2, style=style)
        )
    dataset = FaceDataset.concatenate(parts)
    if shuffle:
        dataset = dataset.select(
            torch.randperm(len(dataset), generator=_generator(10_007 + seed))
        )
    dataset.notes = [
        f"make_face_dataset(n_faces={n_faces}, n_non_faces={n_non_faces}, "
        f"n_scrambled={n_scrambled}, size={size}, seed={seed})"
    ]
    return dataset


def home_positions(dataset: FaceDataset) -> torch.Tensor:
    """Where each part would sit if the image were a face with the same oval: ``(n, 4, 2)`` pixels.

    The four places of :data:`PART_SLOTS`, scaled, tilted and moved with each
    image's recorded ``face_poses`` (no part jitter); ``NaN`` where there is no oval.
    """
    cx, cy, scale, tilt = dataset.face_poses.unbind(1)
    cos, sin = torch.cos(torch.deg2rad(tilt)), torch.sin(torch.deg2rad(tilt))
    frame = (
        PART_SLOTS[None] * dataset.size * scale[:, None, None]
    )  # (n, 4, 2) in the face's frame
    px, py = frame[..., 0], frame[..., 1]
    return torch.stack(
        [
            cx[:, None] + cos[:, None] * px - sin[:, None] * py,
            cy[:, None] + sin[:, None] * px + cos[:, None] * py,
        ],
        dim=-1,
    )


def part_displacements(dataset: FaceDataset) -> torch.Tensor:
    """How far each part sits from its place in a face, in pixels: ``(n, 4)``, ``NaN`` where it is absent.

    About the part jitter (under a pixel) for a face; for a scrambled face, the
    distance its part was moved to another part's place.
    """
    return torch.linalg.vector_norm(
        dataset.part_centres - home_positions(dataset), dim=-1
    )


def train_face_detector(
    train_set: FaceDataset,
    *,
    pooling: str = "max",
    seed: int = 0,
    epochs: int = 4,
    batch_size: int = 64,
    lr: float = 2e-3,
    channels: tuple[int, int] = (4, 8),
    hidden: int = 32,
    device: torch.device | str | None = None,
):
    """A small CNN (:class:`capsbook.classifiers.SmallCNN`) trained to say face (1) or not (0).

    The weights are initialised from ``seed`` and the batches drawn from it, so
    one seed gives one network, bit for bit on a CPU.  ``pooling``: ``"max"``
    or ``"none"`` (the same network without its two 2x2 max poolings).
    Returns the trained model in eval mode.
    """
    if not isinstance(train_set, FaceDataset):
        raise TypeError(
            f"train_face_detector: expected a FaceDataset, got {type(train_set).__name__}"
        )
    seed_everything(seed)
    model = SmallCNN(
        num_classes=2,
        image_size=train_set.size,
        channels=channels,
        hidden=hidden,
        pooling=pooling,
    )
    train_classifier(
        model,
        train_set.images,
        train_set.labels,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        device=device,
        seed=seed,
    )
    return model


def face_probability(model, images: torch.Tensor) -> torch.Tensor:
    """``P(face)`` that a two-class detector gives each of ``images (n, 1, s, s)``: ``(n,)`` on the CPU."""
    return predict_proba(model, images)[:, 1]


__all__ = [
    "CLASS_NAMES",
    "FACE",
    "FaceDataset",
    "FaceStyle",
    "KIND_NAMES",
    "NON_FACE",
    "NON_FACE_VARIANTS",
    "PART_NAMES",
    "PART_SLOTS",
    "SCRAMBLED",
    "face_probability",
    "home_positions",
    "make_face_dataset",
    "make_faces",
    "make_non_faces",
    "make_scrambled_faces",
    "part_displacements",
    "scrambled_slots",
    "train_face_detector",
]
