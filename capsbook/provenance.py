"""The provenance block that every ``scripts/measure_*.py`` writes into its record.

A record in ``results/`` says which code measured it, where, when, for how long and how
to measure it again: :func:`provenance` gives the ``provenance`` dict of keys ``commit``
(``git rev-parse HEAD``, with ``-dirty`` when tracked files had changed: capslib's
:func:`~capslib.train.summary.git_commit`), ``device``, ``torch``, ``date`` (UTC, to the
minute), ``wall_seconds`` and ``command``, then any keys a script adds (its number
format, its CPU time).  :func:`script_command` writes the command as a reader types it
from the repository root.  The chapters and tests read these keys from the records.
"""

from __future__ import annotations

import datetime
import sys
from collections.abc import Sequence
from pathlib import Path

import torch

from capslib.runtime import device_name, versions
from capslib.train.summary import git_commit

#: The repository root: commands are shown relative to it.
REPO = Path(__file__).resolve().parents[1]
#: The format of ``date``, e.g. ``"2026-12-07 16:27 UTC"``.
DATE_FORMAT = "%Y-%m-%d %H:%M UTC"
#: The keys every record's ``provenance`` holds, in this order.
KEYS = ("commit", "device", "torch", "date", "wall_seconds", "command")


def script_command(script: str | Path, argv: Sequence[str] | None = None) -> str:
    """``python scripts/NAME.py ARGS``: how ``script`` was called, as typed from the root.

    ``argv``: the arguments after the script's name (``sys.argv[1:]`` when ``None``).
    A script outside the repository is named by its file name alone.
    """
    path = Path(script).resolve()
    try:
        shown = path.relative_to(REPO).as_posix()
    except ValueError:
        shown = path.name
    arguments = list(sys.argv[1:] if argv is None else argv)
    return " ".join(["python", shown, *arguments])


def provenance(
    command: str,
    wall_seconds: float,
    *,
    device: torch.device | str = "cpu",
    **extra,
) -> dict:
    """The ``provenance`` of a record measured now, on ``device``, in ``wall_seconds``.

    The keys of :data:`KEYS` (``wall_seconds`` rounded to 0.1 s), then ``extra``'s;
    an ``extra`` key may not replace one of :data:`KEYS`.
    """
    clash = sorted(set(extra) & set(KEYS))
    if clash:
        raise ValueError(f"provenance: {', '.join(clash)} is set by provenance itself")
    return {
        "commit": git_commit(),
        "device": device_name(device),
        "torch": versions()["torch"],
        "date": datetime.datetime.now(datetime.timezone.utc).strftime(DATE_FORMAT),
        "wall_seconds": round(wall_seconds, 1),
        "command": command,
        **extra,
    }
