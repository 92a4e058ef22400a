"""The checks of chapter 0 accept the reference solutions and reject typical wrong answers with the right hint."""

from __future__ import annotations

import numpy as np
import torch
from check_reports import hint_of

from capsbook.exercises.ch00 import (
    check_class_means,
    check_idx_bytes,
    check_ink_geometry,
    check_nearest_mean,
    reference_class_means,
    reference_idx_bytes,
    reference_ink_geometry,
    reference_nearest_mean,
)


def test_class_means_reference_passes(capsys):
    report = check_class_means(reference_class_means)
    assert report.passed and "3 of 3 checks passed" in capsys.readouterr().out


def test_class_means_wrong_answers_fail_with_hints():
    overall_mean = check_class_means(
        lambda images, labels: images.mean(0), verbose=False
    )
    assert (
        not overall_mean.passed
        and "returns shape (10, 28, 28)" in overall_mean.failures
    )

    def in_place(images, labels):
        images.mul_(1.0 + 1e-3)
        return reference_class_means(images, labels)

    mutating = check_class_means(in_place, verbose=False)
    assert mutating.failures == [
        "each row is the mean of its class",
        "leaves the input images unchanged",
    ]


def test_idx_bytes_reference_is_what_capslib_writes(tmp_path):
    from capslib.data.idx import write_idx

    array = np.arange(24, dtype=np.float32).reshape(2, 3, 4) / 7
    path = write_idx(tmp_path / "a.idx", array)
    assert reference_idx_bytes(array) == path.read_bytes()
    assert reference_idx_bytes(np.zeros((10_000, 28, 28), np.uint8))[
        :8
    ] == bytes.fromhex("0000080300002710")
    assert check_idx_bytes(reference_idx_bytes, verbose=False).passed


def _idx(array, *, sizes="big", data=None, code=None):
    codes = {np.dtype(np.uint8): 8, np.dtype(np.int32): 12, np.dtype(np.float32): 13}
    header = bytes([0, 0, codes[array.dtype] if code is None else code, array.ndim])
    header += b"".join(int(n).to_bytes(4, sizes) for n in array.shape)
    return header + (array.tobytes() if data is None else data(array))


def test_idx_bytes_little_endian_sizes_are_named():
    report = check_idx_bytes(lambda a: _idx(a, sizes="little"), verbose=False)
    assert "big-endian 32-bit integers" in hint_of(
        report, "uint8 values of shape (3, 4, 5)"
    )


def test_idx_bytes_native_order_data_pass_for_bytes_and_fail_for_floats():
    report = check_idx_bytes(
        lambda a: _idx(a), verbose=False
    )  # a plain .tobytes() of the values
    assert "float32 values" in " ".join(report.failures) and "int32 values" in " ".join(
        report.failures
    )
    assert not any(
        "uint8" in failure for failure in report.failures
    )  # one-byte values have no byte order
    assert "values are big-endian too" in hint_of(
        report, "float32 values of shape (2, 7)"
    )


def test_idx_bytes_wrong_type_code_and_missing_dimension_byte():
    report = check_idx_bytes(
        lambda a: _idx(
            a, code=8, data=lambda x: x.astype(x.dtype.newbyteorder(">")).tobytes()
        ),
        verbose=False,
    )
    assert "type code of float32 is 0x0d" in hint_of(report, "float32")
    assert "read_idx refused it" in hint_of(
        report, "float32"
    )  # 4 bytes per value where 1 was declared
    no_ndim = lambda a: reference_idx_bytes(a)[:3] + reference_idx_bytes(a)[4:]  # noqa: E731
    assert "byte 3" in hint_of(
        check_idx_bytes(no_ndim, verbose=False), "uint8 values of shape (3, 4, 5)"
    )


def test_idx_bytes_an_array_instead_of_bytes():
    report = check_idx_bytes(
        lambda a: np.frombuffer(reference_idx_bytes(a), np.uint8), verbose=False
    )
    assert report.failures == [
        f"returns bytes for {what}"
        for what in (
            "uint8 values of shape (3, 4, 5)",
            "uint8 values of shape (300,)",
            "float32 values of shape (2, 7)",
            "int32 values of shape (4, 3)",
        )
    ]
    assert "one bytes object" in hint_of(report, "returns bytes")


def test_nearest_mean_reference_passes_and_matches_the_chapter():
    report = check_nearest_mean(reference_nearest_mean, verbose=False)
    assert report.passed
    # by hand: two means, the picture equal to the second is given class 1
    means = torch.zeros(10, 28, 28)
    means[1] = 0.5
    picture = torch.full((1, 1, 28, 28), 0.5)
    assert reference_nearest_mean(picture, means).tolist() == [1]


def test_nearest_mean_mistakes_are_named():
    def distances(images, means):
        return torch.cdist(images.flatten(1), means.flatten(1))

    report = check_nearest_mean(distances, verbose=False)
    assert "argmin over the 10 classes" in hint_of(report, "one label per image")
    farthest = check_nearest_mean(
        lambda i, m: distances(i, m).argmax(dim=1), verbose=False
    )
    assert "farthest means" in hint_of(farthest, "nearest mean")
    dot = check_nearest_mean(
        lambda i, m: (i.flatten(1) @ m.flatten(1).T).argmax(dim=1), verbose=False
    )
    assert "largest dot product is not the nearest" in hint_of(dot, "nearest mean")
    as_float = check_nearest_mean(
        lambda i, m: reference_nearest_mean(i, m).float() + 0.5, verbose=False
    )
    assert "returns integer labels" in as_float.failures


def test_ink_geometry_reference_by_hand():
    picture = torch.zeros(1, 6, 5)
    picture[0, 1, 1] = 1.0
    picture[0, 4, 3] = 0.25  # an empty row and column between the two pixels
    # box: rows 1..4 (4 rows), columns 1..3 (3 columns); centre (1 + 0.25 * 4) / 1.25
    expected = torch.tensor([[4, 3, 2.0 / 1.25, 1.75 / 1.25]], dtype=torch.float64)
    assert torch.allclose(reference_ink_geometry(picture), expected)
    assert check_ink_geometry(reference_ink_geometry, verbose=False).passed


def test_ink_geometry_reference_holds_on_mnist():
    """The chapter's measurement: every test digit's larger side is at most 20 pixels and
    its centre of mass lies in pixel (14, 14)."""
    from capslib.data import load_mnist

    digits = load_mnist("test", source="sample", verbose=False).images[:2000, 0]
    g = reference_ink_geometry(digits)
    assert g[:, :2].max() == 20
    assert g[:, 2:].min() >= 13.5 - 1e-9 and g[:, 2:].max() < 14.5


def _with(sides=None, centres=None):
    def answer(images):
        ref = reference_ink_geometry(images)
        out = ref.clone()
        if sides is not None:
            out[:, :2] = sides(images, ref)
        if centres is not None:
            out[:, 2:] = centres(images, ref)
        return out

    return answer


def test_ink_geometry_mistakes_are_named():
    def counted(images, ref):
        ink = images > 0
        return torch.stack([ink.any(2).sum(1), ink.any(1).sum(1)], 1).double()

    cases = {
        "first to the last": _with(sides=counted),
        "last - first + 1": _with(sides=lambda i, r: r[:, :2] - 1),
        "height counts rows": _with(sides=lambda i, r: r[:, :2].flip(1)),
    }
    for words, answer in cases.items():
        report = check_ink_geometry(answer, verbose=False)
        assert report.failures == ["the ink box's height and width"]
        assert words in hint_of(report, "height and width")

    def unweighted(images, ref):
        ink = (images > 0).double()
        rows = torch.arange(images.shape[1]).double()
        cols = torch.arange(images.shape[2]).double()
        n = ink.sum((1, 2))
        return torch.stack(
            [(ink.sum(2) * rows).sum(1) / n, (ink.sum(1) * cols).sum(1) / n], 1
        )

    mass = lambda i, r: r[:, 2:] * i.double().sum((1, 2))[:, None]  # noqa: E731
    cases = {
        "(row, column)": _with(centres=lambda i, r: r[:, 2:].flip(1)),
        "count from 0": _with(centres=lambda i, r: r[:, 2:] + 1),
        "weight each by its ink": _with(centres=unweighted),
        "divide by the total ink": _with(centres=mass),
    }
    for words, answer in cases.items():
        report = check_ink_geometry(answer, verbose=False)
        assert report.failures == ["the centre of mass (row, column)"]
        assert words in hint_of(report, "centre of mass")


def test_ink_geometry_wrong_shape():
    report = check_ink_geometry(
        lambda images: reference_ink_geometry(images)[:, :2], verbose=False
    )
    assert "torch.stack" in hint_of(report, "returns shape (2, 4)")
