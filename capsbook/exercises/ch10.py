"""Checks for the exercises of chapter 10 (robustness).

10.1 the standard error of a difference of two accuracies (the affine verdict's rule, applied to other
test-set sizes); 10.2 all the digits right, however many overlap; 10.3 the segmentation
score (is each reconstruction closer to its own digit than to the others?); 10.4 the face rate of a
capsule network on chapter 2's scrambled faces.
"""

from __future__ import annotations

import math

import torch

from capsbook.paired import difference_standard_error
from capsbook.robustness import closer_own_rate

from .report import CheckReport, check, guarded

__all__ = [
    "check_difference_standard_error",
    "check_set_accuracy",
    "check_own_digit_closer",
    "check_face_rate",
    "reference_difference_standard_error",
    "reference_set_accuracy",
    "reference_own_digit_closer",
    "reference_face_rate",
]


# ---------------------------------------------------------------------------------------------
# Exercise 10.1: the standard error of a difference of two accuracies
# ---------------------------------------------------------------------------------------------
#: The reference is the rule chapter 10 applies (capsbook.paired), not a second copy of it.
reference_difference_standard_error = difference_standard_error


@guarded
def check_difference_standard_error(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise 10.1: ``fn(p1, n1, p2, n2)`` -> ``sqrt(p1 (1 - p1) / n1 + p2 (1 - p2) / n2)``."""
    cases = [
        (
            (0.79, 10_000, 0.66, 10_000),
            "the paper's 79% and 66%, each on 10,000 digits",
        ),
        (
            (0.5, 100, 0.5, 100),
            "50% and 50% on 100 examples each: sqrt(0.0025 + 0.0025)",
        ),
        (
            (1.0, 50, 0.9, 200),
            "a perfect score has no spread of its own: only the 0.9 on 200 counts",
        ),
        ((0.99, 1_000, 0.6, 40), "unequal test sets: each accuracy with its own n"),
    ]
    with check(
        "Exercise 10.1: the standard error of a difference of accuracies",
        verbose=verbose,
    ) as report:
        for arguments, what in cases:
            with report.attempt(f"runs on p1, n1, p2, n2 = {arguments}"):
                got = float(fn(*arguments))
                right = reference_difference_standard_error(*arguments)
                p1, n1, p2, n2 = arguments
                variances = (p1 * (1 - p1) / n1, p2 * (1 - p2) / n2)
                hint = f"got {got:.6g}, expected {right:.6g}"
                if math.isclose(got, sum(variances), rel_tol=1e-6):
                    hint += ": that is the variance; take its square root"
                elif (
                    math.isclose(
                        got,
                        math.sqrt(variances[0]) + math.sqrt(variances[1]),
                        rel_tol=1e-6,
                    )
                    and p1 != 1.0
                ):
                    hint += ": variances add, standard errors do not (sqrt of the sum, not the sum of the sqrts)"
                elif math.isclose(
                    got,
                    math.sqrt((p1 * (1 - p1) + p2 * (1 - p2)) / (n1 + n2)),
                    rel_tol=1e-6,
                ):
                    hint += ": divide each accuracy's variance by its own number of examples"
                report.expect(math.isclose(got, right, rel_tol=1e-6), what, hint)
    return report


# ---------------------------------------------------------------------------------------------
# Exercise 10.2: all digits right, however many overlap
# ---------------------------------------------------------------------------------------------
def reference_set_accuracy(lengths: torch.Tensor, labels: torch.Tensor) -> float:
    """The fraction of images whose k longest capsules, lengths (n, classes), are
    their k labels (n, k), in any order."""
    k = labels.shape[1]
    top = lengths.topk(k, dim=1).indices.sort(dim=1).values
    return float((top == labels.sort(dim=1).values).all(dim=1).float().mean())


@guarded
def check_set_accuracy(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise 10.2: ``fn(lengths, labels)`` with ``labels`` ``(n, k)`` for any ``k``: all ``k`` digits right."""
    three = torch.tensor(
        [
            [0.9, 0.8, 0.7, 0.1, 0.0],  # {0, 1, 2}: right
            [0.9, 0.1, 0.8, 0.7, 0.0],  # {0, 2, 3}: right, in another order
            [0.9, 0.8, 0.1, 0.0, 0.7],  # {0, 1, 4} against {0, 1, 2}: one wrong
            [0.2, 0.9, 0.3, 0.8, 0.1],
        ]
    )  # {1, 3, 2}: right
    three_labels = torch.tensor([[2, 1, 0], [3, 0, 2], [0, 1, 2], [1, 2, 3]])
    one = torch.tensor([[0.1, 0.9, 0.0], [0.8, 0.3, 0.2], [0.2, 0.3, 0.4]])
    one_labels = torch.tensor([[1], [1], [2]])
    with check(
        "Exercise 10.2: all the digits right, however many overlap", verbose=verbose
    ) as report:
        with report.attempt("runs on 4 images of 3 digits each (5 classes)"):
            got = float(fn(three.clone(), three_labels.clone()))
            report.expect(
                abs(got - 0.75) < 1e-6,
                "three digits per image: 3 of the 4 have all three right (0.75)",
                f"got {got}; take as many longest capsules as there are labels (labels.shape[1]), "
                "and compare them with the labels as sets"
                + (
                    " -- you seem to compare them in order: topk lists the longest "
                    "first, the labels come in any order; sort both before comparing"
                    if abs(got - 0.0) < 1e-6
                    else " -- you seem to take the two longest only"
                    if abs(got - 0.25) < 1e-6
                    else ""
                ),
            )
        with report.attempt("runs on 3 images of 1 digit each"):
            got = float(fn(one.clone(), one_labels.clone()))
            report.expect(
                abs(got - 2 / 3) < 1e-6,
                "one digit per image: plain accuracy (2 of 3)",
                f"got {got}; with k = 1 the rule is the usual accuracy",
            )
    return report


# ---------------------------------------------------------------------------------------------
# Exercise 10.3: is each reconstruction closer to its own digit?
# ---------------------------------------------------------------------------------------------
#: The reference is chapter 10's segmentation score (capsbook.robustness), not a second copy.
reference_own_digit_closer = closer_own_rate


@guarded
def check_own_digit_closer(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise 10.3: ``fn(reconstructions, components)`` ``(n, k, C, H, W)`` -> the fraction closer to their own digit."""
    g = torch.Generator().manual_seed(5)
    components = torch.rand(3, 3, 1, 6, 6, generator=g, dtype=torch.float64)
    reconstructions = components + 0.05 * torch.randn(
        3, 3, 1, 6, 6, generator=g, dtype=torch.float64
    )
    reconstructions[0, 1] = (
        components[0, 2] + 0.01
    )  # image 0: reconstruction 1 draws digit 2
    reconstructions[2, 0] = 0.5 * (components[2, 0] + components[2, 1]) + 0.2 * (
        components[2, 1] - components[2, 0]
    )
    expected = reference_own_digit_closer(reconstructions, components)
    with check(
        "Exercise 10.3: each reconstruction closer to its own digit", verbose=verbose
    ) as report:
        with report.attempt("runs on 3 images of 3 digits each"):
            got = float(fn(reconstructions.clone(), components.clone()))
            report.expect(
                abs(got - expected) < 1e-9,
                f"{round(expected * 9)} of the 9 reconstructions are closer to their own digit than to "
                "every other digit of their image",
                f"got {got:.4f}, expected {expected:.4f}; compare each reconstruction's squared error to its "
                "own component with its error to each other component of the same image, and count the "
                "reconstructions (n * k of them), not the images",
            )
        with report.attempt("runs on the paper's case: 1 image of 2 digits"):
            pair = components[:1, :2]
            got = float(fn(pair.flip(1).clone(), pair.clone()))
            report.expect(
                abs(got) < 1e-9,
                "two reconstructions swapped: 0 of 2 closer to their own digit",
                f"got {got}; a reconstruction that draws the other digit does not count",
            )
    return report


# ---------------------------------------------------------------------------------------------
# Exercise 10.4: how often a scrambled face is called a face
# ---------------------------------------------------------------------------------------------
def reference_face_rate(lengths: torch.Tensor) -> float:
    """The fraction of lengths (n, 2) whose face capsule (class 1) is the longer."""
    return float((lengths.argmax(dim=1) == 1).float().mean())


@guarded
def check_face_rate(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise 10.4: ``fn(lengths)`` -> the fraction of images the capsule network calls a face."""
    lengths = torch.tensor(
        [[0.2, 0.9], [0.7, 0.6], [0.1, 0.3], [0.95, 0.94], [0.4, 0.45]]
    )
    with check("Exercise 10.4: the face rate", verbose=verbose) as report:
        with report.attempt("runs on 5 images"):
            got = float(fn(lengths.clone()))
            report.expect(
                abs(got - 0.6) < 1e-6,
                "3 of the 5 images have the longer capsule on class 1 (face): 0.6",
                f"got {got}; the prediction is the longer of the two capsules, and class 1 is 'face'"
                + (" -- you counted class 0" if abs(got - 0.4) < 1e-6 else "")
                + (
                    " -- do not threshold one length at 0.5: compare the two"
                    if abs(got - 0.2) < 1e-6 or abs(got - 0.8) < 1e-6
                    else ""
                ),
            )
    return report
