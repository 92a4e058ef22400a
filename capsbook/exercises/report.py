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
  so (a note, if the check failed already);
* **returned text**: a ``str`` where the check needs a value is said so,
  instead of the error the check then meets.

:func:`guard_answer` wraps the reader's function to detect these;
:func:`guarded` wraps a chapter's ``check_*`` so that it guards its argument.
The time limit lives in :mod:`~capsbook.exercises.time_limit`, the input
snapshots in :mod:`~capsbook.exercises.inputs`.
"""

from __future__ import annotations

import functools
import inspect
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, field

from .inputs import argument_names, same, snapshot
from .time_limit import TIME_LIMIT_S, Alarm, time_limit_s
from .time_limit import time_limit as _limited

__all__ = [
    "TIME_LIMIT_S",
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
    #: What the answer's last call returned when it was text (a ``str``), for the hint.
    returned_text: str = ""

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
            if (
                self.returned_text
            ):  # the check choked on text: say so, not torch's complaint
                self.results.append((what, False, self.returned_text))
                return
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
        before_args = [snapshot(a) for a in args]
        before_kwargs = {k: snapshot(v) for k, v in kwargs.items()}
        try:
            with _limited(limit):
                result = fn(*args, **kwargs)
        except Alarm as alarm:
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
            k for k, (b, a) in enumerate(zip(before_args, args)) if not same(b, a)
        ]
        changed_kw = [k for k, b in before_kwargs.items() if not same(b, kwargs[k])]
        if changed or changed_kw:
            names = argument_names(fn, args, kwargs)
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
        for report in _active_reports[-1:]:
            report.returned_text = (
                f"your function returned a {type(result).__name__} ({result!r:.40}); "
                "return the computed value itself (e.g. a tensor), not its text"
                if isinstance(result, (str, bytes))
                else ""
            )
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
