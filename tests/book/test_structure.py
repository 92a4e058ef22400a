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

ROOT = Path(__file__).resolve().parents[2]
REPO = "capsnet-course/capsule-networks-course"


def toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc["parts"]:
        files += [chapter["file"] for chapter in part["chapters"]]
    return files


NOTEBOOKS = [f for f in toc_files() if f.startswith("notebooks/")]
BIB_KEYS = set(
    re.findall(r"@\w+\{([^,]+),", (ROOT / "book" / "references.bib").read_text())
)


def test_every_toc_entry_exists():
    for name in toc_files():
        assert (ROOT / f"{name}.md").exists() or (ROOT / f"{name}.ipynb").exists(), (
            f"{name} is in _toc.yml but missing"
        )


def test_every_notebook_is_in_the_toc():
    on_disk = {f"notebooks/{p.stem}" for p in (ROOT / "notebooks").glob("*.ipynb")}
    assert on_disk == set(NOTEBOOKS)


def test_required_references_are_in_the_bibliography():
    assert {
        "sabour2017dynamic",
        "hinton2018matrix",
        "lecun1998gradient",
        "mazzia2021efficient",
        "xiao2017fashion",
    } <= BIB_KEYS


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_chapter_shape(name):
    nb = nbformat.read(ROOT / f"{name}.ipynb", as_version=4)
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    first = nb.cells[0].source
    stem = Path(name).name
    assert first.startswith("# "), "the first cell is the chapter's title"
    assert f"colab.research.google.com/github/{REPO}/blob/main/{name}.ipynb" in first, (
        "Colab badge"
    )
    assert "PLACEHOLDER" not in markdown, f"{stem} is still a placeholder"
    assert code and "google.colab" in code[0] and "pip install" in code[0], (
        "the first code cell installs capslib on Colab"
    )
    assert "CAPSLIB_RESULTS" in code[0], (
        "the first code cell points CAPSLIB_RESULTS at the cloned course's results/ "
        "(an installed package holds no results/; the chapters read their records there)"
    )
    for heading in ("Objectives", "Summary", "Exercises", "References"):
        assert re.search(
            rf"(^#+ .*{heading}|\*\*{heading}[.:]?\*\*)", markdown, re.M
        ), f"{stem} lacks {heading}"
    exercises = re.findall(r"```\{exercise\}.*?\n:label: (\S+)", markdown)
    solutions = re.findall(r"```\{solution\} (\S+)\n:class: dropdown", markdown)
    minimum = 2 if stem == "00_setup" else 3
    assert len(exercises) >= minimum, (
        f"{stem} has {len(exercises)} exercises, at least {minimum} expected"
    )
    assert set(exercises) <= set(solutions), (
        f"{stem}: every exercise needs a hidden (dropdown) solution"
    )
    for key in re.findall(r"\{cite[:\w]*\}`([^`]+)`", markdown):
        for k in key.split(","):
            assert k.strip() in BIB_KEYS, (
                f"{stem} cites {k.strip()!r}, which is not in book/references.bib"
            )
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebooks_are_committed_without_outputs(name):
    nb = nbformat.read(ROOT / f"{name}.ipynb", as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, (
                f"{name}: clear the outputs before committing"
            )


def test_exercise_labels_are_unique_across_the_book():
    labels = []
    for name in NOTEBOOKS:
        nb = nbformat.read(ROOT / f"{name}.ipynb", as_version=4)
        for cell in nb.cells:
            labels += re.findall(r"^:label: (\S+)", cell.source, re.M)
    assert len(labels) == len(set(labels)), "duplicate labels across chapters"


# --------------------------------------------------------------------------- exercises, terms, citations
import sys  # noqa: E402

sys.path.insert(0, str(ROOT / "_ext"))
import exercise_numbers  # noqa: E402  (the extension that numbers the boxes in the build)

BOOK_PAGES = [f for f in toc_files() if f.startswith("book/")]
EXERCISE_BOX = re.compile(r"```\{exercise\}[^\n]*\n:label: (\S+)")
CHECK_CALL = re.compile(
    r"\bex\.(check_\w+)\("
)  # `from capsbook.exercises import chNN as ex`


def exercise_module(name: str):
    """The chapter's module of checks: ``notebooks/05_routing`` -> ``capsbook.exercises.ch05``."""
    import importlib

    stem = Path(name).name
    appendices = {"appendix_fashion_mnist": "ch_fashion"}
    short = appendices.get(stem, f"ch_{stem.removeprefix('appendix_')}")
    short = short if stem.startswith("appendix") else f"ch{stem[:2]}"
    return importlib.import_module(f"capsbook.exercises.{short}")


def exercise_modules():
    import pkgutil

    import capsbook.exercises

    return [
        f"capsbook.exercises.{info.name}"
        for info in pkgutil.iter_modules(capsbook.exercises.__path__)
        if info.name.startswith("ch")
    ]


HIDDEN = {"remove-cell", "remove-input", "hide-input", "hide-cell"}


def exercise_boxes(name: str) -> list[tuple[str, str, list[str]]]:
    """``[(number, label, check names called in the visible cells after the box)]`` in page order."""
    nb = nbformat.read(ROOT / f"{name}.ipynb", as_version=4)
    chapter = exercise_numbers.chapter_of(name)
    boxes: list[tuple[str, str, list[str]]] = []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for label in EXERCISE_BOX.findall(cell.source):
                boxes.append((f"{chapter}.{len(boxes) + 1}", label, []))
        elif boxes and not HIDDEN & set(cell.metadata.get("tags", [])):
            boxes[-1][2].extend(CHECK_CALL.findall(cell.source))
    return boxes


def _stub(*args, **kwargs):
    raise NotImplementedError("replace this line with your answer")


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_each_exercise_box_and_its_check_carry_the_same_number(name):
    """The box reads "Exercise N.k" (N from the file name, k its position: _ext/exercise_numbers.py);
    the check called under it must print the same number."""
    module = exercise_module(name)
    source = nbformat.read(ROOT / f"{name}.ipynb", as_version=4)
    assert any(
        f"from capsbook.exercises import {module.__name__.rsplit('.', 1)[1]} as ex"
        in cell.source
        for cell in source.cells
        if cell.cell_type == "code"
    ), f"{name} does not import its chapter's checks as ex"
    boxes = exercise_boxes(name)
    assert boxes, f"{name} has no exercise box"
    for number, label, checks in boxes:
        assert checks, (
            f"{name}: exercise {label} (Exercise {number}) calls no capsbook.exercises check"
        )
        check_fn = getattr(module, checks[0], None)
        assert check_fn is not None, (
            f"{name}: {label} calls {module.__name__}.{checks[0]}, which does not exist"
        )
        title = check_fn(_stub, verbose=False).title
        assert title.split(":", 1)[0] == f"Exercise {number}", (
            f"{name}: the box {label} is Exercise {number}, its check {checks[0]} prints {title!r}"
        )


def test_a_check_no_exercise_calls_is_named_in_its_module_docstring():
    """A check that no box calls is a warm-up or special case named in its chapter module's docstring
    (and tested on its own), not one left behind by a renumbering."""
    import importlib

    called = {
        check
        for name in NOTEBOOKS
        for _, _, checks in exercise_boxes(name)
        for check in checks
    }
    for module_name in exercise_modules():
        module = importlib.import_module(module_name)
        for check in (
            n for n in module.__all__ if n.startswith("check_") and n not in called
        ):
            assert f"`{check}`" in (module.__doc__ or ""), (
                f"{module.__name__}.{check} is called by no exercise and its module docstring does not say "
                "what it is for: remove it, or name it there as a warm-up or special case"
            )


def all_exercise_numbers() -> set[str]:
    return {number for name in NOTEBOOKS for number, _, _ in exercise_boxes(name)}


def without_code_blocks(markdown: str) -> str:
    """Markdown without its fenced code blocks; the text inside directives (```{exercise}) stays."""
    kept, open_fences = [], []  # open_fences: (fence characters, is a directive)
    for line in markdown.splitlines():
        fence = re.match(r"^\s*(`{3,}|~{3,})(.*)$", line)
        if fence:
            marks, info = fence.group(1), fence.group(2).strip()
            top = open_fences[-1] if open_fences else None
            if top and not info and marks[0] == top[0][0] and len(marks) >= len(top[0]):
                open_fences.pop()
                continue
            if not (top and not top[1]):  # a fence inside a code block is code
                open_fences.append((marks, info.startswith("{")))
                continue
        if all(is_directive for _, is_directive in open_fences):
            kept.append(line)
    return "\n".join(kept)


def _prose(name: str) -> str:
    """The markdown of a page (a notebook's markdown cells, or a .md page), without code blocks."""
    if (ROOT / f"{name}.ipynb").exists():
        nb = nbformat.read(ROOT / f"{name}.ipynb", as_version=4)
        return "\n".join(
            without_code_blocks(c.source) for c in nb.cells if c.cell_type == "markdown"
        )
    return without_code_blocks((ROOT / f"{name}.md").read_text())


def test_code_blocks_are_left_out_of_the_prose():
    page = (
        "Text {cite}`a`.\n\n````{solution} ex\n:class: dropdown\n\nSee {cite}`b`.\n\n```python\n"
        "x = '{cite}`c`'\n```\n````\n\n```\n{cite}`d`\n```\nEnd {cite}`e`."
    )
    assert re.findall(r"`(\w)`", without_code_blocks(page)) == ["a", "b", "e"]


@pytest.mark.parametrize("name", toc_files())
def test_prose_names_exercises_by_their_box_numbers(name):
    """ "Exercise 3.3" in the text is a box of the book; "Exercise 13" (the old book-wide count) is not."""
    numbers = all_exercise_numbers()
    text = _prose(name)
    for mention in re.findall(r"\bExercises? (\w+(?:\.\d+)?)", text):
        if not re.fullmatch(r"(\d+|A)(\.\d+)?", mention):
            continue  # "Exercises 11.1-11.3", "exercise boxes": prose, not a number
        assert "." in mention, (
            f"{name}: 'Exercise {mention}' is not numbered by chapter (write N.k)"
        )
        assert mention in numbers, (
            f"{name}: 'Exercise {mention}' names no exercise box of the book"
        )


def cited_keys() -> set[str]:
    keys: set[str] = set()
    for name in toc_files():
        for group in re.findall(r"\{cite[:\w]*\}`([^`]+)`", _prose(name)):
            keys |= {k.strip() for k in group.split(",")}
    return keys


def test_every_bibliography_entry_is_cited():
    uncited = BIB_KEYS - cited_keys()
    assert not uncited, (
        f"book/references.bib entries cited nowhere (cite them or drop them): {sorted(uncited)}"
    )


def test_every_citation_is_in_the_bibliography():
    assert cited_keys() <= BIB_KEYS, sorted(cited_keys() - BIB_KEYS)


#: The terms the chapters link with {term} (the conventions of this round), exactly as written.
GLOSSARY_TERMS = [
    "activity vector",
    "affNIST",
    "agreement",
    "capsule",
    "coupling coefficient",
    "decoder",
    "dynamic routing",
    "equivariance",
    "EM routing",
    "instantiation parameters",
    "invariance",
    "margin loss",
    "MNIST",
    "MultiMNIST",
    "pooling",
    "primary capsules",
    "quick mode",
    "reconstruction loss",
    "squash",
    "DigitCaps",
    "prediction vector",
    "transformation matrix",
    "routing logit",
    "masking",
    "pose matrix",
    "spread loss",
    "coordinate addition",
    "inverse temperature",
    "Picasso problem",
]


def glossary_terms() -> list[str]:
    text = (ROOT / "book" / "glossary.md").read_text()
    block = text[text.index("```{glossary}") :]
    return re.findall(r"^(\S[^\n]*)\n  ", block, re.M)


def test_glossary_has_every_term_of_the_conventions():
    terms = glossary_terms()
    missing = [t for t in GLOSSARY_TERMS if t not in terms]
    assert not missing, f"book/glossary.md lacks {missing}"
    assert len(terms) == len(set(terms)), "a term defined twice"


def test_glossary_says_interpreted_as_for_the_length():
    text = (ROOT / "book" / "glossary.md").read_text()
    assert (
        "is the probability" not in text and "is interpreted as the probability" in text
    )


@pytest.mark.parametrize("name", toc_files())
def test_every_term_link_names_a_glossary_term(name):
    terms = {t.lower() for t in glossary_terms()}
    for role in re.findall(r"\{term\}`([^`]+)`", _prose(name)):
        target = re.search(r"<([^>]+)>$", role)
        term = (target.group(1) if target else role).strip()
        assert term.lower() in terms, (
            f"{name}: {{term}}`{role}` links to no glossary term"
        )


def test_preface_on_pooling_and_its_figure():
    preface = (ROOT / "book" / "preface.md").read_text()
    assert "forgets *where*" not in preface and "within its pooling window" in preface
    assert (
        "figures/book_path.svg" in preface
        and (ROOT / "book" / "figures" / "book_path.svg").exists()
    )
    assert "```{chapter-times}" in preface


# Every notebook's code fits 88 columns, as ruff formats the tree's .py files; _static/code.css
# sizes code so that 88 columns fit the page at 1280 px (the browser test checks the built pages).
# A plain count, not ruff's E501: E501 lets through IPython magics and unbreakable strings, and
# those are cut off on the page all the same.
PAGE_COLUMNS = 88


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_code_fits_the_page(name):
    nb = nbformat.read(ROOT / f"{name}.ipynb", as_version=4)
    wide = [
        line
        for cell in nb.cells
        if cell.cell_type == "code"
        for line in cell.source.splitlines()
        if len(line) > PAGE_COLUMNS
    ]
    assert not wide, (
        f"{name}: {len(wide)} code lines over {PAGE_COLUMNS} columns: {wide[:3]}"
    )


def _hidden_plumbing():
    import sys

    sys.path.insert(0, str(ROOT / "_ext"))
    import hidden_plumbing

    return hidden_plumbing


def test_plumbing_cells_are_hidden_in_the_book():
    """Every notebook, as the book reads it (``_ext/hidden_plumbing``): each cell that computes
    from a reference solution (``ex.reference_*(...)``: the numbers a solution quotes) is
    removed, and each cell whose code only calls glue(...) carries remove-cell or
    remove-input. The built pages are checked too (tests/book/test_browser.py)."""
    import json

    hidden_plumbing = _hidden_plumbing()
    counts = {"reference": 0, "glue": 0}
    for name in NOTEBOOKS:
        notebook = json.loads((ROOT / f"{name}.ipynb").read_text(encoding="utf-8"))
        hidden_plumbing.hide_plumbing(notebook)
        for cell in notebook["cells"]:
            if cell["cell_type"] != "code":
                continue
            source = "".join(cell["source"])
            tags = set(cell.get("metadata", {}).get("tags", []))
            tag = hidden_plumbing.plumbing_tag(source)
            if tag is None:
                continue
            if "reference_" in source and tag == "remove-cell":
                counts["reference"] += 1
                assert "remove-cell" in tags, (name, source[:80])
            else:
                counts["glue"] += 1
                assert tags & hidden_plumbing.HIDDEN, (name, source[:80])
    # the numbers quoted by the solutions of chapters 0 to 5, 9 and 10 come from references
    assert counts["reference"] >= 12 and counts["glue"] >= 1, counts


# --------------------------------------------------------------------------- solutions, written once
# A solution's code lives in one place, the reference_* function beside its check in
# capsbook/exercises: the dropdown shows it with literalinclude, tests/capsbook/exercises/test_checks.py runs
# it through the check, and no notebook cell types it again.
SOLUTION = re.compile(r"````\{solution\} (\S+)\n:class: dropdown\n(.*?)\n````", re.S)
LITERALINCLUDE = re.compile(r"```\{literalinclude\} (\S+)\n((?::[\w-]+:[^\n]*\n)*)```")


def solutions(name: str) -> dict[str, str]:
    """``{label: text inside the dropdown}`` for the {solution} dropdowns of a notebook."""
    nb = nbformat.read(ROOT / f"{name}.ipynb", as_version=4)
    return {
        label: body
        for cell in nb.cells
        if cell.cell_type == "markdown"
        for label, body in SOLUTION.findall(cell.source)
    }


def shown_references(name: str):
    """``[(label, reference function, included path, literalinclude options)]`` of a notebook."""
    module = exercise_module(name)
    bodies = solutions(name)
    shown = []
    for _, label, checks in exercise_boxes(name):
        reference = getattr(module, "reference_" + checks[0][len("check_") :], None)
        assert reference is not None, (
            f"{name}: {module.__name__}.{checks[0]} has no reference_ solution beside it"
        )
        includes = LITERALINCLUDE.findall(bodies.get(label, ""))
        assert len(includes) == 1, (
            f"{name}: the solution of {label} must show its code with one literalinclude "
            f"of {module.__name__}.{reference.__name__}, not type it (found {len(includes)})"
        )
        path, options = includes[0]
        shown.append(
            (
                label,
                reference,
                path,
                dict(re.findall(r"^:([\w-]+): *(.*)$", options, re.M)),
            )
        )
    return shown


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_each_solution_shows_its_reference_solution(name):
    """Each {solution} dropdown includes, with ``literalinclude`` and ``:pyobject:``, the
    reference solution its exercise's check holds answers to: ``reference_<x>`` beside
    ``check_<x>`` in the chapter's capsbook.exercises module (or, where that module names a
    function of the book's library as its reference, that function where it is written)."""
    import ast
    import inspect

    module = exercise_module(name)
    labels = {label for _, label, _ in exercise_boxes(name)}
    assert set(solutions(name)) <= labels, (
        f"{name}: a solution without its exercise box"
    )
    for label, reference, path, options in shown_references(name):
        file = (ROOT / name).parent / path
        assert file.is_file(), f"{name}: {label} includes {path}, which does not exist"
        assert file.resolve() == Path(inspect.getsourcefile(reference)).resolve(), (
            f"{name}: {label} includes {path}; its reference is written in "
            f"{inspect.getsourcefile(reference)}"
        )
        assert options.get("pyobject") == reference.__name__, (label, options)
        assert options.get("language") == "python", (label, options)
        if file.parent == ROOT / "capsbook" / "exercises":
            assert (
                reference.__name__.startswith("reference_")
                and getattr(module, reference.__name__, None) is reference
            ), (label, reference.__name__)
        defined = {
            node.name
            for node in ast.parse(file.read_text()).body
            if isinstance(node, ast.FunctionDef)
        }
        assert reference.__name__ in defined, (label, path, reference.__name__)
        for block in re.findall(r"```python\n(.*?)```", solutions(name)[label], re.S):
            assert not re.search(r"^\s*(async\s+)?def ", block, re.M), (
                f"{name}: the solution of {label} types a function; include its reference"
            )


def test_the_shown_reference_solutions_fit_88_columns():
    """What a dropdown shows is cut off on the page past 88 columns, docstrings included.

    (The two references of chapter 10 that capsbook.robustness holds are that module's to wrap.)
    """
    import inspect

    for name in NOTEBOOKS:
        for label, reference, path, _ in shown_references(name):
            if not path.startswith("../capsbook/exercises/"):
                continue
            for line in inspect.getsource(reference).splitlines():
                assert len(line) <= 88, f"{label}: {reference.__name__}: {line!r}"


def _reference_bodies() -> set[str]:
    """The code of every reference solution, its docstring left out, as ``ast.dump``."""
    import ast
    import importlib
    import inspect

    bodies = set()
    for module_name in exercise_modules():
        module = importlib.import_module(module_name)
        for attribute, value in vars(module).items():
            if attribute.startswith("reference_") and inspect.isfunction(value):
                node = ast.parse(inspect.getsource(value)).body[0]
                bodies.add(_body_dump(node))
    return bodies


def _body_dump(function) -> str:
    import ast

    body = function.body
    if (
        body
        and isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
    ):
        body = body[1:]  # the docstring
    return ast.dump(ast.Module(body=body, type_ignores=[]))


def _is_stub(function) -> bool:
    """The reader's stub: a docstring and ``raise NotImplementedError(...)``."""
    import ast

    body = function.body
    if (
        body
        and isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
    ):
        body = body[1:]
    return (
        len(body) == 1
        and isinstance(body[0], ast.Raise)
        and "NotImplementedError" in ast.unparse(body[0])
    )


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_no_cell_retypes_a_reference_solution(name):
    """A function that a cell defines and hands to a check (``ex.check_x(my_x)``) is the
    reader's stub, and no cell defines a function with the code of a reference solution:
    the hidden "# check the reference solution" cells that typed each solution again are gone
    (the dropdown includes the reference, tests/capsbook/exercises/test_checks.py checks it)."""
    import ast

    hidden_plumbing = _hidden_plumbing()
    references = _reference_bodies()
    nb = nbformat.read(ROOT / f"{name}.ipynb", as_version=4)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        assert not cell.source.lstrip().startswith(hidden_plumbing.CHECK_MARKER), (
            f"{name}: a cell retypes a solution to check it: {cell.source[:80]!r}"
        )
        code = "\n".join(  # IPython's !shell and %magic lines, as Python
            re.sub(r"^(\s*)[!%].*", r"\1pass", line)
            for line in cell.source.splitlines()
        )
        tree = ast.parse(code)
        functions = {
            node.name: node
            for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef)
        }
        for function in functions.values():
            assert _body_dump(function) not in references, (
                f"{name}: {function.name} retypes a reference solution"
            )
        for node in ast.walk(tree):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr.startswith("check_")
                and node.args
                and isinstance(node.args[0], ast.Name)
                and node.args[0].id in functions
            ):
                continue
            assert _is_stub(functions[node.args[0].id]), (
                f"{name}: {node.args[0].id} is checked with {node.func.attr} and is not the "
                "reader's stub (raise NotImplementedError): a retyped solution?"
            )


def test_every_repository_path_a_notebook_names_exists():
    """A page that sends the reader to ``tests/...py`` or ``scripts/...`` names a real file."""
    missing = []
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        text = path.read_text(encoding="utf-8")
        for named in sorted(
            set(re.findall(r"\b((?:tests|scripts)/[\w/.-]+\.(?:py|sh))", text))
        ):
            if not (ROOT / named).is_file():
                missing.append(f"{path.name}: {named}")
    assert not missing, missing
