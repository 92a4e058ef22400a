"""Chapter 6's seeds: each loss (an *arm*) trained with several seeds, and arms compared.

``scripts/measure_reconstruction_losses.py`` trains every arm of
:data:`capsbook.loss_experiments.VARIANTS` (the paper's sum, the mistaken mean,
none) once per seed and measures each run.  This module turns the per-run
numbers of its record into per-arm summaries and compares two arms by the rule
the chapter states before the numbers:

* :func:`run_key` and :func:`run_folder`: a run's name in the record and its
  folder (seed 0 keeps the first runs' names: ``losses-sum``; another seed
  ``k``: ``losses-sum-seed<k>``);
* :func:`per_run` gives each run's value of a quantity (:data:`QUANTITIES`);
  :func:`arm_values` the values of one arm, seed by seed, and :func:`arm_by_seed`
  the same keyed by seed (what :func:`paired_compare` pairs on);
* :func:`arm_stats`: an arm's mean over its seeds and the between-seed standard
  error of that mean (how the chapter's tables describe one arm);
* :func:`paired_compare`: two arms compared seed by seed.  A seed fixes the
  initial weights, the order of the batches and the validation split for every
  arm, so the two arms' networks of one seed are a pair: the rule takes the
  difference at each seed, its mean and the standard error of that mean over
  the seeds, and counts the difference when ``|mean| > t SE``, ``t`` Student's
  critical value for ``n - 1`` degrees of freedom (4.30 with 3 seeds: a paired
  t-test at ``p < 0.05``; the rule first used 2 SE, too lax on 2 degrees of
  freedom); with fewer than :data:`MIN_SEEDS` pairs the verdict is *not decided*.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from capsbook.paired import t_critical, t_test_p

#: Seeds an arm needs before a rule decides anything about it.
MIN_SEEDS = 3
#: The rules' two-sided level: a difference counts when a t-test gives p below it.
LEVEL = 0.05


def critical(n: int) -> float:
    """Standard errors a mean over ``n`` seeds must exceed: t at ``n - 1`` degrees of
    freedom (:func:`capsbook.paired.t_critical` at :data:`LEVEL`; 4.30 for 3 seeds)."""
    return t_critical(n - 1, LEVEL)


#: What the rules compare, per run (:func:`per_run`).
QUANTITIES = (
    "test_errors",
    "reconstruction_error",
    "probe_r2",
    "decoder_movement",
    "adam_below_eps",
    "shared_share",
)


def run_key(variant: str, seed: int) -> str:
    """The run's name in the record: ``"sum"`` for seed 0, ``"sum-seed2"`` for seed 2."""
    return variant if seed == 0 else f"{variant}-seed{seed}"


def run_folder(variant: str, seed: int) -> str:
    """The run's folder under results/: ``losses-sum``, ``losses-sum-seed2``."""
    return f"losses-{run_key(variant, seed)}"


def parse_seeds(text: str) -> list[int]:
    """``"0,1,2"`` -> ``[0, 1, 2]``: distinct non-negative seeds, in the order given."""
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise ValueError(f"seeds: expected numbers like 0,1,2, got {text!r}") from None
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise ValueError(
            f"seeds: expected distinct seeds >= 0 like 0,1,2, got {text!r}"
        )
    return seeds


def arms_of(record: dict) -> dict[str, list[str]]:
    """``{arm: [run keys, by seed]}`` of the runs in a measurement ``record``."""
    arms: dict[str, list[tuple[int, str]]] = {}
    for key, run in record["runs"].items():
        arms.setdefault(run["variant"], []).append((run["seed"], key))
    return {arm: [key for _, key in sorted(runs)] for arm, runs in arms.items()}


def per_run(record: dict, quantity: str) -> dict[str, float]:
    """``{run key: value}`` of ``quantity`` (one of :data:`QUANTITIES`) in ``record``.

    ``test_errors``: test digits wrong; ``reconstruction_error``: the mean per-digit
    sum of squared errors; ``probe_r2``: the probe's R² averaged over the halvings
    and the quantities; ``decoder_movement``: ``|W_end - W_start| / |W_start|``
    of the decoder; ``adam_below_eps``: the decoder's share of entries with
    ``sqrt(v_hat)`` below epsilon; ``shared_share``: the reconstruction's gradient
    over the margin's on the shared layers, under the run's own loss.  Runs without
    a decoder have no value for the last four but the probe.
    """
    runs = record["runs"]
    if quantity == "test_errors":
        return {k: float(r["test_errors"]) for k, r in runs.items()}
    if quantity == "reconstruction_error":
        errors = record["reconstruction"]["errors"]
        return {k: errors[k] for k in runs if k in errors}
    if quantity == "probe_r2":
        r2 = record["probe"]["r2"]
        return {k: _mean([_mean(row) for row in r2[k]]) for k in runs if k in r2}
    if quantity == "decoder_movement":
        moved = record["decoder"]["movement"]
        return {k: moved[k]["total"] for k in runs if k in moved}
    if quantity == "adam_below_eps":
        adam = record["decoder"]["adam"]
        return {k: adam[k]["below_eps"] for k in runs if k in adam}
    if quantity == "shared_share":
        shares = record["shared_gradient"]["shares"]
        return {k: shares[k][runs[k]["variant"]] for k in runs if k in shares}
    raise ValueError(
        f"per_run: expected one of {', '.join(QUANTITIES)}, got {quantity!r}"
    )


def arm_values(record: dict, quantity: str, arm: str) -> list[float]:
    """The values of ``quantity`` for the runs of ``arm``, seed by seed."""
    values = per_run(record, quantity)
    return [values[k] for k in arms_of(record).get(arm, []) if k in values]


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def _variance(values: Sequence[float]) -> float | None:
    """The sample variance (``n - 1`` in the denominator); ``None`` below 2 values."""
    if len(values) < 2:
        return None
    m = _mean(values)
    return sum((v - m) ** 2 for v in values) / (len(values) - 1)


def arm_stats(values: Sequence[float]) -> dict:
    """An arm's seeds summarised: ``n``, ``mean``, ``sd`` (between seeds) and ``se``.

    ``se`` is the between-seed standard error of the mean, ``sd / sqrt(n)``;
    ``sd`` and ``se`` are ``None`` with fewer than 2 seeds.  ``values`` kept.
    """
    values = [float(v) for v in values]
    if not values:
        return {"n": 0, "mean": None, "sd": None, "se": None, "values": []}
    var = _variance(values)
    sd = None if var is None else math.sqrt(var)
    se = None if sd is None else sd / math.sqrt(len(values))
    return {
        "n": len(values),
        "mean": _mean(values),
        "sd": sd,
        "se": se,
        "values": values,
    }


def summarise(record: dict) -> dict:
    """``{quantity: {arm: arm_stats}}`` for every quantity an arm has values of."""
    summary = {}
    for quantity in QUANTITIES:
        by_arm = {}
        for arm in arms_of(record):
            values = arm_values(record, quantity, arm)
            if values:
                by_arm[arm] = arm_stats(values)
        summary[quantity] = by_arm
    return summary


def not_decided(n: int) -> str:
    """The verdict of a rule that has ``n`` seeds where it needs :data:`MIN_SEEDS`."""
    return f"not decided ({n} seed{'' if n == 1 else 's'})"


def arm_by_seed(record: dict, quantity: str, arm: str) -> dict[int, float]:
    """``{seed: value}`` of ``quantity`` for the runs of ``arm`` (the key to pair on)."""
    values = per_run(record, quantity)
    runs = record["runs"]
    return {
        runs[k]["seed"]: values[k] for k in arms_of(record).get(arm, []) if k in values
    }


def paired_compare(
    a: Mapping[int, float], b: Mapping[int, float], min_seeds: int = MIN_SEEDS
) -> dict:
    """Arm a against arm b, seed by seed: the mean of the differences, and its verdict.

    ``a``, ``b``: ``{seed: value}`` of each arm.  Only the seeds both arms have
    are paired (``seeds``, in order); at each, ``d = a - b`` (``differences``).
    ``difference`` is the mean of the ``d``, ``se`` their standard deviation
    (``n - 1`` in the denominator) over ``sqrt(n)``, ``n`` the number of pairs.
    ``critical``: :func:`critical` of ``n`` (4.30 for 3 pairs); ``t``:
    ``difference / se``; ``p``: the paired t-test's two-sided p-value
    (:func:`capsbook.paired.t_test_p`, ``n - 1`` degrees of freedom).
    ``sign``: +1 when ``difference > critical * se``, -1 when
    ``difference < -critical * se``, 0 within (the same as ``p < 0.05``);
    ``None``, with the verdict :func:`not_decided`, below ``min_seeds`` pairs.
    ``verdict``: ``"higher"``, ``"not shown"``, ``"lower"`` or not decided.
    """
    seeds = sorted(set(a) & set(b))
    d = [float(a[s]) - float(b[s]) for s in seeds]
    stats = arm_stats(d)
    result = {
        "seeds": seeds,
        "differences": d,
        "difference": stats["mean"],
        "se": stats["se"],
        "n": stats["n"],
        "critical": None,
        "t": None,
        "p": None,
    }
    if stats["n"] < min_seeds:
        return result | {"sign": None, "verdict": not_decided(stats["n"])}
    diff, se = stats["mean"], stats["se"]
    bar = critical(stats["n"])
    t = diff / se if se > 0 else math.copysign(math.inf, diff) if diff else 0.0
    sign = 1 if diff > bar * se else -1 if diff < -bar * se else 0
    return result | {
        "critical": bar,
        "t": t,
        "p": t_test_p(t, stats["n"] - 1),
        "sign": sign,
        "verdict": {1: "higher", 0: "not shown", -1: "lower"}[sign],
    }
