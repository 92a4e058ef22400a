"""Checks for the exercises of chapter 2 (what pooling throws away).

Each ``check_*`` takes the reader's function, runs it against values that
:mod:`capslib` and PyTorch compute, prints what passed and what did not, and
returns a :class:`~capslib.exercises.report.CheckReport`.  The
``reference_*`` functions are the solutions (the tests run every check on them).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..classify import SmallCNN, affine_images, predict_proba
from ..pooling import shift_images
from .report import CheckReport, check


def reference_shift_image(image: torch.Tensor, dx: int, dy: int) -> torch.Tensor:
    """Move ``image (H, W)`` by ``dx`` pixels right and ``dy`` down; what enters the frame is 0."""
    h, w = image.shape
    out = torch.zeros_like(image)
    for row in range(h):
        for col in range(w):
            if 0 <= row - dy < h and 0 <= col - dx < w:
                out[row, col] = image[row - dy, col - dx]
    return out


def check_shift_image(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise 2.1: ``fn(image, dx, dy)`` shifts ``image (H, W)`` by whole pixels, filling with zeros.

    Checked against :func:`capslib.pooling.shift_images` for shifts in every direction.
    """
    image = torch.rand(6, 7, generator=torch.Generator().manual_seed(2)) + 0.1
    with check("Exercise 2.1: shift an image", verbose=verbose) as report:
        for dx, dy in ((1, 0), (0, 2), (-2, 1), (3, -3)):
            expected = shift_images(image[None, None], dx, dy)[0, 0]
            with report.attempt(f"runs with dx={dx}, dy={dy}"):
                out = torch.as_tensor(fn(image.clone(), dx, dy)).float()
                if report.expect(out.shape == image.shape, f"keeps the shape for dx={dx}, dy={dy}",
                                 f"got {tuple(out.shape)}: the frame stays the same size"):
                    rolled = torch.roll(image, (dy, dx), dims=(0, 1))
                    if torch.allclose(out, rolled):
                        hint = "that is torch.roll: what leaves one side wraps round to the other; fill with zeros"
                    elif torch.allclose(out, shift_images(image[None, None], -dx, -dy)[0, 0]):
                        hint = "you moved it the other way: dx > 0 moves the content right, dy > 0 down"
                    else:
                        hint = "out[row, col] = image[row - dy, col - dx] where that is inside the image, else 0"
                    report.expect(torch.allclose(out, expected), f"moves the content by dx={dx}, dy={dy}", hint)
    return report


def reference_same_pooled_output(pooled: torch.Tensor) -> torch.Tensor:
    """An input ``(2h, 2w)`` whose 2x2 max pooling is ``pooled (h, w)`` (values > 0) and that is
    not ``pooled`` repeated 2x2: each window keeps its maximum top-left and halves of it elsewhere."""
    x = (pooled / 2).repeat_interleave(2, 0).repeat_interleave(2, 1)
    x[::2, ::2] = pooled
    return x


def check_same_pooled_output(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise 2.2: ``fn(pooled)`` builds an input that 2x2 max-pools to ``pooled (h, w)``, other than the obvious one.

    The obvious input repeats each pooled value over its window
    (``pooled.repeat_interleave(2, 0).repeat_interleave(2, 1)``); the answer must differ
    from it in every window, which shows that pooling cannot tell the two apart.
    """
    pooled = torch.rand(3, 4, generator=torch.Generator().manual_seed(5)) + 0.2
    obvious = pooled.repeat_interleave(2, 0).repeat_interleave(2, 1)
    with check("Exercise 2.2: a different input, the same pooled output", verbose=verbose) as report:
        with report.attempt("runs on a (3, 4) pooled map"):
            x = torch.as_tensor(fn(pooled.clone())).float()
            if report.expect(tuple(x.shape) == (6, 8), "returns a (6, 8) input",
                             f"got {tuple(x.shape)}: every pooled value comes from a 2x2 window"):
                report.expect(torch.allclose(F.max_pool2d(x[None, None], 2)[0, 0], pooled),
                              "max-pools to exactly the given output",
                              "each 2x2 window must contain the pooled value once and nothing larger")
                differs = (x - obvious).abs().view(3, 2, 4, 2).amax(dim=(1, 3)) > 1e-6
                report.expect(bool(differs.all()), "differs from the obvious input in every window",
                              f"{int((~differs).sum())} of 12 windows are the pooled value repeated; "
                              "lower some of the other three values in each window")
    return report


def reference_true_class_confidence(model, images: torch.Tensor, labels: torch.Tensor, angles) -> list[float]:
    """The model's mean probability of the true class when the images are rotated by each angle in ``angles``."""
    rows = torch.arange(len(labels))
    return [float(predict_proba(model, affine_images(images, degrees=float(angle)))[rows, labels].mean())
            for angle in angles]


def check_true_class_confidence(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise 2.3: ``fn(model, images, labels, angles)`` returns, for each angle, the mean
    probability that ``model`` gives the *true* class of ``images`` rotated by that angle.

    Checked on a small random CNN with :func:`capslib.classify.affine_images`
    and :func:`capslib.classify.predict_proba`.
    """
    with torch.random.fork_rng():  # a fixed random model, without touching the reader's random state
        torch.manual_seed(7)
        model = SmallCNN(num_classes=10, channels=(4, 4), hidden=16).eval()
    gen = torch.Generator().manual_seed(7)
    images = torch.rand(12, 1, 28, 28, generator=gen)
    labels = torch.randint(10, (12,), generator=gen)
    angles = [-30, 0, 45]
    expected = reference_true_class_confidence(model, images, labels, angles)
    with check("Exercise 2.3: confidence in the true class under rotation", verbose=verbose) as report:
        with report.attempt("runs on 12 images and 3 angles"):
            got = [float(value) for value in fn(model, images.clone(), labels.clone(), angles)]
            if report.expect(len(got) == 3, "one value per angle", f"got {len(got)} values for 3 angles"):
                top = [float(predict_proba(model, affine_images(images, degrees=float(a))).amax(1).mean())
                       for a in angles]
                hint = ("that is the confidence in the *predicted* class; index the probabilities with the labels"
                        if torch.allclose(torch.tensor(got), torch.tensor(top), atol=1e-4) else
                        "rotate with affine_images(images, degrees=angle), take predict_proba(model, rotated)"
                        "[rows, labels] and average it")
                report.expect(torch.allclose(torch.tensor(got), torch.tensor(expected), atol=1e-4),
                              "mean probability of the true class at each angle", hint)
                report.expect(all(0.0 <= value <= 1.0 for value in got), "values are probabilities in [0, 1]",
                              "use the softmax probabilities (predict_proba), not the logits")
    return report


__all__ = ["check_same_pooled_output", "check_shift_image", "check_true_class_confidence",
           "reference_same_pooled_output", "reference_shift_image", "reference_true_class_confidence"]
