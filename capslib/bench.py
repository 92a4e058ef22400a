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

The step it times is the trainer's own (:mod:`capslib.train.step`, through
:mod:`capslib.bench_step`, which also profiles it); the timer and the
yardsticks (a GEMM, the GPUs' peaks, the routing loop) are in
:mod:`capslib.bench_reference`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

import torch

from . import runtime as mode_lib
from .bench_reference import (
    BF16_PEAK_TFLOPS,
    bench_routing,
    bf16_peak_tflops,
    cpu_capabilities,
    gemm_gflops,
    sync,
    time_calls,
)
from .bench_step import MODEL_NAMES, make_model, profile_training, training_step
from .cpu_memory import keep_freed_memory
from .devices import parse_device
from .flops import flops_per_image
from .nn import count_parameters
from .precision import DTYPES, choose_dtype
from .train.step import autocast

__all__ = [
    "BF16_PEAK_TFLOPS",
    "MODEL_NAMES",
    "bench_model",
    "bench_routing",
    "bf16_peak_tflops",
    "cpu_capabilities",
    "gemm_gflops",
    "main",
    "make_model",
    "profile_training",
    "run_bench",
    "sync",
    "time_calls",
    "training_step",
]


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
        with autocast(device, choose_dtype(dtype, device).autocast):
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
        "parameters": count_parameters(base),
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
    auto = choose_dtype("auto", device)
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
        "auto_dtype": {"dtype": auto.name, "reason": auto.reason},
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
                except (torch.OutOfMemoryError, MemoryError, RuntimeError) as err:
                    if not _out_of_memory(err):
                        raise
                    result = {
                        "model": name,
                        "batch_size": batch_size,
                        "dtype": used,
                        "error": "out of memory",
                    }
                    if device.type == "cuda":
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


def _out_of_memory(err: BaseException) -> bool:
    """A GPU's ``OutOfMemoryError``, Python's ``MemoryError``, or the CPU allocator's refusal."""
    return isinstance(err, (torch.OutOfMemoryError, MemoryError)) or (
        "can't allocate memory" in str(err) or "out of memory" in str(err).lower()
    )


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
        return parse_device(name, "--device")
    except ValueError as err:
        parser.error(str(err))


def _check_folder(parser: argparse.ArgumentParser, option: str, path: Path) -> None:
    """Refuse an output folder that is a file or cannot be created or written, before any timing."""
    for where in [path, *path.parents]:
        if where.exists():
            if not where.is_dir():
                parser.error(
                    f"{option} {path}: {where} is a file, not a folder; choose a folder"
                )
            if not os.access(where, os.W_OK | os.X_OK):
                parser.error(
                    f"{option} {path}: cannot write under {where}; choose a writable folder"
                )
            return


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
    try:
        mode_lib.get_mode()  # a bad CAPSLIB_MODE: one line now, not a traceback in the report
    except ValueError as err:
        parser.error(str(err))
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
    if args.profile:
        _check_folder(parser, "--profile-dir", Path(args.profile_dir))
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
