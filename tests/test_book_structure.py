"""Every page of the table of contents exists and every chapter has the course's shape.

The shape (../shared/STYLE.md): a title with a Colab badge, the Colab install
cell, objectives, summary, exercises with hidden solutions, references; and
notebooks are committed without outputs (the book build executes them).
"""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
REPO = "capsnet-course/capsule-networks-course"


def toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc["parts"]:
        files += [chapter["file"] for chapter in part["chapters"]]
    return files


NOTEBOOKS = [f for f in toc_files() if f.startswith("notebooks/")]
BIB_KEYS = set(re.findall(r"@\w+\{([^,]+),", (ROOT / "book" / "references.bib").read_text()))


def test_every_toc_entry_exists():
    for name in toc_files():
        assert (ROOT / f"{name}.md").exists() or (ROOT / f"{name}.ipynb").exists(), f"{name} is in _toc.yml but missing"


def test_every_notebook_is_in_the_toc():
    on_disk = {f"notebooks/{p.stem}" for p in (ROOT / "notebooks").glob("*.ipynb")}
    assert on_disk == set(NOTEBOOKS)


def test_required_references_are_in_the_bibliography():
    assert {"sabour2017dynamic", "hinton2018matrix", "lecun1998gradient", "mazzia2021efficient",
            "xiao2017fashion"} <= BIB_KEYS


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_chapter_shape(name):
    nb = nbformat.read(ROOT / f"{name}.ipynb", as_version=4)
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    first = nb.cells[0].source
    stem = Path(name).name
    assert first.startswith("# "), "the first cell is the chapter's title"
    assert f"colab.research.google.com/github/{REPO}/blob/main/{name}.ipynb" in first, "Colab badge"
    assert "PLACEHOLDER" not in markdown, f"{stem} is still a placeholder"
    assert code and "google.colab" in code[0] and "pip install" in code[0], "the first code cell installs capslib on Colab"
    for heading in ("Objectives", "Summary", "Exercises", "References"):
        assert re.search(rf"(^#+ .*{heading}|\*\*{heading}[.:]?\*\*)", markdown, re.M), f"{stem} lacks {heading}"
    exercises = re.findall(r"```\{exercise\}.*?\n:label: (\S+)", markdown)
    solutions = re.findall(r"```\{solution\} (\S+)\n:class: dropdown", markdown)
    minimum = 2 if stem == "00_setup" else 3
    assert len(exercises) >= minimum, f"{stem} has {len(exercises)} exercises, at least {minimum} expected"
    assert set(exercises) <= set(solutions), f"{stem}: every exercise needs a hidden (dropdown) solution"
    for key in re.findall(r"\{cite[:\w]*\}`([^`]+)`", markdown):
        for k in key.split(","):
            assert k.strip() in BIB_KEYS, f"{stem} cites {k.strip()!r}, which is not in book/references.bib"
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebooks_are_committed_without_outputs(name):
    nb = nbformat.read(ROOT / f"{name}.ipynb", as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, f"{name}: clear the outputs before committing"


def test_exercise_labels_are_unique_across_the_book():
    labels = []
    for name in NOTEBOOKS:
        nb = nbformat.read(ROOT / f"{name}.ipynb", as_version=4)
        for cell in nb.cells:
            labels += re.findall(r"^:label: (\S+)", cell.source, re.M)
    assert len(labels) == len(set(labels)), "duplicate labels across chapters"
