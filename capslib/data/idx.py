"""A strict reader for the IDX format of MNIST and Fashion-MNIST.

An IDX file (LeCun et al., http://yann.lecun.com/exdb/mnist/) is a header
followed by raw big-endian data:

* bytes 0-1: zero; byte 2: the element type (0x08 = unsigned byte, ...);
  byte 3: the number of dimensions ``ndim``;
* ``ndim`` big-endian 32-bit sizes;
* ``prod(sizes)`` elements.

The file may be gzip-compressed (detected by its first two bytes, not its
name).  Every way a file can be wrong (truncated, too long, a bad magic
number, the wrong number of dimensions, a corrupt gzip stream) raises
:class:`IDXError` naming the file and what is wrong.

:func:`read_idx` reads any IDX file.  What the values of an *image* or a
*label* file may be is checked by :func:`to_unit_float` (unsigned bytes are
scaled by 1/255; floats must already lie in [0, 1]; other integer types are
refused, since no scale for them is right) and :func:`check_labels`
(integers in ``0..num_classes-1``; a float or NaN label is refused).
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

# Element type code -> big-endian NumPy dtype (the IDX specification's table).
IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
GZIP_MAGIC = b"\x1f\x8b"


class IDXError(ValueError):
    """An IDX file is missing, corrupt, truncated or not what was expected."""


def _read_bytes(path: Path) -> bytes:
    if not path.is_file():
        raise IDXError(f"{path}: no such file")
    raw = path.read_bytes()
    if raw[:2] != GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as err:
        raise IDXError(
            f"{path}: the gzip stream is corrupt or truncated ({err}); "
            "delete the file and fetch it again"
        ) from err


def read_idx(
    path: str | Path,
    *,
    expected_ndim: int | None = None,
    expected_shape: tuple[int | None, ...] | None = None,
) -> np.ndarray:
    """Read an IDX file (raw or gzip) into a NumPy array of its native type.

    ``expected_ndim`` checks the number of dimensions (3 for an image file,
    1 for a label file), which catches a label file passed as images and the
    reverse.  ``expected_shape`` checks sizes, ``None`` meaning any size
    (``(None, 28, 28)`` for MNIST images).
    """
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4:
        raise IDXError(
            f"{path}: {len(data)} bytes is too short for an IDX header (4 bytes at least)"
        )
    zero0, zero1, type_code, ndim = data[0], data[1], data[2], data[3]
    if zero0 != 0 or zero1 != 0 or type_code not in IDX_DTYPES:
        raise IDXError(
            f"{path}: bad magic number 0x{data[:4].hex()}; an IDX file starts with two zero "
            f"bytes and a type code in {{{', '.join(f'0x{c:02x}' for c in IDX_DTYPES)}}} "
            "(0x00000803 for images, 0x00000801 for labels): is this an IDX file?"
        )
    if ndim == 0:
        raise IDXError(f"{path}: the header declares 0 dimensions")
    if expected_ndim is not None and ndim != expected_ndim:
        raise IDXError(
            f"{path}: expected {expected_ndim} dimension(s), the header declares {ndim} "
            "(a label file where images were expected, or the reverse?)"
        )
    header_end = 4 + 4 * ndim
    if len(data) < header_end:
        raise IDXError(
            f"{path}: truncated header: {ndim} dimensions need {header_end} bytes, the file has {len(data)}"
        )
    shape = tuple(
        int(x) for x in np.frombuffer(data, dtype=">u4", count=ndim, offset=4)
    )
    if expected_shape is not None:
        if len(expected_shape) != ndim or any(
            e is not None and e != s for e, s in zip(expected_shape, shape)
        ):
            want = "x".join("N" if e is None else str(e) for e in expected_shape)
            raise IDXError(
                f"{path}: expected shape {want}, the header declares {'x'.join(map(str, shape))}"
            )
    dtype = IDX_DTYPES[type_code]
    expected_bytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    actual_bytes = len(data) - header_end
    if actual_bytes < expected_bytes:
        raise IDXError(
            f"{path}: truncated: the header declares shape {shape} ({expected_bytes:,} bytes of data), "
            f"the file holds {actual_bytes:,}; delete it and fetch it again"
        )
    if actual_bytes > expected_bytes:
        raise IDXError(
            f"{path}: {actual_bytes - expected_bytes:,} unexpected bytes after the data declared by "
            f"the header (shape {shape}): the file is corrupt or not an IDX file"
        )
    array = np.frombuffer(data, dtype=dtype, offset=header_end).reshape(shape)
    return array.astype(dtype.newbyteorder("="), copy=True)


def to_unit_float(images: np.ndarray, path: str | Path = "images") -> np.ndarray:
    """Image values as float32 in [0, 1], checked.

    * unsigned bytes (IDX type 0x08, MNIST's and Fashion-MNIST's): divided by 255;
    * floats (0x0D, 0x0E): kept as they are, and must be finite and in [0, 1]
      (floats in 0..255 would need a scale this reader cannot guess);
    * any other integer type (0x09, 0x0B, 0x0C): refused, since a signed or
      wider integer has no agreed range to scale from.

    ``path`` names the file in the error message.
    """
    images = np.asarray(images)
    if images.dtype == np.uint8:
        return images.astype(np.float32) / np.float32(255.0)
    if images.dtype.kind == "f":
        finite = np.isfinite(images)
        if not finite.all():
            raise IDXError(
                f"{path}: {int((~finite).sum()):,} pixel values are NaN or infinite; "
                "images must hold finite values in [0, 1]"
            )
        if images.size and (images.min() < 0 or images.max() > 1):
            raise IDXError(
                f"{path}: float images must lie in [0, 1], found {float(images.min()):g}..{float(images.max()):g}; "
                "store bytes 0..255 (IDX type 0x08) or divide by the maximum before writing"
            )
        return images.astype(np.float32)
    raise IDXError(
        f"{path}: images of type {images.dtype.name} are not read as images: expected unsigned bytes "
        "0..255 (IDX type 0x08, as MNIST stores them) or floats in [0, 1] (0x0D or 0x0E); convert the file "
        "to one of those"
    )


def check_labels(
    labels: np.ndarray, path: str | Path = "labels", num_classes: int = 10
) -> np.ndarray:
    """Class labels as int64, checked: an integer type, every value in ``0..num_classes-1``.

    A float label file (even one holding whole numbers, or NaN) is refused:
    labels are class indices.  ``path`` names the file in the error message.
    """
    labels = np.asarray(labels)
    if labels.dtype.kind not in "ui":
        raise IDXError(
            f"{path}: labels must be integers (IDX type 0x08, 0x09, 0x0B or 0x0C), the file holds "
            f"{labels.dtype.name} values; class labels are indices 0..{num_classes - 1}"
        )
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise IDXError(
            f"{path}: labels must lie in 0..{num_classes - 1}, "
            f"found {labels.min()}..{labels.max()}"
        )
    return labels.astype(np.int64)


def write_idx(
    path: str | Path, array: np.ndarray, *, compress: bool | None = None
) -> Path:
    """Write ``array`` as an IDX file (gzip when ``path`` ends in ``.gz`` or ``compress``).

    Used by the tests to make good and broken files, and by the derived datasets.
    """
    path = Path(path)
    array = np.asarray(array)
    codes = {np.dtype(v).newbyteorder("="): k for k, v in IDX_DTYPES.items()}
    native = array.dtype.newbyteorder("=")
    if native not in codes:
        raise TypeError(
            f"write_idx: IDX has no type code for dtype {array.dtype}; use uint8, int8, int16, int32, float32 or float64"
        )
    code = codes[native]
    header = (
        bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    )
    payload = header + array.astype(IDX_DTYPES[code], copy=False).tobytes()
    if compress or (compress is None and path.suffix == ".gz"):
        payload = gzip.compress(payload, mtime=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(payload)
    return path
