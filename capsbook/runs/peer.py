"""Chapter 8's reading of ``results/peer-bench.json``: our step against a public CapsNet.

``scripts/bench_peer.py`` times the paper CapsNet's training step of capslib
against Xifeng Guo's CapsNet-Pytorch, the two steps interleaved in one process,
and records, per variant of ours (``ours-auto``, ``ours-float32``), the ratio
peer seconds / our seconds of every round with its median and quartiles.

The rule, stated in chapter 8 before the numbers and applied here once:

* our step is **faster** only where the median ratio exceeds 1 and its lower
  quartile does too;
* a goal (:data:`PEER_GOALS`) is **met** only where the lower quartile reaches it;
  where only the median does, it is *not clearly met*, and where the median is
  below it too, *not met*.

:func:`load_peer_bench` reads the record (``None`` where it was not made),
:func:`peer_readings` applies the rule, :func:`peer_table_rows` and
:func:`peer_sentence` format the result for the page, :func:`peer_machine`
names where it was measured.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from .folder import results_file
from .run import RunFormatError

__all__ = [
    "PEER_GOALS",
    "RECORD_NAME",
    "PeerReading",
    "load_peer_bench",
    "peer_machine",
    "peer_readings",
    "peer_sentence",
    "peer_table_rows",
]

RECORD_NAME = "peer-bench.json"

#: The speed-up over the peer that each variant of our step aimed at (peer time / ours).
PEER_GOALS = {"ours-auto": 2.5, "ours-float32": 1.8}


@dataclass(frozen=True)
class PeerReading:
    """One variant of our step against the peer, read by the rule."""

    variant: str  # "ours-auto" or "ours-float32"
    dtype: str  # the number format it ran in (auto: what the CPU chose)
    median: float  # peer seconds / our seconds, median over the rounds
    q1: float
    q3: float
    goal: float
    faster: bool  # median > 1 and q1 > 1
    met: bool  # q1 >= goal

    @property
    def goal_outcome(self) -> str:
        """``"met"``, ``"not clearly met"`` (the median reaches it) or ``"not met"``."""
        if self.met:
            return "met"
        return "not clearly met" if self.median >= self.goal else "not met"


def load_peer_bench(path: str | os.PathLike | None = None) -> dict | None:
    """The committed record, or ``None`` where it has not been made.

    ``path`` defaults to the record in the results folder (``$CAPSLIB_RESULTS`` if set).
    A file that exists but is not a JSON object is an error, never "absent".
    """
    path = Path(path) if path is not None else results_file(RECORD_NAME)
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise RunFormatError(f"{path.name}: not JSON ({error})") from None
    if not isinstance(record, dict):
        raise RunFormatError(f"{path.name}: expected a JSON object")
    return record


def peer_readings(record: dict, goals: dict | None = None) -> list[PeerReading]:
    """Apply the rule to each variant of ``goals`` (default :data:`PEER_GOALS`)."""
    goals = PEER_GOALS if goals is None else goals
    readings = []
    for variant, goal in goals.items():
        try:
            ratio = record["ratios"][variant]
            dtype = record["ours"]["dtypes"][variant]
            median, q1, q3 = (float(ratio[k]) for k in ("median", "q1", "q3"))
        except (KeyError, TypeError) as error:
            raise RunFormatError(
                f"{RECORD_NAME}: no ratio recorded for {variant} ({error!r}); "
                "remake it with scripts/bench_peer.py"
            ) from None
        if not q1 <= median <= q3:
            raise RunFormatError(
                f"{RECORD_NAME}: {variant}'s quartiles {q1}, {q3} do not bracket "
                f"its median {median}"
            )
        readings.append(
            PeerReading(
                variant=variant,
                dtype=dtype,
                median=median,
                q1=q1,
                q3=q3,
                goal=goal,
                faster=median > 1 and q1 > 1,
                met=q1 >= goal,
            )
        )
    return readings


def peer_table_rows(readings: list[PeerReading]) -> list[tuple[str, str, str, str]]:
    """Rows ``(our step, dtype, "median (q1-q3)", goal)``, formatted for the page."""
    return [
        (
            f"--dtype {r.variant.removeprefix('ours-')}",
            r.dtype,
            f"{r.median:.2f}x ({r.q1:.2f}-{r.q3:.2f})",
            f"{r.goal:g}x: {r.goal_outcome}",
        )
        for r in readings
    ]


def peer_sentence(readings: list[PeerReading]) -> str:
    """The readings in words, one clause per variant; ``"no record"`` for none."""
    clauses = [
        f"in {r.dtype} ours is {'faster' if r.faster else 'not shown faster'}, "
        f"{r.median:.2f}x, and the {r.goal:g}x goal was {r.goal_outcome}"
        + {
            "met": "",
            "not clearly met": " (its median reaches it, its lower quartile does not)",
            "not met": " (its median is below it)",
        }[r.goal_outcome]
        for r in readings
    ]
    return "; ".join(clauses) or "no record"


def peer_machine(record: dict) -> str:
    """Where the record was made: ``"AMD EPYC, 2 threads, 2026-12-07"``."""
    return (
        f"{record['cpu']['model']}, {record['threads']} threads, {record['date'][:10]}"
    )
