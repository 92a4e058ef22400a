"""Chapter 8's readings of recorded runs, each by a rule stated before the numbers.

* the shipped schedule's flags (:data:`SHIPPED_SCHEDULE`, :func:`schedule_flags`),
  the ones ``scripts/train_shipped_models.sh`` passes, for every command shown;
* the paired comparison of two error counts on the same digits when only the
  counts were recorded (:func:`paired_two_se`, :func:`paired_verdict`), used
  for the validation curve (:func:`flat_epoch`, with the smallest gain the rule
  could have seen, :func:`smallest_detectable_gain`) and the bf16 parity table
  (:func:`parity_rows`, read in one sentence by :func:`parity_outcome`);
* which recorded runs join the Table 1 comparison (:data:`TABLE1_RUNS`,
  :func:`table1_runs`): named explicitly, so that other experiments' folders
  in ``results/`` never become rows of it;
* which CNN runs are recorded (:func:`cnn_runs`): the yardstick for the
  shipped CapsNet's test error, where one exists.

What chapter 8 times live is in :mod:`capsbook.speed`.
"""

from __future__ import annotations

import os

from capsbook.paired import paired_count_standard_error
from capslib.train.config import SCHEDULES

from .folder import list_runs, load_run

__all__ = [
    "CNN_MODELS",
    "PARITY_RUNS",
    "SHIPPED_SCHEDULE",
    "TABLE1_RUNS",
    "cnn_runs",
    "flat_epoch",
    "paired_two_se",
    "smallest_detectable_gain",
    "paired_verdict",
    "parity_outcome",
    "parity_rows",
    "schedule_flags",
    "table1_runs",
]


#: The shipped run's schedule (``scripts/train_shipped_models.sh mnist``), as
#: ``capslib.train``'s command-line flags and :class:`capslib.train.TrainConfig`
#: fields: ``--schedule shipped`` on the command line (capslib.train.config.SCHEDULES).
SHIPPED_SCHEDULE = SCHEDULES["shipped"]


def schedule_flags(schedule: dict | None = None) -> str:
    """``--batch-size 128 --lr 1e-3 ...``: the schedule as command-line flags.

    >>> schedule_flags({"lr_decay_steps": 430, "lr": 1e-3})
    '--lr-decay-steps 430 --lr 1e-3'
    """
    schedule = SHIPPED_SCHEDULE if schedule is None else schedule

    def value(v):
        return (
            f"{v:.0e}".replace("e-0", "e-") if isinstance(v, float) and v < 0.01 else v
        )

    return " ".join(f"--{k.replace('_', '-')} {value(v)}" for k, v in schedule.items())


def paired_two_se(errors_a: int, errors_b: int, n: int) -> tuple[float, float]:
    """Two paired standard errors of ``errors_a - errors_b``, in digits: ``(least, most)``.

    Two models scored on the same ``n`` digits differ only on the digits one of
    them gets wrong and the other right: ``D`` discordant digits, of which the
    difference of the counts is ``d = errors_a - errors_b``.  The standard error
    of ``d`` (McNemar's, :func:`capsbook.paired.paired_count_standard_error`) is
    ``sqrt(D - d**2 / n)``.  Where only the counts were
    recorded, ``D`` is unknown but bounded: at least ``|d|``, at most
    ``errors_a + errors_b`` (each discordant digit is a mistake of one model).
    Returns two standard errors at each bound.

    >>> paired_two_se(40, 25, 5000)  # doctest: +ELLIPSIS
    (7.7..., 16.1...)
    """
    for name, value in (("errors_a", errors_a), ("errors_b", errors_b), ("n", n)):
        if not isinstance(value, int) or value < 0:
            raise ValueError(
                f"paired_two_se: {name} must be a count (an int >= 0), got {value!r}"
            )
    if max(errors_a, errors_b) > n:
        raise ValueError(f"paired_two_se: more errors than the {n} examples")
    d = errors_a - errors_b
    least, most = abs(d), min(errors_a + errors_b, n)
    return (
        2 * paired_count_standard_error(least, d, n),
        2 * paired_count_standard_error(most, d, n),
    )


def paired_verdict(errors_a: int, errors_b: int, n: int) -> str:
    """Is ``errors_a - errors_b`` beyond two paired standard errors?

    ``"beyond"``: even at the most discordance the counts allow;
    ``"within"``: even at the least; ``"undecided"``: it depends on how many
    digits the two models disagree on, which the counts do not tell.
    """
    least, most = paired_two_se(errors_a, errors_b, n)
    d = abs(errors_a - errors_b)
    if d > most:
        return "beyond"
    if d <= least:
        return "within"
    return "undecided"


def flat_epoch(errors: list[int], n: int, *, discordance: str) -> int:
    """The first epoch (numbered from 1) that no later epoch beats by two paired SEs.

    ``errors``: the validation mistakes of each epoch, all on the same ``n``
    digits.  Epoch ``j`` beats an earlier epoch ``i`` when ``errors[i] -
    errors[j]`` exceeds two paired standard errors (:func:`paired_two_se`)
    computed at the ``"most"`` or the ``"least"`` discordance the counts allow.
    The most gives the earliest epoch the curve can be called flat from, the
    least the latest.

    >>> flat_epoch([90, 40, 30, 28], 5000, discordance="most")
    2
    >>> flat_epoch([90, 40, 30, 28], 5000, discordance="least")
    3
    """
    if discordance not in ("most", "least"):
        raise ValueError(
            f"flat_epoch: discordance must be 'most' or 'least', got {discordance!r}"
        )
    if not errors:
        raise ValueError("flat_epoch: expected one error count per epoch, got none")
    pick = 1 if discordance == "most" else 0
    for i, e in enumerate(errors):
        beaten = any(
            e - later > paired_two_se(e, later, n)[pick] for later in errors[i + 1 :]
        )
        if not beaten:
            return i + 1
    raise AssertionError("unreachable: the last epoch is never beaten")


def smallest_detectable_gain(errors: int, n: int, *, discordance: str) -> int | None:
    """The fewest mistakes fewer by which a later epoch would *beat* one with ``errors``.

    The rule of :func:`flat_epoch`: a later epoch with ``errors - d`` mistakes
    on the same ``n`` digits beats it when ``d`` exceeds two paired standard
    errors (:func:`paired_two_se`) at the ``"most"`` or the ``"least"``
    discordance the counts allow.  A gain smaller than the result is one the
    rule cannot see, so "no later epoch beat it" does not exclude it.  ``None``
    when no gain, even to zero mistakes, would count.

    By hand, 28 mistakes on 5,000 digits: at the least discordance (``D = d``)
    ``d = 4`` beats, as ``2 * sqrt(4 - 16/5000) = 3.998``; at the most
    (``D = 56 - d``) ``d = 14`` beats, as ``2 * sqrt(42 - 0.04) = 12.96``, and
    ``d = 13`` does not (``2 * sqrt(43 - 0.03) = 13.11``).

    >>> smallest_detectable_gain(28, 5000, discordance="least")
    4
    >>> smallest_detectable_gain(28, 5000, discordance="most")
    14
    """
    if discordance not in ("most", "least"):
        raise ValueError(
            "smallest_detectable_gain: discordance must be 'most' or 'least', "
            f"got {discordance!r}"
        )
    pick = 1 if discordance == "most" else 0
    for d in range(1, errors + 1):
        if d > paired_two_se(errors, errors - d, n)[pick]:
            return d
    return None


#: The recorded runs that chapter 8 sets beside the paper's Table 1, by name:
#: the Table 1 variants of ``scripts/full_gpu_runs.sh`` (complete MNIST, full
#: schedules).  Only these join the table: a folder of another experiment in
#: ``results/`` (chapter 6's 2-epoch ``losses-*`` runs, the ``parity-*`` pairs)
#: never does, whatever its mode and dataset.  The shipped run has its own row.
TABLE1_RUNS = (
    "mnist-paper",
    "mnist-paper-r1",
    "mnist-paper-norecon",
    "mnist-paper-r1-norecon",
    "mnist-baseline",
)


def table1_runs(results_dir: str | os.PathLike | None = None) -> list:
    """The runs of :data:`TABLE1_RUNS` recorded in ``results_dir``, in that order.

    A name whose folder is missing is skipped; a recorded run that is not a
    full-mode MNIST run (say, a dry run of the script) is refused, since the
    table compares it with the paper's.
    """
    found = []
    for name in TABLE1_RUNS:
        run = load_run(name, results_dir)
        if run is None:
            continue
        if run.get("mode") != "full" or run.get("dataset") != "mnist":
            raise ValueError(
                f"table1_runs: results/{name} is a {run.get('mode')}-mode run on "
                f"{run.get('dataset')}, not a full-mode MNIST run; remake it with "
                "scripts/full_gpu_runs.sh or remove the folder"
            )
        found.append(run)
    return found


#: The parity runs of ``bash scripts/train_shipped_models.sh parity``: (model, epochs, run names).
PARITY_RUNS = (
    ("small CapsNet", 3, "parity-small-float32", "parity-small-bfloat16"),
    ("paper CapsNet", 1, "parity-paper-float32", "parity-paper-bfloat16"),
)


def parity_rows(results_dir: str | os.PathLike | None = None) -> list[tuple]:
    """The rows of the bf16-against-float32 parity table, one per recorded run.

    Each row: ``(model, epochs, dtype, reason, test accuracy, test errors,
    bf16 - float32 in errors, two paired SEs (least, most), verdict,
    images/s)``.  Both runs of a pair are tested on the same digits, so the
    comparison is paired (:func:`paired_two_se`); the summaries record how many
    digits each run got wrong, not which, so the two SEs are the bounds the
    counts allow and the verdict (:func:`paired_verdict`) is "within",
    "beyond" or "undecided".  The difference, SEs and verdict are on the bf16
    row only.  A pair with a run missing gives no rows; none recorded, ``[]``.
    """
    rows = []
    for model, epochs, name32, name16 in PARITY_RUNS:
        f32, b16 = load_run(name32, results_dir), load_run(name16, results_dir)
        if f32 is None or b16 is None:
            continue
        if f32.test_accuracy is None or b16.test_accuracy is None:
            continue
        n = int(f32.get("test_size"))
        if int(b16.get("test_size")) != n:
            raise ValueError(
                f"parity_rows: {name32} and {name16} were tested on different "
                f"numbers of digits ({n} and {b16.get('test_size')}); not a pair"
            )
        e32 = round((1 - f32.test_accuracy) * n)
        e16 = round((1 - b16.test_accuracy) * n)
        paired = (e16 - e32, paired_two_se(e16, e32, n), paired_verdict(e16, e32, n))
        for run, errors, extra in ((f32, e32, (None, None, None)), (b16, e16, paired)):
            rows.append(
                (
                    model,
                    epochs,
                    run.get("dtype"),
                    run.get("dtype_reason"),
                    run.test_accuracy,
                    errors,
                    *extra,
                    run.get("images_per_s"),
                )
            )
    return rows


def parity_outcome(rows: list[tuple]) -> str:
    """One sentence reading :func:`parity_rows` by its rule, for the prose of both pages.

    bf16 trained as well as float32 when every recorded pair's verdict is
    "within"; not as well when any is "beyond"; otherwise undecided.  The
    sentence names each pair's epochs, since that is all it measured.  A pair
    not recorded yet is named; no pair at all says so.
    """
    if not rows:
        return (
            "not recorded yet (results/parity-*/summary.json are not in this checkout)"
        )
    verdicts = [row[8] for row in rows if row[8] is not None]
    recorded = {row[0] for row in rows}
    missing = [model for model, *_ in PARITY_RUNS if model not in recorded]
    if all(v == "within" for v in verdicts):
        outcome = (
            "trained as well as float32 by the rule, whatever digits the two runs "
            "disagree on"
        )
    elif any(v == "beyond" for v in verdicts):
        outcome = "did NOT train as well as float32 by the rule (see the table)"
    else:
        outcome = (
            "is undecided by the rule: it depends on which digits each run got "
            "wrong, which the summaries do not record"
        )
    trained = sorted({(row[0], row[1]) for row in rows})
    which = " and the ".join(
        f"{model} after {epochs} epoch{'s' * (epochs != 1)}"
        for model, epochs in trained
    )
    return (
        f"for the {which} on MNIST, bf16 {outcome} (a result about those epochs, "
        "not about longer training)"
        + "".join(f"; the {m}'s pair is not recorded yet" for m in missing)
    )


#: The models of ``capslib.train`` that are CNNs, not CapsNets.
CNN_MODELS = ("baseline", "pooled-cnn")


def cnn_runs(
    results_dir: str | os.PathLike | None = None, *, dataset: str | None = None
) -> list:
    """The recorded full-mode runs of a CNN (:data:`CNN_MODELS`), on ``dataset`` if given.

    Chapter 8 sets the shipped CapsNet beside a CNN on MNIST only where such a
    run is recorded; otherwise it can quote only the paper's baseline.
    """
    found = []
    for name in list_runs(results_dir):
        run = load_run(name, results_dir)
        variant = run.variant()
        if variant["model"] not in CNN_MODELS or variant["mode"] != "full":
            continue
        if dataset is None or variant["dataset"] == dataset:
            found.append(run)
    return found
