"""Number figures and tables by chapter: "Fig. 7.2" is the second figure of notebooks/07_*.

Sphinx numbers figures through the whole book when its table of contents is unnumbered, so the
second figure of chapter 7 read "Fig. 32", while the exercises of the same page read
"Exercise 7.1" (``exercise_numbers``). After Sphinx has assigned its numbers (``env-get-updated``),
this extension replaces them by ``(chapter, k)`` on every chapter page, in reading order: the
caption, and every ``{numref}`` to it, say "Fig. 7.2" / "Table 7.1". Pages without a chapter
number (the preface, the glossary) keep Sphinx's own numbers.
"""

from __future__ import annotations

from exercise_numbers import chapter_of, numbered_in_chapter
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment

#: the numbered kinds renumbered per chapter (exercises: ``exercise_numbers``)
KINDS = ("figure", "table", "code-block")


def renumber_by_chapter(app: Sphinx, env: BuildEnvironment) -> list[str]:
    for docname, numbers_by_type in env.toc_fignumbers.items():
        chapter = chapter_of(docname)
        if chapter is None:
            continue
        for kind in KINDS:
            numbers = numbers_by_type.get(kind)
            if numbers:
                numbers_by_type[kind] = numbered_in_chapter(numbers, chapter)
    return []


def setup(app: Sphinx) -> dict:
    # after Sphinx's TocTreeCollector (priority 500), which assigns the numbers
    app.connect("env-get-updated", renumber_by_chapter, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1.0"}
