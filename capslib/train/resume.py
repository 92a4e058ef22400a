"""Resuming a run exactly: the state a checkpoint holds, and the checks before it is trusted.

:class:`Resumable` is the part of :class:`~capslib.train.trainer.Trainer` that
turns the run into a checkpoint's state and back.  Before a checkpoint is
restored it must be this run's: the same settings (only those in
:data:`~capslib.train.config.RESUMABLE_CHANGES` may differ, and ``epochs`` may
not shrink below what was trained), the same dtype, and the same data (its
fingerprint, :func:`~capslib.train.run_data.data_fingerprint`).  Each refusal
is one line naming both values and the fix.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch

from .checkpoint import (
    CheckpointError,
    load_checkpoint,
    resume_path,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from .config import RESUMABLE_CHANGES, _option
from .run_data import DATA_ENV_HINT, data_fingerprint


class Resumable:
    """The checkpoint side of the trainer: :meth:`state` out, :meth:`restore` in (see the module docstring)."""

    def state(self) -> dict[str, Any]:
        return {
            "format": "capslib-train-checkpoint-1",
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "step": self.step,
            "epoch": self.epoch,
            "step_in_epoch": self.step_in_epoch,
            "epoch_sums": dict(self.epoch_sums),
            "best": dict(self.best),
            "train_time": self.train_time,
            "step_losses": list(self.step_losses),
            "wall_time": self.wall_offset + time.perf_counter() - self.wall_start,
            "rng": rng_state(),
            "grad_scaler": self.scaler.state_dict() if self.scaler is not None else {},
            "run_id": self.run_id,
            "data": dict(self.data_fingerprint),
            "config": json.dumps(dataclasses.asdict(self.config)),
            "dtype_chosen": self.dtype_choice.name,
        }

    def restore(self) -> None:
        if self.checkpoint_path is None:
            raise CheckpointError(
                "cannot resume: no output folder given (--out), so there is no checkpoint"
            )
        path, notice = resume_path(self.checkpoint_path)
        if notice is not None and self.context.is_main:
            print(
                notice, file=sys.stderr, flush=True
            )  # shown even when verbose=False: never resume silently
        state = load_checkpoint(path, map_location=self.device)
        self.check_resumable(json.loads(state["config"]), path)
        saved_dtype = json.loads(state["config"]).get("dtype")
        self.check_same_dtype(
            state.get("dtype_chosen")
            or (saved_dtype if saved_dtype != "auto" else None),
            path,
        )
        self.check_same_data(state.get("data"), path)
        self.run_id = state.get("run_id") or self.run_id
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.step, self.epoch, self.step_in_epoch = (
            state["step"],
            state["epoch"],
            state["step_in_epoch"],
        )
        self.epoch_sums, self.best = dict(state["epoch_sums"]), dict(state["best"])
        self.train_time, self.step_losses = (
            state["train_time"],
            list(state["step_losses"]),
        )
        self.wall_offset = state.get("wall_time", 0.0)
        set_rng_state(state["rng"])
        if self.scaler is not None and state.get("grad_scaler"):
            self.scaler.load_state_dict(state["grad_scaler"])
        if self.epoch > self.config.epochs:
            raise CheckpointError(
                f"cannot resume from {path} with --epochs {self.config.epochs}: the run has already "
                f"trained {self.epoch} epochs. Fix: resume with --epochs {self.epoch} or more, or start a "
                f"new run with a new --out folder."
            )
        self.last_saved_step = self.step
        self._adopt_newer_best()
        self.metrics.truncate_after(self.step)
        if self.verbose:
            print(f"Resumed from {path}: epoch {self.epoch}, step {self.step}")

    def check_resumable(self, saved: dict, path: Path) -> None:
        """Refuse to resume when a field outside :data:`RESUMABLE_CHANGES` differs from the checkpoint's.

        ``saved``: the checkpoint's (resolved) config.  Fields the checkpoint
        does not record (older checkpoints) are not compared.  One error lists
        every difference, with the checkpoint's value and the requested one.
        """
        ours = dataclasses.asdict(self.config)
        changed = [
            key
            for key in ours
            if key not in RESUMABLE_CHANGES and key in saved and saved[key] != ours[key]
        ]
        if changed:
            details = "; ".join(
                f"{key} ({_option(key)}): checkpoint {saved[key]!r}, requested {ours[key]!r}"
                for key in changed
            )
            raise CheckpointError(
                f"cannot resume from {path}: it was made with other settings that change what training does: "
                f"{details}. Fix: run again with the checkpoint's settings, or start a new run with a new --out "
                f"folder (without --resume)."
            )

    def check_same_dtype(self, saved: str | None, path: Path) -> None:
        """Refuse to resume in another dtype than the checkpoint's (``--dtype auto`` on another processor)."""
        if saved is None or saved == self.dtype_choice.name:
            return
        raise CheckpointError(
            f"cannot resume from {path}: it was trained in {saved}, and --dtype {self.config.dtype} chooses "
            f"{self.dtype_choice.name} here ({self.dtype_choice.reason}). Fix: add --dtype {saved} to continue the "
            f"run as it was trained, or start a new run with a new --out folder."
        )

    def check_same_data(self, saved: dict | None, path: Path) -> None:
        """Refuse to resume on other data than the checkpoint's (source, sizes, fingerprint of the contents)."""
        if not saved or saved == self.data_fingerprint:
            return
        ours = self.data_fingerprint
        if (
            "images" not in saved
        ):  # a checkpoint that hashed every 97th image: compare alike
            ours = data_fingerprint(self.data, every=97)
            if saved == ours:
                return
        details = "; ".join(
            f"{key}: checkpoint {saved.get(key)!r}, now {ours.get(key)!r}"
            for key in ours
            if saved.get(key) != ours.get(key)
        )
        raise CheckpointError(
            f"cannot resume from {path}: it was trained on other data ({details}). Fix: make the same data "
            f"available again (e.g. set {DATA_ENV_HINT} as when the run started), or start a new run with a new "
            f"--out folder."
        )

    def _adopt_newer_best(self) -> None:
        """Keep ``self.best`` in step with ``best.pt`` when that file is newer than the restored checkpoint.

        ``best.pt`` is written just before the epoch's checkpoint; a crash in
        between (or a resume from ``last.prev.pt``) leaves a best model from
        the progress about to be redone.  Its weights are a real evaluated
        model, so its record is kept: the redone epochs must beat it to
        replace it, and the summary reports the model that ``best.pt`` holds.
        """
        best_path = self.run_dir / "checkpoints" / "best.pt"
        if not best_path.is_file():
            return
        try:
            best = torch.load(best_path, map_location="cpu", weights_only=True)
        except (
            Exception
        ):  # unreadable: nothing to adopt (the record of the checkpoint stands)
            return
        if (
            isinstance(best, dict)
            and "val_accuracy" in best
            and best.get("step", -1) > self.step
            and best.get("run_id") == self.run_id
        ):  # only this run's own best model, never another's
            self.best = {
                "val_accuracy": float(best["val_accuracy"]),
                "epoch": int(best["epoch"]),
            }

    def _save_best(self) -> None:
        if self.run_dir is None:
            self.best_state = {
                k: v.detach().clone() for k, v in self.model.state_dict().items()
            }
        elif self.context.is_main:
            save_checkpoint(
                self.run_dir / "checkpoints" / "best.pt",
                {
                    "model": self.model.state_dict(),
                    "epoch": self.epoch,
                    "step": self.step,
                    "val_accuracy": self.best["val_accuracy"],
                    "run_id": self.run_id,
                },
            )
