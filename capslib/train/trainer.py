"""Train CapsNet (or the baseline CNN) with the paper's optimiser, on any device, resumably.

Sabour, Frosst & Hinton (2017) train with Adam and the official
implementation (Sabour's ``research/capsules``) decays the learning rate as
``tf.train.exponential_decay(0.001, step, 2000, 0.96)``, which is *smooth*
(``staircase=False``): ``lr = 1e-3 * 0.96 ** (step / 2000)``, updated every
step.  We do the same (``staircase=True`` gives the stepwise variant).

One call, :func:`train`, does the whole run:

1. load the data, carve a validation split from the training data, move
   everything to the device once (:mod:`capslib.data.device`);
2. each epoch: a seeded plan (order + 2 px shifts), batches drawn on the
   device, bf16 autocast where the GPU supports it, optional
   ``torch.compile``, a tqdm bar with loss, accuracy and images/s;
3. after each epoch: evaluate on the *validation* split (never the test
   set), append a record to ``metrics.jsonl``, keep the best model by
   validation accuracy, write a checkpoint atomically;
4. at the end: the test accuracy of the model chosen on validation, and a
   ``summary.json`` with the provenance.

Interrupting (Ctrl-C, or ``max_steps``) saves a checkpoint at that step;
``resume=True`` continues exactly where it stopped: on a CPU the resumed
run's per-step losses and final weights are bitwise those of an
uninterrupted run.  It refuses a checkpoint made with settings that change
what training does (only those in :data:`RESUMABLE_CHANGES`, such as a larger
``epochs``, may differ), and when a crash left only ``last.prev.pt`` it
resumes from that one, saying so.

The run's parts live in one module each: :mod:`~capslib.train.config` (the
settings and their checks), :mod:`~capslib.train.run_data` (the splits and
their fingerprint), :mod:`~capslib.train.step` (one training step, shared with
the benchmark), :mod:`~capslib.train.resume` (checkpoint state in and out),
:mod:`~capslib.train.epochs` (what closes an epoch: its sums, validation, the
record, the best model), :mod:`~capslib.train.summary` (``summary.json``) and
:mod:`capslib.builders` (the networks).  This module is the loop.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..functional import value_checks
from .checkpoint import CHECKPOINT_NAME, CheckpointError, save_checkpoint
from .config import CONFIGS, RESUMABLE_CHANGES, TrainConfig
from .distributed import (
    DistributedContext,
    barrier,
    cleanup_distributed,
    setup_distributed,
)
from .epochs import EpochRecords
from .interrupts import (
    TrainingDiverged,
    TrainingInterrupted,
    deferred,
    terminate_as_interrupt,
)
from .metrics import accuracy_counts
from .resume import Resumable
from .run_data import Batches, load_run_data
from .run_folder import prepare_run_folder
from .setup import Assembly
from .step import autocast, compute_loss, optimizer_step
from .summary import Reporting, git_commit

# names that were defined here before the trainer was split into its parts
__all__ = [
    "RESUMABLE_CHANGES",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "TrainingDiverged",
    "TrainingInterrupted",
    "git_commit",
    "load_run_data",
    "train",
]


def _progress_enabled(requested: bool | None) -> bool:
    if requested is not None:
        return requested
    if "ipykernel" in sys.modules:
        return True
    return sys.stderr.isatty()


@dataclass
class TrainResult:
    """What :func:`train` returns: the summary (also in ``summary.json``), the folder, the per-step losses."""

    summary: dict
    run_dir: Path | None
    step_losses: list[float] = field(default_factory=list)
    model: torch.nn.Module | None = None
    status: str = "finished"


class Trainer(Assembly, Batches, Resumable, Reporting, EpochRecords):
    """The training loop behind :func:`train` (see the module docstring); resuming: :class:`~capslib.train.resume.Resumable`."""

    def __init__(
        self,
        config: TrainConfig,
        *,
        on_step: Callable[[Trainer], None] | None = None,
        context: DistributedContext | None = None,
        verbose: bool = True,
    ):
        self.config = config.resolved()
        self.on_step = on_step
        self.context = context or setup_distributed(config.device)
        self.device = self.context.device
        self.verbose = verbose and self.context.is_main
        self.run_dir = Path(self.config.out) if self.config.out else None
        self.step = 0
        self.epoch = 0
        self.step_in_epoch = 0
        self.step_losses: list[float] = []
        self.epoch_sums = {"loss": 0.0, "correct": 0.0, "seen": 0.0, "time": 0.0}
        self.best = {"val_accuracy": -1.0, "epoch": None}
        self.train_time = 0.0
        self.best_state: dict | None = None
        self.wall_offset = 0.0  # wall time of the run's earlier parts (before a resume)
        self.last_saved_step: int | None = None
        self.scaler = None
        self.reached_target = False
        self.wall_start = time.perf_counter()

    @property
    def checkpoint_path(self) -> Path | None:
        return self.run_dir / "checkpoints" / CHECKPOINT_NAME if self.run_dir else None

    def _autocast(self):
        return autocast(self.device, self.amp_dtype)

    def compute_loss(
        self,
        model,
        images: torch.Tensor,
        labels: torch.Tensor,
        components: torch.Tensor | None = None,
    ):
        """``(loss, scores)`` for a batch (:func:`capslib.train.step.compute_loss`); a subclass may
        override it to train with another loss (chapter 6 does)."""
        return compute_loss(
            model,
            images,
            labels,
            components,
            capsnet=self.model if self.is_capsnet else None,
            classes=self.classes,
        )

    def train_step(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        components: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        self.model.train()
        with value_checks(self._checks_now()), self._autocast():
            loss, scores = self.compute_loss(
                self.forward_model, images, labels, components
            )
        optimizer_step(loss, self.optimizer, self.scheduler, self.scaler)
        return loss.detach(), accuracy_counts(scores.detach(), labels)

    def _checks_now(self) -> bool:
        mode = self.config.value_checks
        return mode == "always" or (mode == "epoch-start" and self.step_in_epoch == 0)

    def save(self) -> None:
        if self.checkpoint_path is not None and self.context.is_main:
            bad = [
                name
                for name, p in self.model.state_dict().items()
                if p.is_floating_point() and not bool(torch.isfinite(p).all())
            ]
            if bad:
                raise TrainingDiverged(
                    self._diverged(
                        self.step,
                        f"the weights {', '.join(bad[:3])} hold NaN or infinite values",
                    )
                )
            save_checkpoint(self.checkpoint_path, self.state())
            self.last_saved_step = self.step
        barrier(self.context)

    def run_epoch(self) -> str:
        """Train one epoch from ``step_in_epoch``; returns ``"done"``, ``"stopped"`` (max_steps)."""
        from tqdm.auto import tqdm

        c = self.config
        batches = self.batches(
            self.data.train,
            epoch=self.epoch,
            start_step=self.step_in_epoch,
            training=True,
        )
        bar = tqdm(
            total=self.steps_per_epoch,
            initial=self.step_in_epoch,
            desc=f"epoch {self.epoch + 1}/{c.epochs}",
            disable=not (_progress_enabled(c.progress) and self.context.is_main),
            leave=False,
            dynamic_ncols=True,
        )
        losses, corrects = [], []
        start = time.perf_counter()
        status = "done"
        try:
            for images, labels, components in batches:
                if c.max_steps is not None and self.step >= c.max_steps:
                    status = "stopped"  # a resumed run that is already at --max-steps takes no step
                    break
                with deferred():  # a step and its bookkeeping happen whole: an interrupt waits for the end
                    try:
                        loss, correct = self.train_step(images, labels, components)
                    except (
                        ValueError
                    ) as err:  # a value check: NaN lengths, losses or reconstructions
                        raise TrainingDiverged(
                            self._diverged(self.step + 1, str(err))
                        ) from None
                    losses.append(loss)
                    corrects.append(correct)
                    self.step += 1
                    self.step_in_epoch += 1
                    # the step's record too: an interrupt held until here must not lose it
                    logged = bool(c.log_every) and self.step % c.log_every == 0
                    if logged:
                        self._flush(losses, corrects, start)
                        losses, corrects, start = [], [], time.perf_counter()
                        self.metrics.write(
                            {
                                "kind": "step",
                                "epoch": self.epoch,
                                "step": self.step,
                                "loss": self.step_losses[-1],
                                "lr": self.scheduler.get_last_lr()[0],
                            }
                        )
                bar.update(1)
                refresh = (
                    self.step_in_epoch % 20 == 0
                    or self.step_in_epoch == self.steps_per_epoch
                )
                if (
                    refresh and not logged
                ):  # every 20 steps: one host sync, and a diverged run stops within 20 steps
                    self._flush(losses, corrects, start)
                    losses, corrects, start = [], [], time.perf_counter()
                if refresh and not bar.disable:
                    s = self.epoch_sums
                    bar.set_postfix(
                        loss=f"{s['loss'] / max(s['seen'], 1):.4f}",
                        acc=f"{s['correct'] / max(s['seen'], 1):.3f}",
                        img_s=f"{s['seen'] / max(s['time'], 1e-9):,.0f}",
                    )
                if self.on_step is not None:
                    self.on_step(self)
                if (
                    c.max_steps is not None
                    and self.step >= c.max_steps
                    and self.step_in_epoch < self.steps_per_epoch
                ):
                    status = "stopped"
                    break
        except KeyboardInterrupt:
            self._flush(
                losses, corrects, start
            )  # the steps taken so far count (run() saves them)
            raise
        finally:
            bar.close()
        self._flush(losses, corrects, start)
        return status

    def run(self, *, resume: bool = False, overwrite: bool = False) -> TrainResult:
        """Train (or, with ``resume``, continue) the run; see :func:`train` and :mod:`capslib.train.run_folder`."""
        self.wall_start = time.perf_counter()
        lock = None
        if (
            self.run_dir is not None and self.context.is_main
        ):  # checked and locked before any data is loaded
            lock = prepare_run_folder(self.run_dir, resume=resume, overwrite=overwrite)
            if lock.stale_note:
                print(lock.stale_note, file=sys.stderr, flush=True)
        elif resume and self.run_dir is None:
            raise CheckpointError(
                "cannot resume: no output folder given (--out), so there is no checkpoint"
            )
        status = "finished"
        try:
            try:
                with terminate_as_interrupt():
                    self.setup()
                    if resume:
                        self.restore()
            except KeyboardInterrupt:
                again = " with --resume" if resume else ""
                raise TrainingInterrupted(
                    "interrupted while loading the data, before any step: nothing was "
                    f"lost. Run the same command again{again} to start."
                ) from None
            if self.verbose:
                print(self.describe)
            with terminate_as_interrupt():
                try:
                    while self.epoch < self.config.epochs:
                        if (
                            self.config.max_steps is not None
                            and self.step >= self.config.max_steps
                        ):
                            status = "stopped"
                            break
                        if self.run_epoch() == "stopped":
                            status = "stopped"
                            break
                        record = self.end_epoch()
                        target = self.config.stop_at_val_accuracy
                        if target is not None and record["val_accuracy"] >= target:
                            self.reached_target = True
                            if self.verbose:
                                print(
                                    f"validation accuracy {record['val_accuracy']:.4f} reached the target "
                                    f"{target:.4f} at epoch {self.epoch}: stopping (early stopping at a target)"
                                )
                            break
                    if status == "stopped":
                        self.save()
                        summary = {
                            "status": "stopped",
                            "step": self.step,
                            "epoch": self.epoch,
                            "describe": self.describe,
                        }
                        if self.verbose:
                            where = (
                                f"checkpoint in {self.checkpoint_path}"
                                if self.checkpoint_path is not None
                                else "no checkpoint (no --out folder was given)"
                            )
                            print(f"stopped at step {self.step} (max_steps); {where}")
                    else:
                        summary = self.finish(
                            self.wall_offset + time.perf_counter() - self.wall_start
                        )
                except TrainingInterrupted:
                    raise
                except KeyboardInterrupt:
                    try:  # the last completed step, wherever the interrupt landed
                        with (
                            deferred()
                        ):  # a second Ctrl-C waits for the write, then is dropped
                            self.save()
                    except KeyboardInterrupt:
                        pass
                    where = (
                        f"checkpoint written to {self.checkpoint_path}. Resume with --resume."
                        if self.checkpoint_path is not None
                        else "no checkpoint was written (no --out folder was given)."
                    )
                    when = (
                        f"at epoch {self.epoch + 1}"
                        if self.epoch < self.config.epochs
                        else f"after the last epoch ({self.epoch}), during the final test"
                    )
                    raise TrainingInterrupted(
                        f"interrupted {when}, step {self.step}; {where}"
                    ) from None
        finally:
            cleanup_distributed(self.context)
            if lock is not None:
                lock.release()
        return TrainResult(
            summary, self.run_dir, list(self.step_losses), self.model, status
        )


def train(
    config: TrainConfig | str | None = None,
    *,
    resume: bool = False,
    overwrite: bool = False,
    on_step: Callable[[Trainer], None] | None = None,
    verbose: bool = True,
    **fields,
) -> TrainResult:
    """Train as ``config`` says (fields may also be given as keywords); see the module docstring.

    ``config``: a :class:`TrainConfig`, or the name of a model size (``"paper"``, ``"small"``,
    ``"tiny"``), so that ``train(config="small", epochs=1)`` does what it reads as.  ``resume``:
    continue the run in ``out``; ``overwrite``: delete the run in ``out`` and start again (without
    either, a folder that already holds a run is refused: one run per folder).

    >>> result = train(dataset="mnist-sample", epochs=1, out="results/try")  # doctest: +SKIP
    >>> result.summary["test_accuracy"]  # doctest: +SKIP
    """
    if isinstance(config, str):
        if config not in CONFIGS:
            raise ValueError(
                f"train: config={config!r}: expected a TrainConfig or a model size among "
                f"{', '.join(CONFIGS)}"
            )
        fields = {"config": config, **fields}
        config = None
    elif config is not None and not isinstance(config, TrainConfig):
        raise TypeError(
            f"train: expected config to be a TrainConfig or a model size ({', '.join(CONFIGS)}), got "
            f"{type(config).__name__}"
        )
    unknown = sorted(set(fields) - {f.name for f in dataclasses.fields(TrainConfig)})
    if unknown:
        raise TypeError(
            f"train: unknown setting(s) {', '.join(unknown)}; see TrainConfig for the settings"
        )
    config = dataclasses.replace(config or TrainConfig(), **fields)
    return Trainer(config, on_step=on_step, verbose=verbose).run(
        resume=resume, overwrite=overwrite
    )
