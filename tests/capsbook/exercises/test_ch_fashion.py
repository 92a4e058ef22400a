"""Exercise checks of the Fashion-MNIST appendix: the reference solution passes, a typical wrong answer fails
on the named point, and an unfinished stub is reported (one line), not raised."""

import pytest
import torch
from check_reports import failures, unfinished

from capsbook.exercises import ch_fashion

CHECKS = [
    ch_fashion.check_fashion_confusion_matrix,
    ch_fashion.check_fashion_balanced_accuracy,
    ch_fashion.check_fashion_most_confused,
]


@pytest.mark.parametrize("check_fn", CHECKS, ids=lambda f: f.__name__)
def test_unfinished_stub_is_reported_not_raised(check_fn):
    report = check_fn(unfinished, verbose=False)
    assert not report.passed
    assert len(report.results) == 1 and "NotImplementedError" in str(report)


@pytest.mark.parametrize(
    "check_fn, number",
    list(zip(CHECKS, (1, 2, 3))),
    ids=lambda v: getattr(v, "__name__", str(v)),
)
def test_titles_say_exercise_a_k(check_fn, number):
    """The appendix's exercises are Exercise A.1-A.3: the check's printed title says the same as the book."""
    assert check_fn(unfinished, verbose=False).title.startswith(
        f"Exercise A.{number}: "
    )


# -- Exercise A.1: the confusion matrix -------------------------------------------------------
def test_confusion_matrix_reference_passes_and_is_correct_by_hand():
    assert ch_fashion.check_fashion_confusion_matrix(
        ch_fashion.reference_fashion_confusion_matrix, verbose=False
    ).passed
    confusion = ch_fashion.reference_fashion_confusion_matrix(
        torch.tensor([1, 1, 0]), torch.tensor([0, 1, 1]), 2
    )
    assert confusion.tolist() == [[0, 1], [1, 1]]  # true 0 -> 1; true 1 -> 1 and -> 0
    assert confusion.dtype == torch.int64


def test_confusion_matrix_reference_agrees_with_a_loop():
    gen = torch.Generator().manual_seed(3)
    labels, predicted = (
        torch.randint(0, 10, (200,), generator=gen),
        torch.randint(0, 10, (200,), generator=gen),
    )
    loop = torch.zeros(10, 10, dtype=torch.int64)
    for t, p in zip(labels.tolist(), predicted.tolist()):
        loop[t, p] += 1
    assert torch.equal(
        ch_fashion.reference_fashion_confusion_matrix(predicted, labels), loop
    )


def test_confusion_matrix_transposed_fails_with_the_hint(capsys):
    def transposed(predicted, labels, num_classes=10):
        return ch_fashion.reference_fashion_confusion_matrix(
            predicted, labels, num_classes
        ).T

    report = ch_fashion.check_fashion_confusion_matrix(transposed)
    assert "entry [i, j] counts true class i predicted as j" in failures(report)
    assert "rows and columns are swapped" in capsys.readouterr().out


def test_confusion_matrix_only_observed_classes_fails_on_the_shape():
    def observed_only(predicted, labels, num_classes=10):
        k = int(max(predicted.max(), labels.max())) + 1
        return ch_fashion.reference_fashion_confusion_matrix(predicted, labels, k)

    report = ch_fashion.check_fashion_confusion_matrix(observed_only, verbose=False)
    assert failures(report) == "returns a (4, 4) matrix for num_classes=4"


# -- Exercise A.2: the class-balanced accuracy ------------------------------------------------
def test_balanced_accuracy_reference_passes_and_equals_mean_recall():
    assert ch_fashion.check_fashion_balanced_accuracy(
        ch_fashion.reference_fashion_balanced_accuracy, verbose=False
    ).passed
    # per-class accuracies 3/4 and 1/2 -> 0.625, while the overall accuracy is 4/6
    assert ch_fashion.reference_fashion_balanced_accuracy(
        torch.tensor([[3, 1], [1, 1]])
    ) == pytest.approx(0.625)


def test_balanced_accuracy_overall_accuracy_fails_with_the_hint(capsys):
    def overall(confusion):
        return float(confusion.diagonal().sum() / confusion.sum())

    report = ch_fashion.check_fashion_balanced_accuracy(overall)
    assert (
        failures(report)
        == "the mean of 81/90 = 0.9 and 2/10 = 0.2 is 0.55 (class 2 has no images)"
    )
    assert "weights classes by their size" in capsys.readouterr().out


def test_balanced_accuracy_empty_class_counted_as_zero_fails_with_the_hint(capsys):
    def empty_as_zero(confusion):
        confusion = confusion.double()
        return float((confusion.diagonal() / confusion.sum(1).clamp(min=1)).mean())

    report = ch_fashion.check_fashion_balanced_accuracy(empty_as_zero)
    assert not report.passed and "is 0.55" in failures(report)
    assert "leave it out rather than counting it as 0%" in capsys.readouterr().out


def test_balanced_accuracy_column_sums_fail_with_the_hint(capsys):
    def by_columns(confusion):
        confusion = confusion.double()
        present = confusion.sum(0) > 0
        return float((confusion.diagonal()[present] / confusion.sum(0)[present]).mean())

    report = ch_fashion.check_fashion_balanced_accuracy(by_columns)
    assert not report.passed and "not the column sums" in capsys.readouterr().out


# -- Exercise A.3: the most confused pair -----------------------------------------------------
def test_most_confused_reference_passes_and_skips_the_diagonal():
    assert ch_fashion.check_fashion_most_confused(
        ch_fashion.reference_fashion_most_confused, verbose=False
    ).passed
    assert ch_fashion.reference_fashion_most_confused(
        torch.tensor([[9, 1, 2], [0, 9, 0], [3, 0, 9]])
    ) == (2, 0)


def test_most_confused_with_the_diagonal_fails_with_the_hint(capsys):
    def with_diagonal(confusion):
        index = int(confusion.flatten().argmax())
        return index // confusion.shape[1], index % confusion.shape[1]

    report = ch_fashion.check_fashion_most_confused(with_diagonal)
    assert (
        failures(report)
        == "true class 1 predicted as class 3 (12 images) is the largest error"
    )
    assert "leave the diagonal out" in capsys.readouterr().out


def test_most_confused_in_the_wrong_order_fails_with_the_hint(capsys):
    def reversed_pair(confusion):
        true_class, predicted_class = ch_fashion.reference_fashion_most_confused(
            confusion
        )
        return predicted_class, true_class

    report = ch_fashion.check_fashion_most_confused(reversed_pair)
    assert (
        failures(report)
        == "true class 1 predicted as class 3 (12 images) is the largest error"
    )
    assert "read the matrix as [true, predicted]" in capsys.readouterr().out


def test_most_confused_in_place_fails():
    def in_place(confusion):
        confusion.fill_diagonal_(0)
        return ch_fashion.reference_fashion_most_confused(confusion)

    report = ch_fashion.check_fashion_most_confused(in_place, verbose=False)
    assert failures(report) == "does not change the matrix it is given"
