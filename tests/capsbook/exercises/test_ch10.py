"""Exercise checks of chapter 10: typical wrong answers fail on the property they break, with the hint
that names the mistake.  (Every check's reference solution and unfinished stub: tests/capsbook/exercises/test_checks.py.)"""

import math

import torch

from capsbook.exercises import ch10


# --- 10.1 standard error of a difference -------------------------------------------------------
def test_standard_error_mistakes_are_named():
    variance = ch10.check_difference_standard_error(
        lambda p1, n1, p2, n2: p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2, verbose=False
    )
    assert not variance.passed and "take its square root" in str(variance)
    summed = ch10.check_difference_standard_error(
        lambda p1, n1, p2, n2: (
            math.sqrt(p1 * (1 - p1) / n1) + math.sqrt(p2 * (1 - p2) / n2)
        ),
        verbose=False,
    )
    assert not summed.passed and "variances add" in str(summed)
    pooled_n = ch10.check_difference_standard_error(
        lambda p1, n1, p2, n2: math.sqrt((p1 * (1 - p1) + p2 * (1 - p2)) / (n1 + n2)),
        verbose=False,
    )
    assert not pooled_n.passed and "its own number of examples" in str(pooled_n)


def test_standard_error_by_hand():
    # 0.5 and 0.5 on 100 each: sqrt(0.0025 + 0.0025) = 0.0707...
    assert math.isclose(
        ch10.reference_difference_standard_error(0.5, 100, 0.5, 100), math.sqrt(0.005)
    )
    assert math.isclose(
        ch10.reference_difference_standard_error(1.0, 50, 0.9, 200),
        math.sqrt(0.09 / 200),
    )


# --- 10.2 set accuracy, 10.3 own digit closer --------------------------------------------------
def test_set_accuracy_with_two_capsules_only_fails_on_three_digits():
    def two_longest(lengths, labels):
        top = lengths.topk(2, dim=1).indices.sort(dim=1).values
        return float(
            (top == labels[:, :2].sort(dim=1).values).all(dim=1).float().mean()
        )

    report = ch10.check_set_accuracy(two_longest, verbose=False)
    assert report.failed_on("three digits per image")
    assert "two longest only" in str(report) and "in order" not in str(report)


def test_set_accuracy_that_cares_about_order_fails():
    def ordered(lengths, labels):
        top = lengths.topk(labels.shape[1], dim=1).indices
        return float((top == labels).all(dim=1).float().mean())

    report = ch10.check_set_accuracy(ordered, verbose=False)
    assert report.failed_on("three digits per image") and not report.failed_on(
        "one digit per image"
    )
    assert "in order" in str(report) and "two longest" not in str(report)


def test_own_digit_closer_by_hand_and_per_image_counting_fails():
    components = torch.zeros(1, 2, 1, 2, 2)
    components[0, 0, 0, 0, 0] = 1.0
    components[0, 1, 0, 1, 1] = 1.0
    assert ch10.reference_own_digit_closer(components.clone(), components) == 1.0
    assert ch10.reference_own_digit_closer(components.flip(1), components) == 0.0
    half = components.clone()
    half[0, 1] = components[0, 0]  # the second reconstruction draws the first digit
    assert ch10.reference_own_digit_closer(half, components) == 0.5

    def per_image(
        reconstructions, components
    ):  # counts images whose reconstructions are all closer
        k = reconstructions.shape[1]
        errors = (
            (
                reconstructions.flatten(2).unsqueeze(2)
                - components.flatten(2).unsqueeze(1)
            )
            ** 2
        ).sum(-1)
        own = errors.diagonal(dim1=1, dim2=2)
        others = (
            errors.masked_fill(torch.eye(k, dtype=torch.bool), float("inf"))
            .min(dim=2)
            .values
        )
        return float((own < others).all(dim=1).float().mean())

    report = ch10.check_own_digit_closer(per_image, verbose=False)
    assert report.failed_on(
        "of the 9 reconstructions"
    ) and "count the reconstructions" in str(report)


def test_counting_the_wrong_class_fails():
    report = ch10.check_face_rate(
        lambda lengths: float((lengths.argmax(1) == 0).float().mean()), verbose=False
    )
    assert report.failed_on("class 1") and "class 0" in str(report)
