#!/usr/bin/env python3
"""Time the course's paper CapsNet training step against a public PyTorch CapsNet, side by side.

The peer is Xifeng Guo's CapsNet-Pytorch (https://github.com/XifengGuo/CapsNet-Pytorch,
MIT licence), built as published: the paper's architecture, 3 routing
iterations, the decoder and its reconstruction loss (``lam_recon = 0.0005 *
784``), batch 100, ``torch.optim.Adam(lr=0.001)`` with its defaults, float32.
Its code is not part of this repository: clone it and pass the folder::

    git clone https://github.com/XifengGuo/CapsNet-Pytorch /tmp/peer/CapsNet-Pytorch
    # measured with capsulelayers.py as at ce41f3afcb1fec448706dac34f377f0ca0cedd44
    # and capsulenet.py as at 8a5a3572d91eb9479425168d3d565eb02e78be46
    nice -n 10 python scripts/bench_peer.py --peer-dir /tmp/peer/CapsNet-Pytorch

The script imports ``CapsuleNet`` and ``caps_loss`` from that folder and runs
the published training loop's body (zero_grad, forward with the one-hot
labels, ``caps_loss``, backward, Adam step).  One change lets it run on a
CPU: the published routing calls ``.cuda()`` on its logits, which this
script makes return the tensor where it is, during the peer's steps only.

Our step is the trainer's own (:func:`capslib.bench_step.training_step`, the
paper CapsNet, batch 100, Adam) in each ``--dtypes`` entry (``auto``: what
``--dtype auto`` trains in on this CPU).  Both models see the same batch:
random MNIST-shaped images (``torch.rand``, 28x28, values in [0, 1]) and
random labels; random data is enough to time a step, whose work does not
depend on the values.

**Side by side, in one process.**  After warm-up steps, rounds of one step of
every model, the order rotated from round to round; each round gives one
ratio per dtype, ``peer seconds / our seconds`` (above 1: ours is faster).
The report gives the median of those per-round ratios and their quartiles:
steps that run next to each other share whatever else the machine is doing,
so the *ratio* is meaningful on a shared machine, while the absolute images
per second are not (they are printed and recorded, labelled as such).

Writes ``results/peer-bench.json`` (``--json``): the CPU and its
capabilities, threads, torch version, our commit, the peer's commit, the
dtypes, per-model images/s, the ratios and every step's time.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from capslib.bench_reference import cpu_capabilities  # noqa: E402
from capslib.bench_step import make_model, training_step  # noqa: E402
from capslib.precision import DTYPES, choose_dtype  # noqa: E402
from capslib.runtime import cpu_model, device_name  # noqa: E402

PEER_URL = "https://github.com/XifengGuo/CapsNet-Pytorch"
#: The commits of the peer's two files that were measured (as the public index served them).
PEER_FILES = {
    "capsulelayers.py": "ce41f3afcb1fec448706dac34f377f0ca0cedd44",
    "capsulenet.py": "8a5a3572d91eb9479425168d3d565eb02e78be46",
}
RESULT = REPO / "results" / "peer-bench.json"
PEER = "peer"
CONTENTION_NOTE = (
    "absolute images/s were measured on a shared machine (2 cores, a training run and other "
    "work beside it): they depend on that load and are not comparable between runs; the "
    "ratios, from steps run next to each other, are"
)


class PeerError(RuntimeError):
    """The ``--peer-dir`` folder is missing or is not a clone of the peer (the message says the fix)."""


def _clone_fix(peer_dir: Path) -> str:
    return f"fix: git clone {PEER_URL} {peer_dir} (then pass --peer-dir {peer_dir})"


def load_peer(peer_dir: Path | str) -> tuple[type, Callable]:
    """The peer's ``CapsuleNet`` class and ``caps_loss`` function, imported from ``peer_dir``.

    Raises :class:`PeerError`, naming the fix, when the folder is missing, lacks the two files,
    or does not define those names.
    """
    peer_dir = Path(peer_dir)
    if not peer_dir.exists():
        raise PeerError(
            f"--peer-dir {peer_dir}: no such folder; {_clone_fix(peer_dir)}"
        )
    if not peer_dir.is_dir():
        raise PeerError(
            f"--peer-dir {peer_dir}: a file, not a folder; {_clone_fix(peer_dir)}"
        )
    missing = [name for name in PEER_FILES if not (peer_dir / name).is_file()]
    if missing:
        raise PeerError(
            f"--peer-dir {peer_dir}: no {' or '.join(missing)} there, so it is not a clone of "
            f"{PEER_URL}; {_clone_fix(peer_dir)}"
        )
    if (
        importlib.util.find_spec("torchvision") is None
    ):  # imported by capsulenet.py for its data loader
        sys.modules["torchvision"] = types.ModuleType("torchvision")
        sys.modules["torchvision"].transforms = sys.modules["torchvision"].datasets = (
            None
        )
    sys.path.insert(0, str(peer_dir))
    try:
        for name in ("capsulelayers", "capsulenet"):
            sys.modules.pop(name, None)
        try:
            import capsulenet  # the peer's module, from peer_dir
        except Exception as err:  # noqa: BLE001 - any failure of foreign code becomes one clear line
            raise PeerError(
                f"--peer-dir {peer_dir}: importing its capsulenet.py failed "
                f"({type(err).__name__}: {err}); {_clone_fix(peer_dir)}"
            ) from err
    finally:
        sys.path.remove(str(peer_dir))
    absent = [n for n in ("CapsuleNet", "caps_loss") if not hasattr(capsulenet, n)]
    if absent:
        raise PeerError(
            f"--peer-dir {peer_dir}: its capsulenet.py defines no {' or '.join(absent)}; "
            f"check out the measured commit {PEER_FILES['capsulenet.py']} or {_clone_fix(peer_dir)}"
        )
    return capsulenet.CapsuleNet, capsulenet.caps_loss


@contextlib.contextmanager
def _cuda_stays_put():
    """``tensor.cuda()`` returns the tensor where it is (the published routing assumes a GPU)."""
    original = torch.Tensor.cuda
    torch.Tensor.cuda = lambda self, *args, **kwargs: self
    try:
        yield
    finally:
        torch.Tensor.cuda = original


def peer_training_step(
    capsule_net: type, caps_loss: Callable, images: torch.Tensor, labels: torch.Tensor
) -> Callable[[], None]:
    """The published training loop's body for the peer's CapsuleNet on a fixed batch, as a function."""
    model = capsule_net(input_size=[1, 28, 28], classes=10, routings=3)
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.001)
    one_hot = torch.zeros(labels.size(0), 10).scatter_(1, labels.view(-1, 1), 1.0)
    lam_recon = 0.0005 * 784

    def step() -> None:
        with _cuda_stays_put():
            optimizer.zero_grad()
            y_pred, x_recon = model(images, one_hot)
            loss = caps_loss(one_hot, y_pred, images, x_recon, lam_recon)
            loss.backward()
            optimizer.step()

    return step


def interleaved_times(
    steps: dict[str, Callable[[], None]],
    *,
    rounds: int,
    warmup: int,
    clock: Callable[[], float] = time.perf_counter,
    cpu_clock: Callable[[], float] = time.process_time,
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Seconds of each step in each of ``rounds`` rounds, after ``warmup`` untimed rounds:
    ``(wall, cpu)``, by the wall clock and by this process's CPU time (all its threads).

    A round runs every step once; the order rotates by one from round to round, so that no
    model is always first (or always right after the same other one).
    """
    names = list(steps)
    for _ in range(warmup):
        for name in names:
            steps[name]()
    wall: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            start, cpu_start = clock(), cpu_clock()
            steps[name]()
            wall[name].append(clock() - start)
            cpu[name].append(cpu_clock() - cpu_start)
    return wall, cpu


def _quartiles(values: list[float]) -> tuple[float, float, float]:
    if len(values) == 1:
        return values[0], values[0], values[0]
    q1, median, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, median, q3


def summarize(times: dict[str, list[float]], batch_size: int) -> dict:
    """Images/s per model and, per one of ours, the per-round ratios ``peer / ours`` and their spread.

    ``times``: seconds per round for ``"peer"`` and for each of ours (same number of rounds).
    """
    if PEER not in times:
        raise ValueError(f"summarize: expected the {PEER!r} step's times")
    rounds = len(times[PEER])
    if rounds == 0 or any(len(t) != rounds for t in times.values()):
        raise ValueError(
            "summarize: expected the same positive number of rounds for every model, got "
            + ", ".join(f"{name}: {len(t)}" for name, t in times.items())
        )
    images_per_s = {
        name: batch_size / statistics.median(t) for name, t in times.items()
    }
    ratios = {}
    for name, ours in times.items():
        if name == PEER:
            continue
        per_round = [p / o for p, o in zip(times[PEER], ours)]
        q1, median, q3 = _quartiles(per_round)
        ratios[name] = {
            "median": median,
            "q1": q1,
            "q3": q3,
            "iqr": q3 - q1,
            "rounds": rounds,
            "per_round": per_round,
        }
    return {"images_per_s": images_per_s, "ratios": ratios}


def _git(*args: str, cwd: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def our_commit() -> str:
    """HEAD, with ``-dirty`` when capslib/ or this script differ from it."""
    head = _git("rev-parse", "HEAD", cwd=REPO) or "unknown"
    changed = _git(
        "status", "--porcelain", "--untracked-files=no", "--", "capslib",
        "scripts/bench_peer.py", cwd=REPO,
    )  # fmt: skip
    return head + ("-dirty" if changed else "")


def peer_commit(peer_dir: Path, given: str | None) -> str:
    """``--peer-commit`` if given, else the clone's HEAD, else the measured files' commits."""
    if given:
        return given
    head = _git("rev-parse", "HEAD", cwd=peer_dir)
    if (
        head
        and Path(_git("rev-parse", "--show-toplevel", cwd=peer_dir) or "")
        == peer_dir.resolve()
    ):
        return head
    return ", ".join(f"{name} {commit}" for name, commit in PEER_FILES.items())


def make_record(
    summary: dict,
    times: dict[str, list[float]],
    *,
    cpu_summary: dict | None = None,
    cpu_times: dict[str, list[float]] | None = None,
    dtypes: dict[str, str],
    batch_size: int,
    threads: int,
    warmup: int,
    peer_commit_text: str,
    cpu: dict,
    command: str,
) -> dict:
    """The JSON record: provenance, per-model images/s (labelled), ratios with their spread."""
    return {
        "what": "training step of the paper CapsNet (ours, capslib) against a public PyTorch "
        "CapsNet (the peer), side by side in one process, steps interleaved",
        "peer": {
            "repository": PEER_URL,
            "commit": peer_commit_text,
            "as_published": "paper architecture, 3 routing iterations, decoder and "
            "reconstruction loss, Adam(lr=0.001), float32; .cuda() made a no-op to run on a CPU",
        },
        "ours": {"model": "capsnet-paper", "commit": our_commit(), "dtypes": dtypes},
        "data": f"random MNIST-shaped batch (torch.rand, {batch_size}x1x28x28; random "
        "labels), the same for both models; enough to time a step",
        "batch_size": batch_size,
        "threads": threads,
        "warmup_rounds": warmup,
        "rounds": len(times[PEER]),
        "cpu": cpu,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "niceness": os.nice(0),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds"
        ),
        "command": command,
        "ratio_rule": "per round: peer seconds / our seconds (above 1: ours is faster); "
        "median over rounds, with the quartiles q1, q3 and iqr = q3 - q1",
        "ratios": summary["ratios"],
        "images_per_s_under_contention": summary["images_per_s"],
        "images_per_s_note": CONTENTION_NOTE,
        "step_seconds": times,
        "cpu_time_ratios": cpu_summary["ratios"] if cpu_summary else None,
        "cpu_time_note": "the same ratios from the process's CPU time per step (both threads), "
        "which other processes disturb less than the wall clock (they still share caches and "
        "memory bandwidth, and a thread waiting for a descheduled partner spins)",
        "step_cpu_seconds": cpu_times,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/bench_peer.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--peer-dir", type=Path, required=True, help=f"a clone of {PEER_URL}"
    )
    parser.add_argument(
        "--peer-commit", default=None, help="record this as the peer's commit"
    )
    parser.add_argument("--dtypes", default="auto,float32")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=RESULT)
    args = parser.parse_args(argv)
    try:
        capsule_net, caps_loss = load_peer(args.peer_dir)
    except PeerError as err:
        parser.error(str(err))
    requested = [d for d in args.dtypes.split(",") if d]
    for dtype in requested:
        if dtype not in DTYPES:
            parser.error(
                f"--dtypes: expected names among {', '.join(DTYPES)}, got {dtype!r}"
            )
    for option, value in (("--batch-size", args.batch_size), ("--rounds", args.rounds),
                          ("--threads", args.threads)):  # fmt: skip
        if value < 1:
            parser.error(f"{option}: expected a positive integer, got {value}")
    torch.set_num_threads(args.threads)
    device = torch.device("cpu")
    torch.manual_seed(args.seed)
    images = torch.rand(args.batch_size, 1, 28, 28)
    labels = torch.randint(0, 10, (args.batch_size,))
    dtypes = {}
    steps: dict[str, Callable[[], None]] = {}
    for dtype in dict.fromkeys(requested):
        used = choose_dtype(dtype, device).name
        name = f"ours-{dtype}"
        dtypes[name] = used
        steps[name] = training_step(
            make_model("capsnet-paper", device),
            images,
            labels,
            dtype=used,
            device=device,
        )
    steps[PEER] = peer_training_step(capsule_net, caps_loss, images, labels)
    cpu_name, _ = cpu_model()
    cpu = {
        "model": cpu_name or platform.processor() or "unknown",
        "description": device_name(device),
        "capabilities": cpu_capabilities(),
        "auto_dtype": choose_dtype("auto", device).name,
    }
    print(f"{cpu['description']}; capabilities: {cpu['capabilities']}")
    print(f"timing {', '.join(steps)}: {args.warmup} warm-up + {args.rounds} rounds")
    times, cpu_times = interleaved_times(steps, rounds=args.rounds, warmup=args.warmup)
    summary = summarize(times, args.batch_size)
    cpu_summary = summarize(cpu_times, args.batch_size)
    record = make_record(
        summary,
        times,
        cpu_summary=cpu_summary,
        cpu_times=cpu_times,
        dtypes=dtypes,
        batch_size=args.batch_size,
        threads=args.threads,
        warmup=args.warmup,
        peer_commit_text=peer_commit(args.peer_dir, args.peer_commit),
        cpu=cpu,
        command="python scripts/bench_peer.py "
        + " ".join(sys.argv[1:] if argv is None else argv),
    )
    for name, ratio in summary["ratios"].items():
        print(
            f"{name} ({dtypes[name]}): {ratio['median']:.2f}x the peer "
            f"(median of {ratio['rounds']} rounds; quartiles {ratio['q1']:.2f}-{ratio['q3']:.2f})"
        )
    for name, ratio in cpu_summary["ratios"].items():
        print(
            f"{name} by CPU time: {ratio['median']:.2f}x "
            f"(quartiles {ratio['q1']:.2f}-{ratio['q3']:.2f})"
        )
    for name, value in summary["images_per_s"].items():
        print(
            f"{name}: {value:,.1f} images/s (under this machine's load: compare the ratios)"
        )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
