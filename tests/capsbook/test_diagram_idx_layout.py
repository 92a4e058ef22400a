"""Chapter 0's IDX diagram (capsbook.diagrams.idx_layout): parsed right, drawn from the bytes."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from capsbook.diagrams.idx_layout import group_labels, idx_fields, idx_layout
from capsbook.exercises.ch00 import reference_idx_bytes
from capslib.data import read_idx, sources


def sample_bytes(name: str) -> bytes:
    return gzip.decompress((Path(sources.SAMPLE_DIR) / name).read_bytes())


def test_the_test_images_header_read_by_hand():
    raw = sample_bytes("t10k-images-idx3-ubyte.gz")
    f = idx_fields(raw)
    # 00 00 08 03 | 00 00 27 10 | 00 00 00 1C | 00 00 00 1C
    assert raw[:16].hex() == "00000803000027100000001c0000001c"
    assert (f["type_code"], f["ndim"], f["sizes"]) == (8, 3, [10_000, 28, 28])
    assert f["header_bytes"] == 16 and f["item_bytes"] == 1
    assert f["data_bytes"] == 10_000 * 28 * 28 == len(raw) - 16


def test_fields_agree_with_the_tested_reader_for_other_types(tmp_path):
    array = np.arange(24, dtype=np.float32).reshape(2, 3, 4) / 24
    raw = reference_idx_bytes(array)
    f = idx_fields(raw)
    assert f["type_name"] == "32-bit float" and f["item_bytes"] == 4
    assert f["sizes"] == list(array.shape) and f["data_bytes"] == 4 * array.size
    path = tmp_path / "a.idx"
    path.write_bytes(raw)
    assert read_idx(path).shape == tuple(f["sizes"])
    assert len(raw) == f["header_bytes"] + f["data_bytes"]


def test_labels_name_the_axes_only_for_an_image_file():
    images = idx_fields(sample_bytes("t10k-images-idx3-ubyte.gz"))
    labels = idx_fields(sample_bytes("t10k-labels-idx1-ubyte.gz"))
    assert group_labels(images) == [
        ("magic number", "type 08, 3 dims"),
        ("size 0: images", "10,000"),
        ("size 1: rows", "28"),
        ("size 2: columns", "28"),
    ]
    assert group_labels(labels) == [
        ("magic number", "type 08, 1 dim"),
        ("size 0", "10,000"),
    ]


def test_the_diagram_shows_every_header_byte_and_the_data_size():
    raw = sample_bytes("t10k-images-idx3-ubyte.gz")
    fig = idx_layout(raw)
    shown = [t.get_text() for t in fig.axes[0].texts]
    assert shown[:16] == [f"{b:02X}" for b in raw[:16]]  # drawn first, in order
    assert "7,840,000 bytes" in shown and "byte 16" in shown
    # legibility: tests/capsbook/test_diagrams.py (ALL)


@pytest.mark.parametrize("raw", [b"", b"\x1f\x8b\x08\x00", b"\x00\x00\x07\x01"])
def test_bytes_that_are_not_idx_are_refused_by_name(raw):
    with pytest.raises(ValueError, match="IDX"):
        idx_fields(raw)
