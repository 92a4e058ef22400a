"""The folder of runs: where it is, reading a run from it, finding and listing runs.

The rules are those of :mod:`capsbook.runs`: a run without ``summary.json`` is ``None`` (or
:class:`~capsbook.runs.run.RunNotFoundError` on request), a ``summary.json`` that cannot be read is
an error, and a ``metrics.jsonl`` cut short in its last line is read without it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

from capslib.train.metrics import read_records

from .run import Run, RunFormatError, RunNotFoundError

RESULTS_ENV_VAR = "CAPSLIB_RESULTS"
REPO_RESULTS_DIR = Path(__file__).resolve().parents[2] / "results"


def default_results_dir() -> Path:
    """Where runs live: ``$CAPSLIB_RESULTS`` if set, else the repository's ``results/`` folder."""
    value = os.environ.get(RESULTS_ENV_VAR)
    return Path(value) if value else REPO_RESULTS_DIR


def results_file(name: str) -> Path:
    """A record the chapters read, e.g. ``"face-seeds.json"``, in :func:`default_results_dir`.

    Read at call time, so that ``$CAPSLIB_RESULTS`` set after import counts (the Colab cell
    sets it to the cloned course's ``results/``, which an installed package does not hold).
    """
    return default_results_dir() / name


def as_dir(results_dir) -> Path:
    """``results_dir`` as a path; ``None`` is :func:`default_results_dir`."""
    if results_dir is None:
        return default_results_dir()
    if not isinstance(results_dir, (str, os.PathLike)):
        raise TypeError(
            f"results_dir: expected a path (str or Path), got {type(results_dir).__name__}"
        )
    return Path(results_dir)


def read_metrics(path: str | os.PathLike) -> tuple[list[dict], list[str]]:
    """Read a ``metrics.jsonl`` file with the book's rule: ``(records, notes)``.

    The file is read by :func:`capslib.train.metrics.read_records` (the one
    reader of the format).  An unreadable *last* line (a run killed while
    writing it) is dropped and reported in ``notes``; any other line that is not
    a record raises :class:`RunFormatError`.
    """
    records, bad = read_records(path)
    notes = []
    for line in bad:
        if line.cut_short and line.last:
            notes.append(
                f"{path}: dropped an incomplete last line {line.number}: {line.reason}"
            )
        else:
            raise RunFormatError(f"{path}, line {line.number}: {line.reason}")
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
    folder = as_dir(results_dir) / name
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
    folder = as_dir(results_dir)
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


__all__ = [
    "RESULTS_ENV_VAR",
    "default_results_dir",
    "find_runs",
    "list_runs",
    "load_run",
    "read_metrics",
    "runs_table",
]
