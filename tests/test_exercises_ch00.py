"""The checks of chapter 0 accept the reference solutions and reject typical wrong answers."""
from __future__ import annotations

import torch

from capslib.exercises import check_class_means, check_idx_header
from capslib.exercises.ch00 import reference_class_means
from capslib.exercises.ch00 import reference_idx_header as reference_header


def test_class_means_reference_passes(capsys):
    report = check_class_means(reference_class_means)
    assert report.passed and "3 of 3 checks passed" in capsys.readouterr().out


def test_class_means_wrong_answers_fail_with_hints():
    overall_mean = check_class_means(lambda images, labels: images.mean(0), verbose=False)
    assert not overall_mean.passed and "returns shape (10, 28, 28)" in overall_mean.failures

    def in_place(images, labels):
        images.mul_(1.0 + 1e-3)
        return reference_class_means(images, labels)

    mutating = check_class_means(in_place, verbose=False)
    assert mutating.failures == ["each row is the mean of its class", "leaves the input images unchanged"]


def test_unfinished_answer_is_reported_not_raised(capsys):
    def unfinished(images, labels):
        raise NotImplementedError("replace this line with your answer")

    report = check_class_means(unfinished)
    assert not report.passed and "raised NotImplementedError" in capsys.readouterr().out


def test_idx_header_reference_and_wrong_answers():
    assert check_idx_header(reference_header, verbose=False).passed
    little_endian = check_idx_header(
        lambda raw: (raw[2], tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "little") for i in range(raw[3]))),
        verbose=False)
    assert not little_endian.passed and "shape (60000, 28, 28)" in little_endian.failures
    wrong_byte = check_idx_header(lambda raw: (raw[3], reference_header(raw)[1]), verbose=False)
    assert "type code 0x08 for shape (60000, 28, 28)" in wrong_byte.failures
