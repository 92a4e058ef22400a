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

The package, one idea a module:

* :mod:`capsbook.faces.dataset`: :class:`FaceDataset` and the codes and names of kinds, classes and parts;
* :mod:`capsbook.faces.drawing`: :class:`FaceStyle`, a face's geometry and the anti-aliased ink;
* :mod:`capsbook.faces.make`: the seeded datasets (faces, scrambled faces, non-faces, a mixture);
* :mod:`capsbook.faces.parts`: where the parts sit against where they belong;
* :mod:`capsbook.faces.detector`: a small CNN face detector and its ``P(face)``.
"""

from __future__ import annotations

from .dataset import (
    CLASS_NAMES,
    FACE,
    KIND_NAMES,
    NON_FACE,
    PART_NAMES,
    SCRAMBLED,
    FaceDataset,
)
from .detector import face_probability, train_face_detector
from .drawing import (
    PART_SLOTS,
    SPACED_LAYOUT,
    STANDARD_LAYOUT,
    FaceLayout,
    FaceStyle,
)
from .make import (
    NON_FACE_VARIANTS,
    make_face_dataset,
    make_faces,
    make_non_faces,
    make_scrambled_faces,
    scrambled_slots,
)
from .parts import home_positions, part_displacements

__all__ = [
    "CLASS_NAMES",
    "FACE",
    "FaceDataset",
    "FaceLayout",
    "FaceStyle",
    "KIND_NAMES",
    "NON_FACE",
    "NON_FACE_VARIANTS",
    "PART_NAMES",
    "PART_SLOTS",
    "SCRAMBLED",
    "SPACED_LAYOUT",
    "STANDARD_LAYOUT",
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
