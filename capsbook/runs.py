"""Reading training runs from ``results/<run>/`` for the book's notebooks.

The training CLI (``python -m capslib.train ... --out results/NAME``) leaves in
its output folder:

* ``summary.json``: one JSON object with the run's outcome and provenance (git
  commit, torch version, device name, mode, dataset and sizes, epochs, wall
  time, images/s, best validation and final test accuracy);
* ``metrics.jsonl``: one JSON object per line, appended as training goes
  (per epoch, or per logging step).

Chapters 8-10 show the shipped runs (``results/mnist-capsnet/`` and the others
that ``scripts/train_shipped_models.sh`` makes) when they exist and say so
plainly when they do not.  The rule, documented here once:

* :func:`load_run` returns a :class:`Run` when ``results/<name>/summary.json``
  exists, and **``None`` when it does not** ("no such run yet"), so that a
  notebook can write ``run = load_run("mnist-paper")`` and branch on
  ``run is None``; with ``missing="raise"`` it raises :class:`RunNotFoundError`
  instead, whose message says which command makes the run;
* a ``summary.json`` that exists but cannot be read is an error
  (:class:`RunFormatError`), never silently "absent";
* a ``metrics.jsonl`` whose *last* line is cut short (a run killed mid-write)
  is read without that line, and the run's :attr:`Run.notes` say so; a bad
  line elsewhere is an error.

Two helpers for reading a result honestly:

* :func:`shipped_run` reads ``results/<name>/`` of a shipped model, or, where
  that folder is not in the checkout, the summary recorded with the weights in
  :mod:`capslib.pretrained` (no curves then, and the run's notes say so);
* :func:`check_shipped` measures a shipped model again on the first test
  examples, with :func:`capslib.pretrained.evaluate` (not the trainer), and says
  whether that agrees with the recorded number where the two overlap;
* :func:`error_count_range` is the range of test errors that sampling alone
  allows around an error rate (a central binomial interval): the yardstick for
  "is 0.31% the paper's 0.25%?".
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from capslib import pretrained

__all__ = [
    "RESULTS_ENV_VAR",
    "Run",
    "RunFormatError",
    "RunNotFoundError",
    "ShippedCheck",
    "check_shipped",
    "default_results_dir",
    "error_count_range",
    "find_runs",
    "list_runs",
    "load_run",
    "read_metrics",
    "runs_table",
    "shipped_run",
]

RESULTS_ENV_VAR = "CAPSLIB_RESULTS"
REPO_RESULTS_DIR = Path(__file__).resolve().parents[1] / "results"


class RunNotFoundError(FileNotFoundError):
    """No ``summary.json`` for the requested run: the run has not been made (or not copied here)."""


class RunFormatError(ValueError):
    """A run's files exist but are not what the training CLI writes."""


def default_results_dir() -> Path:
    """Where runs live: ``$CAPSLIB_RESULTS`` if set, else the repository's ``results/`` folder."""
    value = os.environ.get(RESULTS_ENV_VAR)
    return Path(value) if value else REPO_RESULTS_DIR


def _as_dir(results_dir) -> Path:
    if results_dir is None:
        return default_results_dir()
    if not isinstance(results_dir, (str, os.PathLike)):
        raise TypeError(
            f"results_dir: expected a path (str or Path), got {type(results_dir).__name__}"
        )
    return Path(results_dir)


# Names under which the quantities the notebooks need may appear in summary.json.
# The first one found wins; nested keys are written "outer.inner".
_ALIASES: dict[str, tuple[str, ...]] = {
    "test_accuracy": (
        "test_accuracy",
        "final_test_accuracy",
        "test_acc",
        "test.accuracy",
    ),
    "best_val_accuracy": (
        "best_val_accuracy",
        "best_validation_accuracy",
        "best_val_acc",
        "val_accuracy",
        "validation.best_accuracy",
    ),
    "images_per_s": (
        "images_per_s",
        "images_per_second",
        "train_images_per_s",
        "throughput",
    ),
    "wall_time_s": ("wall_time_s", "wall_s", "wall_time", "elapsed_s"),
    "device": ("device_name", "device", "provenance.device_name", "provenance.device"),
    "mode": ("mode", "provenance.mode"),
    "epochs": ("epochs", "config.epochs"),
    "dataset": ("dataset", "data.name", "data.dataset", "config.dataset"),
    "git_commit": ("git_commit", "commit", "provenance.git_commit"),
    "torch": ("torch_version", "torch", "versions.torch", "provenance.torch_version"),
}


def _lookup(mapping: dict, dotted: str):
    value = mapping
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


@dataclass
class Run:
    """One training run read from ``results/<name>/``.

    ``summary``: the parsed ``summary.json``; ``metrics``: the records of
    ``metrics.jsonl`` in file order (empty if the file is absent).
    """

    name: str
    path: Path
    summary: dict
    metrics: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def get(self, quantity: str, default=None):
        """A value from the summary by its usual name (``"test_accuracy"``, ``"device"``, ...).

        Known quantities are looked up under the names the training CLI may use
        for them; any other name is looked up as given (``"outer.inner"`` for
        nested keys).
        """
        for key in _ALIASES.get(quantity, (quantity,)):
            value = _lookup(self.summary, key)
            if value is not None:
                return value
        return default

    @property
    def test_accuracy(self) -> float | None:
        """The final test accuracy as a fraction in [0, 1] (converted if the file stores percent).

        ``None`` when the summary does not record it, or records NaN (an export made while the run
        was still going has no test accuracy yet).
        """
        value = self.get("test_accuracy")
        return None if _missing(value) else _fraction(float(value))

    @property
    def test_error_percent(self) -> float | None:
        """100 x (1 - test accuracy): the number the paper's Table 1 reports."""
        accuracy = self.test_accuracy
        return None if accuracy is None else 100.0 * (1.0 - accuracy)

    @property
    def best_val_accuracy(self) -> float | None:
        value = self.get("best_val_accuracy")
        return None if _missing(value) else _fraction(float(value))

    @property
    def test_errors(self) -> int | None:
        """The number of test examples the chosen model got wrong (from the accuracy and ``test_size``)."""
        accuracy, size = self.test_accuracy, self.get("test_size")
        if accuracy is None or _missing(size):
            return None
        return round((1.0 - accuracy) * int(size))

    @property
    def wall_time_h(self) -> float | None:
        """The run's wall time in hours (``wall_time_s`` of the summary), or ``None``."""
        value = self.get("wall_time_s")
        return None if _missing(value) else float(value) / 3600.0

    def provenance(self) -> str:
        """One line saying where the numbers come from: mode, data, device, epochs, wall time, commit, torch."""
        parts = [f"run={self.name}"]
        for label, quantity in (
            ("mode", "mode"),
            ("data", "dataset"),
            ("device", "device"),
            ("epochs", "epochs"),
            ("wall", "wall_time_s"),
            ("commit", "git_commit"),
            ("torch", "torch"),
        ):
            value = self.get(quantity)
            if _missing(value):
                continue
            if isinstance(value, str) and quantity == "git_commit":
                value = value[:10]
            elif quantity == "wall_time_s":
                value = _duration(float(value))
            parts.append(f"{label}={value}")
        return " | ".join(parts)

    def series(
        self, key: str, *, x: str = "epoch", where: dict | None = None
    ) -> tuple[list, list]:
        """The metric ``key`` over training: two lists ``(xs, ys)`` from the records that have both.

        ``where`` keeps only records whose fields equal the given values,
        e.g. ``where={"split": "val"}``.  Records without ``x`` use their index.
        """
        xs, ys = [], []
        for index, record in enumerate(self.metrics):
            if where and any(record.get(k) != v for k, v in where.items()):
                continue
            value = record.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                xs.append(record.get(x, index))
                ys.append(value)
        return xs, ys

    def variant(self) -> dict:
        """What was trained, for tables such as the paper's Table 1.

        ``{"model", "model_config", "dataset", "mode", "routing_iterations", "reconstruction"}``;
        a CapsNet run that does not record its routing iterations used the
        paper's 3, and one that does not record ``reconstruction`` had the
        decoder (the CLI's default).  The baseline CNN has ``None`` for both.
        """
        config = (
            self.summary.get("config")
            if isinstance(self.summary.get("config"), dict)
            else {}
        )
        model = self.summary.get("model", config.get("model", "capsnet"))
        capsnet = model == "capsnet"
        iterations = config.get(
            "routing_iterations", self.summary.get("routing_iterations")
        )
        reconstruction = config.get(
            "reconstruction", self.summary.get("reconstruction")
        )
        return {
            "model": model,
            "model_config": self.summary.get("model_config", config.get("config")),
            "dataset": self.get("dataset"),
            "mode": self.get("mode"),
            "routing_iterations": (iterations if iterations is not None else 3)
            if capsnet
            else None,
            "reconstruction": (reconstruction if reconstruction is not None else True)
            if capsnet
            else None,
        }

    def metric_names(self) -> list[str]:
        """The numeric fields found in the metrics records, in first-seen order."""
        names: dict[str, None] = {}
        for record in self.metrics:
            for key, value in record.items():
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    names.setdefault(key, None)
        return list(names)


def _missing(value) -> bool:
    """``None``, or a float NaN (JSON written by Python may hold ``NaN`` for "not measured")."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def _duration(seconds: float) -> str:
    """``"42 s"``, ``"12.5 min"`` or ``"3.1 h"``."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _fraction(value: float) -> float:
    """Accuracies are fractions; a value above 1 was written in percent."""
    if not math.isfinite(value) or value < 0 or value > 100:
        raise RunFormatError(
            f"expected an accuracy in [0, 1] or in percent, got {value}"
        )
    return value / 100.0 if value > 1.0 else value


def read_metrics(path: str | os.PathLike) -> tuple[list[dict], list[str]]:
    """Read a ``metrics.jsonl`` file: ``(records, notes)``.

    Blank lines are skipped.  An unreadable *last* line (a run killed while
    writing it) is dropped and reported in ``notes``; an unreadable line
    elsewhere, or a line that is not a JSON object, raises :class:`RunFormatError`.
    """
    path = Path(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    numbered = [(i + 1, line) for i, line in enumerate(lines) if line.strip()]
    records, notes = [], []
    for position, (number, line) in enumerate(numbered):
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            if position == len(numbered) - 1:
                notes.append(
                    f"{path}: dropped an incomplete last line {number} ({err.msg})"
                )
                break
            raise RunFormatError(
                f"{path}, line {number}: expected a JSON object, got invalid JSON ({err.msg})"
            ) from err
        if not isinstance(record, dict):
            raise RunFormatError(
                f"{path}, line {number}: expected a JSON object, got {type(record).__name__}"
            )
        records.append(record)
    return records, notes


def load_run(
    name: str, results_dir: str | os.PathLike | None = None, *, missing: str = "none"
) -> Run | None:
    """Read the run ``results_dir/name`` (``results/`` of the repository by default).

    Returns a :class:`Run`, or ``None`` when the run's ``summary.json`` does not
    exist (no such run has been made yet); with ``missing="raise"`` that case
    raises :class:`RunNotFoundError` instead.  A ``summary.json`` that is not a
    JSON object raises :class:`RunFormatError`.
    """
    if (
        not isinstance(name, str)
        or not name
        or "/" in name
        or "\\" in name
        or name in (".", "..")
    ):
        raise ValueError(
            f"load_run: expected a run name such as 'mnist-paper' (a folder in results/), got {name!r}"
        )
    if missing not in ("none", "raise"):
        raise ValueError(
            f"load_run: missing must be 'none' or 'raise', got {missing!r}"
        )
    folder = _as_dir(results_dir) / name
    summary_path = folder / "summary.json"
    if not summary_path.is_file():
        if missing == "raise":
            raise RunNotFoundError(
                f"no run {name!r}: {summary_path} does not exist. Make it with "
                f"`python -m capslib.train --config paper --dataset mnist --out results/{name}` "
                f"(on a GPU for the full run), or copy its results/{name}/ folder here."
            )
        return None
    try:
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise RunFormatError(
            f"{summary_path}: expected a JSON object, got invalid JSON ({err})"
        ) from err
    if not isinstance(summary, dict):
        raise RunFormatError(
            f"{summary_path}: expected a JSON object, got {type(summary).__name__}"
        )
    metrics, notes = [], []
    metrics_path = folder / "metrics.jsonl"
    if metrics_path.is_file():
        metrics, notes = read_metrics(metrics_path)
    else:
        notes.append(f"{metrics_path} is absent: no training curves for this run")
    return Run(name=name, path=folder, summary=summary, metrics=metrics, notes=notes)


def list_runs(results_dir: str | os.PathLike | None = None) -> list[str]:
    """The names of the runs in ``results_dir`` that have a ``summary.json``, sorted."""
    folder = _as_dir(results_dir)
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if (p / "summary.json").is_file())


def find_runs(results_dir: str | os.PathLike | None = None, **where) -> list[Run]:
    """The runs in ``results_dir`` whose :meth:`Run.variant` (or summary) has the given values.

    >>> find_runs(mode="full", dataset="mnist", model="capsnet", routing_iterations=3)  # doctest: +SKIP
    """
    found = []
    for name in list_runs(results_dir):
        run = load_run(name, results_dir)
        variant = run.variant()
        if all(
            (variant[key] if key in variant else run.get(key)) == value
            for key, value in where.items()
        ):
            found.append(run)
    return found


def runs_table(runs: Iterable[Run]) -> str:
    """A small text table of runs: name, test error (%), best validation accuracy, device."""
    rows = [("run", "test error %", "best val acc", "device")]
    for run in runs:
        err = run.test_error_percent
        val = run.best_val_accuracy
        rows.append(
            (
                run.name,
                "-" if err is None else f"{err:.2f}",
                "-" if val is None else f"{val:.4f}",
                str(run.get("device", "-")),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths)) for row in rows
    )


# ----------------------------------------------------------------------------
# the shipped models' runs, measured again, and how far sampling alone moves a test error
# ----------------------------------------------------------------------------
def shipped_run(name: str, results_dir: str | os.PathLike | None = None) -> Run | None:
    """The training run behind the shipped model ``name`` (``capslib.pretrained``), for its provenance.

    ``results/<name>/`` when that folder is in the checkout (summary, and ``metrics.jsonl`` for the
    curves); otherwise the summary recorded with the weights in ``capslib/pretrained/MANIFEST.json``,
    with empty metrics and a note saying so.  ``None`` when neither exists (no such shipped model).
    """
    run = load_run(name, results_dir)
    if run is not None:
        return run
    if name not in pretrained.available():
        return None
    summary = dict(pretrained.info(name)["summary"])
    folder = _as_dir(results_dir) / name
    note = (
        f"{folder} is not in this checkout: the numbers are the summary recorded with the shipped "
        f"weights (capslib/pretrained/MANIFEST.json), and there are no training curves"
    )
    return Run(name=name, path=folder, summary=summary, metrics=[], notes=[note])


@dataclass(frozen=True)
class ShippedCheck:
    """What :func:`check_shipped` measured: a shipped model's recorded test result against a new measurement.

    ``recorded_*``: on the whole test set (``test_size`` examples), as measured at export with
    :func:`capslib.pretrained.evaluate` on the float16 weights; ``live_*``: the same function now, on
    the first ``limit`` examples.  ``consistent``: the live mistakes are at most the recorded ones
    (the first ``limit`` examples are part of the whole set), and equal to them when ``limit``
    covers the whole set.
    """

    name: str
    test_size: int
    recorded_accuracy: float
    recorded_errors: int
    limit: int
    live_accuracy: float
    live_errors: int
    seconds: float

    @property
    def consistent(self) -> bool:
        if self.limit >= self.test_size:
            return self.live_errors == self.recorded_errors
        return self.live_errors <= self.recorded_errors

    def __str__(self) -> str:
        whole = (
            "the whole test set"
            if self.limit >= self.test_size
            else f"the first {self.limit:,}"
        )
        return (
            f"{self.name}: recorded {self.recorded_errors} errors in {self.test_size:,} "
            f"({100 * self.recorded_accuracy:.2f}%); measured now on {whole}: {self.live_errors} errors "
            f"({100 * self.live_accuracy:.2f}%) in {self.seconds:.1f} s -> "
            + ("consistent" if self.consistent else "NOT consistent")
        )


def check_shipped(name: str, limit: int | None = None, *, device=None) -> ShippedCheck:
    """Load the shipped model ``name`` and measure it again on the first ``limit`` test examples.

    ``limit``: ``None`` for the whole recorded test set (10,000 MNIST digits take a while on a
    CPU; a few hundred take a second).  Uses :func:`capslib.pretrained.evaluate`, which is written
    independently of the trainer.  Returns a :class:`ShippedCheck`; see its ``consistent``.
    """
    model, summary = pretrained.load(name, device=device)
    test_size = int(summary["test_size"])
    limit = test_size if limit is None else int(limit)
    if limit < 1:
        raise ValueError(
            f"check_shipped: expected limit >= 1 (or None for the whole test set), got {limit}"
        )
    limit = min(limit, test_size)
    recorded = float(summary["test_accuracy_float16"])
    start = time.perf_counter()
    live = pretrained.evaluate(
        model, summary["dataset"], summary["config"]["seed"], limit=limit
    )
    seconds = time.perf_counter() - start
    return ShippedCheck(
        name=name,
        test_size=test_size,
        recorded_accuracy=recorded,
        recorded_errors=round((1.0 - recorded) * test_size),
        limit=limit,
        live_accuracy=live,
        live_errors=round((1.0 - live) * limit),
        seconds=seconds,
    )


def error_count_range(
    error_rate: float, n: int, coverage: float = 0.95
) -> tuple[int, int]:
    """The central range of the number of errors a model with true ``error_rate`` makes on ``n`` examples.

    The errors on ``n`` independent test examples are Binomial(``n``, ``error_rate``); returns
    ``(low, high)``, its quantiles at (1 - coverage) / 2 and 1 - (1 - coverage) / 2: the smallest
    ``low`` with P(errors <= low) >= (1 - coverage) / 2 and the smallest ``high`` with
    P(errors <= high) >= 1 - (1 - coverage) / 2, so that at least ``coverage`` of the probability
    lies in ``[low, high]``.  For the paper's 0.25% on 10,000 digits:

    >>> error_count_range(0.0025, 10_000)
    (16, 35)

    Sampling is all this covers: two runs that trained differently differ by more.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(
            f"error_count_range: expected a positive number of examples n, got {n!r}"
        )
    if not (isinstance(error_rate, (int, float)) and 0 <= error_rate <= 1):
        raise ValueError(
            f"error_count_range: expected an error rate in [0, 1] (0.0025 for 0.25%), got {error_rate!r}"
        )
    if not 0 < coverage < 1:
        raise ValueError(
            f"error_count_range: expected a coverage in (0, 1), e.g. 0.95, got {coverage!r}"
        )
    if error_rate == 0:
        return 0, 0
    if error_rate == 1:
        return n, n
    tail = (1.0 - coverage) / 2
    log_p, log_q = math.log(error_rate), math.log1p(-error_rate)
    log_n = math.lgamma(n + 1)
    cumulative, low = 0.0, None
    for k in range(n + 1):
        cumulative += math.exp(
            log_n
            - math.lgamma(k + 1)
            - math.lgamma(n - k + 1)
            + k * log_p
            + (n - k) * log_q
        )
        if low is None and cumulative >= tail - 1e-12:
            low = k
        if cumulative >= 1.0 - tail - 1e-12:
            return low, k
    return low, n
