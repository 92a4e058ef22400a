"""What chapter 8's Speed section times, on the device that builds the page.

A CPU and a GPU are sped up by different levers, so the chapter times
different things on each:

* on a **CUDA GPU**, the levers of :mod:`capslib.train` that act there: the
  paper CapsNet's training step at batch 128 in float32, in the reduced
  precision that ``--dtype auto`` would choose (bf16 where the GPU computes it
  natively, else float16), and that precision with ``torch.compile``;
* on a **CPU**, where capslib's fast paths (:mod:`capslib.kernels`) run, the
  small CapsNet's step with them and with the reference layers, with 1
  routing iteration instead of 3, and in bf16 autocast where the CPU has
  native bf16 units.

Every variant runs with the value checks off (on a GPU each is a host sync;
on a CPU they cost nothing) and is timed in turns with the others, so that all
see the same machine load.  The choice of variants is a pure function of the
device type (:func:`speed_plan`), so that the GPU's branch is tested on a CPU.

Also here: the rows of the bf16-against-float32 parity table
(:func:`parity_rows`) and the sentence that says what the page measured
(:func:`measured_sentence`), which must never claim "not measured" on a GPU.
"""

from __future__ import annotations

import math
import os
import statistics
from dataclasses import dataclass

import torch

from capslib.bench import gemm_gflops, time_calls, training_step
from capslib.flops import flops_per_image
from capslib.functional import value_checks
from capslib.models import CapsNet, CapsNetConfig
from capslib.precision import choose_dtype

__all__ = [
    "PARITY_RUNS",
    "SpeedPlan",
    "SpeedResult",
    "Variant",
    "measured_sentence",
    "parity_rows",
    "reduced_dtype",
    "speed_plan",
    "time_plan",
]


@dataclass(frozen=True)
class Variant:
    """One training step to time: a CapsNet configuration and how it runs."""

    label: str
    config: str  # "small" or "paper" (CapsNetConfig's constructors)
    dtype: str  # "float32", "bfloat16" or "float16"
    routing_iterations: int = 3
    fast: bool = True  # capslib's CPU fast paths (a GPU ignores them)
    compile: bool = False


@dataclass(frozen=True)
class SpeedPlan:
    """What to time on one type of device, at which batch size."""

    device_type: str
    batch_size: int
    variants: tuple[Variant, ...]

    @property
    def on_gpu(self) -> bool:
        return self.device_type == "cuda"


def reduced_dtype(device: torch.device | str) -> str:
    """The reduced precision worth timing on ``device``: what ``--dtype auto`` picks
    there when that is not float32 (bf16 where native, float16 on a T4-like GPU),
    else ``"bfloat16"`` (timed to show what its emulation costs)."""
    name = choose_dtype("auto", device).name
    return name if name != "float32" else "bfloat16"


def speed_plan(device_type: str, reduced: str = "bfloat16") -> SpeedPlan:
    """The variants chapter 8 times on a device of type ``device_type``.

    ``reduced``: the reduced precision to time (:func:`reduced_dtype`).  On a
    CPU it is timed only where it is bf16 (a CPU has no float16 units).

    >>> [v.label for v in speed_plan("cuda").variants]
    ['float32', 'bfloat16', 'bfloat16 + torch.compile']
    """
    if reduced not in ("bfloat16", "float16"):
        raise ValueError(
            f"speed_plan: reduced must be 'bfloat16' or 'float16', got {reduced!r}"
        )
    if device_type == "cuda":
        return SpeedPlan(
            "cuda",
            128,
            (
                Variant("float32", "paper", "float32"),
                Variant(reduced, "paper", reduced),
                Variant(f"{reduced} + torch.compile", "paper", reduced, compile=True),
            ),
        )
    variants = [
        Variant("3 iterations, fast paths", "small", "float32"),
        Variant("3 iterations, reference layers", "small", "float32", fast=False),
        Variant("1 iteration, fast paths", "small", "float32", routing_iterations=1),
    ]
    if reduced == "bfloat16":
        variants.append(Variant("3 iterations, fast paths, bf16", "small", "bfloat16"))
    return SpeedPlan(device_type, 32, tuple(variants))


@dataclass
class SpeedResult:
    """Seconds per step of each variant, the FLOPs of each, and the same run's GEMM."""

    plan: SpeedPlan
    times: dict[str, list[float]]
    train_flops_per_image: dict[str, float]
    gemm_gflops: list[float]

    def images_per_s(self, label: str) -> float:
        return self.plan.batch_size / statistics.median(self.times[label])

    def fraction_of_gemm(self, label: str) -> float | None:
        """The step's FLOP/s over the same run's float32 GEMM's (``None`` without a GEMM)."""
        if not self.gemm_gflops:
            return None
        flops = self.train_flops_per_image[label] * self.images_per_s(label)
        return flops / 1e9 / statistics.median(self.gemm_gflops)


def time_plan(
    plan: SpeedPlan,
    device: torch.device,
    *,
    rounds: int = 4,
    compile_backend: str = "inductor",
    gemm_size: int = 1024,
    seed: int = 0,
) -> SpeedResult:
    """Time one training step of every variant of ``plan`` in turns, ``rounds`` times.

    The first round is a warm-up (three calls for a compiled model, which
    compiles on its first); the value checks are off throughout.  On a CPU a
    float32 GEMM is timed in the same turns, the yardstick for "fraction of
    a GEMM".  Synthetic digits, as ``capslib.bench`` uses.
    """
    if rounds < 1:
        raise ValueError(f"time_plan: rounds must be at least 1, got {rounds}")
    torch.manual_seed(seed)
    images = torch.rand(plan.batch_size, 1, 28, 28, device=device)
    labels = torch.arange(plan.batch_size, device=device) % 10
    steps, flops = {}, {}
    for v in plan.variants:
        config = getattr(CapsNetConfig, v.config)(
            routing_iterations=v.routing_iterations
        )
        model = CapsNet(config).to(device)
        model.fast = v.fast
        runner = torch.compile(model, backend=compile_backend) if v.compile else model
        steps[v.label] = training_step(
            runner, images, labels, dtype=v.dtype, device=device
        )
        flops[v.label] = 3 * flops_per_image(model)  # forward + backward
    times = {label: [] for label in steps}
    gemm: list[float] = []
    with value_checks(False):
        for repeat in range(rounds + 1):
            for v in plan.variants:
                if repeat == 0:  # warm-up: the first calls allocate and compile
                    for _ in range(3 if v.compile else 1):
                        steps[v.label]()
                    continue
                times[v.label] += time_calls(
                    steps[v.label], steps=1, warmup=0, device=device
                )
            if repeat and not plan.on_gpu:
                gemm += gemm_gflops(device, size=gemm_size, repeats=1)
    return SpeedResult(plan, times, flops, gemm)


def measured_sentence(plan: SpeedPlan, device_name: str) -> str:
    """One sentence: what the Speed section measured on this device, and what not."""
    if plan.on_gpu:
        labels = ", ".join(v.label for v in plan.variants)
        return (
            f"Measured on {device_name}: the paper CapsNet's training step "
            f"at batch {plan.batch_size}, value checks off, in {labels}"
        )
    return (
        f"Measured on {device_name}: the small CapsNet's training step "
        f"at batch {plan.batch_size}, value checks off; no GPU was lent to this "
        "build, so the GPU levers below are described, not measured here"
    )


#: The parity runs of ``bash scripts/train_shipped_models.sh parity``: (model, epochs, run names).
PARITY_RUNS = (
    ("small CapsNet", 3, "parity-small-float32", "parity-small-bfloat16"),
    ("paper CapsNet", 1, "parity-paper-float32", "parity-paper-bfloat16"),
)


def parity_rows(results_dir: str | os.PathLike | None = None) -> list[tuple]:
    """The rows of the bf16-against-float32 parity table, one per recorded run.

    Each row: ``(model, epochs, dtype, reason, test accuracy, bf16 - float32,
    two standard errors, within, images/s)``; the difference, its two
    standard errors (of a difference of two test accuracies on ``n`` digits
    each, binomial) and the verdict are on the bf16 row only.  A pair with a
    run missing gives no rows; no run recorded gives ``[]``.
    """
    from capsbook.runs import load_run

    rows = []
    for model, epochs, name32, name16 in PARITY_RUNS:
        f32, b16 = load_run(name32, results_dir), load_run(name16, results_dir)
        if f32 is None or b16 is None:
            continue
        if f32.test_accuracy is None or b16.test_accuracy is None:
            continue
        p1, p2 = f32.test_accuracy, b16.test_accuracy
        n1, n2 = int(f32.get("test_size")), int(b16.get("test_size"))
        two_se = 2 * math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
        difference = p2 - p1
        for run, accuracy, extra in (
            (f32, p1, (None, None, None)),
            (b16, p2, (difference, two_se, abs(difference) <= two_se)),
        ):
            rows.append(
                (
                    model,
                    epochs,
                    run.get("dtype"),
                    run.get("dtype_reason"),
                    accuracy,
                    *extra,
                    run.get("images_per_s"),
                )
            )
    return rows
