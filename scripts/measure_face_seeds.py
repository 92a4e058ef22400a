#!/usr/bin/env python3
"""Chapter 10's scrambled faces over seeds: a CapsNet and a CNN retrained on each seed.

For each seed both face detectors are built from that seed and trained on the same
images with the same budget (``capsbook.robustness.face_seeds.train_face_pair``), then asked about
the same held-out scrambled faces.  Writes ``results/face-seeds.json``: the sizes, the
seeds, the number format, the commit, the CPU, and per seed each detector's accuracy on
faces against non-faces, its rate of calling a scrambled face "face" and its CPU time.
Chapter 10 applies ``capsbook.robustness.face_seeds.face_seeds_verdict`` to the record and
re-measures its first seed live.

Usage (from the repository root; about 12 CPU-seconds a seed on one thread, 20 seeds)::

    OMP_NUM_THREADS=1 nice -n 10 python scripts/measure_face_seeds.py
    python scripts/measure_face_seeds.py --seeds 0 --out /tmp/one-seed.json   # the cost of one
    # on a shared machine, in two halves, then one record:
    python scripts/measure_face_seeds.py --seeds 0 1 2 ... --out /tmp/a.json   # and /tmp/b.json
    python scripts/measure_face_seeds.py --combine /tmp/a.json /tmp/b.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from capsbook.provenance import provenance, script_command  # noqa: E402
from capsbook.robustness.face_seeds import (  # noqa: E402
    RECORD,
    SEEDS,
    SIZES,
    face_data,
    train_face_pair,
)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    parser.add_argument(
        "--n-each", type=int, default=SIZES["n_each"], help="faces (and non-faces)"
    )
    parser.add_argument(
        "--n-eval", type=int, default=SIZES["n_eval"], help="test images of each kind"
    )
    parser.add_argument("--epochs", type=int, default=SIZES["epochs"])
    parser.add_argument("--batch-size", type=int, default=SIZES["batch_size"])
    parser.add_argument("--lr", type=float, default=SIZES["lr"])
    parser.add_argument("--out", type=Path, default=RECORD)
    parser.add_argument(
        "--combine", type=Path, nargs="+", help="join records of the same sizes"
    )
    args = parser.parse_args(argv)
    if args.combine:
        return combine(args.combine, args.out)

    start = time.perf_counter()
    data = face_data(args.n_each, args.n_eval)
    sizes = {
        "n_each": args.n_each,
        "n_eval": args.n_eval,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "lr": args.lr,
    }
    record = {
        "what": "chapter 10's scrambled faces: per seed, a CapsNet and a CNN built from "
        "the seed, trained on one budget, asked about the same held-out scrambled faces",
        "data": data.describe(),
        "sizes": sizes,
        "seeds": args.seeds,
        "dtype": str(torch.get_default_dtype()).removeprefix("torch."),
        "per_seed": [],
    }
    for seed in args.seeds:
        pair = train_face_pair(
            seed,
            data,
            epochs=args.epochs,
            batch_size=args.batch_size,
            lr=args.lr,
        )
        row = {"seed": seed}
        for net in ("cnn", "capsnet"):
            r = pair[net]
            row[net] = {
                "accuracy": round(r["accuracy"], 6),
                "rate": round(r["rate"], 6),
                "cpu_seconds": round(r["cpu_seconds"], 1),
            }
        record["per_seed"].append(row)
        print(
            f"seed {seed}: CNN accuracy {row['cnn']['accuracy']:.1%}, rate "
            f"{row['cnn']['rate']:.1%}; CapsNet accuracy {row['capsnet']['accuracy']:.1%},"
            f" rate {row['capsnet']['rate']:.1%} "
            f"({row['cnn']['cpu_seconds'] + row['capsnet']['cpu_seconds']:.0f} CPU s)",
            flush=True,
        )
    record["provenance"] = provenance(
        script_command(__file__, argv),
        time.perf_counter() - start,
        threads=torch.get_num_threads(),
        cpu_seconds=round(time.process_time(), 1),
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out} in {record['provenance']['wall_seconds']:.0f} s")
    return 0


def combine(paths: list[Path], out: Path) -> int:
    """Join records made at the same sizes, on the same data and machine, into one."""
    parts = [json.loads(p.read_text(encoding="utf-8")) for p in paths]
    first = parts[0]
    for part in parts[1:]:
        for key in ("sizes", "data", "dtype"):
            if part[key] != first[key]:
                raise SystemExit(f"--combine: the records differ in {key}")
        for key in ("commit", "device", "torch"):
            if part["provenance"][key] != first["provenance"][key]:
                raise SystemExit(f"--combine: the records differ in {key}")
    per_seed = sorted(
        (s for p in parts for s in p["per_seed"]), key=lambda s: s["seed"]
    )
    seeds = [s["seed"] for s in per_seed]
    if len(set(seeds)) != len(seeds):
        raise SystemExit("--combine: a seed appears twice")
    record = dict(first, seeds=seeds, per_seed=per_seed)
    record["provenance"] = dict(
        first["provenance"],
        wall_seconds=max(p["provenance"]["wall_seconds"] for p in parts),
        cpu_seconds=round(sum(p["provenance"]["cpu_seconds"] for p in parts), 1),
        date=max(p["provenance"]["date"] for p in parts),
        command="python scripts/measure_face_seeds.py"
        + ("" if seeds == list(SEEDS) else " --seeds " + " ".join(map(str, seeds)))
        + "".join(
            f" --{k.replace('_', '-')} {v}"
            for k, v in first["sizes"].items()
            if SIZES[k] != v
        ),
        made_as=f"{len(parts)} processes side by side, joined with --combine",
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {out}: {len(seeds)} seeds")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
