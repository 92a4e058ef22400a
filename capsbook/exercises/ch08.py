"""Checks for the exercises of chapter 8 (training, and evaluating honestly).

Evaluation hygiene and the schedule are the theme, each applied somewhere the
chapter did not show it: a validation split where examples come in groups
(no group on both sides), the learning rate at the end of a run under another
batch size, and early stopping decided on the validation split alone.
"""

from __future__ import annotations

import math

import torch

from .report import CheckReport, check, guarded


def _unfinished(report: CheckReport) -> bool:
    """The last attempt raised NotImplementedError: the answer is still the stub, so stop there."""
    return bool(report.results) and "NotImplementedError" in report.results[-1][2]


__all__ = [
    "check_group_split",
    "check_final_lr_fraction",
    "check_early_stop",
    "check_error_range",
    "reference_group_split",
    "reference_final_lr_fraction",
    "reference_early_stop",
    "reference_error_range",
]


def _indices(value) -> torch.Tensor:
    out = torch.as_tensor(value)
    if out.dim() != 1 or out.is_floating_point():
        raise ValueError(
            "expected a 1-D tensor of integer indices, "
            f"got shape {tuple(out.shape)} of {out.dtype}"
        )
    return out.long()


def _groups_case() -> torch.Tensor:
    """Group ids of 300 examples: 30 groups of 10, ids not contiguous, examples shuffled."""
    ids = torch.arange(30) * 7 + 3  # 3, 10, 17, ...: ids are labels, not positions
    order = torch.randperm(300, generator=torch.Generator().manual_seed(123))
    return ids.repeat_interleave(10)[order]


@guarded
def check_group_split(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise 8.1: ``fn(groups, val_groups, seed)`` returns ``(train_idx, val_idx)``.

    ``groups``: ``(n,)`` integer ids, the source each example was made from
    (the two digits of a MultiMNIST overlay, the shifted copies of one digit).
    ``val_idx`` holds every example of ``val_groups`` whole groups, chosen by
    a seeded permutation of the distinct ids; ``train_idx`` all the others.
    """
    groups = _groups_case()
    n, val_groups = len(groups), 6
    with check("Exercise 8.1: a validation split by groups", verbose=verbose) as report:
        with report.attempt("splits 300 examples of 30 groups, 6 groups held out"):
            train_idx, val_idx = (
                _indices(part) for part in fn(groups.clone(), val_groups, 0)
            )
            both = torch.cat([train_idx, val_idx])
            report.expect(
                len(both) == n and torch.equal(both.sort().values, torch.arange(n)),
                "every example is in exactly one part (no overlap, none lost)",
                f"got {len(train_idx)} training and {len(val_idx)} validation "
                "indices; return positions 0..n-1 of the examples, each once",
            )
            shared = set(groups[train_idx].tolist()) & set(groups[val_idx].tolist())
            report.expect(
                not shared,
                "no group has examples on both sides",
                f"{len(shared)} groups are on both sides: you split the examples, "
                "not the groups; choose whole group ids, then take all their examples",
            )
            chosen = set(groups[val_idx].tolist())
            report.expect(
                len(chosen) == val_groups,
                "the validation part holds exactly 6 whole groups (60 examples)",
                f"got {len(chosen)} groups; permute the DISTINCT ids "
                "(groups.unique()), not the examples",
            )
        with report.attempt("is seeded"):
            again = _indices(fn(groups.clone(), val_groups, 0)[1])
            report.expect(
                torch.equal(again.sort().values, val_idx.sort().values),
                "the same seed gives the same split",
                "draw the permutation from torch.Generator().manual_seed(seed)",
            )
            other = _indices(fn(groups.clone(), val_groups, 1)[1])
            report.expect(
                not torch.equal(other.sort().values, val_idx.sort().values),
                "another seed holds out other groups",
                "use the seed; taking the first or smallest ids is not random",
            )
    return report


@guarded
def check_final_lr_fraction(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise 8.2: ``fn(decay_rate, decay_steps, epochs, train_size, batch_size)``.

    The learning rate at the end of the run as a fraction of the starting one,
    under ``lr = lr0 * decay_rate ** (step / decay_steps)`` (no staircase), with
    ``train_size // batch_size`` steps per epoch (the trainer drops the last
    partial batch).
    """
    cases = [
        (0.96, 2000, 20, 55_000, 128),  # capslib's default schedule: ends at 0.84
        (0.9, 430, 20, 55_000, 128),  # the shipped run's: ends at 0.12
        (0.9, 430, 20, 55_000, 512),  # the same flags at 4 x the batch
        (0.9, 107, 20, 55_000, 512),
        (0.5, 10, 3, 1_000, 100),
    ]
    with check(
        "Exercise 8.2: where a learning-rate schedule ends", verbose=verbose
    ) as report:
        for args in cases:
            rate, decay_steps, epochs, n, batch = args
            expected = reference_final_lr_fraction(*args)
            with report.attempt(
                f"decay {rate} per {decay_steps:,} steps, {epochs} epochs of "
                f"{n:,} at batch {batch}"
            ):
                got = float(fn(*args))
                hint = f"got {got:.4g}"
                unfloored = rate ** (epochs * n / batch / decay_steps)
                ceiled = rate ** (epochs * -(-n // batch) / decay_steps)
                if math.isclose(got, unfloored, rel_tol=1e-9) and n % batch:
                    hint += (
                        ": count whole steps, train_size // batch_size per epoch "
                        "(the last partial batch is dropped)"
                    )
                elif math.isclose(got, ceiled, rel_tol=1e-9) and n % batch:
                    hint += ": the last partial batch is dropped, so round down"
                elif math.isclose(
                    got,
                    rate ** (epochs * (n // batch) // decay_steps),
                    rel_tol=1e-9,
                ):
                    hint += ": that is the staircase; the decay here is smooth"
                report.expect(
                    math.isclose(got, expected, rel_tol=1e-6),
                    f"ends at {expected:.4f} of the starting rate",
                    hint,
                )
            if _unfinished(report):
                break
    return report


@guarded
def check_early_stop(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise 8.3: ``fn(val_accuracy, patience)`` returns ``(stop_epoch, kept_epoch)``.

    ``val_accuracy``: one value per epoch, epochs numbered from 1.  Training
    stops at the end of the epoch that makes ``patience`` epochs in a row
    without a new best (a strictly higher validation accuracy), or at the last
    epoch; the model kept is the best one seen up to the stop (the earliest on
    a tie).  Nothing after the stop may be used: it was never trained.
    """
    cases = [
        ([0.90, 0.95, 0.96, 0.955, 0.958, 0.957, 0.97], 3, (6, 3)),
        ([0.90, 0.95, 0.96, 0.955, 0.958, 0.957, 0.97], 4, (7, 7)),
        ([0.90, 0.95, 0.95, 0.95, 0.95, 0.96], 2, (4, 2)),
        ([0.90, 0.80, 0.95], 1, (2, 1)),
        ([0.90, 0.91, 0.92], 5, (3, 3)),
    ]
    with check(
        "Exercise 8.3: early stopping on the validation split", verbose=verbose
    ) as report:
        for accuracies, patience, expected in cases:
            with report.attempt(f"patience {patience} on {accuracies}"):
                got = tuple(int(v) for v in fn(list(accuracies), patience))
                hint = f"got (stop, kept) = {got}"
                if len(got) == 2 and got[1] > got[0]:
                    hint += (
                        ": the kept epoch comes after the stop; it was never trained"
                    )
                elif len(got) == 2 and expected == (4, 2) and got[0] > 4:
                    hint += (
                        ": a tie is not an improvement; count it towards the patience"
                    )
                elif len(got) == 2 and got[1] == expected[1] + 1:
                    hint += ": on a tie keep the earliest epoch"
                elif len(got) == 2 and got[0] == expected[0] - 1:
                    hint += (
                        ": one short: stop when `patience` epochs in a row have not "
                        "improved, not `patience` - 1"
                    )
                report.expect(
                    got == expected,
                    f"stops after epoch {expected[0]}, keeps epoch {expected[1]}",
                    hint,
                )
            if _unfinished(report):
                break
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
def reference_group_split(groups, val_groups: int, seed: int):
    """Indices (train, validation) with every group whole: val_groups groups, drawn
    at random, go to validation."""
    groups = torch.as_tensor(groups)
    ids = groups.unique()  # permute the groups, not the examples
    order = torch.randperm(len(ids), generator=torch.Generator().manual_seed(seed))
    in_val = torch.isin(groups, ids[order[:val_groups]])
    return torch.nonzero(~in_val).flatten(), torch.nonzero(in_val).flatten()


def reference_final_lr_fraction(
    decay_rate: float, decay_steps: int, epochs: int, train_size: int, batch_size: int
) -> float:
    """The learning rate after the run's last step, over the starting rate."""
    steps = epochs * (train_size // batch_size)  # the last partial batch is dropped
    return decay_rate ** (steps / decay_steps)


def reference_early_stop(val_accuracy, patience: int) -> tuple[int, int]:
    """(stop_epoch, kept_epoch), numbered from 1."""
    best, best_epoch, waited = -math.inf, 0, 0
    for epoch, accuracy in enumerate(val_accuracy, start=1):
        if accuracy > best:  # strictly higher: a tie is no improvement
            best, best_epoch, waited = accuracy, epoch, 0
        else:
            waited += 1
            if waited == patience:
                return epoch, best_epoch
    return len(val_accuracy), best_epoch


def reference_error_range(error_rate: float, n: int) -> tuple[int, int]:
    """The central 95% range (low, high) of the number of errors on n examples."""

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
    return low, n  # rounding kept the sum below 0.975
