"""The exercise checks and the notebooks agree: each check a chapter calls carries the number of
the exercise it sits under, and a check that no notebook calls is named in its module's docstring
(a warm-up or special case, tested on its own), not left behind by a renumbering."""
from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
EXERCISE = re.compile(r"^`{3,}\{exercise\}", re.M)
CALL = re.compile(r"exercises\.(check_\w+)\(")


def _module_of(notebook: Path):
    number = re.match(r"(\d\d)_", notebook.name)
    return importlib.import_module("capslib.exercises." + (f"ch{number.group(1)}" if number else "ch_fashion"))


def _label(notebook: Path, k: int) -> str:
    number = re.match(r"(\d\d)_", notebook.name)
    return f"{int(number.group(1))}.{k}" if number else f"A.{k}"


def _calls_by_exercise(notebook: Path) -> dict[str, set[int]]:
    """``check name -> {k}``: the k-th exercise of the notebook (counted in its markdown) calls it."""
    k, calls = 0, {}
    for cell in json.loads(notebook.read_text())["cells"]:
        source = "".join(cell["source"])
        if cell["cell_type"] == "markdown":
            k += len(EXERCISE.findall(source))
        else:
            for name in CALL.findall(source):
                calls.setdefault(name, set()).add(k)
    return calls


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_each_check_carries_the_number_of_its_exercise(notebook):
    module = _module_of(notebook)
    calls = _calls_by_exercise(notebook)
    assert calls, f"{notebook.name} calls no exercise check"
    for name, positions in calls.items():
        assert name in module.__all__, f"{notebook.name} calls {name}, which {module.__name__} does not export"
        assert len(positions) == 1 and 0 not in positions, f"{name} is called outside one exercise: {positions}"
        label = _label(notebook, positions.pop())
        doc = getattr(module, name).__doc__ or ""
        assert doc.startswith(f"Exercise {label}"), f"{name} sits under Exercise {label}; its docstring: {doc[:60]!r}"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_a_check_no_notebook_calls_is_named_in_its_module_docstring(notebook):
    module = _module_of(notebook)
    called = _calls_by_exercise(notebook)
    for name in (n for n in module.__all__ if n.startswith("check_") and n not in called):
        assert f"`{name}`" in (module.__doc__ or ""), (
            f"{module.__name__}.{name} is called by no exercise of {notebook.name} and its module docstring "
            "does not say what it is for: remove it, or name it there as a warm-up or special case")
