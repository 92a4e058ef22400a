"""The time limit of one call of the reader's function in an exercise check.

An endless loop in an answer must not hang the notebook.  Each call runs
under an alarm (``signal.setitimer``, POSIX main thread): after
:func:`time_limit_s` seconds, :class:`Alarm` is raised inside the reader's
code.  It is a ``BaseException``, so ``except Exception`` does not swallow it.

A bare ``except:`` (or ``except BaseException``) does, and a beginner's
``while True: try: ... except: pass`` would then run for ever (Ctrl-C is
swallowed the same way).  So from the first alarm on, the limit is also
enforced by a trace function: every line that the reader's code executes
raises :class:`Alarm` again, including the line of the ``except`` handler that
caught the previous one, from where it leaves the ``try``.  No loop of Python
code can run on; the tracing ends with the call.

The alarm never lands inside an import, a lock or the kernel's I/O (an
exception there can leave a lock held and hang the kernel): it waits, at most
:data:`DEFER_LIMIT_S` seconds more, until the reader's own code runs again.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from contextlib import contextmanager

__all__ = ["DEFER_LIMIT_S", "TIME_LIMIT_S", "Alarm", "time_limit", "time_limit_s"]

#: Seconds that one call of the reader's function may take before it is stopped (the
#: environment variable ``CAPSLIB_CHECK_TIME_LIMIT`` overrides it; 0 turns the limit off).
TIME_LIMIT_S = 5.0
ENV_VAR = "CAPSLIB_CHECK_TIME_LIMIT"


class Alarm(BaseException):
    """Raised by the time limit inside the reader's code; a ``BaseException``, so that the answer's
    own ``except Exception`` does not swallow it.  The guard turns it into ``TookTooLong``."""


_warned: set[str] = set()


def time_limit_s() -> float:
    """The per-call limit: ``$CAPSLIB_CHECK_TIME_LIMIT`` if set, else :data:`TIME_LIMIT_S`.

    A value that is not a number of seconds is the setting's mistake, not the answer's: it is
    reported once, on stderr, as such, and the default is used.
    """
    value = os.environ.get(ENV_VAR)
    if value is None or value.strip() == "":
        return TIME_LIMIT_S
    try:
        seconds = float(value)
    except ValueError:
        seconds = float("nan")
    if seconds == seconds and seconds >= 0:  # not NaN
        return seconds
    if value not in _warned:
        _warned.add(value)
        print(
            f"setting error: {ENV_VAR}={value!r} is not a number of seconds, so the exercise "
            f"checks use the default {TIME_LIMIT_S:g} s. Fix: set it to a number, e.g. "
            f"`%env {ENV_VAR}=10` (0 turns the limit off).",
            file=sys.stderr,
            flush=True,
        )
    return TIME_LIMIT_S


def _can_use_alarm() -> bool:
    return (
        hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
    )


# Code that the alarm must never interrupt: an exception raised in the middle of an import, a lock
# or the kernel's own I/O can leave a lock held or a message half sent, and the kernel then hangs
# idle long after the check. The alarm waits until the reader's function runs its own code again.
_UNINTERRUPTIBLE_PACKAGES = frozenset(
    {
        "importlib",
        "threading",
        "queue",
        "logging",
        "asyncio",
        "selectors",
        "concurrent",
        "multiprocessing",
        "contextlib",
        "ipykernel",
        "IPython",
        "zmq",
        "tornado",
        "jupyter_client",
        "comm",
        "traitlets",
    }
)
#: Seconds that the alarm waits, at most, for the reader's function to leave such code; after
#: that it is raised wherever it lands (the function is blocked there for good).
DEFER_LIMIT_S = 5.0


def _in_uninterruptible_code(frame, body_frame) -> bool:
    """Whether a frame between ``frame`` (innermost) and ``body_frame`` belongs to such code."""
    while frame is not None and frame is not body_frame:
        package = str(frame.f_globals.get("__name__", "")).split(".", 1)[0]
        if package in _UNINTERRUPTIBLE_PACKAGES or frame.f_code.co_filename.startswith(
            "<frozen importlib"
        ):
            return True
        frame = frame.f_back
    return False


def _below(frame, body_frame) -> bool:
    """Whether ``frame`` was called, directly or not, from ``body_frame`` (and is not it)."""
    frame = frame.f_back if frame is not None else None
    while frame is not None:
        if frame is body_frame:
            return True
        frame = frame.f_back
    return False


@contextmanager
def time_limit(seconds: float):
    """Raise :class:`Alarm` in the body after ``seconds`` (POSIX main thread; else no limit).

    A timer that is already running (someone else's) is left alone and the body runs
    without a limit.  See the module docstring for the alarm's timing and for how an
    answer that catches every exception is still stopped.
    """
    if (
        not seconds
        or seconds <= 0
        or not _can_use_alarm()
        or signal.getitimer(signal.ITIMER_REAL)[0] > 0
    ):
        yield
        return
    body_frame = sys._getframe(
        2
    )  # 0: this generator, 1: contextlib's __enter__, 2: the with-statement
    running = [True]
    first_alarm: list[float] = []
    message = (
        f"your function took longer than {seconds:g} s on one call and was stopped: "
        "is there a loop that never ends?"
    )

    def on_line(frame, event, arg):
        """From the first alarm on: every line of the reader's code raises the alarm again."""
        if (
            running[0]
            and event == "line"
            and _below(frame, body_frame)
            and not _in_uninterruptible_code(frame, body_frame)
        ):
            raise Alarm(message)
        return on_line

    def enforce_by_tracing(frame) -> None:
        sys.settrace(on_line)  # new frames
        while frame is not None and frame is not body_frame:  # the frames running now
            frame.f_trace = on_line
            frame = frame.f_back

    def on_alarm(signum, frame):
        if not running[0]:
            return
        if not first_alarm:
            first_alarm.append(time.monotonic())
        if (
            _in_uninterruptible_code(frame, body_frame)
            and time.monotonic() - first_alarm[0] < DEFER_LIMIT_S
        ):
            signal.setitimer(signal.ITIMER_REAL, 0.05)  # not here: try again in 50 ms
            return
        # again in 0.5 s (code in C that swallows this one), and every line from now on
        signal.setitimer(signal.ITIMER_REAL, 0.5)
        enforce_by_tracing(frame)
        raise Alarm(message)

    previous = signal.signal(signal.SIGALRM, on_alarm)
    previous_trace = sys.gettrace()
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        running[0] = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if first_alarm:
            sys.settrace(previous_trace)
