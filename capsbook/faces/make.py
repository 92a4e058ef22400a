"""Making the datasets, seeded: faces, scrambled faces, non-faces, and a labelled mixture of them."""

from __future__ import annotations

import functools
import itertools

import torch

from .dataset import FACE, NON_FACE, SCRAMBLED, FaceDataset
from .drawing import (
    MIN_SIZE,
    STANDARD_LAYOUT,
    FaceLayout,
    FaceStyle,
    draw_ovals_with_parts,
    incomplete_faces,
    ovals_with_other_shapes,
    scattered_strokes,
)

NON_FACE_VARIANTS = ("incomplete face", "oval with other shapes", "scattered strokes")
"""The three ways :func:`make_non_faces` draws a non-face by default, in equal shares."""

_VARIANTS = {
    "incomplete face": incomplete_faces,
    "oval with other shapes": ovals_with_other_shapes,
    "scattered strokes": scattered_strokes,
    # one or two of the four parts: no image holds an eye, the nose and the mouth
    "half a face": functools.partial(incomplete_faces, max_parts=2),
}


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
    images, centres, poses = draw_ovals_with_parts(
        n, size, style, generator, slots, torch.ones(n, 4, dtype=torch.bool)
    )
    return _dataset(images, 1, FACE, centres, poses, f"{n:,} faces (seed {seed})")


def scrambled_slots(
    n: int, generator: torch.Generator, layout: FaceLayout = STANDARD_LAYOUT
) -> torch.Tensor:
    """``(n, 4)`` random slot assignments in which the mouth never sits in the mouth's slot.

    Row ``i`` says where each part of PART_NAMES goes: a permutation of the
    four slots drawn uniformly among those that move the mouth and move parts
    only among ``layout.movable`` (for the standard layout, all four slots: 18
    permutations).
    """
    fixed = [slot for slot in range(4) if slot not in layout.movable]
    permutations = torch.tensor(
        [
            p
            for p in itertools.permutations(range(4))
            if p[3] != 3 and all(p[slot] == slot for slot in fixed)
        ]
    )
    return permutations[torch.randint(len(permutations), (n,), generator=generator)]


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
    slots = scrambled_slots(n, generator, style.layout)
    images, centres, poses = draw_ovals_with_parts(
        n, size, style, generator, slots, torch.ones(n, 4, dtype=torch.bool)
    )
    return _dataset(
        images, 0, SCRAMBLED, centres, poses, f"{n:,} scrambled faces (seed {seed})"
    )


def make_non_faces(
    n: int,
    *,
    size: int = 28,
    seed: int = 0,
    style: FaceStyle | None = None,
    variants: tuple[str, ...] = NON_FACE_VARIANTS,
) -> FaceDataset:
    """``n`` non-faces (label 0), in equal shares of ``variants``; by default :data:`NON_FACE_VARIANTS`:

    * an oval with one to three of the four parts, in their places;
    * an oval holding squares and crosses instead of a face's parts;
    * three to six strokes scattered over the image, with no oval.

    A fourth variant, ``"half a face"``, draws one or two of the four parts in their places.
    None holds all four parts, so the images differ from faces in *what* is
    there; a scrambled face differs from a face only in *where* it is.
    """
    style = _check_request(n, size, style)
    unknown = [v for v in variants if v not in _VARIANTS]
    if unknown or not variants:
        raise ValueError(
            f"make_non_faces: expected variants among {tuple(_VARIANTS)}, got {variants!r}"
        )
    generator = _generator(seed)
    k = len(variants)
    shares = [n // k + (1 if i < n % k else 0) for i in range(k)]
    drawn = [
        _VARIANTS[variant](share, size, style, generator)
        for variant, share in zip(variants, shares)
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
    non_face_variants: tuple[str, ...] = NON_FACE_VARIANTS,
) -> FaceDataset:
    """A labelled mixture of faces (label 1), non-faces and scrambled faces (label 0).

    Each kind is drawn from its own seed derived from ``seed``, so adding
    scrambled faces does not change the faces and non-faces.  ``shuffle``
    mixes the kinds (seeded); otherwise faces come first, then non-faces, then
    scrambled faces.  ``non_face_variants``: which non-faces (see :func:`make_non_faces`).
    """
    parts = [
        make_faces(n_faces, size=size, seed=3 * seed, style=style),
        make_non_faces(
            n_non_faces,
            size=size,
            seed=3 * seed + 1,
            style=style,
            variants=non_face_variants,
        ),
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


__all__ = [
    "NON_FACE_VARIANTS",
    "make_face_dataset",
    "make_faces",
    "make_non_faces",
    "make_scrambled_faces",
    "scrambled_slots",
]
