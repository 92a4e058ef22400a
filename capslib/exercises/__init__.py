"""Checks for the book's exercises.

Each chapter has a module ``capslib.exercises.chNN`` whose ``check_*``
functions take the reader's answer, run it against properties and values
computed by the tested library, print what passed and what did not, and
return a :class:`CheckReport`.  Importing this package guards every one of
them (:func:`~capslib.exercises.report.guarded`), and they are reachable
from it directly::

    capslib.exercises.check_unsquash(my_unsquash)

The guard limits the time of each call of the reader's function (5 s), says
"your function returned None; did you forget `return`?" for a ``None``,
and fails an answer that changes its input tensors in place.  An answer
that still raises ``NotImplementedError`` (the stub) is reported as "not
attempted yet", in one line.
"""
from __future__ import annotations

import importlib
import pkgutil

from .report import (AnswerError, CheckReport, NotAttempted, ReturnedNone, TookTooLong, check, guard_answer,
                     guarded, time_limit_s)

__all__ = ["AnswerError", "CheckReport", "NotAttempted", "ReturnedNone", "TookTooLong", "check", "guard_answer",
           "guarded", "time_limit_s"]


def _guard_module(module) -> None:
    """Replace each ``check_*`` defined in a chapter module by its guarded version (once)."""
    for name, fn in list(vars(module).items()):
        if name.startswith("check_") and callable(fn) and getattr(fn, "__module__", None) == module.__name__:
            setattr(module, name, guarded(fn))


def _chapter_modules():
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("ch"):
            yield info.name


def _guard_chapters() -> None:
    """Import every chapter module and guard its checks, so that a check is guarded however it is
    reached (``capslib.exercises.check_x`` or ``from capslib.exercises.chNN import check_x``)."""
    for short in _chapter_modules():
        try:
            module = importlib.import_module(f"{__name__}.{short}")
        except Exception:  # noqa: BLE001 - a broken chapter must not break the others;
            continue       # asking for one of its checks raises its import error (below)
        _guard_module(module)


def __getattr__(name: str):
    """Find ``check_*`` functions in the chapter modules (``ch00``, ``ch01``, ...), guarded."""
    if name.startswith("check_"):
        for short in _chapter_modules():
            module = importlib.import_module(f"{__name__}.{short}")
            if hasattr(module, name):
                _guard_module(module)
                return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_guard_chapters()
