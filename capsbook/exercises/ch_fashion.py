"""Checks for the exercises of the Fashion-MNIST appendix, Exercises A.1-A.3 (capsule ideas on clothes).

A.1 tweaks one dimension of each image's class capsule, as chapter 9 does for
digits, so that the decoder can show what the dimension draws on a garment;
A.2 runs a trained CapsNet with another number of routing iterations, as
chapter 7 does on MNIST; A.3 reads the capsules' lengths, which chapter 4
calls probabilities only by interpretation, as a confidence.  The hand-made inputs are chosen so that the usual
mistakes show: one capsule tweaked for the whole batch (``poses[:, labels]``
instead of one capsule per image), the dimension set to ``delta`` instead of
moved by it, the wrong capsule or dimension, the iteration count never set,
or never restored, the margin taken to the shortest capsule or the mean.
"""

from __future__ import annotations

import torch

from capslib.functional import capsule_length
from capslib.models import CapsNet, CapsNetConfig

from .report import CheckReport, check, guarded

__all__ = [
    "check_tweak_pose",
    "check_predict_with_iterations",
    "reference_tweak_pose",
    "reference_predict_with_iterations",
    "dimension_effects",
    "check_length_margin",
    "reference_length_margin",
]


def _unfinished(report: CheckReport) -> bool:
    """The last attempt raised NotImplementedError: the answer is still the stub, so stop there."""
    return bool(report.results) and "NotImplementedError" in report.results[-1][2]


# ---------------------------------------------------------------------------------------------
# Exercise A.1: tweak one pose dimension of each image's class capsule
# ---------------------------------------------------------------------------------------------
def reference_tweak_pose(
    poses: torch.Tensor, labels: torch.Tensor, dim: int, delta: float
) -> torch.Tensor:
    """A copy of ``poses`` ``(n, classes, caps_dim)`` with dimension ``dim`` of
    capsule ``labels[k]`` of image ``k`` moved by ``delta``, for every ``k``."""
    tweaked = poses.clone()  # the caller's poses stay as they are
    rows = torch.arange(len(poses))  # one capsule per image: (k, labels[k])
    tweaked[rows, labels, dim] += delta
    return tweaked


@guarded
def check_tweak_pose(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise A.1: ``fn(poses, labels, dim, delta)`` moves dimension ``dim`` of each image's ``labels`` capsule by ``delta``.

    ``poses``: ``(n, classes, caps_dim)``; ``labels``: ``(n,)`` class indices;
    the answer has the shape of ``poses`` and differs from it in ``n`` entries.
    """
    generator = torch.Generator().manual_seed(21)
    poses = torch.randn(3, 4, 5, generator=generator, dtype=torch.float64)
    labels = torch.tensor([2, 0, 2])
    expected = reference_tweak_pose(poses, labels, 1, 0.25)
    whole_batch = poses.clone()
    whole_batch[:, labels, 1] += 0.25  # every image's capsules 2 and 0
    set_not_moved = poses.clone()
    set_not_moved[torch.arange(3), labels, 1] = 0.25
    with check("Exercise A.1: tweak one pose dimension", verbose=verbose) as report:
        with report.attempt("runs on poses (3, 4, 5), labels [2, 0, 2], dim 1"):
            out = torch.as_tensor(fn(poses.clone(), labels.clone(), 1, 0.25)).double()
            if not report.expect(
                out.shape == poses.shape,
                "returns poses of the same shape (3, 4, 5)",
                f"got {tuple(out.shape)}: return all the capsules, the decoder "
                "masks them itself",
            ):
                return report
            changed = (out != poses).sum().item()
            if torch.allclose(out, whole_batch):
                hint = (
                    "poses[:, labels, dim] moves capsules 2 and 0 of every image: "
                    "index with (torch.arange(n), labels) to take one capsule per image"
                )
            elif torch.allclose(out, set_not_moved):
                hint = "add delta to the dimension (+=), do not set it to delta"
            elif changed == 3:
                hint = "three entries changed, but not the right ones: capsule " + (
                    "labels[k], dimension dim, of image k"
                )
            else:
                hint = f"{changed} entries changed; exactly one per image should"
            report.expect(
                torch.allclose(out, expected, atol=1e-12),
                "moves dimension 1 of capsule labels[k] of image k by 0.25, "
                "and nothing else",
                hint,
            )
        with report.attempt("a negative delta, another dimension"):
            out = torch.as_tensor(fn(poses.clone(), labels.clone(), 4, -0.5)).double()
            report.expect(
                torch.allclose(out, reference_tweak_pose(poses, labels, 4, -0.5)),
                "moves dimension 4 by -0.5 when asked",
                "use the dim and delta arguments, not fixed values",
            )
    return report


@torch.no_grad()
def dimension_effects(
    decoder, poses: torch.Tensor, labels: torch.Tensor, tweak, delta: float = 0.25
) -> torch.Tensor:
    """How much each pose dimension changes the decoder's drawing of each image: ``(n, caps_dim)``.

    Entry ``[k, d]``: the images decoded from ``tweak(poses, labels, d, +delta)``
    and ``tweak(poses, labels, d, -delta)`` (each image's ``labels`` capsule
    kept), their absolute difference summed over the pixels of image ``k``:
    chapter 9's measure, in units of fully inked pixels.  ``decoder``: a
    :class:`capslib.nn.CapsuleDecoder`; ``poses`` ``(n, classes, caps_dim)``;
    ``labels`` ``(n,)``.
    """
    was_training = decoder.training
    decoder.eval()
    try:
        change = []
        for d in range(poses.shape[-1]):
            up = decoder(tweak(poses, labels, d, delta), mask_with=labels)
            down = decoder(tweak(poses, labels, d, -delta), mask_with=labels)
            change.append((up - down).abs().flatten(1).sum(1))
    finally:
        decoder.train(was_training)
    return torch.stack(change, dim=1)


# ---------------------------------------------------------------------------------------------
# Exercise A.2: one routing iteration or three
# ---------------------------------------------------------------------------------------------
def reference_predict_with_iterations(
    model, images: torch.Tensor, iterations: int
) -> torch.Tensor:
    """The classes ``(n,)`` that ``model`` predicts for ``images`` when its
    DigitCaps routes with ``iterations`` iterations; the model's own setting is
    restored afterwards, even if the forward pass fails."""
    saved = model.digit_caps.iterations
    model.digit_caps.iterations = iterations
    try:
        with torch.no_grad():
            return capsule_length(model(images).poses).argmax(dim=1)
    finally:
        model.digit_caps.iterations = saved


def _tiny_capsnet() -> CapsNet:
    torch.manual_seed(0)
    model = CapsNet(CapsNetConfig.small(conv_channels=8, primary_types=4))
    with torch.no_grad():  # long predictions: routing then changes most choices
        model.digit_caps.weight.mul_(30)
    return model.eval()


@guarded
def check_predict_with_iterations(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise A.2: ``fn(model, images, iterations)`` -> the classes ``model`` predicts with that many routing iterations.

    Checked on a small random CapsNet set to 3 iterations, whose predictions
    are made long enough that 1 and 3 iterations disagree on most images: the
    predictions for 1 and 3 iterations against the reference, and that the
    model routes with 3 again afterwards.
    """
    model = _tiny_capsnet()
    images = torch.rand(64, 1, 28, 28, generator=torch.Generator().manual_seed(4))
    expected: dict[int, torch.Tensor] = {}
    with check(
        "Exercise A.2: one routing iteration or three", verbose=verbose
    ) as report:
        for k in (1, 3):
            with report.attempt(f"runs with {k} iteration(s) on 64 images"):
                out = torch.as_tensor(fn(model, images.clone(), k)).long().flatten()
                restored = model.digit_caps.iterations == 3
                model.digit_caps.iterations = 3  # the next case starts as trained
                for j in (1, 3):  # after the answer: a stub costs no forward pass
                    if j not in expected:
                        expected[j] = reference_predict_with_iterations(
                            model, images, j
                        )
                if not report.expect(
                    out.shape == (64,),
                    f"returns one class per image ({k} iteration(s))",
                    f"got shape {tuple(out.shape)}: the longest capsule's index, "
                    "argmax over the classes",
                ):
                    return report
                hint = "the longest class capsule, with digit_caps.iterations set"
                if k == 1 and torch.equal(out, expected[3]):
                    hint = (
                        "these are the 3-iteration predictions: set "
                        "model.digit_caps.iterations before the forward pass"
                    )
                report.expect(
                    torch.equal(out, expected[k]),
                    f"the model's predictions with {k} iteration(s)",
                    hint,
                )
                report.expect(
                    restored,
                    f"the model routes with 3 iterations again afterwards ({k})",
                    "save model.digit_caps.iterations first and restore it in a "
                    "finally: block",
                )
            if _unfinished(report):
                return report
    return report


# ---------------------------------------------------------------------------------------------
# Exercise A.3: the margin between the two longest capsules
# ---------------------------------------------------------------------------------------------
def reference_length_margin(lengths: torch.Tensor) -> torch.Tensor:
    """``(n,)``: each image's longest class capsule minus its second longest.

    ``lengths``: ``(n, classes)`` capsule lengths, ``classes >= 2``."""
    top2 = lengths.topk(2, dim=1).values  # (n, 2), largest first
    return top2[:, 0] - top2[:, 1]


@guarded
def check_length_margin(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise A.3: ``fn(lengths)`` -> the longest capsule's length minus the second longest, per image.

    ``lengths``: ``(n, classes)``; the answer ``(n,)``.  Hand values include a
    runner-up that is not the shortest, a tie, and a batch whose rows differ.
    """
    lengths = torch.tensor(
        [[0.9, 0.1, 0.2, 0.05], [0.5, 0.55, 0.1, 0.0], [0.3, 0.0, 0.3, 0.1]],
        dtype=torch.float64,
    )
    expected = torch.tensor([0.7, 0.05, 0.0], dtype=torch.float64)
    mistakes = [
        (
            lengths.max(1).values - lengths.min(1).values,
            "that is the longest minus the shortest: the runner-up is the second "
            "longest (topk(2) or sort)",
        ),
        (
            lengths.max(1).values - lengths.mean(1),
            "that is the longest minus the mean: take the second longest",
        ),
        (
            -expected,
            "the sign is reversed: longest minus second longest is never negative",
        ),
    ]
    with check(
        "Exercise A.3: the margin of the longest capsule", verbose=verbose
    ) as report:
        with report.attempt("runs on the lengths of 3 images, 4 classes"):
            out = torch.as_tensor(fn(lengths.clone())).double()
            if not report.expect(
                out.shape == (3,),
                "one margin per image, shape (3,)",
                f"got shape {tuple(out.shape)}: reduce over the classes (dim=1), "
                "not over the images",
            ):
                return report
            hint = (
                f"got {[round(x, 4) for x in out.tolist()]}, expected [0.7, 0.05, 0.0]"
            )
            for wrong, named in mistakes:
                if torch.allclose(out, wrong, atol=1e-9):
                    hint = named
            report.expect(
                torch.allclose(out, expected, atol=1e-9),
                "0.9 - 0.2, 0.55 - 0.5, and 0 for a tie",
                hint,
            )
    return report
