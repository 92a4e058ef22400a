"""Metrics written where a notebook can plot them: ``results/<run>/metrics.jsonl``.

One JSON object per line, appended as training goes: a record with
``"kind": "epoch"`` after each epoch (training loss and accuracy, validation
loss and accuracy, learning rate, images/s, elapsed time) and, when asked, a
record with ``"kind": "step"`` every N steps.  :func:`plot_metrics` draws them.
Accuracies are fractions in [0, 1].
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import NamedTuple

import torch


def accuracy_counts(scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """How many examples are right, as a 0-d tensor (no host sync).

    ``scores``: ``(batch, classes)`` (capsule lengths or logits).
    ``labels``: ``(batch,)`` class indices, or ``(batch, k)`` for ``k`` digits
    per image (MultiMNIST), where an example is right when its ``k`` highest
    scores are exactly its ``k`` labels (the paper's criterion).
    """
    if labels.ndim == 1:
        return (scores.argmax(1) == labels).sum()
    k = labels.shape[1]
    top = scores.topk(k, dim=1).indices.sort(1).values
    return (top == labels.sort(1).values).all(1).sum()


class MetricsWriter:
    """Append JSON records to ``path`` (one per line, flushed at once so a crash loses at most one)."""

    def __init__(self, path: str | os.PathLike, *, enabled: bool = True):
        self.path = Path(path)
        self.enabled = enabled
        if enabled:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, record: dict) -> None:
        if not self.enabled:
            return
        clean = {
            k: (None if isinstance(v, float) and not math.isfinite(v) else v)
            for k, v in record.items()
        }
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(clean, sort_keys=False) + "\n")
            handle.flush()

    def truncate_after(self, step: int) -> None:
        """Drop records beyond ``step`` (a resumed run rewrites what came after its checkpoint).

        Lines that are not records (cut short by a crash, or valid JSON that is not an object
        with an integer ``step``) are dropped too.  The file is replaced atomically, as the
        checkpoints are: a crash during the rewrite leaves the old file, never a part of it.
        """
        if not self.enabled or not self.path.is_file():
            return
        kept = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            record = _record(line)
            if record is not None and record.get("step", 0) <= step:
                kept.append(line)
        temporary = self.path.with_name(f".{self.path.name}.tmp-{os.getpid()}")
        try:
            with open(temporary, "w", encoding="utf-8") as handle:
                handle.write("".join(line + "\n" for line in kept))
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self.path)
        finally:
            temporary.unlink(missing_ok=True)


class BadLine(NamedTuple):
    """A non-blank line of ``metrics.jsonl`` that is not a record.

    ``number``: its line number (from 1); ``reason``: why, e.g. ``expected a JSON
    object, got list``; ``cut_short``: it is not valid JSON at all, as the last
    line of a run killed while writing it is; ``last``: it is the file's last
    non-blank line.
    """

    number: int
    reason: str
    cut_short: bool
    last: bool


def _parse(line: str) -> tuple[dict | None, str, bool]:
    """``(record, reason, cut_short)``: the record on ``line``, or ``None`` and why not."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as err:
        return None, f"expected a JSON object, got invalid JSON ({err.msg})", True
    if not isinstance(record, dict):
        return None, f"expected a JSON object, got {type(record).__name__}", False
    step = record.get("step", 0)
    if isinstance(step, bool) or not isinstance(step, int):
        return None, f"expected an integer step, got {step!r}", False
    return record, "", False


def _record(line: str) -> dict | None:
    """The record on ``line``, or ``None`` when it is not one (cut short, or not an object with an int step)."""
    return _parse(line)[0]


def read_records(path: str | os.PathLike) -> tuple[list[dict], list[BadLine]]:
    """Every record of the ``metrics.jsonl`` file ``path``, and the lines that are not records.

    Blank lines are skipped.  A record is a JSON object whose ``step``, if any,
    is an integer.  The one reader of the format: :func:`read_metrics` keeps the
    records, and the book's run reader (``capsbook.runs``) applies its own rule
    to the bad lines.
    """
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    numbered = [(n, line) for n, line in enumerate(lines, start=1) if line.strip()]
    records, bad = [], []
    for number, line in numbered:
        record, reason, cut_short = _parse(line)
        if record is None:
            last = number == numbered[-1][0]
            bad.append(BadLine(number, reason, cut_short, last))
        else:
            records.append(record)
    return records, bad


def read_metrics(run_dir: str | os.PathLike) -> list[dict]:
    """The records of ``run_dir/metrics.jsonl`` (or of that file, if given), skipping lines that are not records (a cut-short last line)."""
    path = Path(run_dir)
    if path.is_dir():
        path = path / "metrics.jsonl"
    if not path.is_file():
        raise FileNotFoundError(
            f"read_metrics: no metrics at {path}; train with "
            "`python -m capslib.train --out <run_dir>` first"
        )
    return read_records(path)[0]


#: The test accuracies whose time a run with ``test_each_epoch`` reports (issue 22: 99.0% and 99.5%).
TIME_TO_ACCURACY_TARGETS = (0.99, 0.995)


def time_to_accuracy(records, target: float) -> dict | None:
    """When a run first reached ``target`` test accuracy: its epoch, training time and wall time.

    ``records``: a run's records, or its folder or ``metrics.jsonl`` (:func:`read_metrics`); only
    epoch records that carry a ``test_accuracy`` count (a run trained with ``test_each_epoch``).
    The times are cumulative over the run's parts (resumes included): ``train_time_s`` counts the
    training steps only, ``wall_time_s`` everything since the start, evaluations included.
    ``None`` if no epoch reached ``target``.

    >>> rows = [{"kind": "epoch", "epoch": 1, "test_accuracy": 0.985, "train_time_s": 100.0,
    ...          "wall_time_s": 120.0},
    ...         {"kind": "epoch", "epoch": 2, "test_accuracy": 0.991, "train_time_s": 200.0,
    ...          "wall_time_s": 245.0}]
    >>> time_to_accuracy(rows, 0.99)
    {'target': 0.99, 'epoch': 2, 'test_accuracy': 0.991, 'train_time_s': 200.0, 'wall_time_s': 245.0}
    >>> time_to_accuracy(rows, 0.995) is None
    True
    """
    if not 0 < target <= 1:
        raise ValueError(
            f"time_to_accuracy: target is a fraction in (0, 1], got {target!r} (e.g. 0.99 for 99%)"
        )
    if isinstance(records, (str, os.PathLike)):
        records = read_metrics(records)
    tested = [r for r in records if r.get("kind") == "epoch" and "test_accuracy" in r]
    if not tested:
        raise ValueError(
            "time_to_accuracy: no epoch record has a test accuracy; train with "
            "--test-each-epoch (TrainConfig.test_each_epoch) to record one per epoch"
        )
    for r in sorted(tested, key=lambda r: r["epoch"]):
        if r["test_accuracy"] >= target:
            return {
                "target": target,
                "epoch": r["epoch"],
                "test_accuracy": r["test_accuracy"],
                "train_time_s": r["train_time_s"],
                "wall_time_s": r.get("wall_time_s"),
            }
    return None


def plot_metrics(run_dir: str | os.PathLike, *, ax=None, title: str | None = None):
    """Plot loss and accuracy per epoch (training and validation) of a run; returns the figure.

    ``run_dir``: a ``results/<run>`` folder (or its ``metrics.jsonl``).
    """
    import matplotlib.pyplot as plt

    records = [r for r in read_metrics(run_dir) if r.get("kind") == "epoch"]
    if not records:
        raise ValueError(f"plot_metrics: {run_dir} has no epoch records yet")
    epochs = [r["epoch"] for r in records]
    if ax is None:
        fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(9, 3.2))
    else:
        loss_ax, acc_ax = ax
        fig = loss_ax.figure
    loss_ax.plot(epochs, [r["train_loss"] for r in records], "o-", label="training")
    loss_ax.plot(epochs, [r["val_loss"] for r in records], "s-", label="validation")
    loss_ax.set(xlabel="epoch", ylabel="loss", title="loss")
    acc_ax.plot(
        epochs, [100 * r["train_accuracy"] for r in records], "o-", label="training"
    )
    acc_ax.plot(
        epochs, [100 * r["val_accuracy"] for r in records], "s-", label="validation"
    )
    acc_ax.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    for a in (loss_ax, acc_ax):
        a.legend()
        a.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
