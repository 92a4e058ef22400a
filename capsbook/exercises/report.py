"""The report an exercise check prints, and the guard around the reader's function.

A check runs the reader's function on cases with known answers and records
one line per property (:class:`CheckReport`).  Three things about the
answer as a whole are handled here, once for every chapter:

* **not attempted yet**: the function is still the stub (it raises
  ``NotImplementedError`` itself): the report is one neutral line, no ``[FAILED]``;
* **returned None** / **took too long**: the check stops with one plain
  message (a forgotten ``return``; an endless loop, stopped after
  :data:`TIME_LIMIT_S` seconds per call);
* **changed its input**: the function modified a tensor it was given (the
  check itself may still pass on the values): it fails with a line saying
  so (a note, if the check failed already).

:func:`guard_answer` wraps the reader's function to detect the last three;
:func:`guarded` wraps a chapter's ``check_*`` so that it guards its argument.
``capsbook.exercises.check_*`` hands out guarded checks.
"""

from __future__ import annotations

import functools
import inspect
import os
import signal
import sys
import threading
import time
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, field

#: Seconds that one call of the reader's function may take before it is stopped (the
#: environment variable ``CAPSLIB_CHECK_TIME_LIMIT`` overrides it; 0 turns the limit off).
TIME_LIMIT_S = 5.0

# Short enough to fit a code cell on the page with "Exercise 10.3: " in front (80 characters or fewer).
NOT_ATTEMPTED = "not attempted yet: replace `raise NotImplementedError` and rerun."
RETURNED_NONE = "your function returned None; did you forget `return`?"


class AnswerError(Exception):
    """A problem with the reader's answer as a whole; its message is shown as it is."""


class ReturnedNone(AnswerError):
    """The reader's function returned ``None``."""


class TookTooLong(AnswerError):
    """One call of the reader's function ran past the time limit and was stopped."""


class NotAttempted(AnswerError):
    """The reader's function is still the stub: it raised ``NotImplementedError`` itself."""


class _Alarm(BaseException):
    """Raised by the time limit inside the reader's code; a ``BaseException``, so that the answer's
    own ``except Exception`` does not swallow it.  The guard turns it into :class:`TookTooLong`."""


class _StopCheck(BaseException):
    """Leaves the check at once (not an ``Exception``, so that no ``except Exception`` stops it)."""


def _is_stub(err: BaseException) -> bool:
    """True if ``err`` is the ``raise NotImplementedError`` of an unfinished answer.

    A ``NotImplementedError`` raised by a library inside an attempted answer
    (PyTorch raises it for unsupported operations) is not: the line that
    raised it must be a ``raise NotImplementedError`` statement (when the
    source is unavailable, the error is taken for the stub).
    """
    if isinstance(err, NotAttempted):
        return True
    if not isinstance(err, NotImplementedError) or getattr(
        err, "_capslib_not_a_stub", False
    ):
        return False
    frames = traceback.extract_tb(err.__traceback__)
    if not frames or not frames[-1].line:
        return True
    return frames[-1].line.strip().startswith("raise NotImplementedError")


def _short_title(title: str) -> str:
    """``"Exercise 4.1: the squash"`` -> ``"Exercise 4.1"``."""
    return title.split(":", 1)[0].strip()


@dataclass
class CheckReport:
    """The outcome of one exercise check.

    Use :meth:`expect` for each property; the report prints itself at the end
    of :func:`check` and is truthy when everything passed.  ``not_attempted``
    is True when the answer was still the stub; ``answer_problem`` holds the
    message when it returned ``None`` or took too long.
    """

    title: str
    results: list[tuple[str, bool, str]] = field(default_factory=list)
    not_attempted: bool = False
    changed_inputs: list[str] = field(default_factory=list)
    answer_problem: str = ""
    note: str = ""

    def expect(self, condition: bool, what: str, hint: str = "") -> bool:
        """Record that ``what`` holds (``condition``) or not, with a ``hint`` on how to fix it."""
        self.results.append((what, bool(condition), "" if condition else hint))
        return bool(condition)

    @contextmanager
    def attempt(self, what: str):
        """Record a failure (with the exception) if the body raises, instead of crashing the check.

        The stub's ``NotImplementedError`` marks the report "not attempted";
        it, a ``None`` return and a call that took too long end the check
        (one message instead of one per case).
        """
        try:
            yield
        except NotAttempted as err:
            self.results.append((what, False, f"raised NotImplementedError: {err}"))
            self.not_attempted = True
            if self in _active_reports:
                raise _StopCheck from err
        except AnswerError as err:
            self.results.append((what, False, str(err)))
            if self in _active_reports:
                raise _StopCheck from err
        except Exception as err:  # noqa: BLE001 - the reader's code may raise anything
            self.results.append((what, False, f"raised {type(err).__name__}: {err}"))
            if _is_stub(err):
                self.not_attempted = True
                if self in _active_reports:
                    raise _StopCheck from err

    @property
    def passed(self) -> bool:
        return (
            bool(self.results)
            and all(ok for _, ok, _ in self.results)
            and not self.not_attempted
        )

    @property
    def failures(self) -> list[str]:
        return [what for what, ok, _ in self.results if not ok]

    def failed_on(self, fragment: str) -> bool:
        """True if a failed property's description contains ``fragment`` (for tests of the checks)."""
        return any(fragment in what for what in self.failures)

    def _record_changed_inputs(self) -> None:
        """Fail the report if the answer changed an input; if it fails already, add the reason as a note."""
        if not self.changed_inputs or self.not_attempted or self.answer_problem:
            return
        names = ", ".join(f"`{name}`" for name in self.changed_inputs)
        message = (
            f"your function changed {names} in place (e.g. with `.zero_()`, `*=` or an indexed "
            "assignment); compute on a copy (`x = x.clone()`) or with operations that return a new tensor"
        )
        if self.failures:
            self.note = message  # the check failed already (maybe because of this): say why, once
        else:
            self.results.append(("leaves its inputs unchanged", False, message))

    def __bool__(self) -> bool:
        return self.passed

    def _note_problem(self, message: str) -> None:
        if not self.answer_problem:
            self.answer_problem = message

    def __str__(self) -> str:
        if self.not_attempted:
            return f"{_short_title(self.title)}: {NOT_ATTEMPTED}"
        if self.answer_problem:  # None returned, or too slow: one message says it all
            return f"{self.title}:\n  [FAILED] {self.answer_problem}"
        lines = [f"{self.title}:"]
        for what, ok, hint in self.results:
            mark = "passed" if ok else "FAILED"
            lines.append(f"  [{mark}] {what}" + (f" -- {hint}" if hint else ""))
        if self.note:
            lines.append(f"  Note: {self.note}")
        n_ok = sum(ok for _, ok, _ in self.results)
        lines.append(
            f"  {n_ok} of {len(self.results)} checks passed"
            + (
                ". Well done!"
                if self.passed
                else ". Read the hints above and try again."
            )
        )
        return "\n".join(lines)

    def __repr__(self) -> str:
        state = ", not_attempted=True" if self.not_attempted else ""
        return f"CheckReport({self.title!r}, passed={self.passed}, failures={self.failures}{state})"


_active_reports: list[CheckReport] = []


@contextmanager
def check(title: str, *, verbose: bool = True):
    """Context manager for writing a check::

        with check("Exercise 4.1: squash") as report:
            with report.attempt("runs on a (6, 5, 8) tensor"):
                out = fn(s.clone())
                report.expect(out.shape == s.shape, "keeps the shape", "return a tensor shaped like s")
        return report

    A stub, a ``None`` return or a call that took too long, raised inside
    ``report.attempt``, ends the block early; the report is printed either way.
    """
    report = CheckReport(title)
    _active_reports.append(report)
    try:
        yield report
    except _StopCheck:
        pass
    except NotAttempted:
        report.not_attempted = True
    except AnswerError as err:  # raised outside report.attempt: still one plain message
        report.results.append(("runs", False, str(err)))
    except NotImplementedError as err:
        if not _is_stub(err):
            raise
        report.not_attempted = True
    finally:
        _active_reports.remove(report)
    report._record_changed_inputs()
    if verbose:
        print(report)


# ---------------------------------------------------------------------------------------------
# The guard around the reader's function
# ---------------------------------------------------------------------------------------------
def time_limit_s() -> float:
    """The per-call limit: ``$CAPSLIB_CHECK_TIME_LIMIT`` if set, else :data:`TIME_LIMIT_S`."""
    value = os.environ.get("CAPSLIB_CHECK_TIME_LIMIT")
    if value is None or value.strip() == "":
        return TIME_LIMIT_S
    try:
        return float(value)
    except ValueError:
        raise ValueError(
            f"CAPSLIB_CHECK_TIME_LIMIT must be a number of seconds, got {value!r}"
        ) from None


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


@contextmanager
def _time_limit(seconds: float):
    """Raise :class:`_Alarm` in the body after ``seconds`` (POSIX main thread; else no limit).

    Uses ``signal.setitimer``; a timer that is already running (someone else's)
    is left alone and the body runs without a limit.  The alarm is raised only
    while the body runs code outside imports, locks and the kernel's I/O (see
    ``_UNINTERRUPTIBLE_PACKAGES``), for at most :data:`DEFER_LIMIT_S` seconds
    more; until then it comes back every 50 ms.
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
        # again in 0.5 s, in case the answer swallows this one (a bare ``except:``)
        signal.setitimer(signal.ITIMER_REAL, 0.5)
        raise _Alarm(
            f"your function took longer than {seconds:g} s on one call and was stopped: "
            "is there a loop that never ends?"
        )

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        running[0] = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _tensor_like(value) -> bool:
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return False
    return isinstance(value, torch.Tensor)


def _snapshot(value):
    """A copy of every tensor in ``value`` (itself, or one level inside a list, tuple or dict)."""
    if _tensor_like(value):
        return value.detach().clone()
    if isinstance(value, (list, tuple)):
        return [_snapshot(v) if _tensor_like(v) else None for v in value]
    if isinstance(value, dict):
        return {k: _snapshot(v) if _tensor_like(v) else None for k, v in value.items()}
    return None


def _same(before, after) -> bool:
    import torch

    if before is None:
        return True
    if isinstance(before, torch.Tensor):
        if (
            not isinstance(after, torch.Tensor)
            or after.shape != before.shape
            or after.dtype != before.dtype
        ):
            return False
        now = after.detach()
        if before.is_floating_point() or before.is_complex():
            return bool(
                torch.equal(torch.isnan(before), torch.isnan(now))
                and torch.equal(torch.nan_to_num(before), torch.nan_to_num(now))
            )
        return bool(torch.equal(before, now))
    if isinstance(before, list):
        if not isinstance(after, (list, tuple)) or len(after) != len(before):
            return False
        return all(_same(b, a) for b, a in zip(before, after))
    if isinstance(before, dict):
        return isinstance(after, dict) and all(
            _same(b, after.get(k)) for k, b in before.items()
        )
    return True


def _argument_names(fn, args, kwargs) -> list[str]:
    try:
        bound = inspect.signature(fn).bind(*args, **kwargs)
        names = list(bound.arguments)
        extra = [
            f"argument {k + 1}" for k in range(len(names), len(args) + len(kwargs))
        ]
        return names + extra
    except (TypeError, ValueError):
        return [f"argument {k + 1}" for k in range(len(args))] + list(kwargs)


def _note_problem(message: str) -> None:
    """Tell the check that is running (if any) what is wrong with the answer as a whole."""
    for report in _active_reports[-1:]:
        report._note_problem(message)


def _raised_by(fn, err: BaseException) -> bool:
    """True if ``err`` was raised in the body of ``fn`` itself (not in a function it called)."""
    target = (
        fn.func if isinstance(fn, functools.partial) else getattr(fn, "__func__", fn)
    )
    code = getattr(target, "__code__", None)
    tb = err.__traceback__
    if code is None or tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    return tb.tb_frame.f_code is code


def _guardable(fn) -> bool:
    """Plain functions, lambdas, methods and partials; not classes, modules or other objects."""
    return (
        inspect.isfunction(fn)
        or inspect.ismethod(fn)
        or isinstance(fn, functools.partial)
        or inspect.isbuiltin(fn)
    )


def guard_answer(fn, *, time_limit: float | None = None):
    """The reader's function ``fn``, guarded for a check.

    Each call runs under a time limit (``time_limit`` seconds, default
    :func:`time_limit_s`; after one call timed out, the next ones fail at
    once), raises :class:`ReturnedNone` if ``fn`` returns ``None``, and
    notes in the active report every tensor argument whose values ``fn``
    changed.  Anything but a function (a class, a model, a number) is
    returned unchanged.
    """
    if not _guardable(fn) or getattr(fn, "__capslib_guarded__", False):
        return fn
    timed_out: list[str] = []

    @functools.wraps(fn)
    def guarded_answer(*args, **kwargs):
        if timed_out:
            _note_problem(timed_out[0])
            raise TookTooLong(timed_out[0])
        limit = time_limit_s() if time_limit is None else time_limit
        before_args = [_snapshot(a) for a in args]
        before_kwargs = {k: _snapshot(v) for k, v in kwargs.items()}
        try:
            with _time_limit(limit):
                result = fn(*args, **kwargs)
        except _Alarm as alarm:
            timed_out.append(str(alarm))
            _note_problem(str(alarm))
            raise TookTooLong(str(alarm)) from None
        except NotImplementedError as err:
            if _raised_by(fn, err):
                raise NotAttempted(str(err) or "NotImplementedError") from err
            err._capslib_not_a_stub = (
                True  # raised deeper, e.g. by PyTorch: a real error of an attempt
            )
            raise
        changed = [
            k for k, (b, a) in enumerate(zip(before_args, args)) if not _same(b, a)
        ]
        changed_kw = [k for k, b in before_kwargs.items() if not _same(b, kwargs[k])]
        if changed or changed_kw:
            names = _argument_names(fn, args, kwargs)
            found = [
                names[k] if k < len(names) else f"argument {k + 1}" for k in changed
            ] + changed_kw
            for report in _active_reports[-1:]:
                report.changed_inputs += [
                    n for n in found if n not in report.changed_inputs
                ]
        if result is None:
            _note_problem(RETURNED_NONE)
            raise ReturnedNone(RETURNED_NONE)
        return result

    guarded_answer.__capslib_guarded__ = True
    return guarded_answer


def guarded(check_fn):
    """A chapter check whose first argument (the reader's function) is guarded by :func:`guard_answer`.

    Use as a decorator on a ``check_*`` function, or call it on one;
    ``capsbook.exercises.check_*`` are guarded this way.
    """
    if getattr(check_fn, "__capslib_guarded__", False):
        return check_fn

    def guarded_check(fn, *args, **kwargs):
        return check_fn(guard_answer(fn), *args, **kwargs)

    # name, docstring and signature of the check; the check itself is ``.unguarded`` (no
    # ``__wrapped__``, so that ``getattr(check, "__wrapped__", check)`` is the guarded check)
    functools.update_wrapper(guarded_check, check_fn)
    del guarded_check.__wrapped__
    guarded_check.__signature__ = inspect.signature(check_fn)
    guarded_check.unguarded = check_fn
    guarded_check.__capslib_guarded__ = True
    return guarded_check
