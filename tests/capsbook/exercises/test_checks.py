"""Every exercise check of the book, found automatically in ``capsbook.exercises.ch*``, and the guard around
the reader's function that every check gets from ``@guarded``:

* it has a reference solution ``reference_<name>`` beside it, and that solution passes (guarded: in time,
  without returning None or changing its inputs);
* a reader's unfinished answer (``raise NotImplementedError``) is reported in one neutral line, "not
  attempted yet", not as a failure and not raised;
* an answer that never returns is stopped after the time limit and reported; one that returns ``None``
  gets "did you forget `return`?"; one that changes its input tensors fails;
* it is guarded where it is defined (``@guarded`` in its chapter's module: nothing is patched at import),
  and its title carries the chapter's number.

The typical wrong answers of each chapter are tested in ``tests/capsbook/exercises/test_chNN.py``.
"""

from __future__ import annotations

import importlib
import inspect
import os
import pkgutil
import re
import subprocess
import sys
import threading
import time

import pytest
import torch

import capsbook.exercises as exercises
from capsbook.exercises import report as report_module
from capsbook.exercises import time_limit as time_limit_module
from capsbook.exercises.report import CheckReport, check, guard_answer, guarded

NOT_ATTEMPTED = "not attempted yet: replace `raise NotImplementedError` and rerun."


def test_the_not_attempted_line_fits_a_code_cell():
    assert len("Exercise 10.3: " + report_module.NOT_ATTEMPTED) <= 80


def test_the_package_serves_no_flat_namespace_of_checks():
    assert not [name for name in vars(exercises) if name.startswith("check_")]
    with pytest.raises(AttributeError):
        exercises.check_unsquash  # noqa: B018 - each chapter's checks live in its module: ch04.check_unsquash


def chapter_checks():
    found = []
    for info in sorted(pkgutil.iter_modules(exercises.__path__), key=lambda m: m.name):
        if info.name.startswith("ch"):
            module = importlib.import_module(f"{exercises.__name__}.{info.name}")
            found += [
                (module, name)
                for name, fn in vars(module).items()
                if name.startswith("check_")
                and getattr(fn, "__module__", None) == module.__name__
            ]
    return found


CHECKS = chapter_checks()
IDS = [f"{module.__name__.rsplit('.', 1)[1]}.{name}" for module, name in CHECKS]


def chapter_number(module) -> str:
    """``ch04`` -> ``"4"``; the appendices: ``ch_fashion`` -> ``"A"``, ``ch_cpu_precision`` -> ``"B"``."""
    short = module.__name__.rsplit(".", 1)[1]
    appendices = {"ch_fashion": "A", "ch_cpu_precision": "B"}
    return str(int(short[2:])) if short[2:].isdigit() else appendices[short]


def _unfinished(*args, **kwargs):
    raise NotImplementedError("replace this line with your answer")


def test_every_chapter_has_checks():
    chapters = {module.__name__.rsplit(".", 1)[1] for module, _ in CHECKS}
    assert {f"ch{n:02d}" for n in range(12)} <= chapters
    assert len(CHECKS) >= 2 + 3 * 11


@pytest.mark.parametrize("module, name", CHECKS, ids=IDS)
def test_reference_solution_passes(module, name, capsys):
    reference = getattr(module, "reference_" + name[len("check_") :], None)
    assert reference is not None, (
        f"{module.__name__}.{name} has no reference solution beside it"
    )
    report = getattr(module, name)(
        reference
    )  # guarded: in time, returns, leaves its inputs alone
    assert report.passed, report
    assert "Well done" in capsys.readouterr().out


@pytest.mark.parametrize("module, name", CHECKS, ids=IDS)
def test_unfinished_answer_is_one_neutral_line(module, name, capsys):
    report = getattr(module, name)(_unfinished)
    out = capsys.readouterr().out.strip()
    assert not report.passed and report.not_attempted
    title = report.title.split(":", 1)[0]
    assert out == f"{title}: {NOT_ATTEMPTED}"
    assert "FAILED" not in out and "checks passed" not in out


@pytest.mark.parametrize("module, name", CHECKS, ids=IDS)
def test_check_is_guarded_where_it_is_defined(module, name):
    from_package = getattr(module, name)
    original = from_package.unguarded
    assert from_package.__capslib_guarded__ and original.__module__ == module.__name__
    assert not getattr(original, "__capslib_guarded__", False), "guarded once"
    assert from_package.__doc__ == original.__doc__ and from_package.__doc__
    assert from_package.__name__ == name and inspect.signature(
        from_package
    ) == inspect.signature(original)


@pytest.mark.parametrize("module, name", CHECKS, ids=IDS)
def test_title_carries_the_chapter_number(module, name):
    report = getattr(module, name)(_unfinished, verbose=False)
    assert re.fullmatch(
        rf"Exercise {chapter_number(module)}\.\d+", report.title.split(":", 1)[0]
    ), report.title


# -- the guard, on every check ------------------------------------------------------------------------
@pytest.mark.parametrize("module, name", CHECKS, ids=IDS)
def test_an_endless_answer_is_stopped_and_reported(module, name, monkeypatch, capsys):
    monkeypatch.setenv("CAPSLIB_CHECK_TIME_LIMIT", "0.3")
    start = time.perf_counter()
    report = getattr(module, name)(lambda *args, **kwargs: exec("while True: pass"))
    elapsed = time.perf_counter() - start
    out = capsys.readouterr().out
    assert not report.passed
    assert "took longer than 0.3 s" in out and "loop that never ends" in out
    assert elapsed < 10, (
        f"{elapsed:.1f} s: after the first call timed out, the next ones must fail at once"
    )


@pytest.mark.parametrize("module, name", CHECKS, ids=IDS)
def test_an_answer_returning_none_is_told_about_return(module, name, capsys):
    report = getattr(module, name)(lambda *args, **kwargs: None)
    out = capsys.readouterr().out
    assert not report.passed
    assert "your function returned None; did you forget `return`?" in out
    assert "dtype" not in out and "NoneType" not in out, out
    assert out.count("[FAILED]") == 1, "one message, not one per case"


def _mutating(reference, touched):
    """The reference answer, which then zeroes every tensor it was given (the answer is right)."""

    def answer(*args, **kwargs):
        result = reference(*args, **kwargs)
        if isinstance(result, torch.Tensor):
            result = result.clone()
        elif isinstance(result, tuple):
            result = tuple(
                r.clone() if isinstance(r, torch.Tensor) else r for r in result
            )
        for value in (*args, *kwargs.values()):
            if isinstance(value, torch.Tensor) and value.numel():
                with torch.no_grad():
                    value.data.zero_() if value.requires_grad else value.zero_()
                touched.append(True)
        return result

    return answer


@pytest.mark.parametrize("module, name", CHECKS, ids=IDS)
def test_an_answer_that_changes_its_input_fails(module, name, capsys):
    reference = getattr(module, "reference_" + name[len("check_") :])
    touched: list[bool] = []
    report = getattr(module, name)(_mutating(reference, touched))
    if not touched:
        pytest.skip(f"{name}: the answer gets no tensor to change")
    out = capsys.readouterr().out
    assert not report.passed
    assert "in place" in out, (
        out
    )  # the guard's failure line, or its note when the check failed already


# -- the guard itself, on a check written like a chapter's --------------------------------------------
def check_double(fn, *, verbose: bool = True) -> CheckReport:
    """A check in the chapters' style: ``fn(x)`` returns ``2 x``; inputs are cloned (as the chapters do)."""
    x = torch.arange(4.0)
    with check("Exercise 4.9: double", verbose=verbose) as report:
        with report.attempt("runs on a (4,) tensor"):
            out = torch.as_tensor(fn(x.clone()))
            report.expect(torch.equal(out, 2 * x), "doubles", "multiply by 2")
        with report.attempt("runs on a (2, 3) tensor"):
            y = torch.ones(2, 3)
            report.expect(
                torch.equal(torch.as_tensor(fn(y.clone())), 2 * y),
                "doubles a matrix",
                "multiply by 2",
            )
    return report


def zero_after(x):
    out = 2 * x
    x.zero_()
    return out


def test_a_check_imported_from_its_chapter_module_is_guarded():
    """``from capsbook.exercises.chNN import check_x`` in a fresh interpreter gets the guard as well."""
    module, name = CHECKS[0]
    code = (
        f"from {module.__name__} import {name}\n"
        f"r = {name}(lambda *a, **k: None, verbose=False)\n"
        f"assert 'did you forget' in r.answer_problem, r\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr


def test_unguarded_the_mutating_answer_passes_guarded_it_fails(capsys):
    assert check_double(
        zero_after, verbose=False
    ).passed  # what the chapter check alone sees
    report = guarded(check_double)(zero_after)
    assert not report.passed and report.failures == ["leaves its inputs unchanged"]
    assert "your function changed `x` in place" in capsys.readouterr().out


def test_a_change_is_a_note_when_the_check_fails_anyway(capsys):
    def wrong_and_changing(x):
        x.zero_()
        return 3 * x

    report = guarded(check_double)(wrong_and_changing)
    out = capsys.readouterr().out
    assert report.failures == ["doubles", "doubles a matrix"], (
        "no extra line for the change..."
    )
    assert "Note: your function changed `x` in place" in out, "...but it is said"


def test_unguarded_none_is_a_type_error_guarded_a_plain_message():
    unguarded = check_double(lambda x: None, verbose=False)
    assert (
        "RuntimeError" in unguarded.results[0][2]
        or "TypeError" in unguarded.results[0][2]
    )
    report = guarded(check_double)(lambda x: None, verbose=False)
    assert report.results == [
        (
            "runs on a (4,) tensor",
            False,
            "your function returned None; did you forget `return`?",
        )
    ]


def test_the_stub_without_the_guard_is_not_attempted_too(capsys):
    """report.py alone (a check used without the guard) recognises the stub's `raise NotImplementedError`."""
    report = check_double(_unfinished)
    assert (
        report.not_attempted
        and capsys.readouterr().out.strip() == f"Exercise 4.9: {NOT_ATTEMPTED}"
    )


def test_a_real_not_implemented_error_is_a_failure_not_a_stub(capsys):
    def helper(x):
        raise NotImplementedError("this operation is not supported")

    def attempted(x):
        return helper(x)

    report = guarded(check_double)(attempted)
    out = capsys.readouterr().out
    assert not report.not_attempted and "[FAILED]" in out and "not supported" in out


def test_endless_loop_in_a_chapter_check_returns_within_seconds():
    """Without the guard this hangs: run it in a subprocess with a deadline."""
    module, name = next(
        ((m, n) for m, n in CHECKS if n == "check_safe_length"), CHECKS[0]
    )
    code = (
        f"import time\nimport {module.__name__} as ex\n"
        f"start = time.perf_counter()\n"
        f"r = ex.{name}(lambda *a, **k: exec('while True: pass'))\n"
        f"print('elapsed', time.perf_counter() - start)\n"
        f"assert not r.passed\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "CAPSLIB_CHECK_TIME_LIMIT": "2"},
    )
    assert done.returncode == 0, done.stderr
    assert "took longer than 2 s" in done.stdout
    elapsed = float(done.stdout.rsplit("elapsed", 1)[1].split()[0])
    assert elapsed < 20, f"the check took {elapsed:.1f} s with a 2 s limit"


def test_time_limit_is_per_call_and_restores_the_signal_handler():
    import signal

    before = signal.getsignal(signal.SIGALRM)
    slow_then_fast = guard_answer(lambda x: (time.sleep(0.05), x)[1], time_limit=1.0)
    assert slow_then_fast(3) == 3 and slow_then_fast(4) == 4
    assert signal.getsignal(signal.SIGALRM) is before
    assert signal.getitimer(signal.ITIMER_REAL)[0] == 0
    endless = guard_answer(lambda: exec("while True: pass"), time_limit=0.2)
    start = time.perf_counter()
    for _ in range(3):
        with pytest.raises(exercises.TookTooLong):
            endless()
    assert time.perf_counter() - start < 2, "the second and third calls fail at once"


def test_an_answer_that_swallows_exceptions_is_still_stopped():
    def stubborn(x):
        while True:
            try:
                while True:
                    pass
            except Exception:  # noqa: BLE001 - what a reader might write
                continue

    start = time.perf_counter()
    with pytest.raises(exercises.TookTooLong):
        guard_answer(stubborn, time_limit=0.2)(1)
    assert time.perf_counter() - start < 10


def test_outside_the_main_thread_there_is_no_time_limit_but_the_rest_holds():
    results = {}

    def run():
        results["report"] = guarded(check_double)(lambda x: None, verbose=False)
        results["ok"] = guard_answer(lambda x: 2 * x, time_limit=0.01)(torch.ones(2))

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(30)
    assert "returned None" in results["report"].results[0][2]
    assert torch.equal(results["ok"], 2 * torch.ones(2))


def test_classes_and_objects_are_not_wrapped():
    assert guard_answer(torch.nn.Linear) is torch.nn.Linear
    model = torch.nn.Linear(2, 2)
    assert guard_answer(model) is model and guard_answer(3) == 3
    fn = guard_answer(lambda x: x)
    assert guard_answer(fn) is fn, "guarding twice is guarding once"


def test_time_limit_from_the_environment(monkeypatch, capsys):
    monkeypatch.setenv("CAPSLIB_CHECK_TIME_LIMIT", "2.5")
    assert report_module.time_limit_s() == 2.5
    monkeypatch.setenv("CAPSLIB_CHECK_TIME_LIMIT", "soon")
    assert report_module.time_limit_s() == 5.0  # the default, and the setting is blamed
    assert "setting error: CAPSLIB_CHECK_TIME_LIMIT='soon'" in capsys.readouterr().err
    monkeypatch.delenv("CAPSLIB_CHECK_TIME_LIMIT")
    assert report_module.time_limit_s() == report_module.TIME_LIMIT_S == 5.0


def test_a_bad_time_limit_setting_is_not_charged_to_a_correct_answer(
    monkeypatch, capsys
):
    """Issue 24, case 9: CAPSLIB_CHECK_TIME_LIMIT=abc made a correct answer read [FAILED]."""
    monkeypatch.setenv("CAPSLIB_CHECK_TIME_LIMIT", "abc")
    report = guarded(check_double)(lambda x: 2 * x, verbose=True)
    captured = capsys.readouterr()
    assert report.passed and "[FAILED]" not in captured.out
    assert "CAPSLIB_CHECK_TIME_LIMIT='abc' is not a number of seconds" in captured.err


def test_an_answer_that_swallows_every_exception_is_still_stopped():
    """Issue 24, case 10: `while True: try: ... except: pass` swallowed the alarm each time."""

    def retries_for_ever(x):
        while True:
            try:
                total = 0
                for k in range(10**9):  # a long computation, retried on any error
                    total += k
                return total
            except:  # noqa: E722 - the beginner's pattern this test is about
                pass

    start = time.perf_counter()
    with pytest.raises(exercises.TookTooLong):
        guard_answer(retries_for_ever, time_limit=0.3)(1)
    assert time.perf_counter() - start < 5
    assert sys.gettrace() is None or "coverage" in type(sys.gettrace()).__module__


def test_an_answer_that_returns_text_is_told_so(capsys):
    """Issue 24: a str used to fail with torch's "new(): invalid data type 'str'"."""
    report = guarded(check_double)(lambda x: "2 * x", verbose=False)
    assert not report.passed
    hint = report.results[0][2]
    assert hint.startswith("your function returned a str ('2 * x')"), hint
    assert "invalid data type" not in hint


def test_the_alarm_never_lands_inside_an_import(tmp_path, monkeypatch):
    # A module whose import outlasts the limit: the alarm waits for the import to finish (an
    # exception raised inside an import or a lock can leave a lock held and hang the kernel),
    # then stops the reader's endless loop.
    (tmp_path / "capslib_slow_import_probe.py").write_text(
        "import time\nstart = time.perf_counter()\n"
        "while time.perf_counter() - start < 0.6:\n    pass\ncompleted = True\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("capslib_slow_import_probe", None)

    def imports_then_loops():
        import capslib_slow_import_probe  # noqa: F401

        while True:
            pass

    start = time.perf_counter()
    with pytest.raises(exercises.TookTooLong):
        guard_answer(imports_then_loops, time_limit=0.1)()
    elapsed = time.perf_counter() - start
    assert sys.modules["capslib_slow_import_probe"].completed, (
        "the import ran to its end"
    )
    assert 0.6 <= elapsed < 3, elapsed


def test_the_alarm_waits_for_a_lock_wait_to_return():
    import threading as threading_module

    finished = []

    def waits_then_loops():
        threading_module.Event().wait(
            0.5
        )  # threading.Condition.wait: never interrupted mid-way
        finished.append(True)
        while True:
            pass

    with pytest.raises(exercises.TookTooLong):
        guard_answer(waits_then_loops, time_limit=0.1)()
    assert finished == [True]


def test_kernel_frames_below_the_check_do_not_delay_the_alarm():
    # In Jupyter the check is called from ipykernel's and IPython's frames; only the frames of
    # the reader's call count, so a plain endless loop stops after the limit, not DEFER_LIMIT_S.
    endless = guard_answer(lambda: exec("while True: pass"), time_limit=0.2)
    like_a_kernel = {"__name__": "ipykernel.kernelbase", "endless": endless}
    exec("def run_cell():\n    endless()\n", like_a_kernel)
    start = time.perf_counter()
    with pytest.raises(exercises.TookTooLong):
        like_a_kernel["run_cell"]()
    assert time.perf_counter() - start < time_limit_module.DEFER_LIMIT_S / 2


def test_an_answer_blocked_for_good_in_library_code_is_still_stopped(monkeypatch):
    monkeypatch.setattr(time_limit_module, "DEFER_LIMIT_S", 0.5)
    import threading as threading_module

    start = time.perf_counter()
    with pytest.raises(exercises.TookTooLong):
        guard_answer(lambda: threading_module.Event().wait(), time_limit=0.1)()
    assert time.perf_counter() - start < 3
