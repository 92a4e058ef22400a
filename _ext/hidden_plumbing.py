"""Cells that are the book's plumbing never show on a page, whatever their tags say.

Three kinds of code cell are for the build, not for the reader:

* **cells that use a reference solution**: a cell that calls a ``reference_*`` function (say
  ``ex.reference_squash_slope(...)``) computes the numbers a solution quotes from the answer
  itself. Shown beside the exercise, it gives the answer away; it is removed from the page
  (input and output). The solutions' code is not typed in the notebooks: each dropdown shows
  its ``reference_*`` function from ``capsbook/exercises`` with ``literalinclude``, and
  ``tests/capsbook/exercises/test_checks.py`` runs every reference through its check.
* **solution checks**: a cell whose first line is ``# check the reference solution`` would
  run a solution retyped in the notebook through its check. The book has none any more
  (``tests/book/test_structure.py`` says so); should one come back, it is removed too.
* **glue-only cells**: a cell whose every statement is a call of ``glue(...)`` (imports of
  ``glue`` allowed) only hands values to the prose. It is removed too, or only its input
  when one of its calls displays its value (``display=True``, glue's default).

Tagging these cells by hand is easy to forget: the last reading found every answer of
chapters 1 and 2 under a "Click to show". So this extension adds the tag (``remove-cell`` or
``remove-input``) to each such cell as the notebook is read (Sphinx's ``source-read``, before
myst-nb parses and executes it); the cell still runs. ``tests/book/browser/pagecheck.py`` checks the
built pages for any that shows.
"""

from __future__ import annotations

import ast
import json

from sphinx.application import Sphinx

CHECK_MARKER = "# check the reference solution"
REMOVE_CELL = "remove-cell"
REMOVE_INPUT = "remove-input"
HIDDEN = {REMOVE_CELL, REMOVE_INPUT}


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def _glue_call(node: ast.stmt) -> ast.Call | None:
    """The ``glue(...)`` call that ``node`` is, else None."""
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        func = node.value.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
        if name == "glue":
            return node.value
    return None


def _displays(call: ast.Call) -> bool:
    """Whether a glue call shows its value where it is called (glue's default)."""
    for keyword in call.keywords:
        if keyword.arg == "display":
            return not (
                isinstance(keyword.value, ast.Constant) and keyword.value.value is False
            )
    return len(call.args) < 3 or not (
        isinstance(call.args[2], ast.Constant) and call.args[2].value is False
    )


def _calls_a_reference(tree: ast.AST) -> bool:
    """Whether the code calls a reference solution, ``reference_*(...)`` or ``ex.reference_*(...)``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = (
                func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            )
            if name is not None and name.startswith("reference_"):
                return True
    return False


def plumbing_tag(source: str) -> str | None:
    """The tag that hides a cell of this source, or None when the reader should see it.

    >>> plumbing_tag("# check the reference solution\\nassert True")
    'remove-cell'
    >>> plumbing_tag('slope = ex.reference_squash_slope(r)\\nglue("s", slope)')
    'remove-cell'
    >>> plumbing_tag("reference_k = 3\\nprint(reference_k)") is None
    True
    >>> plumbing_tag('glue("a", 1, display=False)\\nglue("b", 2, display=False);')
    'remove-cell'
    >>> plumbing_tag('glue("a", 1)')
    'remove-input'
    >>> plumbing_tag('x = 1\\nglue("a", x, display=False)') is None
    True
    """
    text = source.strip()
    if text.startswith(CHECK_MARKER):
        return REMOVE_CELL
    if not text or text.startswith(("%", "!")):
        return None
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return None
    if _calls_a_reference(tree):
        return REMOVE_CELL
    calls = []
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        call = _glue_call(node)
        if call is None:
            return None
        calls.append(call)
    if not calls:
        return None
    return REMOVE_INPUT if any(_displays(call) for call in calls) else REMOVE_CELL


def hide_plumbing(notebook: dict) -> list[int]:
    """Tag every plumbing cell of ``notebook`` (nbformat 4 JSON) in place; their indices."""
    tagged = []
    for index, cell in enumerate(notebook.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        tag = plumbing_tag(_source(cell))
        if tag is None:
            continue
        tags = cell.setdefault("metadata", {}).setdefault("tags", [])
        if REMOVE_CELL in tags or tag in tags:
            continue
        tags.append(tag)
        tagged.append(index)
    return tagged


def tag_notebook_source(app: Sphinx, docname: str, source: list[str]) -> None:
    path = app.env.doc2path(docname)
    if not str(path).endswith(".ipynb"):
        return
    try:
        notebook = json.loads(source[0])
    except ValueError:
        return
    if hide_plumbing(notebook):
        source[0] = json.dumps(notebook, ensure_ascii=False, indent=1)


def setup(app: Sphinx) -> dict:
    app.connect("source-read", tag_notebook_source)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
