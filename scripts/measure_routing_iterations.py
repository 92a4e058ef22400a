#!/usr/bin/env python3
"""Measure the shipped mnist-capsnet's test errors with 1, 2, 3 and 5 routing iterations.

Writes ``results/routing-iterations.json``: for each iteration count the number
of the 10,000 official MNIST test digits the model gets wrong and their
indices, with the provenance (model and its SHA256, commit, CPU, torch, date,
wall time, command).  Chapter 7 reads the file; ``tests/capsbook/test_routing_iterations.py``
re-measures the first digits and checks that the file and the model agree.

Usage (from the repository root; about 5 minutes on a 2-core CPU)::

    python scripts/measure_routing_iterations.py
    python scripts/measure_routing_iterations.py --limit 1000 --out /tmp/r.json
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
from capsbook.routing_iterations import RESULT, errors_by_iterations  # noqa: E402
from capslib import pretrained  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="mnist-capsnet")
    parser.add_argument("--iterations", type=int, nargs="+", default=[1, 2, 3, 5])
    parser.add_argument("--limit", type=int, default=None, help="first N test digits")
    parser.add_argument("--out", type=Path, default=RESULT)
    args = parser.parse_args(argv)

    torch.manual_seed(0)
    loaded = pretrained.load(args.model, "cpu")
    entry = pretrained.info(args.model)
    start = time.perf_counter()
    wrong = errors_by_iterations(loaded.model, args.iterations, limit=args.limit)
    seconds = time.perf_counter() - start
    digits = args.limit or 10_000
    record = {
        "what": "MNIST test errors of a trained CapsNet with k routing iterations "
        "(the same weights; only the forward pass's iteration count changes)",
        "model": args.model,
        "model_sha256": entry["sha256"],
        "trained_with_iterations": loaded.model.config.routing_iterations,
        "test_set": "official MNIST test set (bundled with capslib)",
        "digits": digits,
        "errors": {str(k): len(v) for k, v in wrong.items()},
        "wrong": {str(k): v for k, v in wrong.items()},
        "provenance": provenance(script_command(__file__, argv), seconds),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    for k, v in wrong.items():
        print(f"{k} iterations: {len(v)} errors of {digits}")
    print(f"wrote {args.out} in {seconds:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
