"""Checks for the exercises of the Fashion-MNIST appendix, Exercises A.1-A.3 (reading a classifier's errors).

The three answers build on each other: a confusion matrix from predictions,
the class-balanced accuracy read from it, and the pair of classes the model
confuses most.  The hand-made inputs are chosen so that the usual mistakes
show: rows and columns swapped (predicted classes as rows), the overall
accuracy instead of the mean of the per-class accuracies, a class without
examples counted as 0% (or NaN) instead of left out, the diagonal (correct
answers) taken for the biggest confusion, and the pair returned in the wrong
order.
"""

from __future__ import annotations

import math

import torch

from .report import CheckReport, check, guarded

__all__ = [
    "check_fashion_confusion_matrix",
    "check_fashion_balanced_accuracy",
    "check_fashion_most_confused",
    "reference_fashion_confusion_matrix",
    "reference_fashion_balanced_accuracy",
    "reference_fashion_most_confused",
]


def _unfinished(report: CheckReport) -> bool:
    """The last attempt raised NotImplementedError: the answer is still the stub, so stop there."""
    return bool(report.results) and "NotImplementedError" in report.results[-1][2]


# ---------------------------------------------------------------------------------------------
# Exercise A.1: the confusion matrix
# ---------------------------------------------------------------------------------------------
def reference_fashion_confusion_matrix(
    predicted: torch.Tensor, labels: torch.Tensor, num_classes: int = 10
) -> torch.Tensor:
    """Counts (num_classes, num_classes): entry [i, j] counts the images of true
    class i that were predicted as j."""
    pairs = labels.long() * num_classes + predicted.long()  # one number per (i, j)
    counts = torch.bincount(pairs, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


@guarded
def check_fashion_confusion_matrix(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise A.1: ``fn(predicted, labels, num_classes=10)`` -> the confusion matrix, true classes as rows."""
    # 7 images of 4 classes; class 3 never occurs, class 1 is never predicted
    labels = torch.tensor([0, 0, 1, 1, 1, 2, 2])
    predicted = torch.tensor([0, 2, 0, 2, 2, 2, 0])
    expected = torch.tensor([[1, 0, 1, 0], [1, 0, 2, 0], [1, 0, 1, 0], [0, 0, 0, 0]])
    gen = torch.Generator().manual_seed(10)
    many_labels = torch.randint(0, 10, (500,), generator=gen)
    many_predicted = torch.where(
        torch.rand(500, generator=gen) < 0.7,
        many_labels,
        torch.randint(0, 10, (500,), generator=gen),
    )
    with check("Exercise A.1: the confusion matrix", verbose=verbose) as report:
        with report.attempt("runs on 7 images of 4 classes"):
            out = torch.as_tensor(fn(predicted.clone(), labels.clone(), num_classes=4))
            if not report.expect(
                tuple(out.shape) == (4, 4),
                "returns a (4, 4) matrix for num_classes=4",
                f"got shape {tuple(out.shape)}; one row and one column per class, "
                "also for classes that never occur",
            ):
                return report
            out = out.long()
            hint = f"got {out.tolist()}, expected {expected.tolist()}"
            if torch.equal(out, expected.T):
                hint += ": rows and columns are swapped; row i is the TRUE class, column j the prediction"
            report.expect(
                torch.equal(out, expected),
                "entry [i, j] counts true class i predicted as j",
                hint,
            )
            report.expect(
                int(out.sum()) == 7,
                "the counts add up to the number of images (7)",
                f"got {int(out.sum())}; every image adds 1 to exactly one entry",
            )
        if _unfinished(report):
            return report
        with report.attempt("runs on 500 images of 10 classes"):
            out = torch.as_tensor(
                fn(many_predicted.clone(), many_labels.clone())
            ).long()
            ref = reference_fashion_confusion_matrix(many_predicted, many_labels)
            report.expect(
                tuple(out.shape) == (10, 10) and torch.equal(out, ref),
                "matches the reference on 500 random predictions (num_classes defaults to 10)",
                "count with bincount(labels * num_classes + predicted) or a loop over the pairs",
            )
    return report


# ---------------------------------------------------------------------------------------------
# Exercise A.2: the class-balanced accuracy
# ---------------------------------------------------------------------------------------------
def reference_fashion_balanced_accuracy(confusion: torch.Tensor) -> float:
    """The mean per-class accuracy of confusion (k, k), true classes as rows."""
    confusion = torch.as_tensor(confusion, dtype=torch.float64)
    support = confusion.sum(dim=1)  # images of each true class
    present = support > 0  # 0/0 is undefined: leave those classes out
    return float((confusion.diagonal()[present] / support[present]).mean())


@guarded
def check_fashion_balanced_accuracy(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise A.2: ``fn(confusion)`` -> the mean of the per-class accuracies (classes with examples only)."""
    # class 0: 90 images, 81 right (0.9); class 1: 10 images, 2 right (0.2); class 2: none
    confusion = torch.tensor([[81, 9, 0], [8, 2, 0], [0, 0, 0]])
    with check("Exercise A.2: the class-balanced accuracy", verbose=verbose) as report:
        with report.attempt("runs on a 3-class confusion matrix"):
            got = float(fn(confusion.clone()))
            hint = f"got {got!r}"
            if math.isclose(got, 0.83, abs_tol=1e-6):
                hint += ": that is the overall accuracy (83 of 100), which weights classes by their size"
            elif math.isclose(got, 1.1 / 3, abs_tol=1e-6):
                hint += ": class 2 has no images; leave it out rather than counting it as 0%"
            elif math.isclose(got, (81 / 89 + 2 / 11) / 2, abs_tol=1e-6):
                hint += ": divide by the row sums (images of each true class), not the column sums (predictions)"
            elif math.isnan(got):
                hint += (
                    ": a class without images gives 0/0 = NaN; leave it out of the mean"
                )
            report.expect(
                math.isclose(got, 0.55, abs_tol=1e-6),
                "the mean of 81/90 = 0.9 and 2/10 = 0.2 is 0.55 (class 2 has no images)",
                hint,
            )
        if _unfinished(report):
            return report
        with report.attempt("runs on a balanced 2-class matrix"):
            balanced = torch.tensor([[45, 5], [15, 35]])
            got = float(fn(balanced.clone()))
            report.expect(
                math.isclose(got, 0.8, abs_tol=1e-6),
                "with equal class sizes it equals the overall accuracy, 80/100 = 0.8",
                f"got {got!r}; per-class accuracies 0.9 and 0.7, mean 0.8",
            )
    return report


# ---------------------------------------------------------------------------------------------
# Exercise A.3: the most confused pair of classes
# ---------------------------------------------------------------------------------------------
def reference_fashion_most_confused(confusion: torch.Tensor) -> tuple[int, int]:
    """(true, predicted) of the largest entry of confusion (k, k) off the diagonal."""
    errors = torch.as_tensor(confusion).clone().long()  # leave the reader's matrix
    errors.fill_diagonal_(-1)  # correct answers are not confusions
    index = int(errors.flatten().argmax())  # argmax returns the first maximum
    return index // errors.shape[1], index % errors.shape[1]


@guarded
def check_fashion_most_confused(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise A.3: ``fn(confusion)`` -> ``(true_class, predicted_class)`` of the most frequent error."""
    # class 2 is right 50 times (largest entry); the largest error: true 1 predicted as 3 (12 times),
    # while true 3 predicted as 1 happens only 4 times
    confusion = torch.tensor(
        [[40, 1, 0, 2], [3, 30, 0, 12], [0, 0, 50, 5], [1, 4, 7, 35]]
    )
    with check("Exercise A.3: the most confused pair", verbose=verbose) as report:
        with report.attempt("runs on a 4-class confusion matrix"):
            answer = fn(confusion.clone())
            true_class, predicted_class = (int(v) for v in answer)
            hint = f"got ({true_class}, {predicted_class})"
            if true_class == predicted_class:
                hint += ": that is a diagonal entry, the correct answers of one class; leave the diagonal out"
            elif (true_class, predicted_class) == (3, 1):
                hint += ": the error the other way round is 4, not 12; read the matrix as [true, predicted]"
            report.expect(
                (true_class, predicted_class) == (1, 3),
                "true class 1 predicted as class 3 (12 images) is the largest error",
                hint,
            )
        if _unfinished(report):
            return report
        with report.attempt("leaves the confusion matrix unchanged"):
            before = confusion.clone()
            fn(confusion)
            report.expect(
                torch.equal(confusion, before),
                "does not change the matrix it is given",
                "work on a copy (confusion.clone()) before zeroing the diagonal",
            )
    return report
