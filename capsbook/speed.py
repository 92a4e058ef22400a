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

What the page shows is built here too, so that the GPU's table and sentences
are tested with fake timings on a CPU: the rows of the Speed table
(:func:`speed_rows`), its reading (:func:`speed_reading`), the sentence that
says what the page measured (:func:`measured_sentence`) and the one that opens
the GPU levers (:func:`levers_sentence`), which must never say "not measured"
on a GPU.

The small HTML table that chapter 8 and its appendix on number formats show
their tables in is here too (:func:`html_table`).

The readings of recorded runs (the shipped schedule, paired verdicts from error
counts, the Table 1 and parity runs) are in :mod:`capsbook.runs.recorded`.
"""

from __future__ import annotations

import html
import statistics
from dataclasses import dataclass

import torch

from capslib.bench import gemm_gflops, time_calls, training_step
from capslib.flops import flops_per_image
from capslib.functional import value_checks
from capslib.models import CapsNet, CapsNetConfig
from capslib.precision import choose_dtype

__all__ = [
    "html_table",
    "SpeedPlan",
    "SpeedResult",
    "Variant",
    "levers_sentence",
    "measured_sentence",
    "reduced_dtype",
    "speed_header",
    "speed_plan",
    "speed_reading",
    "speed_rows",
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
    labels = "; ".join(v.label for v in plan.variants)
    return (
        f"Measured on {device_name}: the small CapsNet's training step at batch "
        f"{plan.batch_size}, value checks off, in {len(plan.variants)} variants "
        f"({labels}). This is a CPU, so the GPU's levers are not measured here"
    )


def speed_rows(result: SpeedResult, peak_tflops: float | None = None) -> list[tuple]:
    """The Speed table's rows: ``(step, images/s, ms per step, vs the first, yardstick)``.

    The yardstick is the step's share of the GPU's bf16 peak (``peak_tflops``,
    ``"peak unknown"`` without it) on a GPU, and of the same run's float32 GEMM
    on a CPU.  Medians over the timed rounds; every cell is formatted text.
    """
    plan = result.plan
    first = plan.variants[0].label
    rows = []
    for v in plan.variants:
        ips = result.images_per_s(v.label)
        if plan.on_gpu:
            achieved = ips * result.train_flops_per_image[v.label]
            share = f"{achieved / (peak_tflops * 1e12):.1%}" if peak_tflops else None
            yardstick = share or "peak unknown"
        else:
            fraction = result.fraction_of_gemm(v.label)
            yardstick = "no GEMM timed" if fraction is None else f"{fraction:.1%}"
        rows.append(
            (
                v.label,
                f"{ips:,.0f}",
                f"{1e3 * statistics.median(result.times[v.label]):.0f}",
                f"{ips / result.images_per_s(first):.2f}",
                yardstick,
            )
        )
    return rows


def speed_header(plan: SpeedPlan) -> tuple[str, ...]:
    """The Speed table's header for :func:`speed_rows`."""
    yardstick = "of the GPU's bf16 peak" if plan.on_gpu else "of a float32 GEMM"
    first = plan.variants[0].label
    return ("step", "images/s", "ms per step", f"vs {first}", yardstick)


def _verdict(ratio: float, name: str) -> str:
    """Read a ratio measured side by side: only beyond 10% is it called a gain or a loss."""
    if ratio > 1.1:
        return f"{name} ran {ratio:.2f} times as fast"
    if ratio < 0.9:
        return f"{name} ran slower ({ratio:.2f} times the speed)"
    return f"{name} made no clear difference ({ratio:.2f} times)"


def speed_reading(result: SpeedResult) -> str:
    """One sentence reading the Speed table: each lever's ratio, called a gain only beyond 10%.

    On a GPU: reduced precision against float32, then ``torch.compile`` against
    the same precision without it.  On a CPU: the fast paths against the
    reference layers, 1 routing iteration against 3, and bf16 where it was timed.
    """
    labels = [v.label for v in result.plan.variants]

    def ratio(a: str, b: str) -> float:
        return result.images_per_s(a) / result.images_per_s(b)

    if result.plan.on_gpu:
        parts = [
            _verdict(ratio(labels[1], labels[0]), f"{labels[1]} autocast"),
            _verdict(
                ratio(labels[2], labels[1]), f"adding torch.compile to {labels[1]}"
            ),
        ]
    else:
        parts = [
            _verdict(
                ratio(labels[0], labels[1]),
                "the fast paths against the reference layers",
            ),
            _verdict(ratio(labels[2], labels[0]), "1 routing iteration instead of 3"),
        ]
        if len(labels) > 3:
            parts.append(_verdict(ratio(labels[3], labels[0]), "bf16 autocast"))
    return "; ".join(parts)


def levers_sentence(plan: SpeedPlan, device_name: str) -> str:
    """The sentence that opens "The GPU levers": what of them this build timed."""
    if plan.on_gpu:
        reduced = plan.variants[1].label
        return (
            f"The Speed table above timed {reduced} autocast and torch.compile on "
            f"this page's GPU ({device_name}), all with the value checks off (their "
            "share alone is not isolated); data on the device and torchrun are "
            "described, not timed. The levers:"
        )
    return (
        f"This page was built on {device_name}, so its Speed table timed the "
        "CPU's levers and none of the GPU's; built on a CUDA GPU, the same cell times "
        "float32, bf16 (float16 where bf16 is not native) and bf16 with "
        "torch.compile at batch 128, value checks off. The levers:"
    )


#: Inline style of every cell of :func:`html_table`: the book's theme gives a
#: notebook's HTML output no padding, so without it the columns run together.
CELL_STYLE = "padding: 0.3em 0.9em; text-align: left; vertical-align: top"
#: The header row's rule, so that the names read apart from the values.
HEADER_STYLE = CELL_STYLE + "; border-bottom: 1px solid currentColor"


def html_table(header, rows):
    """A small HTML table for a notebook (every cell is escaped text, every cell padded).

    >>> html_table(("a",), [("<2>",)]).data  # doctest: +ELLIPSIS
    '<table style="border-collapse: collapse"><tr><th style="padding: ...">a</th></tr><tr><td style="padding: 0.3em 0.9em; ...">&lt;2&gt;</td></tr></table>'
    """
    from IPython.display import HTML

    def cells(row, tag, style):
        return "".join(
            f'<{tag} style="{style}">{html.escape(str(c))}</{tag}>' for c in row
        )

    body = "".join(f"<tr>{cells(r, 'td', CELL_STYLE)}</tr>" for r in rows)
    head = f"<tr>{cells(header, 'th', HEADER_STYLE)}</tr>"
    return HTML(f'<table style="border-collapse: collapse">{head}{body}</table>')
