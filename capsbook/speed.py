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

Also here, the rest of chapter 8's readings of recorded runs:

* the shipped schedule's flags (:data:`SHIPPED_SCHEDULE`, :func:`schedule_flags`),
  the ones ``scripts/train_shipped_models.sh`` passes, for every command shown;
* the paired comparison of two error counts on the same digits when only the
  counts were recorded (:func:`paired_two_se`, :func:`paired_verdict`), used
  for the validation curve (:func:`flat_epoch`) and the parity table
  (:func:`parity_rows`);
* which recorded runs join the Table 1 comparison (:data:`TABLE1_RUNS`,
  :func:`table1_runs`): named explicitly, so that other experiments' folders
  in ``results/`` never become rows of it.
"""

from __future__ import annotations

import os
import statistics
from dataclasses import dataclass

import torch

from capslib.bench import gemm_gflops, time_calls, training_step
from capslib.flops import flops_per_image
from capslib.functional import value_checks
from capslib.models import CapsNet, CapsNetConfig
from capslib.precision import choose_dtype

from .paired import paired_count_standard_error

__all__ = [
    "PARITY_RUNS",
    "SHIPPED_SCHEDULE",
    "TABLE1_RUNS",
    "SpeedPlan",
    "SpeedResult",
    "Variant",
    "flat_epoch",
    "levers_sentence",
    "measured_sentence",
    "paired_two_se",
    "paired_verdict",
    "parity_rows",
    "reduced_dtype",
    "schedule_flags",
    "speed_plan",
    "speed_reading",
    "speed_rows",
    "table1_runs",
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


#: The shipped run's schedule (``scripts/train_shipped_models.sh mnist``), as
#: ``capslib.train``'s command-line flags and :class:`capslib.train.TrainConfig`
#: fields.  Every command chapter 8 shows carries these.
SHIPPED_SCHEDULE = {
    "batch_size": 128,
    "lr": 1e-3,
    "lr_decay": 0.9,
    "lr_decay_steps": 430,
    "validation_size": 5000,
    "seed": 0,
}


def schedule_flags(schedule: dict | None = None) -> str:
    """``--batch-size 128 --lr 1e-3 ...``: the schedule as command-line flags.

    >>> schedule_flags({"lr_decay_steps": 430, "lr": 1e-3})
    '--lr-decay-steps 430 --lr 1e-3'
    """
    schedule = SHIPPED_SCHEDULE if schedule is None else schedule

    def value(v):
        return (
            f"{v:.0e}".replace("e-0", "e-") if isinstance(v, float) and v < 0.01 else v
        )

    return " ".join(f"--{k.replace('_', '-')} {value(v)}" for k, v in schedule.items())


def paired_two_se(errors_a: int, errors_b: int, n: int) -> tuple[float, float]:
    """Two paired standard errors of ``errors_a - errors_b``, in digits: ``(least, most)``.

    Two models scored on the same ``n`` digits differ only on the digits one of
    them gets wrong and the other right: ``D`` discordant digits, of which the
    difference of the counts is ``d = errors_a - errors_b``.  The standard error
    of ``d`` (McNemar's, :func:`capsbook.paired.paired_count_standard_error`) is
    ``sqrt(D - d**2 / n)``.  Where only the counts were
    recorded, ``D`` is unknown but bounded: at least ``|d|``, at most
    ``errors_a + errors_b`` (each discordant digit is a mistake of one model).
    Returns two standard errors at each bound.

    >>> paired_two_se(40, 25, 5000)  # doctest: +ELLIPSIS
    (7.7..., 16.1...)
    """
    for name, value in (("errors_a", errors_a), ("errors_b", errors_b), ("n", n)):
        if not isinstance(value, int) or value < 0:
            raise ValueError(
                f"paired_two_se: {name} must be a count (an int >= 0), got {value!r}"
            )
    if max(errors_a, errors_b) > n:
        raise ValueError(f"paired_two_se: more errors than the {n} examples")
    d = errors_a - errors_b
    least, most = abs(d), min(errors_a + errors_b, n)
    return (
        2 * paired_count_standard_error(least, d, n),
        2 * paired_count_standard_error(most, d, n),
    )


def paired_verdict(errors_a: int, errors_b: int, n: int) -> str:
    """Is ``errors_a - errors_b`` beyond two paired standard errors?

    ``"beyond"``: even at the most discordance the counts allow;
    ``"within"``: even at the least; ``"undecided"``: it depends on how many
    digits the two models disagree on, which the counts do not tell.
    """
    least, most = paired_two_se(errors_a, errors_b, n)
    d = abs(errors_a - errors_b)
    if d > most:
        return "beyond"
    if d <= least:
        return "within"
    return "undecided"


def flat_epoch(errors: list[int], n: int, *, discordance: str) -> int:
    """The first epoch (numbered from 1) that no later epoch beats by two paired SEs.

    ``errors``: the validation mistakes of each epoch, all on the same ``n``
    digits.  Epoch ``j`` beats an earlier epoch ``i`` when ``errors[i] -
    errors[j]`` exceeds two paired standard errors (:func:`paired_two_se`)
    computed at the ``"most"`` or the ``"least"`` discordance the counts allow.
    The most gives the earliest epoch the curve can be called flat from, the
    least the latest.

    >>> flat_epoch([90, 40, 30, 28], 5000, discordance="most")
    2
    >>> flat_epoch([90, 40, 30, 28], 5000, discordance="least")
    3
    """
    if discordance not in ("most", "least"):
        raise ValueError(
            f"flat_epoch: discordance must be 'most' or 'least', got {discordance!r}"
        )
    if not errors:
        raise ValueError("flat_epoch: expected one error count per epoch, got none")
    pick = 1 if discordance == "most" else 0
    for i, e in enumerate(errors):
        beaten = any(
            e - later > paired_two_se(e, later, n)[pick] for later in errors[i + 1 :]
        )
        if not beaten:
            return i + 1
    raise AssertionError("unreachable: the last epoch is never beaten")


#: The recorded runs that chapter 8 sets beside the paper's Table 1, by name:
#: the Table 1 variants of ``scripts/full_gpu_runs.sh`` (complete MNIST, full
#: schedules).  Only these join the table: a folder of another experiment in
#: ``results/`` (chapter 6's 2-epoch ``losses-*`` runs, the ``parity-*`` pairs)
#: never does, whatever its mode and dataset.  The shipped run has its own row.
TABLE1_RUNS = (
    "mnist-paper",
    "mnist-paper-r1",
    "mnist-paper-norecon",
    "mnist-paper-r1-norecon",
    "mnist-baseline",
)


def table1_runs(results_dir: str | os.PathLike | None = None) -> list:
    """The runs of :data:`TABLE1_RUNS` recorded in ``results_dir``, in that order.

    A name whose folder is missing is skipped; a recorded run that is not a
    full-mode MNIST run (say, a dry run of the script) is refused, since the
    table compares it with the paper's.
    """
    from capsbook.runs import load_run

    found = []
    for name in TABLE1_RUNS:
        run = load_run(name, results_dir)
        if run is None:
            continue
        if run.get("mode") != "full" or run.get("dataset") != "mnist":
            raise ValueError(
                f"table1_runs: results/{name} is a {run.get('mode')}-mode run on "
                f"{run.get('dataset')}, not a full-mode MNIST run; remake it with "
                "scripts/full_gpu_runs.sh or remove the folder"
            )
        found.append(run)
    return found


#: The parity runs of ``bash scripts/train_shipped_models.sh parity``: (model, epochs, run names).
PARITY_RUNS = (
    ("small CapsNet", 3, "parity-small-float32", "parity-small-bfloat16"),
    ("paper CapsNet", 1, "parity-paper-float32", "parity-paper-bfloat16"),
)


def parity_rows(results_dir: str | os.PathLike | None = None) -> list[tuple]:
    """The rows of the bf16-against-float32 parity table, one per recorded run.

    Each row: ``(model, epochs, dtype, reason, test accuracy, test errors,
    bf16 - float32 in errors, two paired SEs (least, most), verdict,
    images/s)``.  Both runs of a pair are tested on the same digits, so the
    comparison is paired (:func:`paired_two_se`); the summaries record how many
    digits each run got wrong, not which, so the two SEs are the bounds the
    counts allow and the verdict (:func:`paired_verdict`) is "within",
    "beyond" or "undecided".  The difference, SEs and verdict are on the bf16
    row only.  A pair with a run missing gives no rows; none recorded, ``[]``.
    """
    from capsbook.runs import load_run

    rows = []
    for model, epochs, name32, name16 in PARITY_RUNS:
        f32, b16 = load_run(name32, results_dir), load_run(name16, results_dir)
        if f32 is None or b16 is None:
            continue
        if f32.test_accuracy is None or b16.test_accuracy is None:
            continue
        n = int(f32.get("test_size"))
        if int(b16.get("test_size")) != n:
            raise ValueError(
                f"parity_rows: {name32} and {name16} were tested on different "
                f"numbers of digits ({n} and {b16.get('test_size')}); not a pair"
            )
        e32 = round((1 - f32.test_accuracy) * n)
        e16 = round((1 - b16.test_accuracy) * n)
        paired = (e16 - e32, paired_two_se(e16, e32, n), paired_verdict(e16, e32, n))
        for run, errors, extra in ((f32, e32, (None, None, None)), (b16, e16, paired)):
            rows.append(
                (
                    model,
                    epochs,
                    run.get("dtype"),
                    run.get("dtype_reason"),
                    run.test_accuracy,
                    errors,
                    *extra,
                    run.get("images_per_s"),
                )
            )
    return rows
