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
  :func:`arm_values` the values of one arm, seed by seed;
* :func:`arm_stats`: an arm's mean over its seeds and the between-seed standard
  error of that mean;
* :func:`compare`: the difference of two arms' means against twice its standard
  error, from the two arms' seed-to-seed spreads; with fewer than
  :data:`MIN_SEEDS` seeds in an arm the verdict is *not decided*.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

#: Seeds an arm needs before a rule decides anything about it.
MIN_SEEDS = 3
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


def compare(a: Sequence[float], b: Sequence[float], min_seeds: int = MIN_SEEDS) -> dict:
    """Arm a against arm b: the difference of their means over seeds, and its verdict.

    ``a``, ``b``: one value per seed of each arm.  ``se`` of the difference is
    ``sqrt(sd_a² / n_a + sd_b² / n_b)``, from each arm's seed-to-seed spread
    (unpaired: it does not use that both arms share seeds).  ``sign``: +1 when the
    difference exceeds ``2 se``, -1 below ``-2 se``, 0 within; ``None`` and the
    verdict :func:`not_decided` when an arm has fewer than ``min_seeds`` seeds.
    Returns ``difference``, ``se``, ``n`` (the smaller arm's seeds), ``sign`` and
    ``verdict`` (``"higher"``, ``"not shown"``, ``"lower"`` or not decided).
    """
    sa, sb = arm_stats(a), arm_stats(b)
    n = min(sa["n"], sb["n"])
    difference = None if n == 0 else sa["mean"] - sb["mean"]
    se = None
    if sa["sd"] is not None and sb["sd"] is not None:
        se = math.sqrt(sa["sd"] ** 2 / sa["n"] + sb["sd"] ** 2 / sb["n"])
    if n < min_seeds or se is None:
        return {"difference": difference, "se": se, "n": n, "sign": None,
                "verdict": not_decided(n)}  # fmt: skip
    sign = 1 if difference > 2 * se else -1 if difference < -2 * se else 0
    verdict = {1: "higher", 0: "not shown", -1: "lower"}[sign]
    return {
        "difference": difference,
        "se": se,
        "n": n,
        "sign": sign,
        "verdict": verdict,
    }
