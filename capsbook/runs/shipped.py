"""The shipped models' runs: their provenance, and each model measured again against its record."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from capslib import pretrained

from .folder import as_dir, load_run
from .run import Run


def shipped_run(name: str, results_dir: str | os.PathLike | None = None) -> Run | None:
    """The training run behind the shipped model ``name`` (``capslib.pretrained``), for its provenance.

    ``results/<name>/`` when that folder is in the checkout (summary, and ``metrics.jsonl`` for the
    curves); otherwise the summary recorded with the weights in ``capslib/pretrained/MANIFEST.json``,
    with empty metrics and a note saying so.  ``None`` when neither exists (no such shipped model).
    """
    run = load_run(name, results_dir)
    if run is not None:
        return run
    if name not in pretrained.available():
        return None
    summary = dict(pretrained.info(name)["summary"])
    folder = as_dir(results_dir) / name
    note = (
        f"{folder} is not in this checkout: the numbers are the summary recorded with the shipped "
        f"weights (capslib/pretrained/MANIFEST.json), and there are no training curves"
    )
    return Run(name=name, path=folder, summary=summary, metrics=[], notes=[note])


@dataclass(frozen=True)
class ShippedCheck:
    """What :func:`check_shipped` measured: a shipped model's recorded test result against a new measurement.

    ``recorded_*``: on the whole test set (``test_size`` examples), as measured at export with
    :func:`capslib.pretrained.evaluate` on the float16 weights; ``live_*``: measured the same way now
    (:func:`capslib.pretrained.remeasure`), on the first ``limit`` examples.  ``consistent``: the live mistakes are at most the recorded ones
    (the first ``limit`` examples are part of the whole set), and equal to them when ``limit``
    covers the whole set.
    """

    name: str
    test_size: int
    recorded_accuracy: float
    recorded_errors: int
    limit: int
    live_accuracy: float
    live_errors: int
    seconds: float

    @property
    def consistent(self) -> bool:
        if self.limit >= self.test_size:
            return self.live_errors == self.recorded_errors
        return self.live_errors <= self.recorded_errors

    def __str__(self) -> str:
        whole = (
            "the whole test set"
            if self.limit >= self.test_size
            else f"the first {self.limit:,}"
        )
        return (
            f"{self.name}: recorded {self.recorded_errors} errors in {self.test_size:,} "
            f"({100 * self.recorded_accuracy:.2f}%); measured now on {whole}: {self.live_errors} errors "
            f"({100 * self.live_accuracy:.2f}%) in {self.seconds:.1f} s -> "
            + ("consistent" if self.consistent else "NOT consistent")
        )


def check_shipped(name: str, limit: int | None = None, *, device=None) -> ShippedCheck:
    """Load the shipped model ``name`` and measure it again on the first ``limit`` test examples.

    ``limit``: ``None`` for the whole recorded test set (10,000 MNIST digits take a while on a
    CPU; a few hundred take a second).  The measuring is :func:`capslib.pretrained.remeasure`'s
    (the same as ``python -m capslib.pretrained check``), written independently of the trainer.
    Returns a :class:`ShippedCheck`; see its ``consistent``.
    """
    if limit is not None and int(limit) < 1:
        raise ValueError(
            f"check_shipped: expected limit >= 1 (or None for the whole test set), got {limit}"
        )
    model, summary = pretrained.load(name, device=device)
    start = time.perf_counter()
    again = pretrained.remeasure(model, summary, limit=limit)
    seconds = time.perf_counter() - start
    return ShippedCheck(
        name=name,
        test_size=again.test_size,
        recorded_accuracy=again.recorded,
        recorded_errors=round((1.0 - again.recorded) * again.test_size),
        limit=again.examples,
        live_accuracy=again.measured,
        live_errors=round((1.0 - again.measured) * again.examples),
        seconds=seconds,
    )


__all__ = ["ShippedCheck", "check_shipped", "shipped_run"]
