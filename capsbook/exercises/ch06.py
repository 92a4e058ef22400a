"""Checks for the exercises of chapter 6 (the margin and reconstruction losses).

Each exercise takes an idea of the chapter somewhere the chapter did not:
the margin loss to images with several digits and to another number of
classes (6.1), the sum-versus-mean scale of the reconstruction loss to other
image sizes and to colour images (6.2), and the decoder's mask to a capsule
chosen for inspection, as in the paper's Figure 3 (6.3), and the chapter's
paired rule to any two settings trained at the same seeds (6.4).  The checks
compare the reader's function with the tested :mod:`capslib.functional` version
and with hand-computed cases chosen so that the usual mistakes show.
"""

from __future__ import annotations

import math
import statistics

import torch

from capsbook.paired import t_critical
from capslib import functional as cf

from .report import CheckReport, check, guarded

__all__ = [
    "check_margin_loss",
    "check_mse_weight",
    "check_mask_capsules",
    "check_paired_rule",
    "reference_margin_loss",
    "reference_mse_weight",
    "reference_mask_capsules",
    "reference_paired_rule",
]


def _as_scalar(value) -> torch.Tensor:
    out = torch.as_tensor(value, dtype=torch.float64)
    if out.numel() != 1:
        raise ValueError(
            f"expected a scalar loss, got a tensor of shape {tuple(out.shape)}"
        )
    return out.reshape(())


def _multi_hot(batch: int, classes: int, generator: torch.Generator) -> torch.Tensor:
    """One or two present classes per example, as 0/1 floats (float64)."""
    targets = torch.zeros(batch, classes, dtype=torch.float64)
    first = torch.randint(0, classes, (batch,), generator=generator)
    second = (
        first + torch.randint(1, classes, (batch,), generator=generator)
    ) % classes
    targets[torch.arange(batch), first] = 1.0
    two = torch.rand(batch, generator=generator) < 0.5
    targets[torch.arange(batch)[two], second[two]] = 1.0
    return targets


# ---------------------------------------------------------------------------------------------
# Exercise 6.1: the margin loss with several digits present, for any number of classes
# ---------------------------------------------------------------------------------------------
def reference_margin_loss(lengths, targets, m_plus=0.9, m_minus=0.1, lambda_=0.5):
    """The margin loss of capsule lengths (batch, classes), multi-hot targets."""
    t = targets.to(lengths.dtype)  # T_k: 1 where class k is present
    present = t * torch.clamp(m_plus - lengths, min=0) ** 2
    absent = lambda_ * (1 - t) * torch.clamp(lengths - m_minus, min=0) ** 2
    return (present + absent).sum(dim=1).mean()  # sum over classes, mean over batch


@guarded
def check_margin_loss(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise 6.1: ``fn(lengths, targets)`` is the margin loss of Eq. 4 for multi-hot targets.

    ``lengths``: ``(batch, classes)`` in [0, 1), any number of classes;
    ``targets``: ``(batch, classes)`` of 0s and 1s, one or more classes present
    per example (MultiMNIST has two).  The answer: a scalar, summed over the
    classes and averaged over the batch (m+ = 0.9, m- = 0.1, lambda = 0.5).
    """
    gen = torch.Generator().manual_seed(6)
    lengths10 = torch.rand(8, 10, generator=gen, dtype=torch.float64) * 0.999
    targets10 = _multi_hot(8, 10, gen)
    lengths5 = torch.rand(6, 5, generator=gen, dtype=torch.float64) * 0.999
    targets5 = _multi_hot(6, 5, gen)
    two_long = torch.full((1, 10), 0.05, dtype=torch.float64)
    two_long[0, 3], two_long[0, 7] = 0.95, 0.93  # both present digits found: costs 0
    both = torch.zeros(1, 10, dtype=torch.float64)
    both[0, 3] = both[0, 7] = 1.0
    one_missing = two_long.clone()
    one_missing[0, 7] = 0.0  # the 7 is missed: (0.9)^2 = 0.81
    only_absent = torch.full((1, 10), 0.1, dtype=torch.float64)
    only_absent[0, 0], only_absent[0, 1] = 0.9, 0.6  # 0.5 * (0.6 - 0.1)^2 = 0.125
    first_only = torch.zeros(1, 10, dtype=torch.float64)
    first_only[0, 0] = 1.0
    with check(
        "Exercise 6.1: the margin loss for several digits", verbose=verbose
    ) as report:
        with report.attempt("runs on 8 ten-class examples with one or two digits each"):
            out = _as_scalar(fn(lengths10.clone(), targets10.clone()))
            expected = cf.margin_loss(lengths10, targets10).reshape(())
            hint = f"got {out.item():.5f}, expected {expected.item():.5f}"
            if torch.allclose(out * 10, expected, atol=1e-6):
                hint += ": 10 times too small, sum the class terms of each example (then average over the batch)"
            report.expect(
                torch.allclose(out, expected, atol=1e-6),
                "equals capslib.functional.margin_loss with multi-hot targets",
                hint,
            )
        with report.attempt("runs on 6 five-class examples (smallNORB has 5 classes)"):
            out = _as_scalar(fn(lengths5.clone(), targets5.clone()))
            expected = cf.margin_loss(lengths5, targets5).reshape(())
            report.expect(
                torch.allclose(out, expected, atol=1e-6),
                "works for any number of classes",
                f"got {out.item():.5f}, expected {expected.item():.5f}; take the number of classes "
                "from the shapes, not the constant 10",
            )
        with report.attempt("hand-made cases"):
            got = _as_scalar(fn(two_long.clone(), both.clone())).item()
            report.expect(
                abs(got) < 1e-9,
                "two present digits, both capsules long (0.95, 0.93): costs 0",
                f"got {got:.4f}; every present class gets the present term, not only the first or "
                "the largest target",
            )
            got = _as_scalar(fn(one_missing.clone(), both.clone())).item()
            report.expect(
                abs(got - 0.81) < 1e-6,
                "one of two present digits missed (length 0): costs (0.9)^2 = 0.81",
                f"got {got:.4f}; the present term has no lambda: T_k max(0, 0.9 - |v_k|)^2",
            )
            got = _as_scalar(fn(only_absent.clone(), first_only.clone())).item()
            report.expect(
                abs(got - 0.125) < 1e-6,
                "one absent capsule at 0.6 costs 0.5 * (0.6 - 0.1)^2 = 0.125",
                f"got {got:.4f}; lambda = 0.5 multiplies the absent term only",
            )
    return report


# ---------------------------------------------------------------------------------------------
# Exercise 6.2: the weight that makes a mean squared error the paper's reconstruction loss
# ---------------------------------------------------------------------------------------------
def reference_mse_weight(image_shape, scale: float = 0.0005) -> float:
    """The weight of F.mse_loss that gives the paper's scale x summed squared error,
    for images of image_shape (channels, height, width)."""
    return scale * math.prod(image_shape)  # the number of values in one image


def _paper_loss(
    reconstructions: torch.Tensor, images: torch.Tensor, scale: float = 0.0005
) -> torch.Tensor:
    return scale * ((reconstructions - images) ** 2).flatten(1).sum(dim=1).mean()


@guarded
def check_mse_weight(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise 6.2: ``fn(image_shape)`` -> the weight ``w`` for which ``w * F.mse_loss(recon, images)``
    equals the paper's reconstruction loss on images of shape ``(batch, *image_shape)``.

    The paper's loss is 0.0005 times the sum of squared differences over the
    values of each image, averaged over the batch.  XifengGuo's CapsNet-Keras
    uses 0.392 for MNIST; the check asks for MNIST, MultiMNIST (36 x 36), a
    40 x 40 canvas and 32 x 32 colour images.
    """
    gen = torch.Generator().manual_seed(62)
    shapes = [(1, 28, 28), (1, 36, 36), (1, 40, 40), (3, 32, 32)]
    with check(
        "Exercise 6.2: the weight on a mean squared error", verbose=verbose
    ) as report:
        for shape in shapes:
            with report.attempt(f"images of shape {shape}"):
                weight = float(fn(tuple(shape)))
                images = torch.rand(4, *shape, generator=gen, dtype=torch.float64)
                recon = torch.rand(4, *shape, generator=gen, dtype=torch.float64)
                got = weight * torch.nn.functional.mse_loss(recon, images)
                expected = _paper_loss(recon, images)
                right = reference_mse_weight(shape)
                hint = f"got the weight {weight:.4g}, expected {right:.4g}"
                if shape[0] > 1 and abs(weight * shape[0] - right) < 1e-9:
                    hint += f": {shape[0]} times too small, count the {shape[0]} channels as well as the pixels"
                elif abs(weight - 0.0005) < 1e-12:
                    hint += ": 0.0005 alone weighs the mean, which is the sum divided by the number of values"
                elif weight > 0 and abs(1 / weight - right) < 1e-9:
                    hint += ": the inverse, multiply 0.0005 by the number of values"
                report.expect(
                    torch.allclose(got, expected, rtol=1e-9),
                    f"w * mse_loss equals 0.0005 x the per-image sum for {shape}",
                    hint,
                )
    return report


# ---------------------------------------------------------------------------------------------
# Exercise 6.3: a mask that keeps a chosen capsule
# ---------------------------------------------------------------------------------------------
def reference_mask_capsules(poses, classes):
    """poses (batch, classes, dim) with every capsule but classes[b] set to 0."""
    keep = torch.nn.functional.one_hot(classes, poses.shape[1]).to(poses.dtype)
    return poses * keep.unsqueeze(-1)  # keep: (batch, classes) -> (batch, classes, 1)


@guarded
def check_mask_capsules(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise 6.3: ``fn(poses, classes)`` keeps, for each example ``b``, the capsule ``classes[b]``.

    ``poses``: ``(batch, 10, 16)``; ``classes``: ``(batch,)`` class indices.
    The answer: ``(batch, 10, 16)``, zero everywhere except that capsule.  The
    check uses three choices: the labels (training), the longest capsule (a
    prediction) and the second-longest (the runner-up, which the paper's
    Figure 3 reconstructs to show what the network saw in a failure).
    """
    gen = torch.Generator().manual_seed(63)
    poses = torch.randn(6, 10, 16, generator=gen) * 0.2
    order = poses.norm(dim=-1).argsort(dim=1, descending=True)
    longest, runner_up = order[:, 0], order[:, 1]
    labels = torch.tensor([0, 1, 2, 3, 4, 5])
    labels = torch.where(
        labels == longest, (labels + 1) % 10, labels
    )  # labels never equal the prediction
    before = poses.clone()
    with check(
        "Exercise 6.3: masking with a chosen capsule", verbose=verbose
    ) as report:
        for name, chosen in [
            ("the labels", labels),
            ("the longest capsules", longest),
            ("the runner-up capsules", runner_up),
        ]:
            with report.attempt(f"keeps {name}"):
                out = torch.as_tensor(fn(poses, chosen.clone()))
                if not report.expect(
                    tuple(out.shape) == (6, 10, 16),
                    f"with {name}: returns (batch, 10, 16)",
                    f"got shape {tuple(out.shape)}; keep the capsule axis, zero the other capsules",
                ):
                    continue
                expected = reference_mask_capsules(poses, chosen)
                hint = (
                    "keep the capsule of classes[b] for example b, zero the nine others"
                )
                if torch.allclose(out, poses - expected):
                    hint += " -- you zeroed the chosen capsule and kept the others"
                elif torch.allclose(out, reference_mask_capsules(poses, longest)):
                    hint += " -- you kept the longest capsule whatever was asked"
                report.expect(
                    torch.allclose(out, expected),
                    f"with {name}: keeps that capsule only",
                    hint,
                )
        report.expect(
            torch.equal(poses, before),
            "leaves the poses unchanged",
            "multiply by a mask, not in place",
        )
    return report


# ---------------------------------------------------------------------------------------------
# Exercise 6.4: two settings compared seed by seed
# ---------------------------------------------------------------------------------------------
def reference_paired_rule(a, b):
    """Settings a and b, each {seed: value}, compared seed by seed.

    Returns (mean of a - b, its standard error, verdict)."""
    seeds = sorted(set(a) & set(b))  # pair by seed; a seed in one only is left out
    d = [a[s] - b[s] for s in seeds]
    if len(d) < 3:
        return (statistics.fmean(d) if d else None), None, "not decided"
    mean = statistics.fmean(d)
    se = statistics.stdev(d) / math.sqrt(len(d))  # stdev: n - 1 in its denominator
    bar = t_critical(len(d) - 1)  # 4.30 standard errors for 3 seeds, 3.18 for 4
    verdict = (
        "higher" if mean > bar * se else "lower" if mean < -bar * se else "not shown"
    )
    return mean, se, verdict


#: The cases of :func:`check_paired_rule`: (what, a, b), each built so a mistake shows.
_PAIRED_CASES = [
    # the seeds move both settings together: each setting's own spread (about 8)
    # hides a difference that the per-seed differences (1.0, 1.2, 0.8) show
    ("a difference hidden by the spread of the seeds", {0: 11.0, 1: 21.2, 2: 30.8},
     {0: 10.0, 1: 20.0, 2: 30.0}),
    # the same numbers, the seeds listed in another order in b
    ("seeds listed in different orders", {0: 11.0, 1: 21.2, 2: 30.8},
     {2: 30.0, 0: 10.0, 1: 20.0}),
    # a seed that only a has: it pairs with nothing
    ("a seed only one setting has", {0: 4.0, 1: 5.0, 2: 6.0, 3: 50.0},
     {0: 6.0, 1: 7.5, 2: 8.5}),
    # differences 3, -1, 1: mean 1, standard error 1.15
    ("a difference within two standard errors", {0: 4.0, 1: 0.0, 2: 2.0},
     {0: 1.0, 1: 1.0, 2: 1.0}),
    # differences 1.0, 1.5, 0.4: mean 0.97, SE 0.32 with n - 1 (0.26 with n)
    ("differences whose standard error needs n - 1", {0: 2.0, 1: 2.5, 2: 1.4},
     {0: 1.0, 1: 1.0, 2: 1.0}),
    # the chapter's test errors, paper's loss against none: differences -6, -2, -4,
    # mean -4, SE 1.15: beyond 2 standard errors, within t = 4.30 (p = 0.07)
    ("beyond two standard errors, within t", {0: 126.0, 1: 131.0, 2: 98.0},
     {0: 132.0, 1: 133.0, 2: 102.0}),
    # four seeds: differences 2, 1, 3, 1, mean 1.75, SE 0.48, t = 3.66: beyond
    # t for 3 degrees of freedom (3.18), within the 4.30 of 3 seeds
    ("four seeds: t for 3 degrees of freedom", {0: 2.0, 1: 1.0, 2: 3.0, 3: 1.0},
     {0: 0.0, 1: 0.0, 2: 0.0, 3: 0.0}),
]  # fmt: skip


def _verdict_hint(got, want) -> str:
    """What a wrong verdict most likely did, for the hint."""
    mean, se = want[0], want[1]
    if se:
        two = "higher" if mean > 2 * se else "lower" if mean < -2 * se else "not shown"
        if got == two != want[2]:
            return (
                f"that is the verdict at 2 standard errors; with {want[3]} seeds the "
                f"bar is t = {t_critical(want[3] - 1):.2f} standard errors "
                "(capsbook.paired.t_critical(n - 1))"
            )
    return (
        "'higher' when the difference exceeds t standard errors "
        "(t = capsbook.paired.t_critical(n - 1), 4.30 for 3 seeds), 'lower' below "
        "minus that, else 'not shown'"
    )


def _paired_hint(got, a, b) -> str:
    """What a wrong (difference, se) most likely did, for the hint."""
    seeds = sorted(set(a) & set(b))
    d = [a[s] - b[s] for s in seeds]
    difference, se = got[0], got[1]
    if len(a) == len(b):
        by_position = [x - y for x, y in zip(a.values(), b.values())]
        if by_position != d and math.isclose(difference, statistics.fmean(by_position)):
            return "pair the values by seed, not by their position in the dicts"
    if len(a) != len(b):
        wrong = statistics.fmean(a.values()) - statistics.fmean(b.values())
        if math.isclose(difference, wrong):
            return "pair only the seeds both settings have; the extra seed has no pair"
    if se is not None:
        unpaired = math.sqrt(
            statistics.variance(a.values()) / len(a)
            + statistics.variance(b.values()) / len(b)
        )
        if math.isclose(se, unpaired):
            return (
                "that is the unpaired standard error, from each setting's own "
                "spread; take the difference at each seed first, then its spread"
            )
        if math.isclose(se, statistics.pstdev(d) / math.sqrt(len(d))):
            return "the standard deviation of the differences has n - 1 below"
    return "the mean of the per-seed differences, and their standard deviation / √n"


@guarded
def check_paired_rule(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise 6.4: ``fn(a, b)`` -> ``(difference, se, verdict)`` by the chapter's rule.

    ``a``, ``b``: ``{seed: value}`` of two settings.  ``difference``: the mean
    over the seeds both have of ``a[seed] - b[seed]``; ``se``: the standard
    deviation of those differences (``n - 1``) over ``sqrt(n)``; ``verdict``:
    ``"higher"`` beyond ``t se``, ``"lower"`` below ``-t se``, else ``"not
    shown"``, ``t`` Student's critical value for ``n - 1`` degrees of freedom
    (:func:`capsbook.paired.t_critical`: 4.30 for 3 seeds); ``"not decided"``
    with fewer than 3 seeds in common.
    """
    with check(
        "Exercise 6.4: two settings compared seed by seed", verbose=verbose
    ) as report:
        for what, a, b in _PAIRED_CASES:
            with report.attempt(what):
                got = tuple(fn(dict(a), dict(b)))
                if not report.expect(
                    len(got) == 3,
                    f"{what}: returns (difference, se, verdict)",
                    f"got {len(got)} values; return a tuple of three",
                ):
                    continue
                want = reference_paired_rule(a, b)
                numbers = all(
                    x is not None and math.isclose(float(x), y, rel_tol=1e-9)
                    for x, y in zip(got[:2], want[:2])
                )
                report.expect(
                    numbers,
                    f"{what}: difference {want[0]:+.3f}, standard error {want[1]:.3f}",
                    f"got {got[0]}, {got[1]}: {_paired_hint(got, a, b)}"
                    if numbers is False and got[0] is not None
                    else f"got {got[0]}, {got[1]}",
                )
                n = len(set(a) & set(b))
                report.expect(
                    got[2] == want[2],
                    f"{what}: verdict {want[2]!r}",
                    f"got {got[2]!r}; {_verdict_hint(got[2], (*want, n))}",
                )
        with report.attempt("two seeds"):
            got = tuple(fn({0: 1.0, 1: 2.0}, {0: 3.0, 1: 9.0}))
            report.expect(
                len(got) == 3 and got[2] == "not decided",
                "two seeds in common: 'not decided'",
                "with fewer than 3 seeds the standard error rests on one degree of "
                "freedom or none: the rule decides nothing",
            )
    return report
