"""Checks for the exercises of the appendix on training on a CPU, number formats.

Each applies one of the appendix's ideas somewhere it did not go: the bound on
what autocast can gain, read backwards to say how much of a step was matrix
work; and the few mantissa bits of bf16 in a running sum kept in bf16 between
additions.  Such a sum stops growing at 2^8 times its term.  PyTorch's CPU
reductions over bf16 (``sum``, ``cumsum``, a matrix product) do not: they
accumulate in float32 and round once, at the end.  The totals that are stored
between additions are the risk, a weight updated step after step among them,
which is why autocast leaves the weights and Adam's state in float32.
"""

from __future__ import annotations

import math

import torch

from .report import CheckReport, check, guarded

__all__ = [
    "check_autocast_bound",
    "check_matrix_share",
    "check_stall",
    "reference_autocast_bound",
    "reference_matrix_share",
    "reference_stall",
]


def _unfinished(report: CheckReport) -> bool:
    """The last attempt raised NotImplementedError: the answer is still the stub."""
    return bool(report.results) and "NotImplementedError" in report.results[-1][2]


@guarded
def check_autocast_bound(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise B.1: ``fn(f, r)``: the most a step can gain from bf16.

    ``f``: the share of the float32 step's time spent in matrix work, in
    [0, 1]; ``r``: how many times as fast bf16 makes that work.  The rest of
    the step is not sped up.  Return the step's speed-up, float32 time over
    bf16 time: ``1 / ((1 - f) + f / r)``.
    """
    cases = [(0.0, 4.0), (1.0, 4.0), (0.5, 2.0), (0.8, 3.0), (0.5, 0.5)]
    with check(
        "Exercise B.1: the most a step can gain from bf16", verbose=verbose
    ) as report:
        for f, r in cases:
            expected = reference_autocast_bound(f, r)
            with report.attempt(f"f = {f:g} of the step is matrix work, r = {r:g}"):
                got = float(fn(f, r))
                hint = f"got {got:.4f}"
                if math.isclose(got, (1 - f) + f * r, rel_tol=1e-9):
                    hint += (
                        ": that averages the speed-ups; times add, not speeds: the "
                        "new time is (1 - f) + f / r of the old one"
                    )
                elif math.isclose(got, f * r, rel_tol=1e-9):
                    hint += ": the part that is not matrix work still takes 1 - f"
                elif math.isclose(got, (1 - f) + f / r, rel_tol=1e-9):
                    hint += ": that is the new time; the speed-up is its inverse"
                report.expect(
                    math.isclose(got, expected, rel_tol=1e-9),
                    f"gains {expected:.4f} times",
                    hint,
                )
            if _unfinished(report):
                break
    return report


@guarded
def check_matrix_share(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise B.2: ``fn(gain, r)``: the share of the step that was matrix work.

    ``gain``: the step's measured bf16 speed-up; ``r``: the bare GEMM's.  If
    only matrix work gets faster, and all of it by ``r``, the share ``f`` of
    the float32 step it took solves ``gain = 1 / ((1 - f) + f / r)``.  Raise
    ``ValueError`` when no share in [0, 1] can explain the numbers: ``r <= 1``
    (bf16 gains nothing on matrix work) or ``gain > r``.
    """
    cases = [(1.0, 2.5), (2.5, 2.5), (1.25, 2.0), (1.1, 2.2)]
    with check(
        "Exercise B.2: how much of the step was matrix work", verbose=verbose
    ) as report:
        for gain, r in cases:
            expected = reference_matrix_share(gain, r)
            with report.attempt(f"the step gained {gain:g}, the GEMM {r:g}"):
                got = float(fn(gain, r))
                hint = f"got {got:.4f}"
                if math.isclose(got, gain / r, rel_tol=1e-9) and gain not in (r,):
                    hint += (
                        ": the gains do not divide: solve the bound for f, "
                        "1 / gain = (1 - f) + f / r"
                    )
                elif math.isclose(got, 1 - expected, rel_tol=1e-9):
                    hint += ": that is the share that is NOT matrix work"
                report.expect(
                    math.isclose(got, expected, rel_tol=1e-9, abs_tol=1e-12),
                    f"f = {expected:.4f}",
                    hint,
                )
            if _unfinished(report):
                break
        if not _unfinished(report):
            for gain, r, why in ((3.0, 2.0, "gain > r"), (1.2, 1.0, "r <= 1")):
                with report.attempt(f"refuses gain {gain:g} with r = {r:g}"):
                    try:
                        fn(gain, r)
                        raised = False
                    except ValueError:
                        raised = True
                    report.expect(
                        raised,
                        f"raises ValueError when {why}",
                        "no share f in [0, 1] explains these numbers: raise "
                        "ValueError instead of returning one",
                    )
    return report


@guarded
def check_stall(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise B.3: ``fn(increment, dtype)``: where a running sum stops growing.

    Start at 0 in ``dtype`` and add ``increment`` (rounded to ``dtype``) in
    ``dtype``, one term at a time, keeping the total in ``dtype`` after every
    addition; return, as a Python float, the value at which one more addition
    no longer changes the sum.  (A single ``torch.sum`` over the terms would
    not stop: on a CPU it accumulates bf16 and float16 in float32.)
    """
    cases = [
        (1.0, torch.bfloat16),
        (0.25, torch.bfloat16),
        (0.1, torch.bfloat16),
        (1.0, torch.float16),
    ]
    with check(
        "Exercise B.3: where a bf16 running sum stops growing", verbose=verbose
    ) as report:
        for increment, dtype in cases:
            expected = reference_stall(increment, dtype)
            name = str(dtype).removeprefix("torch.")
            with report.attempt(f"adding {increment:g} in {name}"):
                got = float(fn(increment, dtype))
                hint = f"got {got:g}"
                if got == _terms(increment, dtype) and increment != 1.0:
                    hint += ": that is the number of terms; return the sum itself"
                elif got > 4 * expected:
                    hint += (
                        f": the sum was not kept in {name} between additions; "
                        f"torch.sum and cumsum accumulate in float32 on a CPU "
                        f"even for {name} input, so add one term at a time to a "
                        f"total created with dtype={dtype}"
                    )
                report.expect(
                    got == expected,
                    f"stops growing at {expected:g}",
                    hint,
                )
            if _unfinished(report):
                break
    return report


def _terms(increment: float, dtype: torch.dtype) -> int:
    """How many additions the running sum of :func:`reference_stall` grew by."""
    total, step, n = (
        torch.zeros((), dtype=dtype),
        torch.tensor(increment, dtype=dtype),
        0,
    )
    while total + step != total:
        total, n = total + step, n + 1
    return n


# -- reference answers (used by the tests and shown in the hidden solutions) ---
def reference_autocast_bound(f: float, r: float) -> float:
    """float32 time over bf16 time when a share f of the step gets r times faster."""
    return 1 / ((1 - f) + f / r)  # times add: the rest still takes 1 - f


def reference_matrix_share(gain: float, r: float) -> float:
    """The share f of the float32 step that was matrix work, from the two gains."""
    if r <= 1 or gain > r:
        raise ValueError(f"no share in [0, 1] gives a gain of {gain} with r = {r}")
    return (1 - 1 / gain) / (1 - 1 / r)  # 1 / gain = (1 - f) + f / r, solved for f


def reference_stall(increment: float, dtype: torch.dtype) -> float:
    """The value at which adding ``increment`` in ``dtype`` no longer changes a sum
    kept in ``dtype`` between additions."""
    total = torch.zeros((), dtype=dtype)
    step = torch.tensor(increment, dtype=dtype)
    while total + step != total:  # rounded to the nearest dtype value each time
        total = total + step
    return float(total)
