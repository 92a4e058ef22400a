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
from capslib.runtime import get_mode

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


# --- Exercise 0.3: predict the mode -----------------------------------------------------------------

MODE_SETTINGS = ("quick", "full", "auto", "Full", "fast")
"""The values of CAPSLIB_MODE that exercise 0.3 asks about."""


def _mode_or_error(setting: str) -> str:
    try:
        return get_mode(setting)
    except ValueError:
        return "error"


def reference_mode_predictions() -> dict[str, str]:
    """The mode each setting gives, worked out from the rules (not with get_mode)."""
    auto = "full" if torch.cuda.is_available() else "quick"
    return {
        "quick": "quick",
        "full": "full",
        "auto": auto,
        "Full": "full",
        "fast": "error",
    }


@guarded
def check_mode_predictions(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise 0.3: ``fn()`` returns, for each value of ``CAPSLIB_MODE`` in :data:`MODE_SETTINGS`,
    what ``capslib.get_mode`` gives on this machine: ``"quick"``, ``"full"`` or ``"error"`` (it raises).

    The check asks :func:`capslib.get_mode` itself, without touching the environment.
    """
    gpu = torch.cuda.is_available()
    hints = {
        "auto": f"auto means full where a CUDA GPU is present and quick otherwise; on this machine "
        f"torch.cuda.is_available() is {gpu}",
        "Full": "the value is trimmed and lower-cased before it is compared, so 'Full' is 'full'",
        "fast": "get_mode refuses a value it does not know (a ValueError naming the fix) instead of guessing",
        "quick": "quick mode is what it says",
        "full": "full mode is what it says",
    }
    with check("Exercise 0.3: predict the mode", verbose=verbose) as report:
        with report.attempt("returns the predictions"):
            predictions = fn()
            if not report.expect(
                isinstance(predictions, dict),
                "returns a dict",
                f"got {type(predictions).__name__}; return {{setting: 'quick', 'full' or 'error'}}",
            ):
                return report
            missing = [s for s in MODE_SETTINGS if s not in predictions]
            report.expect(
                not missing,
                "predicts every setting",
                f"missing {missing}; the keys are {list(MODE_SETTINGS)}",
            )
            for setting in MODE_SETTINGS:
                if setting in predictions:
                    actual, said = (
                        _mode_or_error(setting),
                        str(predictions[setting]).strip().lower(),
                    )
                    hint = (
                        f"you said {predictions[setting]!r}: " + hints[setting]
                        if said in ("quick", "full", "error")
                        else f"got {predictions[setting]!r}; answer 'quick', 'full' or 'error'"
                    )
                    report.expect(
                        said == actual,
                        f"CAPSLIB_MODE={setting!r} gives {actual!r}",
                        hint,
                    )
    return report


__all__ = [
    "IDX_TYPE_CODES",
    "MODE_SETTINGS",
    "check_class_means",
    "check_idx_bytes",
    "check_mode_predictions",
    "reference_class_means",
    "reference_idx_bytes",
    "reference_mode_predictions",
]
