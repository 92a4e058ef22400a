"""Every exercise check of the book, found automatically in ``capslib.exercises.ch*``:

* it has a reference solution ``reference_<name>`` beside it, and that solution passes;
* a reader's unfinished answer (``raise NotImplementedError``) is reported as a failure, not raised;
* it is reachable as ``capslib.exercises.check_<name>`` (names are unique across chapters, since the
  lazy lookup returns the first chapter that defines a name).

The typical wrong answers of each chapter are tested in ``tests/test_exercises_chNN*.py``.
"""
from __future__ import annotations

import importlib
import pkgutil

import pytest

import capslib.exercises as exercises


def chapter_checks():
    found = []
    for info in sorted(pkgutil.iter_modules(exercises.__path__), key=lambda m: m.name):
        if info.name.startswith("ch"):
            module = importlib.import_module(f"{exercises.__name__}.{info.name}")
            found += [(module, name) for name, fn in vars(module).items()
                      if name.startswith("check_") and getattr(fn, "__module__", None) == module.__name__]
    return found


CHECKS = chapter_checks()
IDS = [f"{module.__name__.rsplit('.', 1)[1]}.{name}" for module, name in CHECKS]


def _unfinished(*args, **kwargs):
    raise NotImplementedError("replace this line with your answer")


def test_every_chapter_has_checks():
    chapters = {module.__name__.rsplit(".", 1)[1] for module, _ in CHECKS}
    assert {f"ch{n:02d}" for n in range(12)} <= chapters
    assert len(CHECKS) >= 2 + 3 * 11


@pytest.mark.parametrize("module, name", CHECKS, ids=IDS)
def test_reference_solution_passes(module, name, capsys):
    reference = getattr(module, "reference_" + name[len("check_"):], None)
    assert reference is not None, f"{module.__name__}.{name} has no reference solution beside it"
    report = getattr(module, name)(reference)
    assert report.passed, report
    assert "Well done" in capsys.readouterr().out


@pytest.mark.parametrize("module, name", CHECKS, ids=IDS)
def test_unfinished_answer_is_reported_not_raised(module, name):
    report = getattr(module, name)(_unfinished, verbose=False)
    assert not report.passed
    assert any("NotImplementedError" in hint for _, ok, hint in report.results if not ok)


@pytest.mark.parametrize("module, name", CHECKS, ids=IDS)
def test_check_is_reachable_from_the_package(module, name):
    assert getattr(exercises, name) is getattr(module, name)
