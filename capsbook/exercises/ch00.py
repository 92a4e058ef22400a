"""Checks for the exercises of chapter 0 (setting up: the tools and the data).

Each ``check_*`` takes the reader's answer, runs it against what the tested
library computes, prints what passed and what did not, and returns a
:class:`~capsbook.exercises.report.CheckReport`.  The ``reference_*``
functions are the solutions (the tests run every check on them).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import torch

from capslib.data import IDXError, read_idx

from .report import CheckReport, check, guarded


@guarded
def check_class_means(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise 0.1: ``fn(images, labels)`` returns the mean image of each class.

    ``images``: ``(n, 1, 28, 28)`` float in [0, 1]; ``labels``: ``(n,)`` int64;
    the answer: ``(10, 28, 28)`` where row ``k`` is the pixel-wise mean of the
    images labelled ``k``.
    """
    gen = torch.Generator().manual_seed(0)
    images = torch.rand(60, 1, 28, 28, generator=gen)
    labels = torch.arange(60) % 10
    labels = labels[torch.randperm(60, generator=gen)]
    images_before = images.clone()
    expected = torch.stack([images[labels == k, 0].mean(0) for k in range(10)])
    with check("Exercise 0.1: the mean image of each digit", verbose=verbose) as report:
        with report.attempt("runs on 60 random images"):
            out = torch.as_tensor(fn(images, labels))
            report.expect(
                tuple(out.shape) == (10, 28, 28),
                "returns shape (10, 28, 28)",
                f"got shape {tuple(out.shape)}; drop the channel axis and keep one image per class",
            )
            if tuple(out.shape) == (10, 28, 28):
                report.expect(
                    torch.allclose(out.float(), expected, atol=1e-5),
                    "each row is the mean of its class",
                    "average over the images whose label is k (a mean over axis 0 of images[labels == k])",
                )
            report.expect(
                torch.equal(images, images_before),
                "leaves the input images unchanged",
                "compute on a copy (avoid in-place operations such as images.mul_)",
            )
    return report


def reference_class_means(images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The mean image of each digit, (10, 28, 28), from images (n, 1, 28, 28)."""
    return torch.stack([images[labels == k, 0].mean(dim=0) for k in range(10)])


def reference_nearest_mean(images: torch.Tensor, means: torch.Tensor) -> torch.Tensor:
    """Images (n, 1, 28, 28), means (10, 28, 28) -> (n,): the nearest mean's class."""
    distances = torch.cdist(images.flatten(1), means.flatten(1))  # (n, 10)
    return distances.argmin(dim=1)


def _nearest_mean_case() -> tuple[torch.Tensor, torch.Tensor]:
    """Twelve pictures and ten means where the nearest mean is not the one with the largest
    dot product: mean k is a faint blob with a bright copy of it elsewhere (mean 9)."""
    gen = torch.Generator().manual_seed(1)
    means = torch.rand(10, 28, 28, generator=gen) * 0.3
    means[9] = 0.9  # a bright, flat mean: the largest dot product with almost any image
    labels = torch.tensor([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 3, 7])
    noise = torch.rand(12, 28, 28, generator=gen) * 0.05
    images = (means[labels] + noise).clamp(0, 1).unsqueeze(1)
    return images, means


@guarded
def check_nearest_mean(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise 0.1, second half: ``fn(images, means)`` gives each image the class of the
    nearest mean (the smallest Euclidean distance over the 784 pixels).

    ``images``: ``(n, 1, 28, 28)``; ``means``: ``(10, 28, 28)``; the answer: ``(n,)``
    integer labels.  The cases are made so that the nearest mean, the farthest one and the
    one with the largest dot product are different classes, and each mistake is named.
    """
    images, means = _nearest_mean_case()
    expected = reference_nearest_mean(images, means)
    flat, flat_means = images.flatten(1), means.flatten(1)
    farthest = torch.cdist(flat, flat_means).argmax(dim=1)
    largest_dot = (flat @ flat_means.T).argmax(dim=1)
    with check(
        "Exercise 0.1: the nearest mean as a classifier", verbose=verbose
    ) as report:
        with report.attempt("classifies 12 pictures"):
            out = torch.as_tensor(fn(images.clone(), means.clone()))
            if not report.expect(
                tuple(out.shape) == (12,),
                "returns one label per image, shape (12,)",
                f"got shape {tuple(out.shape)}"
                + (
                    ": these look like the distances; take argmin over the 10 classes"
                    if tuple(out.shape) == (12, 10)
                    else "; return the index of the nearest mean for each image"
                ),
            ):
                return report
            if out.is_floating_point() and torch.equal(out, out.round()):
                out = out.long()
            report.expect(
                not out.is_floating_point(),
                "returns integer labels",
                f"got {out.dtype}; argmin returns the class indices (int64)",
            )
            right = torch.equal(out.long(), expected)
            if torch.equal(out.long(), farthest):
                hint = "these are the farthest means: the nearest is the argmin of the distances"
            elif torch.equal(out.long(), largest_dot):
                hint = (
                    "the largest dot product is not the nearest mean: a bright mean wins it "
                    "for almost every image; use the distance, torch.cdist(...).argmin(dim=1)"
                )
            else:
                hint = (
                    "flatten each image and each mean to 784 values, measure all the "
                    "distances (torch.cdist) and take the argmin over the classes"
                )
            report.expect(right, "gives the class of the nearest mean", hint)
    return report


# --- Exercise 0.2: write an IDX file ----------------------------------------------------------------

IDX_TYPE_CODES = {
    np.dtype(np.uint8): 0x08,
    np.dtype(np.int32): 0x0C,
    np.dtype(np.float32): 0x0D,
}
"""The IDX type codes of the dtypes exercise 0.2 writes (the format has a few more)."""


def reference_idx_bytes(array: np.ndarray) -> bytes:
    """array (uint8, int32 or float32) as the bytes of an IDX file."""
    array = np.asarray(array)
    header = bytes([0, 0, IDX_TYPE_CODES[array.dtype], array.ndim])
    header += b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def _idx_cases() -> list[np.ndarray]:
    rng = np.random.default_rng(3)
    return [
        rng.integers(0, 256, size=(3, 4, 5), dtype=np.uint8),  # a tiny image file
        rng.integers(0, 10, size=(300,), dtype=np.uint8),  # a label file (size > 255)
        rng.standard_normal((2, 7)).astype(np.float32),  # multi-byte values
        rng.integers(-70_000, 70_000, size=(4, 3), dtype=np.int64).astype(np.int32),
    ]


def _diagnose_idx(raw: bytes, array: np.ndarray) -> str:
    """The most likely mistake in ``raw``, the reader's encoding of ``array`` (as a hint)."""
    code = IDX_TYPE_CODES[array.dtype]
    if len(raw) < 4 or raw[:2] != b"\x00\x00":
        return "an IDX file starts with two zero bytes, then the type code, then the number of dimensions"
    if raw[2] != code:
        return (
            f"byte 2 is 0x{raw[2]:02x}; the type code of {array.dtype} is 0x{code:02x} "
            "(0x08 uint8, 0x0C int32, 0x0D float32)"
        )
    if raw[3] != array.ndim:
        return (
            f"byte 3 is {raw[3]}; it holds the number of dimensions, {array.ndim} here"
        )
    sizes = raw[4 : 4 + 4 * array.ndim]
    if sizes == b"".join(int(n).to_bytes(4, "little") for n in array.shape):
        return "the sizes are big-endian 32-bit integers (n.to_bytes(4, 'big')), you wrote them little-endian"
    if sizes != b"".join(int(n).to_bytes(4, "big") for n in array.shape):
        return f"after the 4-byte magic number come {array.ndim} sizes of 4 bytes each, one per axis of {array.shape}"
    data = raw[4 + 4 * array.ndim :]
    if (
        array.dtype.itemsize > 1
        and data == array.astype(array.dtype.newbyteorder("<")).tobytes()
    ):
        return (
            f"the values are big-endian too: array.astype('>{array.dtype.kind}{array.dtype.itemsize}').tobytes() "
            "(a plain .tobytes() writes this machine's little-endian order)"
        )
    if len(data) != array.nbytes:
        return (
            f"the data should be {array.nbytes} bytes ({array.size} values of {array.dtype.itemsize} bytes), "
            f"got {len(data)}"
        )
    return (
        "the data are the values in C order (row by row), each in big-endian byte order"
    )


@guarded
def check_idx_bytes(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise 0.2: ``fn(array)`` returns the bytes of an IDX file holding ``array``.

    ``array`` is a NumPy array of dtype uint8, int32 or float32 and any number
    of dimensions.  Each answer is written to a file and read back with the
    tested reader, :func:`capslib.data.read_idx`, which must return ``array``.
    """
    with check("Exercise 0.2: write an IDX file", verbose=verbose) as report:
        for array in _idx_cases():
            what = f"{array.dtype} values of shape {array.shape}"
            with report.attempt(f"writes {what}"):
                raw = fn(array.copy())
                if not report.expect(
                    isinstance(raw, (bytes, bytearray)),
                    f"returns bytes for {what}",
                    f"got {type(raw).__name__}; join the header and the data into one bytes object "
                    "(b''.join(...) or header + array.tobytes())",
                ):
                    continue
                with tempfile.TemporaryDirectory() as tmp:
                    path = Path(tmp) / "answer.idx"
                    path.write_bytes(bytes(raw))
                    try:
                        back, error = read_idx(path), ""
                    except IDXError as err:
                        back, error = (
                            None,
                            str(err).replace(f"{path}: ", "").split(";")[0],
                        )
                ok = (
                    back is not None
                    and back.dtype == array.dtype
                    and back.shape == array.shape
                    and np.array_equal(back, array)
                )
                hint = _diagnose_idx(bytes(raw), array)
                report.expect(
                    ok,
                    f"read_idx reads {what} back unchanged",
                    (f"read_idx refused it ({error}); " if error else "") + hint,
                )
    return report


# --- Exercise 0.3: is it made like MNIST? -----------------------------------------------------------


def reference_ink_geometry(images: torch.Tensor) -> torch.Tensor:
    """Pictures (n, H, W) in [0, 1] -> (n, 4): the ink box's height and width (pixels,
    from the first inked row or column to the last, both included), and the centre of
    mass's row and column (the ink-weighted mean, counted from 0)."""
    images = images.double()
    n, h, w = images.shape
    rows = torch.arange(h, dtype=torch.float64)
    cols = torch.arange(w, dtype=torch.float64)

    def side(inked, index):  # last inked index - first inked index + 1
        last = torch.where(inked, index, -torch.inf).max(dim=1).values
        first = torch.where(inked, index, torch.inf).min(dim=1).values
        return last - first + 1

    height = side((images > 0).any(dim=2), rows)  # rows: axis 1
    width = side((images > 0).any(dim=1), cols)  # columns: axis 2
    mass = images.sum(dim=(1, 2))
    centre_row = (images.sum(dim=2) * rows).sum(dim=1) / mass
    centre_col = (images.sum(dim=1) * cols).sum(dim=1) / mass
    return torch.stack([height, width, centre_row, centre_col], dim=1)


def _geometry_cases() -> torch.Tensor:
    """Two pictures, 40 rows x 30 columns (not square, so rows and columns cannot be
    confused unseen): strokes of uneven ink, with empty rows and columns inside the box."""
    pictures = torch.zeros(2, 40, 30)
    pictures[0, 5:9, 8:11] = 1.0  # a dark block ...
    pictures[0, 20:31, 14:16] = 0.3  # ... and a pale bar below it, rows apart
    pictures[1, 12, 3:25] = torch.linspace(
        0.1, 1.0, 22
    )  # a stroke darkening to the right
    pictures[1, 30:34, 20] = 0.6
    return pictures


def _geometry_hints(out: torch.Tensor, pictures: torch.Tensor) -> tuple[str, str]:
    """The likeliest mistakes in the reader's box sides and centres (out: (n, 4))."""
    ref = reference_ink_geometry(pictures)
    ink = pictures > 0
    counted = torch.stack(
        [ink.any(dim=2).sum(dim=1), ink.any(dim=1).sum(dim=1)], dim=1
    ).double()
    sides, centres = out[:, :2].double(), out[:, 2:].double()
    close = lambda a, b: a.shape == b.shape and torch.allclose(a, b, atol=1e-4)  # noqa: E731
    if close(sides, counted):
        side_hint = (
            "you counted the rows and columns that hold ink; the box runs from the first "
            "to the last, the empty ones between included"
        )
    elif close(sides, ref[:, :2] - 1):
        side_hint = "both ends belong to the box: last - first + 1"
    elif close(sides, ref[:, :2].flip(1)):
        side_hint = "height counts rows (axis 1 of (n, H, W)), width columns (axis 2)"
    else:
        side_hint = "the height is the last inked row minus the first, plus 1; the width the same for columns"
    rows = torch.arange(pictures.shape[1], dtype=torch.float64)
    cols = torch.arange(pictures.shape[2], dtype=torch.float64)
    unweighted = torch.stack(
        [
            (ink.sum(dim=2) * rows).sum(dim=1) / ink.sum(dim=(1, 2)),
            (ink.sum(dim=1) * cols).sum(dim=1) / ink.sum(dim=(1, 2)),
        ],
        dim=1,
    )
    mass = pictures.double().sum(dim=(1, 2), keepdim=True).squeeze(-1)
    if close(centres, ref[:, 2:].flip(1)):
        centre_hint = "row first, then column: (row, column), as the picture is indexed"
    elif close(centres, ref[:, 2:] + 1):
        centre_hint = "count from 0, as indexing does: pixel 0's centre is at 0"
    elif close(centres, unweighted):
        centre_hint = (
            "that is the mean position of the inked pixels; weight each by its ink, "
            "so that a pale pixel counts less"
        )
    elif close(centres, ref[:, 2:] * mass):
        centre_hint = "divide by the total ink, images.sum(dim=(1, 2))"
    else:
        centre_hint = "the centre's row is sum(ink * row) / sum(ink) over the picture; its column the same"
    return side_hint, centre_hint


@guarded
def check_ink_geometry(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise 0.3: ``fn(images)`` measures pictures ``(n, H, W)`` in [0, 1] as the chapter
    measured MNIST: ``(n, 4)`` = the ink box's height and width, then the centre of mass's
    row and column.

    The two pictures are 40 x 30 (rows x columns), with uneven ink and empty rows inside
    the box, so each usual mistake gives a different answer, and the hint names it.
    """
    pictures = _geometry_cases()
    ref = reference_ink_geometry(pictures)
    with check("Exercise 0.3: is it made like MNIST?", verbose=verbose) as report:
        with report.attempt("measures two 40 x 30 pictures"):
            out = torch.as_tensor(fn(pictures.clone())).double()
            if not report.expect(
                tuple(out.shape) == (2, 4),
                "returns shape (2, 4): height, width, centre row, centre column",
                f"got shape {tuple(out.shape)}; stack the four measurements of each "
                "picture into one row, torch.stack([...], dim=1)",
            ):
                return report
            side_hint, centre_hint = _geometry_hints(out, pictures)
            report.expect(
                torch.allclose(out[:, :2], ref[:, :2], atol=1e-4),
                "the ink box's height and width",
                side_hint,
            )
            report.expect(
                torch.allclose(out[:, 2:], ref[:, 2:], atol=1e-4),
                "the centre of mass (row, column)",
                centre_hint,
            )
    return report


__all__ = [
    "IDX_TYPE_CODES",
    "check_class_means",
    "check_idx_bytes",
    "check_ink_geometry",
    "check_nearest_mean",
    "reference_class_means",
    "reference_idx_bytes",
    "reference_ink_geometry",
    "reference_nearest_mean",
]
