"""The yardsticks a training step is measured against, and the timer: for :mod:`capslib.bench`.

* :func:`time_calls`: seconds per call, after warm-up calls, the GPU
  synchronised before each clock reading;
* :func:`gemm_gflops`: what one large matrix multiply reaches on this device
  now (a CPU's practical peak, measured in the same run as the step);
* :func:`bf16_peak_tflops`: a known GPU's dense bf16 peak, from the vendors' data sheets;
* :func:`bench_routing`: the vectorised routing against the didactic loop;
* :func:`cpu_capabilities`: the vector and matrix units that decide a CPU's speed.
"""

from __future__ import annotations

import statistics
import time

import torch

from . import runtime
from .functional import dynamic_routing, dynamic_routing_loop
from .precision import cpu_bf16_units

#: Dense (no sparsity) bf16 tensor-core peaks in TFLOP/s, from the vendors' data sheets.
BF16_PEAK_TFLOPS = {
    "H100 SXM": 989.4,
    "H100 80GB HBM3": 989.4,
    "H100 NVL": 835.5,
    "H100 PCIe": 756.5,
    "H100": 756.5,
    "H200": 989.4,
    "GH200": 989.4,
    "A100": 312.0,
    "L40S": 362.1,
    "L4": 121.0,
    "A10G": 70.0,
    "A10": 125.0,
    "T4": 65.0,
    "V100": 125.0,
}


def bf16_peak_tflops(device_name: str) -> float | None:
    """The dense bf16 peak of a known GPU (longest matching name), else ``None``."""
    matches = [key for key in BF16_PEAK_TFLOPS if key.lower() in device_name.lower()]
    return BF16_PEAK_TFLOPS[max(matches, key=len)] if matches else None


def sync(device: torch.device) -> None:
    """Wait for the GPU's queued kernels (a CPU runs synchronously: nothing to wait for)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_calls(fn, *, steps: int, warmup: int, device: torch.device) -> list[float]:
    """Seconds of each of ``steps`` calls of ``fn()``, after ``warmup`` untimed calls.

    On a GPU the device is synchronised before each clock reading, so a
    call's time includes its kernels, not only their launch.  Report the
    median (or compare variants timed in turns), not one call.
    """
    for _ in range(warmup):
        fn()
    sync(device)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - start)
    return times


def gemm_gflops(
    device: torch.device,
    *,
    size: int = 2048,
    repeats: int = 5,
    dtype: torch.dtype = torch.float32,
) -> list[float]:
    """GFLOP/s of ``repeats`` matrix multiplies ``(size x size) @ (size x size)`` in ``dtype`` on ``device``.

    The reference a training step is compared with on a CPU: what one large
    GEMM reaches on these cores now, measured in the same run as the step
    (``2 * size**3`` FLOPs per multiply).
    """
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(size, size, generator=generator).to(device=device, dtype=dtype)
    b = torch.randn(size, size, generator=generator).to(device=device, dtype=dtype)
    times = time_calls(lambda: a @ b, steps=repeats, warmup=1, device=device)
    return [2 * size**3 / t / 1e9 for t in times]


def bench_routing(
    device: torch.device,
    *,
    batch: int = 32,
    in_caps: int = 1152,
    out_caps: int = 10,
    out_dim: int = 16,
    iterations: int = 3,
    repeats: int = 3,
) -> dict:
    """Time :func:`~capslib.functional.dynamic_routing` against :func:`~capslib.functional.dynamic_routing_loop`.

    Same input, same run; also checks that both give the same ``v``.
    """
    u_hat = torch.randn(
        batch, in_caps, out_caps, out_dim, generator=torch.Generator().manual_seed(0)
    ).to(device)
    with torch.no_grad():
        vectorised = time_calls(
            lambda: dynamic_routing(u_hat, iterations),
            steps=repeats,
            warmup=1,
            device=device,
        )
        loop = time_calls(
            lambda: dynamic_routing_loop(u_hat, iterations),
            steps=repeats,
            warmup=0,
            device=device,
        )
        difference = (
            (
                dynamic_routing(u_hat, iterations)
                - dynamic_routing_loop(u_hat, iterations)
            )
            .abs()
            .max()
            .item()
        )
    v_s, l_s = statistics.median(vectorised), statistics.median(loop)
    return {
        "batch": batch,
        "in_caps": in_caps,
        "out_caps": out_caps,
        "out_dim": out_dim,
        "iterations": iterations,
        "vectorised_ms": 1e3 * v_s,
        "loop_ms": 1e3 * l_s,
        "speedup": l_s / v_s,
        "max_abs_difference": difference,
    }


def cpu_capabilities(flags: set[str] | None = None) -> dict[str, bool]:
    """What decides how fast this CPU trains: ``{"AVX2": ..., "AVX-512": ..., "AVX512_BF16": ..., "AMX": ...}``."""
    flags = runtime.cpu_flags() if flags is None else flags
    units = cpu_bf16_units(flags)
    return {
        "AVX2": "avx2" in flags,
        "AVX-512": "avx512f" in flags,
        "AVX512_BF16": "AVX512_BF16" in units,
        "AMX": "AMX" in units,
    }
