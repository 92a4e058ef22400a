"""Assembling a run before its first step: seeds, data, model, optimiser, dtype, compilation and processes.

:class:`Assembly` is the part of :class:`~capslib.train.trainer.Trainer` that
turns a checked :class:`~capslib.train.config.TrainConfig` into everything a
step needs; nothing here trains.
"""

from __future__ import annotations

import os

import torch

from .. import runtime as mode_lib
from ..builders import build_model
from ..data.device import steps_per_epoch
from ..precision import choose_dtype
from ..runtime import seed_everything
from .distributed import broadcast_from_main
from .metrics import MetricsWriter
from .run_data import data_fingerprint, load_run_data
from .run_folder import new_run_id
from .step import make_optimizer, make_scheduler


class Assembly:
    """:meth:`setup`: the run's data, model, optimiser and the rest, from ``self.config``."""

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
