"""What closes an epoch of :class:`~capslib.train.trainer.Trainer`: its sums, validation, its record.

The loop (:mod:`capslib.train.trainer`) keeps each step's loss and correct
count on the device; :meth:`EpochRecords._flush` moves them to the host in one
sync (and stops a run whose loss is no longer finite, naming the step), and
:meth:`EpochRecords.end_epoch` validates, keeps the best model by validation
accuracy, appends the epoch's line to ``metrics.jsonl`` and writes the
checkpoint, as one piece an interrupt cannot split.
"""

from __future__ import annotations

import math
import time

import torch

from .distributed import all_reduce_sum
from .interrupts import TrainingDiverged, deferred


class EpochRecords:
    """The epoch's bookkeeping, a part of :class:`~capslib.train.trainer.Trainer` (it uses the trainer's state)."""

    def _flush(self, losses: list, corrects: list, start: float) -> None:
        """Move the accumulated step values to the host (one sync) and add them to the epoch's sums."""
        if not losses:
            return
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        elapsed = time.perf_counter() - start
        values = torch.stack(losses).float().tolist()
        bad = next(
            (i for i, value in enumerate(values) if not math.isfinite(value)), None
        )
        if bad is not None:
            step = self.step - len(values) + bad + 1
            raise TrainingDiverged(self._diverged(step, f"its loss was {values[bad]}"))
        correct = float(torch.stack(corrects).sum())
        share = self.config.batch_size // self.context.world_size
        self.step_losses.extend(values)
        self.epoch_sums["loss"] += sum(values) * share
        self.epoch_sums["correct"] += correct
        self.epoch_sums["seen"] += share * len(values)
        self.epoch_sums["time"] += elapsed
        self.train_time += elapsed

    def _diverged(self, step: int, detail: str) -> str:
        """The one-line message of a run that stopped because its loss or weights are no longer finite."""
        saved = (
            f"the last good checkpoint, {self.checkpoint_path} (written at step {self.last_saved_step}), "
            f"was left as it is"
            if self.checkpoint_path is not None and self.last_saved_step is not None
            else "no checkpoint had been written yet"
        )
        return (
            f"training diverged at step {step} (epoch {self.epoch + 1}): {detail}. Nothing was saved after "
            f"it; {saved}. Fix: a smaller learning rate (--lr, now {self.config.lr:g}), or --dtype float32 "
            f"if you used float16/bfloat16."
        )

    def end_epoch(self) -> dict:
        """Validate, then record the epoch: the new best model, the metrics line and the checkpoint.

        Validation changes nothing, so an interrupt during it leaves the state of the
        epoch's last step, which run() saves; the rest happens whole (signals deferred).
        """
        sums = torch.tensor(
            [
                self.epoch_sums["loss"],
                self.epoch_sums["correct"],
                self.epoch_sums["seen"],
            ],
            dtype=torch.float64,
            device=self.device,
        )
        all_reduce_sum(sums, self.context)
        loss_sum, correct, seen = sums.tolist()
        validation = self.evaluate(self.data.validation)
        test = self.evaluate(self.data.test) if self.config.test_each_epoch else None
        record = {
            "kind": "epoch",
            "epoch": self.epoch + 1,
            "step": self.step,
            "train_loss": loss_sum / seen,
            "train_accuracy": correct / seen,
            "val_loss": validation["loss"],
            "val_accuracy": validation["accuracy"],
            "lr": self.scheduler.get_last_lr()[0],
            "images_per_s": seen / max(self.epoch_sums["time"], 1e-9),
            "epoch_time_s": self.epoch_sums["time"],
            "train_time_s": self.train_time,
        }
        if test is not None:  # time to accuracy: read, never used to choose the model
            record["test_loss"] = test["loss"]
            record["test_accuracy"] = test["accuracy"]
            record["wall_time_s"] = (
                self.wall_offset + time.perf_counter() - self.wall_start
            )
        with deferred():
            self.epoch += 1
            self.step_in_epoch = 0
            self.epoch_sums = {"loss": 0.0, "correct": 0.0, "seen": 0.0, "time": 0.0}
            if validation["accuracy"] > self.best["val_accuracy"]:
                self.best = {
                    "val_accuracy": validation["accuracy"],
                    "epoch": self.epoch,
                }
                self._save_best()
            self.metrics.write(record)
            self.save()
        if self.verbose:
            print(
                f"epoch {record['epoch']}/{self.config.epochs}: train loss {record['train_loss']:.4f}, "
                f"train acc {record['train_accuracy']:.4f}, val acc {record['val_accuracy']:.4f}, "
                + (
                    f"test acc {record['test_accuracy']:.4f}, "
                    if "test_accuracy" in record
                    else ""
                )
                + f"{record['images_per_s']:,.0f} images/s",
                flush=True,
            )
        return record
