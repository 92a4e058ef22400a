"""Number the exercise boxes by chapter: "Exercise 4.1" is the first exercise of notebooks/04_*.

sphinx-exercise numbers its boxes with Sphinx's figure numbering (``numfig``): the number of
an ``{exercise}`` box is ``env.toc_fignumbers[docname]["exercise"][label]``, a tuple that the
HTML writer joins with dots (``numfig_format["exercise"] = "Exercise %s"``). With the book's
table of contents unnumbered, Sphinx counts the boxes through the whole book ("Exercise 13",
"Exercise 20"), while the prose and the checks (``capsbook.exercises``) say "Exercise 3.3".

After Sphinx has assigned the numbers (``env-get-updated``, after its own TocTreeCollector),
this extension replaces them by ``(chapter, k)``: the chapter from the page's file name
(``notebooks/04_squash`` -> 4, ``notebooks/appendix_*`` -> "A"), ``k`` the box's position on
the page (1, 2, ... in reading order). The box title, the solution's "Solution to Exercise 4.1"
and every ``{numref}`` to an exercise use the same table, so they all agree.

A chapter author writes nothing special: an ``{exercise}`` box with a ``:label:`` in
``notebooks/NN_name.ipynb`` becomes "Exercise N.k". An exercise on a page whose name has no
chapter number is reported as a warning (an error under ``--warningiserror``).
"""

from __future__ import annotations

import re

from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.util import logging

logger = logging.getLogger(__name__)

CHAPTER = re.compile(r"(?:^|/)(?P<number>\d+)_[^/]*$")
APPENDIX = re.compile(r"(?:^|/)(?P<stem>appendix[^/]*)$")
#: The book's appendices in reading order, lettered A, B, ...; an appendix page not named here is "A".
APPENDICES = ("appendix_fashion_mnist", "appendix_cpu_precision")


def chapter_of(docname: str) -> str | None:
    """The chapter label of a page: ``notebooks/04_squash`` -> ``"4"``, an appendix -> its letter.

    ``notebooks/appendix_fashion_mnist`` -> ``"A"``, ``notebooks/appendix_cpu_precision`` -> ``"B"``
    (:data:`APPENDICES`); any other appendix page -> ``"A"``.
    """
    match = CHAPTER.search(docname)
    if match:
        return str(int(match.group("number")))
    appendix = APPENDIX.search(docname)
    if appendix:
        stem = appendix.group("stem")
        return chr(ord("A") + APPENDICES.index(stem)) if stem in APPENDICES else "A"
    return None


def numbered_in_chapter(numbers: dict[str, tuple], chapter: str) -> dict[str, tuple]:
    """``{label: Sphinx's number}`` of one page -> ``{label: (chapter, k)}``, k the position in reading order."""
    in_reading_order = sorted(numbers, key=lambda label: numbers[label])
    return {label: (chapter, k) for k, label in enumerate(in_reading_order, start=1)}


def renumber_exercises(app: Sphinx, env: BuildEnvironment) -> list[str]:
    """Replace the book-wide exercise numbers by (chapter, position on the page)."""
    for docname, numbers_by_type in env.toc_fignumbers.items():
        numbers = numbers_by_type.get("exercise")
        if not numbers:
            continue
        chapter = chapter_of(docname)
        if chapter is None:
            logger.warning(
                "%d exercise(s) on %r, a page without a chapter number in its name: they keep the "
                "book-wide numbers; put exercises in notebooks/NN_*.ipynb or an appendix page",
                len(numbers),
                docname,
                type="exercise_numbers",
                subtype="no_chapter",
            )
            continue
        numbers_by_type["exercise"] = numbered_in_chapter(numbers, chapter)
    return []  # the numbers changed, not the documents: nothing to read again


def setup(app: Sphinx) -> dict:
    # after Sphinx's TocTreeCollector (priority 500), which assigns the figure numbers
    app.connect("env-get-updated", renumber_exercises, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1.0"}
