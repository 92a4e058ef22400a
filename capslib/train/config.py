"""What defines a training run: :class:`TrainConfig`, its choices, the mode's defaults, and its checks.

``None`` in a field means "the mode's default" (:data:`MODE_DEFAULTS`);
:meth:`TrainConfig.resolved` fills those in and checks every field, so a bad
setting fails in one line before any data is loaded.  :data:`RESUMABLE_CHANGES`
lists the fields a resumed run may change (:mod:`capslib.train.resume`).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from .. import runtime as mode_lib
from ..devices import parse_device
from ..precision import DTYPES

DATASETS = ("mnist", "mnist-sample", "fashion-mnist", "multimnist", "affine")
MODELS = ("capsnet", "baseline", "pooled-cnn")
VALUE_CHECKS = ("always", "epoch-start", "off")
CONFIGS = ("paper", "small", "tiny")

#: Defaults that depend on the mode: quick (a CPU, minutes) and full (the paper's settings, a GPU).
MODE_DEFAULTS = {
    "quick": dict(
        epochs=2, train_size=2000, validation_size=500, test_size=2000, config="small"
    ),
    "full": dict(
        epochs=50, train_size=None, validation_size=5000, test_size=None, config="paper"
    ),
}


#: Named schedules for ``python -m capslib.train --schedule NAME``: flags a reader need not remember.
#: ``shipped`` is the recipe of the models in :mod:`capslib.pretrained` (``scripts/train_shipped_models.sh``):
#: batch 128, a rate of 1e-3 decayed by 0.9 per 430 steps (one epoch of 55,000 digits at batch 128, as
#: XifengGuo's CapsNet-Keras does), 5,000 validation digits, seed 0.  Flags given on the command line
#: override the schedule's values.
SCHEDULES = {
    "shipped": dict(
        batch_size=128,
        lr=1e-3,
        lr_decay=0.9,
        lr_decay_steps=430,
        validation_size=5000,
        seed=0,
    ),
}


#: The :class:`TrainConfig` fields that may differ when a run is resumed: they say how long, where, how fast or
#: how visibly it runs, not what a training step computes.  ``epochs`` and ``max_steps`` extend or cut the
#: run; ``device``, ``compile``, ``compile_backend`` and ``deterministic`` choose kernels (the same
#: mathematics); ``eval_batch_size`` and ``test_size`` concern evaluation only (the test set is used once, at
#: the end); ``mode`` only fills in defaults, and the filled-in values are compared; ``out`` is where the
#: checkpoint was found; ``dtype`` is compared as the dtype it chooses (``auto`` or ``bfloat16`` alike), in
#: :meth:`Trainer.check_same_dtype`.  Every other field (the data, the model, the optimiser and its schedule, the
#: augmentation, the seed, the dtype) must be the checkpoint's, or resuming would silently mix two runs.
RESUMABLE_CHANGES = frozenset(
    {
        "epochs",
        "max_steps",
        "progress",
        "log_every",
        "compile",
        "compile_backend",
        "device",
        "deterministic",
        "eval_batch_size",
        "test_size",
        "mode",
        "out",
        "value_checks",
        "stop_at_val_accuracy",
        "dtype",
    }
)


def _option(field_name: str) -> str:
    """The CLI option that sets ``field_name`` of :class:`TrainConfig`."""
    return (
        "--no-reconstruction"
        if field_name == "reconstruction"
        else "--" + field_name.replace("_", "-")
    )


@dataclass
class TrainConfig:
    """Everything that defines a training run.  ``None`` means "the mode's default" (see :data:`MODE_DEFAULTS`).

    model: ``"capsnet"``, ``"baseline"`` (the paper's CNN, cross-entropy) or ``"pooled-cnn"`` (a CNN with
        max-pooling and dropout whose parameter count matches the CapsNet of the same ``config`` and input
        size: the affNIST comparison's network, :class:`~capslib.models.PooledCNN`).
    config: ``"paper"`` (the paper's sizes), ``"small"`` (trains on a CPU in
        minutes) or ``"tiny"`` (tests only).
    dataset: ``"mnist"`` (complete, or an error), ``"mnist-sample"`` (the
        bundled 5,000 digits), ``"fashion-mnist"``, ``"multimnist"`` (36x36,
        two digits: fresh pairs every epoch, made from the training digits,
        :mod:`capslib.data.multimnist`) or ``"affine"`` (train on 40x40 digits
        shifted by up to 6 px, test on the affine-transformed test set).
    max_shift: the shift augmentation in pixels (default 2, the paper's; 6 for ``affine``; 0 for
        ``multimnist``, whose digits are already shifted by up to 4 px each).
    train_size / validation_size / test_size: numbers of examples (``None``: the mode's default;
        in full mode all the training data minus 5,000 for validation, and the whole test set).
        For ``multimnist``: pairs per epoch (default: one per training digit) and digits of the
        validation and test sets (one pair each).
    loss_scale, init: CapsNet's loss scale and initialisation, ``"paper"``/``"official"`` and
        ``"pytorch"``/``"official"`` (see :class:`~capslib.models.CapsNetConfig`).
    value_checks: when the library's value checks run (finite losses, labels in range; each one a
        host sync, a stall on a GPU): ``"always"`` (default, for learners), ``"epoch-start"`` (the
        first step of every epoch, and evaluation) or ``"off"``.  The trainer itself always checks
        the losses it logs, every 20 steps and at every epoch's end, and stops a run that diverged.
    stop_at_val_accuracy: stop at the end of the first epoch whose validation accuracy reaches this
        fraction, and test that model (early stopping at a target, as the paper's affNIST test:
        "stopped at 99.23%").
    test_each_epoch: also test every epoch's model on the test set and write its accuracy into the
        epoch's record, for time to accuracy only (:func:`~capslib.train.metrics.time_to_accuracy`):
        the test set is then read once per epoch, and the model is still chosen on validation.
    dtype: ``"auto"`` (bf16 autocast where the CPU or GPU has native bf16, float32 otherwise:
        :mod:`capslib.precision`),
        ``"float32"``, ``"bfloat16"`` or ``"float16"`` (autocast; weights stay float32).
    compile / compile_backend: ``torch.compile`` the model (``"inductor"`` generates kernels; ``"aot_eager"``
        traces the same graphs without a compiler, which the CPU tests use).
    max_steps: stop (with a checkpoint) after this many steps in all: simulates an interruption.
    log_every: also write a ``"step"`` record every N steps (0: epoch records only).
    deterministic: deterministic algorithms (``None``: on a CPU, where runs are bitwise reproducible;
        off on a GPU, where cuDNN autotuning and TF32 matter more for speed than the last bits).
    """

    model: str = "capsnet"
    config: str | None = None
    dataset: str = "mnist-sample"
    epochs: int | None = None
    batch_size: int = 128
    lr: float = 1e-3
    lr_decay: float = 0.96
    lr_decay_steps: int = 2000
    staircase: bool = False
    routing_iterations: int | None = None
    reconstruction: bool = True
    max_shift: int | None = None
    train_size: int | None = None
    validation_size: int | None = None
    test_size: int | None = None
    seed: int = 0
    loss_scale: str = "paper"
    init: str = "pytorch"
    value_checks: str = "always"
    stop_at_val_accuracy: float | None = None
    test_each_epoch: bool = False
    dtype: str = "auto"
    compile: bool = False
    compile_backend: str = "inductor"
    device: str | None = None
    mode: str | None = None
    out: str | None = None
    max_steps: int | None = None
    log_every: int = 0
    eval_batch_size: int = 500
    progress: bool | None = None
    deterministic: bool | None = None

    def resolved(self) -> TrainConfig:
        """A copy with the mode's defaults filled in and every field checked."""
        mode = mode_lib.get_mode(self.mode)
        defaults = MODE_DEFAULTS[mode]
        values = dataclasses.asdict(self)
        values["mode"] = mode
        for key in ("epochs", "train_size", "validation_size", "test_size", "config"):
            if values[key] is None:
                values[key] = defaults[key]
        if self.validation_size is None and self.dataset == "mnist-sample":
            values["validation_size"] = (
                500  # the bundled sample holds 5,000 training digits
            )
        if values["routing_iterations"] is None and self.model == "capsnet":
            values["routing_iterations"] = 3  # the paper's
        if values["max_shift"] is None:
            values["max_shift"] = {"affine": 6, "multimnist": 0}.get(self.dataset, 2)
        config = TrainConfig(**values)
        config.check()
        return config

    def check(self) -> None:
        def choice(name, options):
            if getattr(self, name) not in options:
                raise ValueError(
                    f"TrainConfig.{name}: expected one of {', '.join(options)}, got {getattr(self, name)!r}"
                )

        choice("model", MODELS)
        choice("config", CONFIGS)
        choice("dataset", DATASETS)
        choice("dtype", DTYPES)
        choice("value_checks", VALUE_CHECKS)
        choice("loss_scale", ("paper", "official"))
        choice("init", ("pytorch", "official"))
        if self.stop_at_val_accuracy is not None and not (
            isinstance(self.stop_at_val_accuracy, (int, float))
            and 0 < self.stop_at_val_accuracy <= 1
        ):
            raise ValueError(
                f"TrainConfig.stop_at_val_accuracy: expected a fraction in (0, 1], got "
                f"{self.stop_at_val_accuracy!r} (e.g. 0.99 for 99%)"
            )
        for name in ("epochs", "batch_size", "lr_decay_steps", "eval_batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(
                    f"TrainConfig.{name}: expected a positive int, got {value!r}"
                )
        for name in ("train_size", "test_size", "max_steps", "routing_iterations"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 1
            ):
                raise ValueError(
                    f"TrainConfig.{name}: expected a positive int or None, got {value!r}"
                )
        if not isinstance(self.validation_size, int) or self.validation_size < 1:
            raise ValueError(
                f"TrainConfig.validation_size: expected a positive int (model selection needs a "
                f"validation split), got {self.validation_size!r}"
            )
        if not (math.isfinite(self.lr) and self.lr > 0 and 0 < self.lr_decay <= 1):
            raise ValueError(
                f"TrainConfig: expected a finite lr > 0 and 0 < lr_decay <= 1, got {self.lr} and "
                f"{self.lr_decay} (the paper's: --lr 0.001 --lr-decay 0.96)"
            )
        if self.device is not None:
            parse_device(self.device, "TrainConfig.device")
        if (
            isinstance(self.seed, bool)
            or not isinstance(self.seed, int)
            or not 0 <= self.seed < 2**32
        ):
            raise ValueError(
                f"TrainConfig.seed: expected an int in [0, 2**32), got {self.seed!r}"
            )
        if self.max_shift < 0 or self.log_every < 0:
            raise ValueError(
                f"TrainConfig: expected max_shift >= 0 and log_every >= 0, got "
                f"{self.max_shift} and {self.log_every}"
            )
