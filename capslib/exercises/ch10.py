"""Checks for the exercises of chapter 10 (robustness)."""
from __future__ import annotations

import torch

from .report import CheckReport, check

__all__ = [
    "check_place_on_canvas",
    "check_pair_accuracy",
    "check_face_rate",
    "reference_place_on_canvas",
    "reference_pair_accuracy",
    "reference_face_rate",
]


# ---------------------------------------------------------------------------------------------
# Exercise 10.1: a digit on the 40x40 canvas
# ---------------------------------------------------------------------------------------------
def reference_place_on_canvas(image: torch.Tensor, dy: int, dx: int, canvas: int = 40) -> torch.Tensor:
    """``image``: ``(1, 28, 28)`` -> ``(1, canvas, canvas)``: centred, then moved ``dy`` down and ``dx`` right."""
    out = image.new_zeros(1, canvas, canvas)
    top, left = (canvas - image.shape[-2]) // 2 + dy, (canvas - image.shape[-1]) // 2 + dx
    out[:, top:top + image.shape[-2], left:left + image.shape[-1]] = image
    return out


def check_place_on_canvas(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise 10.1: ``fn(image, dy, dx)`` -> the digit on a 40x40 canvas, centred then shifted."""
    image = torch.rand(1, 28, 28, generator=torch.Generator().manual_seed(0))
    with check("Exercise 10.1: place a digit on the 40x40 canvas", verbose=verbose) as report:
        with report.attempt("runs on a (1, 28, 28) image with dy=0, dx=0"):
            centred = torch.as_tensor(fn(image.clone(), 0, 0)).float()
            if not report.expect(tuple(centred.shape) == (1, 40, 40), "returns (1, 40, 40)",
                                 f"got {tuple(centred.shape)}"):
                return report
            report.expect(torch.equal(centred, reference_place_on_canvas(image, 0, 0)),
                          "dy = dx = 0 centres the digit (a 6 pixel margin on every side)",
                          "the top-left corner of the digit goes to (6, 6) = ((40 - 28) / 2, (40 - 28) / 2)")
        with report.attempt("runs with dy=-6, dx=5"):
            moved = torch.as_tensor(fn(image.clone(), -6, 5)).float()
            report.expect(torch.equal(moved, reference_place_on_canvas(image, -6, 5)),
                          "dy moves the digit down (negative: up), dx to the right",
                          "rows are the first image axis: dy shifts rows, dx shifts columns")
            report.expect(torch.isclose(moved.sum(), image.sum()), "no ink is lost or duplicated",
                          "a shift of at most 6 pixels keeps the whole digit on the canvas")
    return report


# ---------------------------------------------------------------------------------------------
# Exercise 10.2: MultiMNIST accuracy from the two longest capsules
# ---------------------------------------------------------------------------------------------
def reference_pair_accuracy(lengths: torch.Tensor, labels: torch.Tensor) -> float:
    """``lengths``: ``(n, 10)``, ``labels``: ``(n, 2)``: the fraction where the two longest capsules are the two labels."""
    top2 = lengths.topk(2, dim=1).indices.sort(dim=1).values
    return float((top2 == labels.sort(dim=1).values).all(dim=1).float().mean())


def check_pair_accuracy(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise 10.2: ``fn(lengths, labels)`` -> the fraction of images whose two digits are both recognised."""
    lengths = torch.tensor([[0.9, 0.8, 0.1, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],   # {0, 1}: right
                            [0.1, 0.8, 0.9, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],   # {2, 1}: right (order free)
                            [0.9, 0.1, 0.8, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],   # {0, 2}: one wrong
                            [0.2, 0.1, 0.3, 0.9, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]])  # {3, 2}: one wrong
    labels = torch.tensor([[0, 1], [1, 2], [0, 3], [3, 1]])
    with check("Exercise 10.2: both digits from the two longest capsules", verbose=verbose) as report:
        with report.attempt("runs on 4 images"):
            got = float(fn(lengths.clone(), labels.clone()))
            report.expect(abs(got - 0.5) < 1e-6, "2 of the 4 images have both digits right: 0.5",
                          f"got {got}; compare the two longest capsules with the two labels as *sets* "
                          "(sort both), and count an image only if both digits are right"
                          + (" -- you seem to compare in order" if abs(got - 0.25) < 1e-6 else ""))
    return report


# ---------------------------------------------------------------------------------------------
# Exercise 10.3: how often a scrambled face is called a face
# ---------------------------------------------------------------------------------------------
def reference_face_rate(lengths: torch.Tensor) -> float:
    """``lengths``: ``(n, 2)`` capsule lengths (class 1 = face): the fraction where the face capsule is the longer."""
    return float((lengths.argmax(dim=1) == 1).float().mean())


def check_face_rate(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise 10.3: ``fn(lengths)`` -> the fraction of images the capsule network calls a face."""
    lengths = torch.tensor([[0.2, 0.9], [0.7, 0.6], [0.1, 0.3], [0.95, 0.94], [0.4, 0.45]])
    with check("Exercise 10.3: the face rate", verbose=verbose) as report:
        with report.attempt("runs on 5 images"):
            got = float(fn(lengths.clone()))
            report.expect(abs(got - 0.6) < 1e-6, "3 of the 5 images have the longer capsule on class 1 (face): 0.6",
                          f"got {got}; the prediction is the longer of the two capsules, and class 1 is 'face'"
                          + (" -- you counted class 0" if abs(got - 0.4) < 1e-6 else "")
                          + (" -- do not threshold one length at 0.5: compare the two" if abs(got - 0.2) < 1e-6
                             or abs(got - 0.8) < 1e-6 else ""))
    return report
