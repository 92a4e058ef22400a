"""Time every notebook that nbval runs, and report it at the end of the run.

Quick mode promises each notebook under 3 minutes on 2 CPU cores (README).
``pytest --nbval-lax notebooks`` runs a notebook as one test per cell; this
plugin adds the cells' times up per notebook and prints a table after the
run.  With ``CAPSLIB_NOTEBOOK_LIMIT_S`` set (e.g. 180), a notebook over that
many seconds fails the run, naming it and its time.
"""

from __future__ import annotations

import os
from collections import defaultdict

_notebook_seconds: dict[str, float] = defaultdict(float)


def _limit() -> float | None:
    value = os.environ.get("CAPSLIB_NOTEBOOK_LIMIT_S")
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        raise ValueError(
            f"CAPSLIB_NOTEBOOK_LIMIT_S must be a number of seconds, got {value!r}"
        ) from None


def pytest_runtest_logreport(report):
    path = report.nodeid.split("::", 1)[0]
    if path.endswith(".ipynb"):
        _notebook_seconds[path] += report.duration


def pytest_terminal_summary(terminalreporter):
    if not _notebook_seconds:
        return
    limit = _limit()
    terminalreporter.section(
        "notebook times (quick mode: each under 180 s on 2 CPU cores)"
    )
    for path, seconds in sorted(_notebook_seconds.items()):
        over = limit is not None and seconds > limit
        terminalreporter.write_line(
            f"{seconds:7.1f} s  {path}" + ("  OVER THE LIMIT" if over else "")
        )
    terminalreporter.write_line(f"{sum(_notebook_seconds.values()):7.1f} s  in all")


def pytest_sessionfinish(session, exitstatus):
    limit = _limit()
    if limit is None:
        return
    over = {p: s for p, s in _notebook_seconds.items() if s > limit}
    if over and session.exitstatus == 0:
        names = ", ".join(f"{p} ({s:.0f} s)" for p, s in sorted(over.items()))
        print(
            f"\nerror: notebooks over CAPSLIB_NOTEBOOK_LIMIT_S={limit:g} s: {names}. "
            "Fix: make their quick mode smaller (fewer examples, steps or epochs)."
        )
        session.exitstatus = 1
