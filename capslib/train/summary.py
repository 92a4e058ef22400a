"""``summary.json``: what a finished run reports, its schema, and where its numbers come from.

:func:`build_summary` gathers a finished run's result (the test accuracy of
the model it names: the one chosen on validation, or the final one when that
is gone, as ``tested_model`` and ``tested_epoch`` say) with its provenance
(commit, versions, device, data of each split, settings);
:func:`validate_summary` checks it against :data:`SUMMARY_SCHEMA`, and
:func:`write_summary` writes it atomically.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import torch

from .. import runtime as mode_lib
from ..nn import count_parameters
from .checkpoint import CheckpointError, load_state
from .distributed import barrier
from .metrics import TIME_TO_ACCURACY_TARGETS, time_to_accuracy


def git_commit() -> str:
    """The repository's current commit (with ``-dirty`` if files changed), or ``"unknown"`` outside git."""
    root = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        return commit + ("-dirty" if dirty else "") if commit else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def build_summary(
    trainer, test: dict, tested: str, tested_epoch: int, wall_time: float
) -> dict:
    """The summary of ``trainer``'s finished run; ``test``: the tested model's loss and accuracy."""
    c = trainer.config
    seen = trainer.step * c.batch_size
    summary = {
        "status": "finished",
        "run_id": trainer.run_id,
        "describe": trainer.describe,
        "git_commit": git_commit(),
        "torch_version": torch.__version__,
        "cuda_version": torch.version.cuda or "none",
        "device_name": mode_lib.device_name(trainer.device),
        "processes": trainer.context.world_size,
        "mode": c.mode,
        "dataset": c.dataset,
        "data": trainer.data.describe(),  # names the test set's source where it differs
        "test_data": trainer.data.test_name or trainer.data.name,
        "train_size": len(trainer.data.train),
        "validation_size": len(trainer.data.validation),
        "test_size": len(trainer.data.test),
        "model": c.model,
        "model_config": c.config,
        "parameters": count_parameters(trainer.model),
        "routing_iterations": c.routing_iterations if trainer.is_capsnet else None,
        "reconstruction": c.reconstruction if trainer.is_capsnet else None,
        "epochs": trainer.epoch,
        "steps": trainer.step,
        "batch_size": c.batch_size,
        "dtype": trainer.dtype_choice.name,
        "dtype_reason": trainer.dtype_choice.reason,
        "compile": c.compile,
        "wall_time_s": wall_time,  # data loading, compilation and evaluation included (all parts of a resumed run)
        "train_time_s": trainer.train_time,
        "images_per_s": seen / max(trainer.train_time, 1e-9),
        "best_val_accuracy": trainer.best["val_accuracy"],
        "best_val_epoch": trainer.best["epoch"],
        "test_accuracy": test["accuracy"],
        "tested_model": tested,  # "best" (chosen on validation) or "final"
        "tested_epoch": tested_epoch,
        "test_error_percent": 100 * (1 - test["accuracy"]),
        "test_loss": test["loss"],
        "stop_at_val_accuracy": c.stop_at_val_accuracy,
        "reached_target": trainer.reached_target
        if c.stop_at_val_accuracy is not None
        else None,
        "test_each_epoch": c.test_each_epoch,
        "time_to_test_accuracy": (
            {
                f"{target:g}": time_to_accuracy(trainer.metrics.path, target)
                for target in TIME_TO_ACCURACY_TARGETS
            }
            if c.test_each_epoch and trainer.metrics.path is not None
            else None
        ),
        "credit": trainer.data.credit,
        "config": dataclasses.asdict(c),
    }
    return validate_summary(summary)


def write_summary(run_dir: Path, summary: dict) -> Path:
    """Write ``run_dir/summary.json`` atomically (a temporary file renamed over it); returns its path."""
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / "summary.json"
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    os.replace(temporary, path)
    return path


#: The fields of ``summary.json`` and their types (the CLI test validates every summary against this).
SUMMARY_SCHEMA: dict[str, tuple[type, ...]] = {
    "status": (str,),
    "describe": (str,),
    "git_commit": (str,),
    "torch_version": (str,),
    "device_name": (str,),
    "mode": (str,),
    "dataset": (str,),
    "data": (str,),
    "train_size": (int,),
    "validation_size": (int,),
    "test_size": (int,),
    "model": (str,),
    "epochs": (int,),
    "steps": (int,),
    "batch_size": (int,),
    "dtype": (str,),
    "compile": (bool,),
    "wall_time_s": (float, int),
    "images_per_s": (float, int),
    "best_val_accuracy": (float, int),
    "best_val_epoch": (int,),
    "test_accuracy": (float, int),
    "config": (dict,),
}


def validate_summary(summary: dict) -> dict:
    """Check that ``summary`` has every field of :data:`SUMMARY_SCHEMA` with a sensible value; return it.

    Raises ``ValueError`` listing every problem (missing field, wrong type,
    accuracy outside [0, 1], a non-positive time or throughput, a mode other
    than quick/full).
    """
    if not isinstance(summary, dict):
        raise ValueError(
            f"summary: expected a JSON object, got {type(summary).__name__}"
        )
    problems = []
    for key, types in SUMMARY_SCHEMA.items():
        if key not in summary:
            problems.append(f"missing {key!r}")
        elif (
            isinstance(summary[key], bool)
            and bool not in types
            or not isinstance(summary[key], types)
        ):
            problems.append(
                f"{key!r}: expected {' or '.join(t.__name__ for t in types)}, "
                f"got {type(summary[key]).__name__}"
            )
    if not problems:
        for key in ("best_val_accuracy", "test_accuracy"):
            if not 0 <= summary[key] <= 1:
                problems.append(
                    f"{key!r}: expected a fraction in [0, 1], got {summary[key]}"
                )
        for key in ("wall_time_s", "images_per_s"):
            if not (math.isfinite(summary[key]) and summary[key] > 0):
                problems.append(
                    f"{key!r}: expected a positive number, got {summary[key]}"
                )
        if summary["mode"] not in mode_lib.MODES:
            problems.append(f"'mode': expected quick or full, got {summary['mode']!r}")
        for key in (
            "train_size",
            "validation_size",
            "test_size",
            "epochs",
            "steps",
            "batch_size",
        ):
            if summary[key] < 1:
                problems.append(
                    f"{key!r}: expected a positive count, got {summary[key]}"
                )
    if problems:
        raise ValueError("summary.json is not valid: " + "; ".join(problems))
    return summary


class Reporting:
    """The end of a run: test the model it names and write ``summary.json`` (a part of the trainer)."""

    def finish(self, wall_time: float) -> dict:
        """Test the model chosen on validation, write ``summary.json``; returns the summary."""
        best_path = self.run_dir / "checkpoints" / "best.pt" if self.run_dir else None
        barrier(self.context)
        final_state = {k: v.clone() for k, v in self.model.state_dict().items()}
        if best_path is not None and best_path.is_file():
            best = load_state(
                best_path,
                map_location=self.device,
                required=("model",),
                what="best model",
                fix=f"Fix: delete it and resume (--resume) to redo the epochs since "
                f"{self.checkpoint_path}, or start again with --overwrite.",
            )
            if best.get("run_id") not in (None, self.run_id):
                raise CheckpointError(
                    f"{best_path} belongs to another run (run id {best.get('run_id')}, this run "
                    f"is {self.run_id}); it was left as it is. Fix: start again with --overwrite, "
                    f"or use a new --out folder."
                )
            self.model.load_state_dict(best["model"])
            tested_epoch = int(best.get("epoch", self.best["epoch"]))
        elif self.best_state is not None:
            self.model.load_state_dict(self.best_state)
            tested_epoch = self.best["epoch"]
        else:  # no best model kept (best.pt deleted): the final weights, and the summary says so
            tested_epoch = self.epoch
        test = self.evaluate(self.data.test)  # the model chosen on validation
        tested = "best" if tested_epoch == self.best["epoch"] else "final"
        if tested == "final" and self.context.is_main:
            print(
                f"note: the best model (epoch {self.best['epoch']}) is gone ({best_path} is "
                f"missing), so the final model, of epoch {tested_epoch}, was tested; "
                f"summary.json says so",
                file=sys.stderr,
                flush=True,
            )
        self.final_state = final_state
        summary = build_summary(self, test, tested, tested_epoch, wall_time)
        if self.run_dir is not None and self.context.is_main:
            write_summary(self.run_dir, summary)
        if self.verbose:
            print(
                f"test accuracy {test['accuracy']:.4f} (model of epoch {tested_epoch}, "
                + (
                    f"chosen on validation accuracy {self.best['val_accuracy']:.4f}); "
                    if tested == "best"
                    else "the final model: the best one was missing); "
                )
                + f"{summary['images_per_s']:,.0f} images/s; wall time {wall_time:.1f} s"
            )
            print(self.describe)
        return summary
