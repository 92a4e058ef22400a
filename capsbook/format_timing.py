"""The appendix on number formats: float32 against bf16, timed side by side and read by a rule.

On a shared machine a step's time moves with the load by more than bf16 changes it,
so a speed-up is measured only as a ratio of two steps timed next to each other.
:func:`time_formats` times, in every round, each network's training step in float32
and in bf16 autocast one right after the other, and a float32 and a bf16 matrix
multiply likewise; the order within each pair alternates from round to round, so
that a load that rises or falls during a round favours neither format.

Each round then gives one paired ratio per network (:meth:`FormatTimes.gains`), and
the rounds' spread gives the ratios' noise.  The rules, stated before any number:

* :func:`gain_verdict`: bf16 is a gain for a network when the mean of its per-round
  ratios, less two standard errors, exceeds 1.1; a loss when the mean plus two
  standard errors is below 1 / 1.1; otherwise not shown either way;
* :func:`compare_gains`: one network gains more than another when the mean of the
  per-round differences of their ratios is more than two standard errors from 0
  (paired: both ratios of a round saw the same load); otherwise the difference is
  not shown.

:func:`size_reading` says all of it in one sentence.

The bound.  Autocast speeds up only the matrix work, so a step whose float32 time
spends a share ``f`` in matrix multiplies that run in bf16, each ``r`` times as fast,
gains at most :func:`autocast_bound` ``1 / ((1 - f) + f / r)``.  :func:`matrix_shares`
measures ``f`` from a profile of float32 steps: the time of the matrix multiplies
(:data:`GEMM_OPS`) outside the parts capslib keeps in float32 under CPU autocast
(:data:`FLOAT32_SCOPES`: DigitCaps' fused predictions and routing), over the step's
wall time.  :func:`bound_verdict` applies the rule, stated before any number: the
bound fails for a network when the step's gain less two standard errors exceeds the
bound at its most generous (the largest profiled ``f``, the GEMM's gain plus two
standard errors); the gain is *below* the bound when the gain plus two standard
errors is under the bound at its least (the smallest ``f``, the GEMM's gain less two
standard errors); otherwise it *reached* the bound.

The parity runs.  :func:`detectable_extra_errors` is what a recorded pair can
resolve: the fewest extra test mistakes the paired two-SE rule would call a
difference, whatever digits the two runs disagree on, and at the least.
"""

from __future__ import annotations

import contextlib
import math
import os
import statistics
import sys
import time
from dataclasses import dataclass, field

import torch

from capsbook.runs.recorded import paired_two_se
from capslib.bench import sync, time_calls, training_step
from capslib.flops import flops_per_image
from capslib.functional import value_checks
from capslib.models import CapsNet, CapsNetConfig

__all__ = [
    "DTYPES",
    "FLOAT32_SCOPES",
    "FormatTimes",
    "GEMM_OPS",
    "MeanSE",
    "autocast_bound",
    "bound_verdict",
    "compare_gains",
    "detectable_extra_errors",
    "gemm_seconds",
    "gain_verdict",
    "matrix_shares",
    "mean_se",
    "size_reading",
    "time_formats",
]

#: The two formats timed, float32 first: every ratio is float32 time over bf16 time.
DTYPES = ("float32", "bfloat16")
#: A ratio counts as a gain only beyond this, and as a loss only below its inverse.
GAIN_THRESHOLD = 1.1
#: The matrix multiplies a profile counts (both convolutions run as these on a CPU).
GEMM_OPS = ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm")
#: Profiler scopes whose matrix work stays float32 under CPU autocast: capslib routes
#: DigitCaps (predictions W u and routing) in float32 (:class:`capslib.nn.RoutingCapsules`).
FLOAT32_SCOPES = ("_RoutingCapsulesFunction",)


@dataclass(frozen=True)
class MeanSE:
    """The mean of ``n`` paired per-round values and its standard error."""

    mean: float
    se: float
    n: int

    @property
    def low(self) -> float:
        """The mean less two standard errors."""
        return self.mean - 2 * self.se

    @property
    def high(self) -> float:
        """The mean plus two standard errors."""
        return self.mean + 2 * self.se

    def text(self, digits: int = 2) -> str:
        """``1.52 ± 0.08``: the mean and two standard errors."""
        return f"{self.mean:.{digits}f} ± {2 * self.se:.{digits}f}"


def mean_se(values) -> MeanSE:
    """The mean of ``values`` and its standard error, ``stdev / sqrt(n)`` (n >= 2).

    >>> mean_se([1.0, 2.0, 3.0]).text()
    '2.00 ± 1.15'
    """
    values = [float(v) for v in values]
    if len(values) < 2:
        raise ValueError(f"mean_se: need at least 2 values, got {len(values)}")
    return MeanSE(
        statistics.fmean(values),
        statistics.stdev(values) / math.sqrt(len(values)),
        len(values),
    )


def gain_verdict(ratios) -> str:
    """Per-round ratios (float32 time over bf16 time) read by the rule.

    ``"a gain"`` when the mean less two standard errors exceeds 1.1, ``"a loss"``
    when the mean plus two standard errors is below 1 / 1.1, else ``"not shown"``.
    """
    m = mean_se(ratios)
    if m.low > GAIN_THRESHOLD:
        return "a gain"
    if m.high < 1 / GAIN_THRESHOLD:
        return "a loss"
    return "not shown"


def compare_gains(first, second) -> tuple[MeanSE, str]:
    """Whether ``first``'s per-round ratios exceed ``second``'s, paired by round.

    Returns the mean of the per-round differences ``first - second`` with its
    standard error, and ``"more"`` (mean less two SEs above 0), ``"less"`` (mean
    plus two SEs below 0) or ``"not shown"``.
    """
    if len(first) != len(second):
        raise ValueError(
            f"compare_gains: paired by round, got {len(first)} and {len(second)} ratios"
        )
    m = mean_se([a - b for a, b in zip(first, second)])
    return m, "more" if m.low > 0 else "less" if m.high < 0 else "not shown"


@dataclass
class FormatTimes:
    """What :func:`time_formats` measured: seconds per step and GEMM GFLOP/s, per round."""

    batch_size: int
    steps: dict[str, dict[str, list[float]]]  # config -> dtype -> seconds, per round
    gemm: dict[str, list[float]]  # dtype -> GFLOP/s, per round
    train_flops_per_image: dict[str, float]  # config -> forward + backward FLOPs
    #: config -> per profiled float32 step, the share of its time in bf16-able GEMMs
    shares: dict[str, list[float]] = field(default_factory=dict)

    @property
    def configs(self) -> tuple[str, ...]:
        return tuple(self.steps)

    @property
    def rounds(self) -> int:
        return len(self.gemm["float32"])

    def gains(self, config: str) -> list[float]:
        """Per round: the float32 step's time over the bf16 step's, timed next to it."""
        t = self.steps[config]
        return [a / b for a, b in zip(t["float32"], t["bfloat16"])]

    def gemm_gains(self) -> list[float]:
        """Per round: the bf16 GEMM's GFLOP/s over the float32 GEMM's, timed next to it."""
        return [b / a for a, b in zip(self.gemm["float32"], self.gemm["bfloat16"])]

    def images_per_s(self, config: str, dtype: str) -> float:
        """Images per second at the median step time (a speed, not a comparison)."""
        return self.batch_size / statistics.median(self.steps[config][dtype])

    def fraction_of_gemm(self, config: str) -> float:
        """The float32 step's FLOP/s over the float32 GEMM's, both medians of the run."""
        flops = self.train_flops_per_image[config] * self.images_per_s(
            config, "float32"
        )
        return flops / 1e9 / statistics.median(self.gemm["float32"])

    def bound(self, config: str) -> tuple[float, float, float]:
        """The autocast bound for ``config``: ``(least, middle, most)``.

        The middle at the median profiled share and the GEMM's mean gain; the least
        at the smallest share and the GEMM's gain less two SEs, the most at the
        largest share and the GEMM's gain plus two SEs.
        """
        f, r = self.shares[config], mean_se(self.gemm_gains())
        return (
            autocast_bound(min(f), r.low),
            autocast_bound(statistics.median(f), r.mean),
            autocast_bound(max(f), r.high),
        )

    def bound_verdict(self, config: str) -> str:
        """:func:`bound_verdict` of ``config``'s per-round gains against its bound."""
        least, _, most = self.bound(config)
        return bound_verdict(self.gains(config), least, most)


def autocast_bound(f: float, r: float) -> float:
    """The most a step gains when a share ``f`` of it runs ``r`` times as fast: ``1 / ((1-f) + f/r)``.

    >>> autocast_bound(0.5, 3.0)
    1.5
    """
    if not 0 <= f <= 1 or r <= 0:
        raise ValueError(
            f"autocast_bound: expected 0 <= f <= 1 and r > 0, got {f}, {r}"
        )
    return 1 / ((1 - f) + f / r)


def bound_verdict(gains, least: float, most: float) -> str:
    """Per-round gains against the bound's range ``[least, most]``, by the rule.

    ``"exceeded"`` (the bound fails) when the gains' mean less two SEs is above
    ``most``; ``"below"`` when their mean plus two SEs is under ``least``; else
    ``"reached"``.
    """
    m = mean_se(gains)
    if m.low > most:
        return "exceeded"
    if m.high < least:
        return "below"
    return "reached"


def _in_scope(event, scopes) -> bool:
    parent = event.cpu_parent
    while parent is not None:
        if any(scope in parent.name for scope in scopes):
            return True
        parent = parent.cpu_parent
    return False


def gemm_seconds(events, scopes=FLOAT32_SCOPES) -> float:
    """Seconds of self time of the profiler ``events`` in :data:`GEMM_OPS`, outside ``scopes``."""
    return (
        sum(
            e.self_cpu_time_total
            for e in events
            if e.name in GEMM_OPS and not _in_scope(e, scopes)
        )
        / 1e6
    )


@contextlib.contextmanager
def _quiet_stderr():
    """File descriptor 2 to the null device: the profiler's C++ side logs its start
    and stop there, lines that would land in a notebook's output."""
    sys.stderr.flush()
    saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


def matrix_shares(
    step, device: torch.device, *, steps: int, scopes=FLOAT32_SCOPES
) -> list[float]:
    """Per profiled call of ``step()``: the share of its wall time in matrix multiplies.

    Each call runs alone under ``torch.profiler`` (CPU activity); the share is the
    self time of its :data:`GEMM_OPS` outside ``scopes`` (a profiler event whose
    name contains one of them, or any event below it, is left out) over the
    call's wall time, profiler overhead included (so the share errs low).  The
    profiler's own log lines on file descriptor 2 are silenced while it runs.
    """
    from torch.profiler import ProfilerActivity, profile  # loaded only when profiling

    shares = []
    for _ in range(steps):
        sync(device)
        with _quiet_stderr(), profile(activities=[ProfilerActivity.CPU]) as prof:
            start = time.perf_counter()
            step()
            sync(device)
            wall = time.perf_counter() - start
        shares.append(min(1.0, gemm_seconds(prof.events(), scopes) / wall))
    return shares


def detectable_extra_errors(errors: int, n: int) -> tuple[int, int]:
    """``(surely, at best)``: the fewest extra mistakes, over ``errors`` on ``n`` digits, that the
    paired two-SE rule calls a difference.

    A second model tested on the same digits with ``errors + d`` mistakes differs
    by more than two paired SEs (:func:`capsbook.runs.recorded.paired_two_se`)
    whatever digits the two disagree on from ``d = surely`` on (at the most
    discordance the counts allow, ``D = 2 * errors + d``), and at best, if they
    disagree on no other digit (``D = d``), from ``d = at best`` on.  A smaller
    difference could pass as "within".

    By hand, 106 mistakes on 10,000 digits: ``2 * sqrt(244 - 32**2 / 10000) =
    31.23 < 32`` while ``2 * sqrt(243 - 31**2 / 10000) = 31.17 > 31``.

    >>> detectable_extra_errors(106, 10_000)
    (32, 4)
    """
    found = {}
    for d in range(1, n - errors + 1):
        least, most = paired_two_se(errors + d, errors, n)
        if "at best" not in found and d > least:
            found["at best"] = d
        if d > most:
            return d, found["at best"]
    raise ValueError(
        f"detectable_extra_errors: no difference over {errors} of {n} is detectable"
    )


def _gemm(device: torch.device, size: int, dtype: torch.dtype):
    generator = torch.Generator().manual_seed(0)
    a, b = (
        torch.randn(size, size, generator=generator).to(device=device, dtype=dtype)
        for _ in range(2)
    )
    return lambda: a @ b


def time_formats(
    device: torch.device,
    *,
    rounds: int,
    configs: tuple[str, ...] = ("small", "paper"),
    batch_size: int = 32,
    gemm_size: int = 1024,
    seed: int = 0,
    profile_steps: int = 0,
) -> FormatTimes:
    """Time each config's training step in float32 and bf16, and a GEMM in both, in pairs.

    One untimed warm-up round, then ``rounds`` rounds; in each, for every config
    and then the GEMM, the float32 and the bf16 call run back to back, float32
    first in even rounds and bf16 first in odd ones: on a loaded machine the
    second of two back-to-back steps can run faster than the first, and over an
    even number of rounds that favours neither format (it widens the ratios'
    spread instead, which the rules count as noise).  The value checks are off.
    The step is :func:`capslib.bench.training_step` (forward, the paper's loss,
    backward, Adam) on synthetic digits, as ``python -m capslib.bench`` times it.
    After the rounds, ``profile_steps`` float32 steps of each config are profiled
    (:func:`matrix_shares`), in turns, for the bound.
    """
    if rounds < 2 or rounds % 2:
        raise ValueError(
            f"time_formats: rounds must be even and at least 2 (each order as "
            f"often as the other), got {rounds}"
        )
    torch.manual_seed(seed)
    images = torch.rand(batch_size, 1, 28, 28, device=device)
    labels = torch.arange(batch_size, device=device) % 10
    calls: dict[str, dict[str, object]] = {}
    flops = {}
    for config in configs:
        calls[config] = {}
        for dtype in DTYPES:
            model = CapsNet(getattr(CapsNetConfig, config)()).to(device)
            calls[config][dtype] = training_step(
                model, images, labels, dtype=dtype, device=device
            )
        flops[config] = 3 * flops_per_image(model)  # forward + backward
    gemms = {d: _gemm(device, gemm_size, getattr(torch, d)) for d in DTYPES}
    steps = {config: {d: [] for d in DTYPES} for config in configs}
    gemm = {d: [] for d in DTYPES}
    with value_checks(False):
        for repeat in range(rounds + 1):
            order = DTYPES if repeat % 2 == 0 else DTYPES[::-1]
            for config in configs:
                for dtype in order:
                    (t,) = time_calls(
                        calls[config][dtype], steps=1, warmup=0, device=device
                    )
                    if repeat:  # round 0 is the warm-up
                        steps[config][dtype].append(t)
            for dtype in order:
                (t,) = time_calls(gemms[dtype], steps=1, warmup=0, device=device)
                if repeat:
                    gemm[dtype].append(2 * gemm_size**3 / t / 1e9)
        shares = {config: [] for config in configs} if profile_steps else {}
        for _ in range(profile_steps):
            for config in configs:
                shares[config] += matrix_shares(
                    calls[config]["float32"], device, steps=1
                )
    return FormatTimes(batch_size, steps, gemm, flops, shares)


def size_reading(times: FormatTimes, device_name: str) -> str:
    """The timing read by the rules, in one sentence (for ``("small", "paper")``)."""
    small, paper = times.gains("small"), times.gains("paper")
    diff, which = compare_gains(paper, small)
    outcome = {
        "more": "held: the paper CapsNet gained more",
        "less": "failed: the small CapsNet gained more",
        "not shown": "was neither confirmed nor refuted: the difference was not "
        "shown, it lies within two standard errors of 0",
    }[which]
    return (
        f"Over {times.rounds} rounds on {device_name}, bf16 ran the paper CapsNet's "
        f"step {mean_se(paper).text()} times as fast as float32 ({gain_verdict(paper)} "
        f"by the rule) and the small CapsNet's {mean_se(small).text()} times "
        f"({gain_verdict(small)}); the bare GEMM gained "
        f"{mean_se(times.gemm_gains()).text()} times. The paper network's gain less "
        f"the small one's was {diff.text()}, so the expectation {outcome}"
    )
