"""The checks of chapter 0 accept the reference solutions and reject typical wrong answers with the right hint."""

from __future__ import annotations

import numpy as np
import torch
from check_reports import hint_of

from capsbook.exercises.ch00 import (
    check_class_means,
    check_idx_bytes,
    check_mode_predictions,
    reference_class_means,
    reference_idx_bytes,
    reference_mode_predictions,
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


def test_mode_predictions_reference_passes_and_agrees_with_get_mode():
    import capslib

    assert check_mode_predictions(reference_mode_predictions, verbose=False).passed
    assert reference_mode_predictions()["auto"] == capslib.get_mode("auto")


def test_mode_predictions_typical_mistakes_get_their_hint():
    wrong_auto = dict(
        reference_mode_predictions(),
        auto="quick" if torch.cuda.is_available() else "full",
    )
    report = check_mode_predictions(lambda: wrong_auto, verbose=False)
    assert report.failures == [
        "CAPSLIB_MODE='auto' gives " + repr(reference_mode_predictions()["auto"])
    ]
    assert "torch.cuda.is_available()" in hint_of(report, "'auto'")
    fallback = dict(reference_mode_predictions(), fast="quick")
    assert "refuses a value" in hint_of(
        check_mode_predictions(lambda: fallback, verbose=False), "'fast'"
    )
    case_sensitive = dict(reference_mode_predictions(), Full="error")
    assert "lower-cased" in hint_of(
        check_mode_predictions(lambda: case_sensitive, verbose=False), "'Full'"
    )
    typo = dict(reference_mode_predictions(), fast="ValueError")
    assert "answer 'quick', 'full' or 'error'" in hint_of(
        check_mode_predictions(lambda: typo, verbose=False), "'fast'"
    )


def test_mode_predictions_incomplete_or_not_a_dict():
    partial = {"quick": "quick", "full": "full"}
    report = check_mode_predictions(lambda: partial, verbose=False)
    assert report.failures == ["predicts every setting"] and "'auto'" in hint_of(
        report, "every setting"
    )
    assert check_mode_predictions(lambda: ["quick"], verbose=False).failures == [
        "returns a dict"
    ]
