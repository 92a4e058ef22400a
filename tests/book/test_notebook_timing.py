"""The notebook timer (the repository's conftest.py) adds up each notebook's cells and enforces a limit."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_nbval(folder: Path, limit: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "CAPSLIB_NOTEBOOK_LIMIT_S"}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    if limit is not None:
        env["CAPSLIB_NOTEBOOK_LIMIT_S"] = limit
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--nbval-lax",
            "--nbval-current-env",
            "-p",
            "conftest",
            "-p",
            "no:cacheprovider",
            "-q",
            str(folder),
        ],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
def test_notebook_times_are_reported_and_a_limit_fails_the_run(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("import time\ntime.sleep(0.8)"),
        nbformat.v4.new_code_cell("time.sleep(0.8)"),
    ]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, tmp_path / "slow.ipynb")

    free = run_nbval(tmp_path, None)
    assert free.returncode == 0, free.stdout + free.stderr
    line = next(l for l in free.stdout.splitlines() if l.strip().endswith("slow.ipynb"))
    assert float(line.split()[0]) >= 1.6  # both cells counted

    limited = run_nbval(tmp_path, "1")
    assert limited.returncode == 1, limited.stdout
    assert "slow.ipynb" in limited.stdout and "OVER THE LIMIT" in limited.stdout
    assert "notebooks over CAPSLIB_NOTEBOOK_LIMIT_S=1 s" in limited.stdout
