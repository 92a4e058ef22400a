"""The IDX reader on good data and on every kind of bad file."""

from __future__ import annotations

import gzip
import hashlib

import numpy as np
import pytest

from capslib.data import IDXError, read_idx, write_idx
from capslib.data.sources import SAMPLE_DIR


@pytest.fixture
def images():
    return np.random.default_rng(0).integers(0, 256, size=(7, 28, 28), dtype=np.uint8)


@pytest.mark.parametrize("name", ["imgs-idx3-ubyte", "imgs-idx3-ubyte.gz"])
def test_round_trip_raw_and_gzip(tmp_path, images, name):
    path = write_idx(tmp_path / name, images)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == name.endswith(".gz")
    out = read_idx(path, expected_ndim=3, expected_shape=(None, 28, 28))
    assert out.dtype == np.uint8 and np.array_equal(out, images)


def test_header_bytes_follow_the_specification(tmp_path, images):
    raw = write_idx(tmp_path / "x", images).read_bytes()
    assert raw[:4] == bytes([0, 0, 0x08, 3])
    assert [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(3)] == [
        7,
        28,
        28,
    ]
    assert len(raw) == 16 + images.size


@pytest.mark.parametrize("dtype", [np.int16, np.int32, np.float32, np.float64, np.int8])
def test_other_element_types_are_big_endian(tmp_path, dtype):
    array = (np.arange(12).reshape(3, 4) - 5).astype(dtype)
    path = write_idx(tmp_path / "x.idx", array)
    raw = path.read_bytes()
    header = 4 + 4 * array.ndim  # magic number, then one 4-byte size per dimension
    assert (
        raw[header : header + array.itemsize]
        == array[0, :1].astype(np.dtype(dtype).newbyteorder(">")).tobytes()
    )
    assert np.array_equal(read_idx(path), array)


def test_bundled_sample_is_the_real_mnist_data():
    sums = dict(
        line.split()[::-1]
        for line in (SAMPLE_DIR / "SHA256SUMS").read_text().splitlines()
        if line.strip()
    )
    for name, digest in sums.items():
        assert (
            hashlib.sha256((SAMPLE_DIR / name.lstrip("*")).read_bytes()).hexdigest()
            == digest
        )
    test_images = read_idx(SAMPLE_DIR / "t10k-images-idx3-ubyte.gz")
    # the official t10k-images-idx3-ubyte has MD5 2646ac647ad5339dbf082846283269ea once decompressed
    raw = gzip.decompress((SAMPLE_DIR / "t10k-images-idx3-ubyte.gz").read_bytes())
    assert hashlib.md5(raw).hexdigest() == "2646ac647ad5339dbf082846283269ea"
    assert test_images.shape == (10000, 28, 28)
    train_labels = read_idx(SAMPLE_DIR / "train-labels-idx1-ubyte.gz")
    assert np.array_equal(np.bincount(train_labels), np.full(10, 500))


def test_truncated_file_names_the_file_and_the_problem(tmp_path, images):
    raw = write_idx(tmp_path / "good", images).read_bytes()
    bad = tmp_path / "train-images-idx3-ubyte"
    bad.write_bytes(raw[:-100])
    with pytest.raises(
        IDXError, match=r"train-images-idx3-ubyte: truncated.*\(7, 28, 28\)"
    ):
        read_idx(bad)


def test_truncated_gzip_stream(tmp_path, images):
    raw = write_idx(tmp_path / "good.gz", images).read_bytes()
    bad = tmp_path / "cut.gz"
    bad.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(
        IDXError, match=r"cut.gz: the gzip stream is corrupt or truncated"
    ):
        read_idx(bad)


def test_extra_bytes_are_an_error(tmp_path, images):
    raw = write_idx(tmp_path / "good", images).read_bytes()
    bad = tmp_path / "long"
    bad.write_bytes(raw + b"\x00" * 3)
    with pytest.raises(IDXError, match=r"long: 3 unexpected bytes"):
        read_idx(bad)


@pytest.mark.parametrize(
    "magic", [b"\x00\x00\x07\x03", b"\x01\x00\x08\x03", b"PK\x03\x04"]
)
def test_wrong_magic_number(tmp_path, images, magic):
    raw = bytearray(write_idx(tmp_path / "good", images).read_bytes())
    raw[:4] = magic
    bad = tmp_path / "bad-magic"
    bad.write_bytes(bytes(raw))
    with pytest.raises(IDXError, match=rf"bad-magic: bad magic number 0x{magic.hex()}"):
        read_idx(bad)


def test_label_file_where_images_were_expected(tmp_path):
    labels = tmp_path / "train-labels-idx1-ubyte"
    write_idx(labels, np.arange(10, dtype=np.uint8))
    with pytest.raises(
        IDXError, match=r"expected 3 dimension\(s\), the header declares 1"
    ):
        read_idx(labels, expected_ndim=3)


def test_wrong_image_size(tmp_path):
    path = write_idx(tmp_path / "x", np.zeros((2, 32, 32), np.uint8))
    with pytest.raises(
        IDXError, match=r"expected shape Nx28x28, the header declares 2x32x32"
    ):
        read_idx(path, expected_shape=(None, 28, 28))


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(IDXError, match="no such file"):
        read_idx(tmp_path / "nothing")
    (tmp_path / "empty").write_bytes(b"")
    with pytest.raises(IDXError, match="too short"):
        read_idx(tmp_path / "empty")


def test_write_idx_refuses_types_without_a_code(tmp_path):
    with pytest.raises(TypeError, match="no type code for dtype int64"):
        write_idx(tmp_path / "x", np.zeros(3, np.int64))


def test_to_unit_float_scales_only_bytes():
    from capslib.data.idx import to_unit_float

    assert to_unit_float(np.array([0, 51, 255], np.uint8)).tolist() == pytest.approx(
        [0.0, 0.2, 1.0]
    )
    half = np.array([0.5], np.float64)
    assert to_unit_float(half).dtype == np.float32 and to_unit_float(half).tolist() == [
        0.5
    ]  # not 0.5 / 255
    assert to_unit_float(np.zeros((0, 28, 28), np.float32)).shape == (
        0,
        28,
        28,
    )  # empty is fine
    with pytest.raises(
        IDXError, match=r"^x.idx: images of type int16 are not read as images"
    ):
        to_unit_float(np.array([3], np.int16), "x.idx")


def test_check_labels_wants_integer_class_indices():
    from capslib.data.idx import check_labels

    out = check_labels(np.array([0, 9], np.uint8))
    assert out.dtype == np.int64 and out.tolist() == [0, 9]
    assert check_labels(np.array([1, 2], np.int32), num_classes=3).tolist() == [1, 2]
    with pytest.raises(IDXError, match=r"labels must lie in 0..2, found 1..3"):
        check_labels(np.array([1, 3], np.int32), num_classes=3)
    with pytest.raises(
        IDXError, match=r"labels must be integers .* holds float64 values"
    ):
        check_labels(np.array([1.0, 2.0]))
