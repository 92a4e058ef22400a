"""What the benchmark times: the trainer's own training step on a fixed batch, and where its time goes.

:func:`make_model` builds a named network (``capsnet-paper``, ``baseline-small``,
...) as the trainer does; :func:`training_step` is the trainer's step
(:mod:`capslib.train.step`) on a fixed batch, as a function to time.
``python -m capslib.bench --profile`` runs :func:`profile_training`:
:func:`profile_steps` runs a few such steps under ``torch.profiler`` and writes the
table of the most expensive operators (``profile_top_ops.txt``) and a Chrome
trace (``profile_trace.json``): the first thing to read before optimising.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from . import runtime as mode_lib
from .builders import build_model
from .models import CapsNet
from .precision import choose_dtype
from .train.config import TrainConfig
from .train.step import autocast, compute_loss, make_optimizer, optimizer_step

MODEL_NAMES = (
    "capsnet-paper",
    "capsnet-small",
    "capsnet-tiny",
    "baseline-paper",
    "baseline-small",
    "baseline-tiny",
)


def make_model(
    name: str, device: torch.device, input_size: int = 28
) -> torch.nn.Module:
    """``capsnet-paper``, ``capsnet-small``, ``capsnet-tiny``, ``baseline-paper``, ... on ``device``."""
    if name not in MODEL_NAMES:
        raise ValueError(
            f"bench: expected a model among {', '.join(MODEL_NAMES)}, got {name!r}"
        )
    kind, size = name.split("-")
    return build_model(TrainConfig(model=kind, config=size), input_size).to(device)


def training_step(
    model: torch.nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    dtype: str,
    device: torch.device,
) -> Callable[[], None]:
    """One training step on a fixed batch, as a function to time: the trainer's own step
    (:mod:`capslib.train.step`): forward and loss under ``dtype`` autocast (``"float32"``: none),
    backward (with loss scaling for float16, as the trainer), an Adam update (learning rate 1e-3).

    ``model`` is a CapsNet (its own loss: margin plus reconstruction), a CNN
    (cross-entropy), or either one compiled with ``torch.compile``.
    """
    base = getattr(model, "_orig_mod", model)
    capsnet = base if isinstance(base, CapsNet) else None
    amp_dtype = choose_dtype(dtype, device).autocast
    optimizer = make_optimizer(model.parameters(), 1e-3)
    scaler = torch.amp.GradScaler(device.type) if amp_dtype == torch.float16 else None

    def step() -> None:
        with autocast(device, amp_dtype):
            loss, _ = compute_loss(model, images, labels, capsnet=capsnet)
        optimizer_step(loss, optimizer, scaler=scaler)

    return step


def profile_steps(
    step: Callable[[], None],
    device: torch.device,
    out_dir: Path,
    *,
    header: str,
    steps: int = 5,
    rows: int = 25,
) -> str:
    """Run ``step()`` 3 times untimed, then ``steps`` times under ``torch.profiler``; write the
    top-ops table (after ``header``) and a Chrome trace to ``out_dir``; return the table."""
    from torch.profiler import ProfilerActivity, profile  # loaded only when profiling

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for _ in range(3):
        step()
    sync()
    activities = [ProfilerActivity.CPU] + (
        [ProfilerActivity.CUDA] if device.type == "cuda" else []
    )
    with profile(activities=activities, record_shapes=True) as prof:
        for _ in range(steps):
            step()
        sync()
    sort_by = "cuda_time_total" if device.type == "cuda" else "cpu_time_total"
    table = prof.key_averages().table(sort_by=sort_by, row_limit=rows)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "profile_top_ops.txt").write_text(
        header + table + "\n", encoding="utf-8"
    )
    prof.export_chrome_trace(str(out_dir / "profile_trace.json"))
    return header + table


def profile_training(
    name: str,
    batch_size: int,
    dtype: str,
    device: torch.device,
    out_dir: Path,
    *,
    steps: int = 5,
    compile: bool = False,
    rows: int = 25,
) -> str:
    """Profile ``steps`` training steps of ``name`` (:mod:`capslib.bench_profile`); write the
    top-ops table and a Chrome trace to ``out_dir``; return the table."""
    model = make_model(name, device)
    runner = torch.compile(model) if compile else model
    images = torch.rand(batch_size, 1, 28, 28, device=device)
    labels = torch.randint(0, 10, (batch_size,), device=device)
    header = (
        f"{mode_lib.describe_run(device=device)} | model={name} batch={batch_size} dtype={dtype} "
        f"compile={compile} steps={steps}\n"
    )
    step = training_step(runner, images, labels, dtype=dtype, device=device)
    return profile_steps(step, device, out_dir, header=header, steps=steps, rows=rows)
