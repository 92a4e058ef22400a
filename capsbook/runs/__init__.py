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

The package, one idea a module: :mod:`capsbook.runs.run` (a :class:`Run` and what its summary
says), :mod:`capsbook.runs.folder` (the folder of runs: loading, listing, finding),
:mod:`capsbook.runs.shipped` (the shipped models' runs, measured again),
:mod:`capsbook.runs.sampling` (:func:`error_count_range`), and chapter 8's readings:
:mod:`capsbook.runs.recorded` (recorded runs, by paired rules),
:mod:`capsbook.runs.peer` (``results/peer-bench.json``, our step against a public CapsNet) and
:mod:`capsbook.runs.readings` (a record turned into the chapter's tables, figures and sentences).
"""

from __future__ import annotations

from .folder import (
    RESULTS_ENV_VAR,
    default_results_dir,
    find_runs,
    list_runs,
    load_run,
    read_metrics,
    runs_table,
)
from .run import Run, RunFormatError, RunNotFoundError
from .sampling import error_count_range
from .shipped import ShippedCheck, check_shipped, shipped_run

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
