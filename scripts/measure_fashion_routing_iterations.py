#!/usr/bin/env python3
"""Measure the shipped fashion-capsnet's test errors with 1 and 3 routing iterations.

Writes ``results/fashion-routing-iterations.json``: for each iteration count the
indices of the complete Fashion-MNIST test images (10,000) that the model gets
wrong, with the provenance (model and its SHA256, data, mode, commit, CPU, torch,
date, wall time, command).  The Fashion-MNIST appendix reads the file: CI has only
the bundled 2,000-image sample, so the complete test set cannot be measured there.

Usage (from the repository root; needs the complete Fashion-MNIST, e.g. Debian's
``dataset-fashion-mnist``; several minutes on a 2-core CPU)::

    python scripts/measure_fashion_routing_iterations.py
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
from capsbook.routing_iterations import errors_by_iterations  # noqa: E402
from capslib import pretrained  # noqa: E402

RESULT = REPO / "results" / "fashion-routing-iterations.json"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="fashion-capsnet")
    parser.add_argument("--iterations", type=int, nargs="+", default=[1, 3])
    parser.add_argument("--limit", type=int, default=None, help="first N test images")
    parser.add_argument("--out", type=Path, default=RESULT)
    args = parser.parse_args(argv)

    torch.manual_seed(0)
    loaded = pretrained.load(args.model, "cpu")
    entry = pretrained.info(args.model)
    start = time.perf_counter()
    wrong = errors_by_iterations(
        loaded.model,
        args.iterations,
        limit=args.limit,
        batch_size=250,
        dataset="fashion-mnist",
    )
    images = args.limit or 10_000  # the complete Fashion-MNIST test set
    seconds = time.perf_counter() - start
    record = {
        "what": "Fashion-MNIST test errors of a trained CapsNet with k routing "
        "iterations (the same weights; only the forward pass's iteration count "
        "changes)",
        "model": args.model,
        "model_sha256": entry["sha256"],
        "weights": "the shipped float16 weights, run in float32",
        "trained_with_iterations": loaded.model.config.routing_iterations,
        "test_set": "complete Fashion-MNIST test set",
        "images": images,
        "mode": "evaluation only (no training; the same in quick and full mode)",
        "errors": {str(k): len(v) for k, v in wrong.items()},
        "wrong": {str(k): v for k, v in wrong.items()},
        "provenance": provenance(script_command(__file__, argv), seconds),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    for k, v in wrong.items():
        print(f"{k} iterations: {len(v)} errors of {images}")
    print(f"wrote {args.out} in {seconds:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
