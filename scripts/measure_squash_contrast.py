#!/usr/bin/env python3
"""Measure, on every MNIST test digit, whether the squash widens the shipped CapsNet's contrast.

For each of the 10,000 official MNIST test digits: the output lengths of the
capsule of the digit shown and of its strongest rival, the input lengths
recovered from them (``|s| = sqrt(|v| / (1 - |v|))``) and whether the output
ratio exceeds the input ratio (by ``capsbook.squash_contrast.widens``: exactly
when the product of the two input lengths is below 1).  Writes
``results/squash-contrast.json``: the summary, the indices of the digits whose
contrast the squash does not widen, those on the boundary, and the provenance.
Chapter 4 reads the file and re-measures a subset live.

The digits are visited in a seeded random order (``capsbook.squash_contrast.digit_order``),
so a record of the first N is a random sample of the test set; the committed record
holds 2,000, enough for chapter 4's rule to decide (two standard errors of a share
at one half: 2.2 points).

Usage (from the repository root; about a minute per 1,000 digits on a 2-core CPU)::

    python scripts/measure_squash_contrast.py --limit 2000
    python scripts/measure_squash_contrast.py --out /tmp/c.json  # all 10,000
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

from capsbook import squash_contrast as sc  # noqa: E402
from capsbook.provenance import provenance, script_command  # noqa: E402
from capslib import pretrained  # noqa: E402
from capslib.data import load_mnist  # noqa: E402


def make_record(
    args, entry, lengths, labels, measured, command: str, wall_seconds: float
) -> dict:
    """The record of the digits ``measured`` (test-set indices) so far, ``wall_seconds`` in."""
    v_p, v_a = sc.present_and_rival(lengths, labels)
    s_p, s_a = sc.input_length(v_p), sc.input_length(v_a)
    flags = sc.widens(s_p, s_a)
    boundary = (s_p * s_a - 1).abs() < sc.BOUNDARY
    summary = sc.summarise(v_p, v_a)
    return {
        "what": "for each MNIST test digit, whether the squash widens the contrast "
        "between the shipped CapsNet's capsule of the digit shown and its strongest "
        "rival (output ratio above input ratio, i.e. |s_present| |s_rival| < 1)",
        "model": args.model,
        "model_sha256": entry["sha256"],
        "test_set": "official MNIST test set (bundled with capslib)",
        "order": "the first `digits` of capsbook.squash_contrast.digit_order(10000)",
        "summary": summary,
        "verdict": sc.verdict(summary["widened"], summary["digits"]),
        "narrowed": sorted(measured[~flags].tolist()),
        "near_boundary": sorted(measured[boundary].tolist()),
        "provenance": provenance(command, wall_seconds),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="mnist-capsnet")
    parser.add_argument("--limit", type=int, default=None, help="first N test digits")
    parser.add_argument("--out", type=Path, default=sc.RESULT)
    parser.add_argument("--chunk", type=int, default=250, help="digits per write")
    args = parser.parse_args(argv)

    torch.manual_seed(0)
    loaded = pretrained.load(args.model, "cpu")
    entry = pretrained.info(args.model)
    test = load_mnist("test", source="sample", verbose=False)  # the complete test set
    order = sc.digit_order(len(test))  # any prefix is a random sample
    if args.limit is not None:
        order = order[: args.limit]
    lengths = torch.empty(0, 10, dtype=torch.float64)
    start = time.perf_counter()
    for first in range(0, len(order), args.chunk):  # the record grows chunk by chunk
        index = order[first : first + args.chunk]
        lengths = torch.cat(
            [lengths, sc.capsule_lengths(loaded.model, test.images[index])]
        )
        measured = order[: len(lengths)]
        record = make_record(
            args,
            entry,
            lengths,
            test.labels[measured],
            measured,
            script_command(__file__, argv),
            time.perf_counter() - start,
        )
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
        summary = record["summary"]
        print(
            f"{summary['digits']:,} digits: widened on {summary['widened']:.1%} "
            f"(SE {summary['se']:.1%}): {record['verdict']}",
            flush=True,
        )
    print(f"wrote {args.out} in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
