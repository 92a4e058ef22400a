"""Checks for the exercises of chapter 8 (training, and evaluating honestly).

Each applies one of the chapter's ideas somewhere the chapter did not: a
validation split where examples come in groups (no group on both sides), the
Speed section's per-step times turned into when ``torch.compile`` pays for its
compilation, early stopping decided on the validation split alone, and the
paired comparison of Fig. 8.5 where the mistakes themselves were recorded.
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
    "check_break_even_steps",
    "check_early_stop",
    "check_paired_difference",
    "reference_group_split",
    "reference_break_even_steps",
    "reference_early_stop",
    "reference_paired_difference",
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

    ``groups``: ``(n,)`` integer ids, one group per example (the scans of one
    patient, the shifted copies of one original).
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
def check_break_even_steps(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise 8.2: ``fn(eager_s, compiled_s, compile_s)``: when compiling pays.

    ``eager_s``, ``compiled_s``: seconds per training step without and with
    ``torch.compile``; ``compile_s``: the seconds its first steps spend
    compiling.  Return the smallest whole number of steps ``N`` with
    ``compile_s + N * compiled_s <= N * eager_s``, or ``math.inf`` when the
    compiled step is not faster (compiling never pays).
    """
    cases = [
        (0.5, 0.25, 10.0),  # 10 / 0.25 = 40 steps exactly
        (0.012, 0.009, 40.0),  # 13,333.3 -> 13,334
        (1.0, 0.75, 0.1),  # pays after one step
        (0.2, 0.2, 5.0),  # no faster: never
        (0.1, 0.125, 5.0),  # slower: never
    ]
    with check(
        "Exercise 8.2: when torch.compile pays for its compilation", verbose=verbose
    ) as report:
        for eager, compiled, compile_s in cases:
            expected = reference_break_even_steps(eager, compiled, compile_s)
            wanted = (
                "never pays back (math.inf)"
                if expected == math.inf
                else f"pays back after {expected:,} step{'s' * (expected > 1)}"
            )
            with report.attempt(
                f"{1e3 * eager:g} ms eager, {1e3 * compiled:g} ms compiled, "
                f"{compile_s:g} s to compile"
            ):
                got = fn(eager, compiled, compile_s)
                hint = f"got {got!r}"
                if expected == math.inf:
                    ok = got == math.inf
                    hint += (
                        ": the compiled step is not faster, so no number of steps "
                        "pays back the compilation; return math.inf"
                    )
                else:
                    ok = got == expected
                    exact = compile_s / (eager - compiled)
                    if got == math.floor(exact) != expected:
                        hint += (
                            ": rounded down; at that step the compilation is not "
                            "paid back yet, so round up"
                        )
                    elif math.isclose(got, exact, rel_tol=1e-9):
                        hint += ": steps are whole: round up to the next step"
                    elif any(
                        math.isclose(got, v, rel_tol=1e-6)
                        for v in (compile_s / compiled, math.ceil(compile_s / compiled))
                    ):
                        hint += (
                            ": that divides by the compiled step's time; what pays "
                            "back the compilation is the time saved per step, "
                            "eager_s - compiled_s"
                        )
                    elif got in (0, 1) and expected > 1:
                        hint += ": the compilation's own seconds count too"
                report.expect(ok, wanted, hint)
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


def _paired_case(n: int, only_a: int, only_b: int, both: int, seed: int):
    """Mistake indices of two models on n examples: only_a, only_b and both shared."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
    shared = order[:both]
    wrong_a = shared + order[both : both + only_a]
    wrong_b = shared + order[both + only_a : both + only_a + only_b]
    return wrong_a, wrong_b


@guarded
def check_paired_difference(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise 8.4: ``fn(wrong_a, wrong_b, n)`` returns ``(d, two_se)``.

    ``wrong_a``, ``wrong_b``: the indices of the examples each of two models
    gets wrong, both tested on the same ``n`` examples.  ``d``: model a's
    mistakes minus model b's; ``two_se``: two paired standard errors of ``d``,
    ``2 * sqrt(D - d**2 / n)`` with ``D`` the examples exactly one model gets
    wrong (McNemar's).
    """
    cases = [  # (n, only a, only b, both)
        (100, 25, 5, 10),  # d**2 / n = 4 matters here
        (10_000, 14, 5, 25),  # 39 against 30 mistakes, 25 of them shared
        (10_000, 40, 40, 100),
        (500, 0, 12, 0),
    ]
    with check(
        "Exercise 8.4: a paired comparison from the mistakes", verbose=verbose
    ) as report:
        for seed, (n, only_a, only_b, both) in enumerate(cases):
            wrong_a, wrong_b = _paired_case(n, only_a, only_b, both, seed)
            d, two_se = reference_paired_difference(wrong_a, wrong_b, n)
            with report.attempt(
                f"{len(wrong_a)} against {len(wrong_b)} mistakes on {n:,} examples, "
                f"{both} shared"
            ):
                got_d, got_se = (float(v) for v in fn(list(wrong_a), list(wrong_b), n))
                report.expect(
                    got_d == d,
                    f"d = {d:+d}",
                    f"got {got_d:g}: count model a's mistakes minus model b's",
                )
                ea, eb = len(wrong_a), len(wrong_b)
                unpaired = 2 * math.sqrt(ea * (1 - ea / n) + eb * (1 - eb / n))
                every = {  # D taken as every example either model gets wrong
                    2 * math.sqrt(ea + eb - d * d / n),
                    2 * math.sqrt(only_a + only_b + both - d * d / n),
                }
                no_term = 2 * math.sqrt(only_a + only_b)
                hint = f"got {got_se:.3f}"
                if math.isclose(got_se, unpaired, rel_tol=1e-6):
                    hint += (
                        ": that is the unpaired SE of two separate error counts; "
                        "the mistakes both models make say nothing about d, so "
                        "count only the examples exactly one model gets wrong"
                    )
                elif both and any(math.isclose(got_se, v, rel_tol=1e-6) for v in every):
                    hint += (
                        ": D counts the shared mistakes too; use the examples "
                        "exactly one model gets wrong (the symmetric difference)"
                    )
                elif math.isclose(got_se, no_term, rel_tol=1e-6):
                    hint += ": subtract d**2 / n from D under the square root"
                elif math.isclose(got_se, two_se / 2, rel_tol=1e-6):
                    hint += ": that is one standard error; return two"
                report.expect(
                    math.isclose(got_se, two_se, rel_tol=1e-6),
                    f"two paired standard errors: {two_se:.3f}",
                    hint,
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


def reference_break_even_steps(eager_s: float, compiled_s: float, compile_s: float):
    """The fewest whole steps after which compiling has paid for itself (inf: never)."""
    saved = eager_s - compiled_s  # seconds each compiled step saves
    if saved <= 0:
        return math.inf  # never faster: compiling never pays
    return math.ceil(compile_s / saved)  # whole steps: round up


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


def reference_paired_difference(wrong_a, wrong_b, n: int) -> tuple[int, float]:
    """(d, two_se): a's mistakes minus b's and two paired (McNemar) standard errors."""
    a, b = set(wrong_a), set(wrong_b)
    d = len(a) - len(b)
    discordant = len(a ^ b)  # examples exactly one model gets wrong
    return d, 2 * math.sqrt(max(discordant - d * d / n, 0.0))
