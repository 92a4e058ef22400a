"""scripts/full_gpu_runs.sh (issue 8's GPU runs) works end to end: a CPU dry run with tiny settings.

The real runs need a GPU; this checks the script itself: it refuses to start
without data, runs a stage into results/<run>/ with summary, metrics and a
plot, aggregates the time-to-accuracy seeds, and skips finished runs when it
is run again (so a command cut short by a time limit can simply be repeated).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from capslib.data import sources

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "full_gpu_runs.sh"
TINY = "--config tiny --train-size 64 --validation-size 32 --test-size 64 --batch-size 16 --device cpu"


def run_script(tmp_path: Path, data: Path, *stages: str) -> subprocess.CompletedProcess:
    env = dict(
        os.environ,
        ALLOW_CPU="1",
        COMPILE="",
        TRAIN_EXTRA=TINY,
        EPOCHS_PAPER="1",
        EPOCHS_TTA="1",
        SEEDS_TTA="0 1",
        RESULTS=str(tmp_path / "results"),
        CAPSLIB_DATA=str(data),
        PYTHON=sys.executable,
    )
    return subprocess.run(
        ["bash", str(SCRIPT), *stages],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def sample_as_data_dir(tmp_path: Path) -> Path:
    """A data folder whose mnist/ holds the bundled sample's files (stand-ins for the complete MNIST)."""
    data = tmp_path / "data"
    (data / "mnist").mkdir(parents=True)
    for f in sources.SAMPLE_DIR.glob("*.gz"):
        (data / "mnist" / f.name).symlink_to(f)
    return data


def test_script_refuses_to_start_without_mnist(tmp_path):
    result = run_script(tmp_path, tmp_path / "nothing", "paper")
    assert result.returncode == 2
    assert "no complete MNIST" in result.stderr and "Fix:" in result.stderr


def test_unknown_stage_is_refused(tmp_path):
    result = run_script(tmp_path, sample_as_data_dir(tmp_path), "everything")
    assert result.returncode == 2 and "unknown stage 'everything'" in result.stderr


@pytest.mark.slow
def test_dry_run_writes_results_and_skips_finished_runs(tmp_path):
    data = sample_as_data_dir(tmp_path)
    first = run_script(tmp_path, data, "paper", "tta")
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
    results = tmp_path / "results"
    for run in ("mnist-paper", "tta-e1-b256-s0", "tta-e1-b256-s1"):
        summary = json.loads((results / run / "summary.json").read_text())
        assert summary["mode"] == "full" and summary["epochs"] == 1
        assert 0.0 <= summary["test_accuracy"] <= 1.0
        assert (results / run / "metrics.jsonl").stat().st_size > 0
        assert (results / run / "curves.png").stat().st_size > 0
    tta = json.loads((results / "tta-e1-b256.json").read_text())
    assert tta["seeds"] == ["0", "1"] and len(tta["test_accuracy"]) == 2
    assert 0 <= tta["reached_99_6"] <= 2

    again = run_script(tmp_path, data, "paper")
    assert again.returncode == 0
    assert "mnist-paper: done already" in again.stdout
