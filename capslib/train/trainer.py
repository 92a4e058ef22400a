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
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as TF

from .. import runtime as mode_lib
from ..data.device import (
    DeviceDataset,
    epoch_plan,
    iterate_batches,
    steps_per_epoch,
    train_validation_split,
)
from ..data.multimnist import MultiMNISTPairs
from ..functional import value_checks
from ..precision import DTYPES, choose_dtype
from ..runtime import seed_everything
from .checkpoint import (
    CHECKPOINT_NAME,
    CheckpointError,
    load_checkpoint,
    load_state,
    resume_path,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from .distributed import (
    DistributedContext,
    all_reduce_sum,
    barrier,
    broadcast_from_main,
    cleanup_distributed,
    setup_distributed,
)
from .interrupts import deferred, terminate_as_interrupt
from .metrics import MetricsWriter, accuracy_counts
from .run_folder import new_run_id, prepare_run_folder

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


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped early (Ctrl-C); a checkpoint of the current step was written."""


class TrainingDiverged(RuntimeError):
    """The loss or the weights became NaN or infinite; no checkpoint was written after the last good one."""


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
    dtype: ``"auto"`` (bf16 autocast on a GPU that supports it, float32 otherwise),
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
            try:
                device = torch.device(self.device)
            except (RuntimeError, TypeError):
                raise ValueError(
                    f"TrainConfig.device: expected cpu, cuda or cuda:N, got {self.device!r}"
                ) from None
            if device.type == "cuda" and not torch.cuda.is_available():
                raise ValueError(
                    f"TrainConfig.device: {self.device!r} asked for, but no CUDA GPU is available here "
                    f"(torch {torch.__version__}); use --device cpu, or leave --device out"
                )
            if device.type not in ("cpu", "cuda"):
                raise ValueError(
                    f"TrainConfig.device: expected cpu, cuda or cuda:N, got {self.device!r}"
                )
        if self.max_shift < 0 or self.log_every < 0:
            raise ValueError(
                f"TrainConfig: expected max_shift >= 0 and log_every >= 0, got "
                f"{self.max_shift} and {self.log_every}"
            )


@dataclass
class RunData:
    """The three splits on the device and how to describe them."""

    train: DeviceDataset
    validation: DeviceDataset
    test: DeviceDataset
    name: str
    credit: str

    def describe(self) -> str:
        return (
            f"{self.name}: {len(self.train):,} train / {len(self.validation):,} validation / "
            f"{len(self.test):,} test"
        )


def load_run_data(
    config: TrainConfig, device: torch.device, *, verbose: bool = True
) -> RunData:
    """Load ``config.dataset``, carve the validation split, cut to the configured sizes, move to ``device``."""
    from ..data import derived, sources

    def cut(dataset, size, seed=None):
        return (
            dataset
            if size is None or size >= len(dataset)
            else dataset.subset(size, seed=seed)
        )

    name = config.dataset
    if name in ("mnist", "mnist-sample", "multimnist", "affine"):
        # "mnist" in full mode insists on the complete data; in quick mode it takes the complete data when it
        # is there and otherwise the bundled sample, saying which (the run's data name records it too).
        source = {
            "mnist": "full" if config.mode == "full" else "auto",
            "mnist-sample": "sample",
        }.get(name, "auto")
        train_all = sources.load_mnist("train", source=source, verbose=verbose)
        test = sources.load_mnist("test", source=source, verbose=verbose)
    else:
        train_all = sources.load_fashion_mnist("train", verbose=verbose)
        test = sources.load_fashion_mnist("test", verbose=verbose)
    if config.validation_size >= len(train_all):
        raise ValueError(
            f"validation_size {config.validation_size} leaves no training data out of "
            f"{len(train_all):,} images"
        )
    train, validation = train_validation_split(
        train_all, config.validation_size, seed=config.seed
    )
    train_all_digits = (
        train  # MultiMNIST pairs every training digit; train_size counts its pairs
    )
    train = cut(train, config.train_size, seed=config.seed)
    test = cut(test, config.test_size)
    if name == "multimnist":
        from ..data.multimnist import MultiMNISTPairs

        parts = [
            MultiMNISTPairs.from_dataset(
                train_all_digits,
                config.train_size,
                seed=config.seed,
                fresh=True,
                split="train",
                device=device,
            ),
            MultiMNISTPairs.from_dataset(
                validation,
                None,
                seed=config.seed + 1,
                fresh=False,
                split="validation",
                device=device,
            ),
            MultiMNISTPairs.from_dataset(
                test,
                None,
                seed=config.seed + 2,
                fresh=False,
                split="test",
                device=device,
            ),
        ]
        return RunData(*parts, f"MultiMNIST from {train_all.name}", train_all.credit)
    if name == "affine":
        # Training digits are centred on 40x40; the trainer's shift augmentation (up to 6 px) places them
        # anywhere on the canvas, fresh each epoch. Validation: a fixed shifted set; test: the affine set.
        train = sources.ImageDataset(
            derived.pad_to_canvas(train.images, derived.AFFINE_CANVAS),
            train.labels,
            train.name,
            "train",
            train.source,
            train.classes,
            train.credit,
            train.notes,
        )
        validation = derived.shifted_mnist(validation, seed=config.seed + 1)
        validation.split = "validation"
        test = derived.affine_mnist(test, seed=config.seed + 2)
        data_name = (
            f"{train_all.name} 40x40 shifted (train, validation) / affine (test)"
        )
    else:
        data_name = train_all.name
    return RunData(
        DeviceDataset.from_dataset(train, device),
        DeviceDataset.from_dataset(validation, device),
        DeviceDataset.from_dataset(test, device),
        data_name,
        train_all.credit,
    )


def build_model(config: TrainConfig, image_size: int) -> torch.nn.Module:
    """The model ``config`` asks for, for ``image_size`` x ``image_size`` inputs."""
    from ..models import BaselineCNN, CapsNet, CapsNetConfig

    if config.model == "baseline":
        if config.config == "paper":
            return BaselineCNN(input_size=image_size)
        sizes = dict(small=((32, 32, 16), (128, 64)), tiny=((8, 8, 4), (32, 16)))[
            config.config
        ]
        return BaselineCNN(
            input_size=image_size, conv_channels=sizes[0], hidden=sizes[1]
        )
    if config.model == "pooled-cnn":
        capsnet = build_model(dataclasses.replace(config, model="capsnet"), image_size)
        return matched_pooled_cnn(
            image_size, sum(p.numel() for p in capsnet.parameters()), config.config
        )
    overrides: dict[str, Any] = dict(
        input_size=image_size,
        use_decoder=config.reconstruction,
        loss_scale=config.loss_scale,
        init=config.init,
    )
    if config.routing_iterations is not None:
        overrides["routing_iterations"] = config.routing_iterations
    if config.config == "paper":
        caps_config = CapsNetConfig.paper(**overrides)
    elif config.config == "small":
        caps_config = CapsNetConfig.small(**overrides)
    else:
        caps_config = CapsNetConfig.small(
            conv_channels=16, primary_types=4, decoder_hidden=(32, 64), **overrides
        )
    return CapsNet(caps_config)


#: PooledCNN convolution channels per TrainConfig.config (the hidden layer is then sized to match a CapsNet).
POOLED_CNN_CHANNELS = {"paper": (128, 256), "small": (64, 128), "tiny": (8, 16)}


def matched_pooled_cnn(image_size: int, target_parameters: int, size: str = "small"):
    """A :class:`~capslib.models.PooledCNN` whose parameter count is as close as one hidden layer allows
    to ``target_parameters`` (the CapsNet it is compared with): the paper's "similar number of parameters"."""
    from ..models import PooledCNN

    channels = POOLED_CNN_CHANNELS[size]
    probe = PooledCNN(image_size, conv_channels=channels, hidden=(1,))
    fixed = sum(
        p.numel() for p in probe.parameters()
    )  # everything but the hidden units
    flat = probe.classifier[2].in_features  # Flatten, Dropout, Linear(flat, 1)
    per_unit = flat + 1 + 10  # its weights, bias, output weights
    hidden = max(1, round((target_parameters - fixed + per_unit) / per_unit))
    return PooledCNN(image_size, conv_channels=channels, hidden=(hidden,))


def autocast_dtype(dtype: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``dtype`` on ``device`` (``None``: plain float32); see :mod:`capslib.precision`."""
    return choose_dtype(dtype, device).autocast


def make_optimizer(parameters, lr: float) -> torch.optim.Adam:
    """Adam (the paper's optimiser) with ``fused=True`` where this torch supports it for these parameters.

    The fused implementation updates every parameter in one kernel instead of a
    Python loop of several small operations per parameter tensor: the same
    update (Kingma & Ba's Algorithm 1, as ``torch.optim.Adam``), less time.
    """
    parameters = list(parameters)
    try:
        return torch.optim.Adam(parameters, lr=lr, fused=True)
    except (
        RuntimeError,
        TypeError,
        ValueError,
    ):  # older torch, or a device/dtype without a fused kernel
        return torch.optim.Adam(parameters, lr=lr)


def make_scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig):
    """The official schedule ``lr = lr0 * decay ** (step / decay_steps)``, stepped once per training step."""
    if config.staircase:
        return torch.optim.lr_scheduler.StepLR(
            optimizer, step_size=config.lr_decay_steps, gamma=config.lr_decay
        )
    return torch.optim.lr_scheduler.ExponentialLR(
        optimizer, gamma=config.lr_decay ** (1.0 / config.lr_decay_steps)
    )


DATA_ENV_HINT = "CAPSLIB_DATA"


def data_fingerprint(data: RunData) -> dict:
    """What the run trains and chooses its model on: the data's name, the training and validation sizes,
    and a SHA256 over every label and a sample of the images (every 97th) of both splits.  Stored in each
    checkpoint; a resume must find the same.  (The test set may change on resume, as ``test_size`` may.)"""
    digest = hashlib.sha256()
    for split in (data.train, data.validation):
        images = split.digits if isinstance(split, MultiMNISTPairs) else split.images
        for tensor in (split.labels, images[::97]):
            digest.update(
                tensor.detach()
                .cpu()
                .contiguous()
                .reshape(-1)
                .view(torch.uint8)
                .numpy()
                .tobytes()
            )
    return {
        "data": data.name,
        "sizes": [len(data.train), len(data.validation)],
        "sha256": digest.hexdigest(),
    }


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


def _progress_enabled(requested: bool | None) -> bool:
    if requested is not None:
        return requested
    if "ipykernel" in sys.modules:
        return True
    return sys.stderr.isatty()


def _multi_hot(labels: torch.Tensor, classes: int) -> torch.Tensor:
    return (
        TF.one_hot(labels, classes).sum(1).clamp_(max=1) if labels.ndim == 2 else labels
    )


@dataclass
class TrainResult:
    """What :func:`train` returns: the summary (also in ``summary.json``), the folder, the per-step losses."""

    summary: dict
    run_dir: Path | None
    step_losses: list[float] = field(default_factory=list)
    model: torch.nn.Module | None = None
    status: str = "finished"


class Trainer:
    """The training loop behind :func:`train` (see the module docstring)."""

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

    # -- set-up -------------------------------------------------------------------------------
    def setup(self) -> None:
        c = self.config
        deterministic = (
            self.device.type == "cpu" if c.deterministic is None else c.deterministic
        )
        seed_everything(c.seed, deterministic=deterministic)
        torch.use_deterministic_algorithms(deterministic, warn_only=True)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = not deterministic
            torch.backends.cuda.matmul.allow_tf32 = not deterministic
            torch.backends.cudnn.allow_tf32 = not deterministic
        self.data = load_run_data(c, self.device, verbose=self.verbose)
        if c.max_shift >= self.data.train.image_size:
            raise ValueError(
                f"TrainConfig.max_shift: a shift of {c.max_shift} px would move every "
                f"{self.data.train.image_size}x{self.data.train.image_size} image off its canvas; "
                f"expected 0 <= --max-shift < {self.data.train.image_size} (the paper's: 2)"
            )
        self.model = build_model(c, self.data.train.image_size).to(self.device)
        self.is_capsnet = c.model == "capsnet"
        self.classes = 10
        self.optimizer = make_optimizer(self.model.parameters(), c.lr)
        self.scheduler = make_scheduler(self.optimizer, c)
        self.dtype_choice = choose_dtype(
            c.dtype, self.device
        )  # --dtype auto: by what the hardware computes natively
        self.amp_dtype = self.dtype_choice.autocast
        if (
            self.amp_dtype == torch.float16
        ):  # float16's range needs loss scaling (bf16's does not)
            self.scaler = torch.amp.GradScaler(self.device.type)
        forward_model = self.model
        if self.context.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            forward_model = torch.nn.parallel.DistributedDataParallel(
                self.model, device_ids=ids
            )
        self.forward_model = (
            torch.compile(forward_model, backend=c.compile_backend)
            if c.compile
            else forward_model
        )
        self.steps_per_epoch = steps_per_epoch(len(self.data.train), c.batch_size)
        if self.steps_per_epoch < 1:
            raise ValueError(
                f"batch size {c.batch_size} is larger than the {len(self.data.train):,} training images"
            )
        self.data_fingerprint = data_fingerprint(self.data)
        self.run_id = broadcast_from_main(
            new_run_id(), self.context
        )  # one id for all ranks; a resume takes the checkpoint's
        self.describe = mode_lib.describe_run(
            mode=c.mode, device=self.device, data=self.data.describe()
        )
        if self.context.enabled:
            self.describe += (
                f" | processes={self.context.world_size} ({self.context.backend})"
            )
        self.describe += (
            f" | dtype={self.dtype_choice.name} ({self.dtype_choice.reason})"
        )
        self.metrics = MetricsWriter(
            self.run_dir / "metrics.jsonl" if self.run_dir else os.devnull,
            enabled=self.run_dir is not None and self.context.is_main,
        )

    @property
    def checkpoint_path(self) -> Path | None:
        return self.run_dir / "checkpoints" / CHECKPOINT_NAME if self.run_dir else None

    # -- one step -----------------------------------------------------------------------------
    def _autocast(self):
        if self.amp_dtype is None:
            return torch.autocast(self.device.type, enabled=False)
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def compute_loss(
        self,
        model,
        images: torch.Tensor,
        labels: torch.Tensor,
        components: torch.Tensor | None = None,
    ):
        """``(loss, scores)`` for a batch: the paper's margin + reconstruction loss, or cross-entropy.

        Two labels per image (MultiMNIST, ``components`` ``(batch, 2, C, H, W)``
        the two digits): the margin loss gets both classes as multi-hot targets
        and, as in the paper, each digit is reconstructed from its own capsule
        (masked alone) and compared with its own image, the two scaled sums of
        squared errors added.  The CNNs use a sigmoid cross-entropy per class.
        An image counts as right when its two highest scores are its two labels.
        """
        targets = _multi_hot(labels, self.classes)
        if self.is_capsnet:
            if labels.ndim == 2:
                output = model(images, mask_each=labels)
                return self.model.loss(
                    output, components, targets
                ).total, output.lengths
            output = model(images, targets=targets)
            return self.model.loss(output, images, targets).total, output.lengths
        logits = model(images)
        if labels.ndim == 2:
            return TF.binary_cross_entropy_with_logits(
                logits.float(), targets.float(), reduction="sum"
            ) / len(images), logits
        return TF.cross_entropy(logits.float(), labels), logits

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
        self.optimizer.zero_grad(set_to_none=True)
        if (
            self.scaler is not None
        ):  # float16: scale the loss so small gradients do not flush to zero
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            loss.backward()
            self.optimizer.step()
        self.scheduler.step()
        return loss.detach(), accuracy_counts(scores.detach(), labels)

    def _checks_now(self) -> bool:
        mode = self.config.value_checks
        return mode == "always" or (mode == "epoch-start" and self.step_in_epoch == 0)

    def batches(
        self,
        dataset,
        *,
        epoch: int | None = None,
        start_step: int = 0,
        training: bool = False,
    ):
        """``(images, labels, components or None)`` batches of ``dataset``: the epoch's plan when training."""
        c = self.config
        world = (
            dict(rank=self.context.rank, world_size=self.context.world_size)
            if training
            else {}
        )
        size = c.batch_size if training else c.eval_batch_size
        if isinstance(dataset, MultiMNISTPairs):
            yield from dataset.batches(
                size,
                epoch=epoch or 0,
                start_step=start_step,
                drop_last=training,
                **world,
            )
            return
        plan = (
            epoch_plan(
                len(dataset),
                seed=c.seed,
                epoch=epoch,
                max_shift=c.max_shift,
                device=self.device,
            )
            if training
            else None
        )
        for images, labels in iterate_batches(
            dataset, size, plan=plan, start_step=start_step, drop_last=training, **world
        ):
            yield images, labels, None

    @torch.no_grad()
    def evaluate(self, dataset) -> dict[str, float]:
        """Loss and accuracy on ``dataset`` (in order, no augmentation), shared among processes."""
        self.model.eval()
        totals = torch.zeros(3, dtype=torch.float64, device=self.device)
        for index, (images, labels, components) in enumerate(self.batches(dataset)):
            if index % self.context.world_size != self.context.rank:
                continue
            with self._autocast():
                loss, scores = self.compute_loss(self.model, images, labels, components)
            totals += torch.stack(
                [
                    loss.double() * len(labels),
                    accuracy_counts(scores, labels).double(),
                    torch.tensor(
                        float(len(labels)), dtype=torch.float64, device=self.device
                    ),
                ]
            )
        all_reduce_sum(totals, self.context)
        loss_sum, correct, seen = totals.tolist()
        if not math.isfinite(loss_sum):
            raise TrainingDiverged(
                f"the {dataset.split} loss is not finite after step {self.step} (epoch "
                f"{self.epoch + 1}): the weights hold NaN or infinite values"
            )
        return {"loss": loss_sum / seen, "accuracy": correct / seen}

    # -- checkpoints --------------------------------------------------------------------------
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

    # -- the loop -----------------------------------------------------------------------------
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
                bar.update(1)
                refresh = (
                    self.step_in_epoch % 20 == 0
                    or self.step_in_epoch == self.steps_per_epoch
                )
                if c.log_every and self.step % c.log_every == 0:
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
                elif refresh:  # every 20 steps: one host sync, and a diverged run stops within 20 steps
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
                f"{record['images_per_s']:,.0f} images/s",
                flush=True,
            )
        return record

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
            self.setup()
            if resume:
                self.restore()
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
                            print(
                                f"stopped at step {self.step} (max_steps); checkpoint in {self.checkpoint_path}"
                            )
                    else:
                        summary = self.finish(
                            self.wall_offset + time.perf_counter() - self.wall_start
                        )
                except TrainingInterrupted:
                    raise
                except KeyboardInterrupt:
                    self.save()  # the last completed step, wherever the interrupt landed
                    where = (
                        f"checkpoint written to {self.checkpoint_path}. Resume with --resume."
                        if self.checkpoint_path is not None
                        else "no checkpoint was written (no --out folder was given)."
                    )
                    raise TrainingInterrupted(
                        f"interrupted at epoch {self.epoch + 1}, step {self.step}; {where}"
                    ) from None
        finally:
            cleanup_distributed(self.context)
            if lock is not None:
                lock.release()
        return TrainResult(
            summary, self.run_dir, list(self.step_losses), self.model, status
        )

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
        elif self.best_state is not None:
            self.model.load_state_dict(self.best_state)
        test = self.evaluate(self.data.test)  # the model chosen on validation
        self.final_state = final_state
        c = self.config
        seen = self.step * c.batch_size
        summary = {
            "status": "finished",
            "run_id": self.run_id,
            "describe": self.describe,
            "git_commit": git_commit(),
            "torch_version": torch.__version__,
            "cuda_version": torch.version.cuda or "none",
            "device_name": mode_lib.device_name(self.device),
            "processes": self.context.world_size,
            "mode": c.mode,
            "dataset": c.dataset,
            "data": self.data.describe(),
            "train_size": len(self.data.train),
            "validation_size": len(self.data.validation),
            "test_size": len(self.data.test),
            "model": c.model,
            "model_config": c.config,
            "parameters": sum(p.numel() for p in self.model.parameters()),
            "routing_iterations": c.routing_iterations if self.is_capsnet else None,
            "reconstruction": c.reconstruction if self.is_capsnet else None,
            "epochs": self.epoch,
            "steps": self.step,
            "batch_size": c.batch_size,
            "dtype": self.dtype_choice.name,
            "dtype_reason": self.dtype_choice.reason,
            "compile": c.compile,
            "wall_time_s": wall_time,  # data loading, compilation and evaluation included (all parts of a resumed run)
            "train_time_s": self.train_time,
            "images_per_s": seen / max(self.train_time, 1e-9),
            "best_val_accuracy": self.best["val_accuracy"],
            "best_val_epoch": self.best["epoch"],
            "test_accuracy": test["accuracy"],
            "test_error_percent": 100 * (1 - test["accuracy"]),
            "test_loss": test["loss"],
            "stop_at_val_accuracy": c.stop_at_val_accuracy,
            "reached_target": self.reached_target
            if c.stop_at_val_accuracy is not None
            else None,
            "credit": self.data.credit,
            "config": dataclasses.asdict(c),
        }
        validate_summary(summary)
        if self.run_dir is not None and self.context.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            path = self.run_dir / "summary.json"
            temporary = path.with_suffix(".json.tmp")
            temporary.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
            os.replace(temporary, path)
        if self.verbose:
            print(
                f"test accuracy {test['accuracy']:.4f} (model of epoch {self.best['epoch']}, chosen on "
                f"validation accuracy {self.best['val_accuracy']:.4f}); {summary['images_per_s']:,.0f} images/s; "
                f"wall time {wall_time:.1f} s"
            )
            print(self.describe)
        return summary


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
