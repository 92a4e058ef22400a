"""``python -m capslib.bench``: how fast CapsNet trains and answers, and where the time goes.

Measures, on the current device (a CPU or a GPU alike):

* training throughput (images/s) of a full step (forward, the paper's loss,
  backward, Adam) for CapsNet (paper and small) and the baseline CNN, over
  batch sizes and autocast dtypes, on synthetic batches already on the device
  (so it measures the model, not data loading; the trainer draws its batches
  on the device as well);
* inference latency (ms per batch) and images/s in eval mode;
* the counted FLOPs per image (:mod:`capslib.flops`) and the achieved FLOP/s,
  with the fraction of the GPU's dense bf16 peak where the GPU is known;
* the vectorised routing against the didactic loop version
  (:func:`capslib.functional.dynamic_routing_loop`) in the same run, with the ratio.

``--profile`` runs a few training steps under ``torch.profiler`` and writes the
table of the most expensive operators (``profile_top_ops.txt``) and a Chrome
trace: the first thing to read before optimising anything.

Everything is written as JSON (``--json``) with the device name, the mode and
the software versions.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

from . import runtime as mode_lib
from .cpu_memory import keep_freed_memory
from .flops import flops_per_image
from .precision import DTYPES, choose_dtype, cpu_bf16_units, cpu_flags

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
MODEL_NAMES = (
    "capsnet-paper",
    "capsnet-small",
    "capsnet-tiny",
    "baseline-paper",
    "baseline-small",
    "baseline-tiny",
)


def bf16_peak_tflops(device_name: str) -> float | None:
    """The dense bf16 peak of a known GPU (longest matching name), else ``None``."""
    matches = [key for key in BF16_PEAK_TFLOPS if key.lower() in device_name.lower()]
    return BF16_PEAK_TFLOPS[max(matches, key=len)] if matches else None


def make_model(
    name: str, device: torch.device, input_size: int = 28
) -> torch.nn.Module:
    """``capsnet-paper``, ``capsnet-small``, ``capsnet-tiny``, ``baseline-paper``, ... on ``device``."""
    from .train.trainer import TrainConfig, build_model

    if name not in MODEL_NAMES:
        raise ValueError(
            f"bench: expected a model among {', '.join(MODEL_NAMES)}, got {name!r}"
        )
    kind, size = name.split("-")
    return build_model(TrainConfig(model=kind, config=size), input_size).to(device)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _autocast(device: torch.device, dtype: str):
    if dtype == "float32":
        return torch.autocast(device.type, enabled=False)
    return torch.autocast(
        device.type, dtype={"bfloat16": torch.bfloat16, "float16": torch.float16}[dtype]
    )


def _loss(model, images, labels):
    from .models import CapsNet

    if isinstance(model, CapsNet) or isinstance(
        getattr(model, "_orig_mod", None), CapsNet
    ):
        base = getattr(model, "_orig_mod", model)
        return base.loss(model(images, targets=labels), images, labels).total
    return torch.nn.functional.cross_entropy(model(images).float(), labels)


def training_step(
    model: torch.nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    dtype: str,
    device: torch.device,
) -> Callable[[], None]:
    """One training step on a fixed batch, as a function to time: forward and loss under ``dtype``
    autocast (``"float32"``: none), backward, an Adam update (learning rate 1e-3).

    ``model`` is a CapsNet (its own loss: margin plus reconstruction), a CNN
    (cross-entropy), or either one compiled with ``torch.compile``.
    """
    from .train.trainer import make_optimizer

    optimizer = make_optimizer(model.parameters(), 1e-3)

    def step() -> None:
        with _autocast(device, dtype):
            loss = _loss(model, images, labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def time_calls(fn, *, steps: int, warmup: int, device: torch.device) -> list[float]:
    """Seconds of each of ``steps`` calls of ``fn()``, after ``warmup`` untimed calls.

    On a GPU the device is synchronised before each clock reading, so a
    call's time includes its kernels, not only their launch.  Report the
    median (or compare variants timed in turns), not one call.
    """
    for _ in range(warmup):
        fn()
    _sync(device)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        fn()
        _sync(device)
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


def bench_model(
    name: str,
    batch_size: int,
    dtype: str,
    device: torch.device,
    *,
    steps: int,
    warmup: int,
    compile: bool = False,
    compile_backend: str = "inductor",
    seed: int = 0,
) -> dict:
    """Training images/s and inference latency of one model at one batch size and dtype.

    ``compile_backend``: the ``torch.compile`` backend (``"inductor"`` generates kernels; the
    tests use ``"aot_eager"``, which traces the same graphs without a C++ compiler).
    """
    torch.manual_seed(seed)
    model = make_model(name, device)
    base = model
    images = torch.rand(batch_size, 1, 28, 28, device=device)
    labels = torch.randint(0, 10, (batch_size,), device=device)
    runner = torch.compile(model, backend=compile_backend) if compile else model
    train_step = training_step(runner, images, labels, dtype=dtype, device=device)

    base.train()
    train_times = time_calls(train_step, steps=steps, warmup=warmup, device=device)
    base.eval()

    @torch.no_grad()
    def infer():
        with _autocast(device, dtype):
            out = runner(images)
        return out

    infer_times = time_calls(infer, steps=steps, warmup=warmup, device=device)
    train_s, infer_s = statistics.median(train_times), statistics.median(infer_times)
    forward_flops = flops_per_image(base)
    train_images_per_s = batch_size / train_s
    achieved = train_images_per_s * 3 * forward_flops
    peak = (
        bf16_peak_tflops(mode_lib.device_name(device))
        if device.type == "cuda"
        else None
    )
    return {
        "model": name,
        "batch_size": batch_size,
        "dtype": dtype,
        "compile": compile,
        "parameters": sum(p.numel() for p in base.parameters()),
        "train_step_ms": 1e3 * train_s,
        "train_images_per_s": train_images_per_s,
        "inference_latency_ms": 1e3 * infer_s,
        "inference_images_per_s": batch_size / infer_s,
        "forward_flops_per_image": forward_flops,
        "train_flops_per_image": 3 * forward_flops,
        "achieved_train_tflops": achieved / 1e12,
        "bf16_peak_tflops": peak,
        "fraction_of_bf16_peak": achieved / (peak * 1e12) if peak else None,
        "steps": steps,
        "warmup": warmup,
    }


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
    from .functional import dynamic_routing, dynamic_routing_loop

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
    """Profile ``steps`` training steps; write the top-ops table and a Chrome trace to ``out_dir``; return the table."""
    from torch.profiler import ProfilerActivity, profile

    model = make_model(name, device)
    runner = torch.compile(model) if compile else model
    images = torch.rand(batch_size, 1, 28, 28, device=device)
    labels = torch.randint(0, 10, (batch_size,), device=device)
    step = training_step(runner, images, labels, dtype=dtype, device=device)

    for _ in range(3):
        step()
    _sync(device)
    activities = [ProfilerActivity.CPU] + (
        [ProfilerActivity.CUDA] if device.type == "cuda" else []
    )
    with profile(activities=activities, record_shapes=True) as prof:
        for _ in range(steps):
            step()
        _sync(device)
    sort_by = "cuda_time_total" if device.type == "cuda" else "cpu_time_total"
    table = prof.key_averages().table(sort_by=sort_by, row_limit=rows)
    out_dir.mkdir(parents=True, exist_ok=True)
    header = (
        f"{mode_lib.describe_run(device=device)} | model={name} batch={batch_size} dtype={dtype} "
        f"compile={compile} steps={steps}\n"
    )
    (out_dir / "profile_top_ops.txt").write_text(
        header + table + "\n", encoding="utf-8"
    )
    prof.export_chrome_trace(str(out_dir / "profile_trace.json"))
    return header + table


def _print_result(result: dict) -> None:
    name, batch_size, dtype = result["model"], result["batch_size"], result["dtype"]
    if "error" in result:
        print(f"{name:15s} batch {batch_size:5d} {dtype:9s} {result['error']}")
        return
    peak, gemm = result["fraction_of_bf16_peak"], result.get("fraction_of_gemm")
    print(
        f"{name:15s} batch {batch_size:5d} {dtype:9s} train {result['train_images_per_s']:>10,.0f} "
        f"img/s  infer {result['inference_latency_ms']:8.2f} ms/batch  "
        f"{1e3 * result['achieved_train_tflops']:9.1f} GFLOP/s"
        + (f" ({100 * peak:.1f}% of bf16 peak)" if peak else "")
        + (
            f" ({100 * gemm:.0f}% of this run's {result['gemm_dtype']} GEMM)"
            if gemm
            else ""
        )
    )


def run_bench(
    *,
    models,
    batch_sizes,
    dtypes,
    device: torch.device,
    steps: int,
    warmup: int,
    compile: bool = False,
    routing: dict | None = None,
    verbose: bool = True,
    gemm_reference: bool | None = None,
) -> dict:
    """The whole benchmark as a JSON-ready dict (see the module docstring).

    ``gemm_reference`` (default: on a CPU): also time a float32 GEMM before and after the models and give
    each result's ``fraction_of_fp32_gemm``, the share of that GEMM's FLOP/s the training step reached.
    """
    if gemm_reference is None:
        gemm_reference = device.type == "cpu"
    choices = {
        dtype: choose_dtype(dtype, device) for dtype in dtypes
    }  # "auto" resolved as the trainer does
    report = {
        "describe": mode_lib.describe_run(
            device=device, data="synthetic batches on the device"
        ),
        "device_name": mode_lib.device_name(device),
        "versions": mode_lib.versions(),
        "mode": mode_lib.get_mode(),
        "results": [],
        "routing": None,
        "fp32_gemm_gflops": None,
        "cpu_capabilities": cpu_capabilities() if device.type == "cpu" else None,
        "auto_dtype": {
            "dtype": choose_dtype("auto", device).name,
            "reason": choose_dtype("auto", device).reason,
        },
    }
    if verbose:
        print(report["describe"])
        if report["cpu_capabilities"] is not None:
            caps = report["cpu_capabilities"]
            print(
                "CPU capabilities: "
                + ", ".join(
                    f"{name} {'yes' if has else 'no'}" for name, has in caps.items()
                )
            )
        print(
            f"--dtype auto picks {report['auto_dtype']['dtype']} ({report['auto_dtype']['reason']})"
        )
    gemm_dtypes = (
        sorted({choice.name for choice in choices.values()} | {"float32"})
        if gemm_reference
        else []
    )
    gemm = {
        name: gemm_gflops(device, dtype=getattr(torch, name)) for name in gemm_dtypes
    }  # before the models
    for name in models:
        for dtype in dtypes:
            for batch_size in batch_sizes:
                used = choices[dtype].name
                try:
                    result = bench_model(
                        name,
                        batch_size,
                        used,
                        device,
                        steps=steps,
                        warmup=warmup,
                        compile=compile,
                    )
                except torch.OutOfMemoryError:
                    result = {
                        "model": name,
                        "batch_size": batch_size,
                        "dtype": used,
                        "error": "out of memory",
                    }
                    torch.cuda.empty_cache()
                result["requested_dtype"] = dtype
                report["results"].append(result)
    if gemm_reference:
        for name in gemm_dtypes:  # and again after them
            gemm[name] += gemm_gflops(device, dtype=getattr(torch, name))
        report["gemm_gflops"] = {
            name: statistics.median(values) for name, values in gemm.items()
        }
        report["fp32_gemm_gflops"] = report["gemm_gflops"]["float32"]
        report["gemm"] = {
            "size": 2048,
            "measurements_gflops": gemm,
            "note": "median of (2048 x 2048) @ (2048 x 2048) multiplies in each dtype, timed before "
            "and after the models in this run",
        }
    for result in report["results"]:
        if "error" not in result:
            reference = report.get("gemm_gflops", {}).get(result["dtype"])
            result["gemm_dtype"] = result["dtype"]
            result["fraction_of_gemm"] = (
                1e3 * result["achieved_train_tflops"] / reference if reference else None
            )
            result["fraction_of_fp32_gemm"] = (
                1e3 * result["achieved_train_tflops"] / report["fp32_gemm_gflops"]
                if report["fp32_gemm_gflops"]
                else None
            )
        if verbose:
            _print_result(result)
    if verbose and report.get("gemm_gflops"):
        for name, value in report["gemm_gflops"].items():
            print(
                f"reference: one {name} GEMM (2048^3) reached {value:,.1f} GFLOP/s in this run "
                f"(median of {len(gemm[name])})"
            )
    if routing is not None:
        report["routing"] = bench_routing(device, **routing)
        r = report["routing"]
        if verbose:
            print(
                f"routing ({r['batch']}x{r['in_caps']}->{r['out_caps']}x{r['out_dim']}, {r['iterations']} iterations): "
                f"vectorised {r['vectorised_ms']:.2f} ms, loop {r['loop_ms']:.1f} ms, "
                f"the vectorised version is {r['speedup']:.0f}x faster (max |difference| {r['max_abs_difference']:.1e})"
            )
    return report


def cpu_capabilities(flags: set[str] | None = None) -> dict[str, bool]:
    """What decides how fast this CPU trains: ``{"AVX2": ..., "AVX-512": ..., "AVX512_BF16": ..., "AMX": ...}``."""
    flags = cpu_flags() if flags is None else flags
    units = cpu_bf16_units(flags)
    return {
        "AVX2": "avx2" in flags,
        "AVX-512": "avx512f" in flags,
        "AVX512_BF16": "AVX512_BF16" in units,
        "AMX": "AMX" in units,
    }


def _csv(kind):
    def parse(text):
        try:
            return [kind(x) for x in text.split(",") if x]
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected a comma-separated list of {kind.__name__}, got {text!r}"
            ) from None

    return parse


def _device_or_exit(parser: argparse.ArgumentParser, name: str) -> torch.device:
    """``--device`` as a torch.device, or a one-line error (unknown name, or CUDA without a GPU)."""
    try:
        device = torch.device(name)
    except RuntimeError:
        parser.error(f"--device: expected cpu, cuda or cuda:N, got {name!r}")
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error(
            f"--device {name}: no CUDA GPU is available here (torch {torch.__version__}); use --device cpu"
        )
    if device.type not in ("cpu", "cuda"):
        parser.error(f"--device: expected cpu, cuda or cuda:N, got {name!r}")
    return device


def _check_writable(parser: argparse.ArgumentParser, path: Path) -> None:
    """Refuse a ``--json`` path that cannot be written before the benchmark runs, not after."""
    if path.is_dir():
        parser.error(
            f"--json {path}: is a directory; give a file name, e.g. {path / 'bench.json'}"
        )
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if parent.exists() and (not parent.is_dir() or not os.access(parent, os.W_OK)):
        parser.error(
            f"--json {path}: cannot create a file under {parent}; choose a writable folder"
        )


def main(argv: list[str] | None = None) -> int:
    cuda = torch.cuda.is_available()
    parser = argparse.ArgumentParser(
        prog="python -m capslib.bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--device", default="cuda" if cuda else "cpu")
    parser.add_argument(
        "--models",
        type=_csv(str),
        default=["capsnet-paper", "capsnet-small", "baseline-paper"]
        if cuda
        else ["capsnet-small"],
    )
    parser.add_argument(
        "--batch-sizes",
        type=_csv(int),
        default=[128, 512, 1024, 2048] if cuda else [32],
    )
    parser.add_argument(
        "--dtypes",
        type=_csv(str),
        default=["float32", "bfloat16"] if cuda else ["auto"],
        help="comma-separated among auto, float32, bfloat16, float16 (auto: as --dtype auto trains)",
    )
    parser.add_argument("--steps", type=int, default=30 if cuda else 5)
    parser.add_argument("--warmup", type=int, default=10 if cuda else 2)
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--routing-batch", type=int, default=128 if cuda else 8)
    parser.add_argument("--routing-in-caps", type=int, default=1152)
    parser.add_argument("--no-routing", action="store_true")
    parser.add_argument("--json", default=None, help="write the report here")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="profile training steps instead (torch.profiler)",
    )
    parser.add_argument("--profile-dir", default="results/profile")
    args = parser.parse_args(argv)
    device = _device_or_exit(parser, args.device)
    for option, values in (
        ("--batch-sizes", args.batch_sizes),
        ("--steps", [args.steps]),
        ("--routing-batch", [args.routing_batch]),
        ("--routing-in-caps", [args.routing_in_caps]),
    ):
        if not values or any(v < 1 for v in values):
            parser.error(
                f"{option}: expected positive integers, got {','.join(map(str, values)) or 'nothing'}"
            )
    if args.warmup < 0:
        parser.error(f"--warmup: expected 0 or more, got {args.warmup}")
    if args.json:
        _check_writable(parser, Path(args.json))
    if device.type == "cpu":
        keep_freed_memory()
    for name in args.models:
        if name not in MODEL_NAMES:
            parser.error(
                f"--models: expected names among {', '.join(MODEL_NAMES)}, got {name!r}"
            )
    for dtype in args.dtypes:
        if dtype not in DTYPES:
            parser.error(f"--dtypes: expected {', '.join(DTYPES)}, got {dtype!r}")
    if args.profile:
        dtype = choose_dtype(args.dtypes[-1], device).name
        print(
            profile_training(
                args.models[0],
                args.batch_sizes[0],
                dtype,
                device,
                Path(args.profile_dir),
                steps=max(args.steps, 1),
                compile=args.compile,
            )
        )
        print(
            f"wrote {Path(args.profile_dir) / 'profile_top_ops.txt'} and profile_trace.json"
        )
        return 0
    routing = (
        None
        if args.no_routing
        else {"batch": args.routing_batch, "in_caps": args.routing_in_caps}
    )
    report = run_bench(
        models=args.models,
        batch_sizes=args.batch_sizes,
        dtypes=args.dtypes,
        device=device,
        steps=args.steps,
        warmup=args.warmup,
        compile=args.compile,
        routing=routing,
    )
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(
            json.dumps(report, indent=2) + "\n", encoding="utf-8"
        )
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
