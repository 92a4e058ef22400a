"""Checks for the book's exercises.

Each chapter has a module ``capsbook.exercises.chNN`` whose ``check_*``
functions take the reader's answer, run it against properties and values
computed by the tested library, print what passed and what did not, and
return a :class:`CheckReport`.  Importing this package guards every one of
them (:func:`~capsbook.exercises.report.guarded`), and they are reachable
from it directly::

    capsbook.exercises.check_unsquash(my_unsquash)

The guard limits the time of each call of the reader's function (5 s), says
"your function returned None; did you forget `return`?" for a ``None``,
and fails an answer that changes its input tensors in place.  An answer
that still raises ``NotImplementedError`` (the stub) is reported as "not
attempted yet", in one line.
"""

from __future__ import annotations

from .report import (
    AnswerError,
    CheckReport,
    NotAttempted,
    ReturnedNone,
    TookTooLong,
    check,
    guard_answer,
    guarded,
    time_limit_s,
)

__all__ = [
    "AnswerError",
    "CheckReport",
    "NotAttempted",
    "ReturnedNone",
    "TookTooLong",
    "check",
    "guard_answer",
    "guarded",
    "time_limit_s",
]
