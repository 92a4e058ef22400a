"""Checks for the exercises of chapter 8 (training on a GPU, and evaluating honestly).

Evaluation hygiene is the theme: a validation split carved from the training
data with a seeded generator, the learning-rate schedule of the official
implementation, and choosing the model to report by validation accuracy,
never by test accuracy.
"""

from __future__ import annotations

import math

import torch

from .report import CheckReport, check, guarded


def _unfinished(report: CheckReport) -> bool:
    """The last attempt raised NotImplementedError: the answer is still the stub, so stop there."""
    return bool(report.results) and "NotImplementedError" in report.results[-1][2]


__all__ = [
    "check_validation_split",
    "check_learning_rate",
    "check_select_by_validation",
    "check_error_range",
    "reference_validation_split",
    "reference_learning_rate",
    "reference_select_by_validation",
    "reference_error_range",
]


def _indices(value) -> torch.Tensor:
    out = torch.as_tensor(value)
    if out.dim() != 1 or out.is_floating_point():
        raise ValueError(
            f"expected a 1-D tensor of integer indices, got shape {tuple(out.shape)} of {out.dtype}"
        )
    return out.long()


@guarded
def check_validation_split(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise 8.1: ``fn(n, val_size, seed)`` returns ``(train_idx, val_idx)``, a seeded random split.

    ``train_idx``: ``(n - val_size,)``; ``val_idx``: ``(val_size,)``; together
    a permutation of ``range(n)``; the same seed gives the same split, another
    seed another one.
    """
    n, val_size = 1000, 100
    with check("Exercise 8.1: a validation split", verbose=verbose) as report:
        with report.attempt("splits 1,000 examples into 900 + 100"):
            train_idx, val_idx = (_indices(part) for part in fn(n, val_size, 0))
            report.expect(
                len(train_idx) == n - val_size and len(val_idx) == val_size,
                "900 training and 100 validation indices",
                f"got {len(train_idx)} and {len(val_idx)}",
            )
            both = torch.cat([train_idx, val_idx])
            report.expect(
                len(both) == n and torch.equal(both.sort().values, torch.arange(n)),
                "every example is in exactly one part (no overlap, none lost)",
                "split ONE permutation of range(n): its first val_size entries for validation, the rest "
                "for training; an example in both parts makes the validation score optimistic",
            )
        with report.attempt("is seeded"):
            again = [_indices(part) for part in fn(n, val_size, 0)]
            report.expect(
                torch.equal(again[1], val_idx) and torch.equal(again[0], train_idx),
                "the same seed gives the same split",
                "draw the permutation from torch.Generator().manual_seed(seed), not the global RNG",
            )
            other = _indices(fn(n, val_size, 1)[1])
            report.expect(
                not torch.equal(other.sort().values, val_idx.sort().values),
                "another seed gives another validation set",
                "use the seed: torch.randperm(n, generator=torch.Generator().manual_seed(seed))",
            )
    return report


@guarded
def check_learning_rate(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise 8.2: ``fn(step)`` is the learning rate after ``step`` optimiser steps.

    The official implementation's schedule: ``1e-3 * 0.96 ** (step / 2000)``
    (TensorFlow's ``exponential_decay`` without staircase): 1e-3 at step 0,
    9.6e-4 at step 2,000.
    """
    steps = [0, 1, 1000, 2000, 4000, 10_000, 60_000]
    with check("Exercise 8.2: the learning-rate schedule", verbose=verbose) as report:
        for step in steps:
            expected = reference_learning_rate(step)
            with report.attempt(f"step {step:,}"):
                got = float(fn(step))
                hint = f"got {got:.6g}"
                if (
                    step
                    and math.isclose(got, 1e-3 * 0.96 ** (step // 2000), rel_tol=1e-9)
                    and step % 2000
                ):
                    hint += ": that is the staircase; the official schedule decays smoothly, 0.96 ** (step / 2000)"
                elif step and math.isclose(got, 1e-3 * 0.96**step, rel_tol=1e-6):
                    hint += ": the decay is 0.96 per 2,000 steps, not per step"
                report.expect(
                    math.isclose(got, expected, rel_tol=1e-6),
                    f"step {step:,}: {expected:.6g}",
                    hint,
                )
            if _unfinished(report):
                break
    return report


@guarded
def check_select_by_validation(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise 8.3: ``fn(history)`` picks the epoch to report by validation accuracy.

    ``history``: a list of dicts with ``epoch``, ``val_accuracy`` and
    ``test_accuracy``; the answer: ``(epoch, test_accuracy)`` of the epoch
    with the best validation accuracy (the earliest one on a tie).  The test
    accuracy is *read* at that epoch, never used to choose it.
    """
    history = [
        {"epoch": 1, "val_accuracy": 0.981, "test_accuracy": 0.982},
        {"epoch": 2, "val_accuracy": 0.988, "test_accuracy": 0.990},
        {"epoch": 3, "val_accuracy": 0.991, "test_accuracy": 0.989},
        {
            "epoch": 4,
            "val_accuracy": 0.990,
            "test_accuracy": 0.993,
        },  # best test, not best validation
        {
            "epoch": 5,
            "val_accuracy": 0.991,
            "test_accuracy": 0.991,
        },  # ties epoch 3 on validation
    ]
    with check(
        "Exercise 8.3: choose the model on the validation split", verbose=verbose
    ) as report:
        with report.attempt("runs on a 5-epoch history"):
            epoch, test_accuracy = fn([dict(h) for h in history])
            hint = f"got epoch {epoch}"
            if epoch == 4:
                hint += ": that is the best TEST epoch; choosing it tunes on the test set and overstates the result"
            elif epoch == 5:
                hint += ": on a tie take the earliest epoch (max() and argmax return the first maximum)"
            report.expect(
                epoch == 3,
                "picks epoch 3 (best validation accuracy, earliest on a tie)",
                hint,
            )
            report.expect(
                math.isclose(float(test_accuracy), 0.989),
                "reports that epoch's test accuracy, 0.989",
                f"got {test_accuracy!r}; read test_accuracy from the chosen epoch's record",
            )
        with report.attempt("does not need test accuracies to choose"):
            blind = [
                {k: v for k, v in h.items() if k != "test_accuracy"}
                | {"test_accuracy": float("nan")}
                for h in history
            ]
            epoch, _ = fn(blind)
            report.expect(
                epoch == 3,
                "chooses the same epoch when the test accuracies are unknown (NaN)",
                "the choice must depend on val_accuracy only",
            )
    return report


@guarded
def check_error_range(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise 8.4: ``fn(error_rate, n)`` is the central 95% range ``(low, high)`` of the number of errors.

    A model whose true error rate is ``error_rate`` makes Binomial(``n``, ``error_rate``) errors on
    ``n`` independent test examples; ``low`` is the smallest count with P(errors <= low) >= 0.025,
    ``high`` the smallest with P(errors <= high) >= 0.975 (as
    :func:`capsbook.runs.error_count_range`).  Tried on test sets of other sizes than MNIST's
    10,000, including small ones with few expected errors, where a normal approximation fails.
    """
    from capsbook.runs import error_count_range

    cases = [
        (0.0025, 10_000),
        (0.01, 500),
        (0.003, 1_000),
        (0.05, 200),
        (0.2, 50),
        (0.0005, 26_032),
        (0.03, 26_032),
    ]
    with check(
        "Exercise 8.4: the errors that sampling alone allows", verbose=verbose
    ) as report:
        for rate, n in cases:
            expected = error_count_range(rate, n)
            with report.attempt(f"error rate {rate:g} on {n:,} examples"):
                got = tuple(int(v) for v in fn(rate, n))
                hint = f"got {got}"
                sd = math.sqrt(n * rate * (1 - rate))
                normal = (round(n * rate - 1.96 * sd), round(n * rate + 1.96 * sd))
                if got == normal and got != expected:
                    hint += (
                        ": that is the normal approximation, which is off when few errors are expected "
                        "(it can even go below 0); add up the binomial probabilities P(X = k) instead"
                    )
                elif len(got) == 2 and (
                    got[0] == expected[0] - 1 or got[1] == expected[1] - 1
                ):
                    hint += ": one short: take the smallest k whose cumulative probability REACHES the quantile"
                report.expect(
                    got == expected, f"{expected[0]} to {expected[1]} errors", hint
                )
            if _unfinished(report):
                break
    return report


# -- reference answers (used by the tests and shown in the hidden solutions) ---
def reference_validation_split(n: int, val_size: int, seed: int):
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return order[val_size:], order[:val_size]


def reference_learning_rate(
    step: int, initial: float = 1e-3, decay_rate: float = 0.96, decay_steps: int = 2000
) -> float:
    return initial * decay_rate ** (step / decay_steps)


def reference_select_by_validation(history):
    best = max(
        history, key=lambda record: record["val_accuracy"]
    )  # max() keeps the first maximum
    return best["epoch"], best["test_accuracy"]


def reference_error_range(error_rate: float, n: int) -> tuple[int, int]:
    def log_pmf(k):  # in logarithms: (1 - p) ** n underflows for large n
        return (
            math.lgamma(n + 1)
            - math.lgamma(k + 1)
            - math.lgamma(n - k + 1)
            + k * math.log(error_rate)
            + (n - k) * math.log1p(-error_rate)
        )

    low, cumulative = None, 0.0
    for k in range(n + 1):
        cumulative += math.exp(log_pmf(k))
        if low is None and cumulative >= 0.025:
            low = k
        if cumulative >= 0.975:
            return low, k
    return low, n
