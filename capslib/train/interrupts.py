"""Interrupts that never lose work: SIGTERM handled like Ctrl-C, and no signal in the middle of a checkpoint.

A job scheduler, ``timeout`` or ``kill`` stops a process with SIGTERM; Python's
default is to die on the spot, saving nothing.  :func:`terminate_as_interrupt`
turns SIGTERM into the same ``KeyboardInterrupt`` as Ctrl-C, so the trainer's
one interrupt path saves a checkpoint at the last completed step.

A signal that lands while a checkpoint is being written (a second Ctrl-C, say)
would abort ``torch.save`` half-way ("enforce fail at inline_container.cc ...
unexpected pos").  :func:`deferred` holds SIGINT and SIGTERM back for the few
statements of a write and delivers them right after, as a ``KeyboardInterrupt``
from a consistent state.

Both only act in the main thread (where Python delivers signals); elsewhere they
do nothing.
"""

from __future__ import annotations

import contextlib
import signal
import threading

__all__ = [
    "TrainingDiverged",
    "TrainingInterrupted",
    "deferred",
    "terminate_as_interrupt",
]


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped early (Ctrl-C); a checkpoint of the current step was written."""


class TrainingDiverged(RuntimeError):
    """The loss or the weights became NaN or infinite; no checkpoint was written after the last good one."""


_SIGNALS = tuple(
    s
    for s in (getattr(signal, "SIGINT", None), getattr(signal, "SIGTERM", None))
    if s is not None
)


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")


@contextlib.contextmanager
def terminate_as_interrupt():
    """Within the block, SIGTERM raises ``KeyboardInterrupt`` (as SIGINT does)."""
    if not _main_thread() or not hasattr(signal, "SIGTERM"):
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


_depth = 0


@contextlib.contextmanager
def deferred():
    """Hold SIGINT and SIGTERM back during the block; if one came, raise ``KeyboardInterrupt`` after it.

    Nested blocks are one block: only the outermost delivers the held signal.
    """
    global _depth
    if not _main_thread() or _depth:
        _depth += 1
        try:
            yield
        finally:
            _depth -= 1
        return
    received: list[int] = []
    previous = {
        s: signal.signal(s, lambda signum, frame: received.append(signum))
        for s in _SIGNALS
    }
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        for s, handler in previous.items():
            signal.signal(s, handler)
    if received:
        raise KeyboardInterrupt(
            f"signal {signal.Signals(received[0]).name} (held until the write was complete)"
        )
