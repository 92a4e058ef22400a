"""A table of how long each chapter's notebook takes to run, in quick and in full mode.

``{chapter-times}`` in a page (the preface) becomes a table with one row per notebook of the
table of contents, in reading order:

* **quick mode**: the notebook's execution time as this build of the book recorded it
  (myst-nb's execution data: the run that executed it, or the jupyter-cache record it reused);
  the book is built in quick mode;
* **full mode**: the time from ``results/notebook_times_full.json`` (written by
  ``book/chapter_times.py --mode full`` on a GPU machine: ``{"device": ..., "date": ...,
  "seconds": {"notebooks/04_squash": 12.3, ...}}``), or "not yet" without it (and a note
  saying how to measure it).

No time is typed by hand. The directive leaves a placeholder; the table is made after every
notebook has been executed (a post-transform, as myst-nb's own ``nb-exec-table``), and the page
is written again whenever a notebook was executed anew.
"""

from __future__ import annotations

import json
from pathlib import Path

from docutils import nodes
from sphinx.addnodes import pending_xref
from sphinx.application import Sphinx
from sphinx.transforms.post_transforms import SphinxPostTransform
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

logger = logging.getLogger(__name__)

METADATA_KEY = "has_chapter_times"
FULL_TIMES = "results/notebook_times_full.json"
MEASURE_FULL = "python book/chapter_times.py --mode full"


class chapter_times_node(nodes.General, nodes.Element):
    """Placeholder for the table, replaced once all notebooks are executed."""


def _nb_metadata(env) -> dict:
    from myst_nb.sphinx_ import NbMetadataCollector

    return NbMetadataCollector.get_doc_data(env)


class ChapterTimes(SphinxDirective):
    has_content = False

    def run(self):
        _nb_metadata(self.env)[self.env.docname][METADATA_KEY] = True
        return [chapter_times_node()]


def notebooks_in_reading_order(env) -> list[str]:
    """The documents of the toctree, depth first from the root, that myst-nb executed (notebooks)."""
    order: list[str] = []

    def walk(docname: str) -> None:
        for child in env.toctree_includes.get(docname, []):
            if child not in order:
                order.append(child)
                walk(child)

    walk(env.config.root_doc)
    return [name for name in order if env.doc2path(name, False).endswith(".ipynb")]


def format_seconds(seconds: float | None) -> str:
    """``38.2`` -> ``"38 s"``; ``150`` -> ``"2.5 min"``; ``None`` -> ``"-"``."""
    if seconds is None:
        return "-"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def load_full_times(srcdir: str | Path) -> dict | None:
    path = Path(srcdir) / FULL_TIMES
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        logger.warning(
            "chapter times: cannot read %s (%s)", path, err, type="chapter_times"
        )
        return None
    if not isinstance(data.get("seconds"), dict):
        logger.warning(
            "chapter times: %s has no 'seconds' mapping", path, type="chapter_times"
        )
        return None
    return data


def _cell(content) -> nodes.entry:
    paragraph = nodes.paragraph()
    if isinstance(content, str):
        paragraph += nodes.Text(content)
    else:
        paragraph += content
    return nodes.entry("", paragraph)


def make_table(env, page: str, full: dict | None) -> list[nodes.Node]:
    table = nodes.table(classes=["colwidths-auto", "chapter-times"])
    group = nodes.tgroup(cols=3)
    table += group
    for _ in range(3):
        group += nodes.colspec(colwidth=1)
    head = nodes.thead()
    group += head
    row = nodes.row()
    for title in ("chapter", "quick mode (this build)", "full mode (GPU)"):
        row += _cell(title)
    head += row
    body = nodes.tbody()
    group += body
    metadata = _nb_metadata(env)
    quick_total, full_total, missing_quick = 0.0, 0.0, False
    full_seconds = (full or {}).get("seconds", {})
    for docname in notebooks_in_reading_order(env):
        row = nodes.row()
        link = pending_xref(
            refdoc=page,
            reftarget="/" + docname,
            reftype="doc",
            refdomain="std",
            refexplicit=True,
            refwarn=True,
            classes=["xref", "doc"],
        )
        title = env.titles.get(docname)
        link += nodes.inline(text=title.astext() if title is not None else docname)
        row += _cell(link)
        quick = (metadata.get(docname, {}).get("exec_data") or {}).get("runtime")
        missing_quick |= quick is None
        quick_total += quick or 0.0
        row += _cell(format_seconds(quick))
        seconds = full_seconds.get(docname)
        full_total += seconds or 0.0
        row += _cell(format_seconds(seconds) if full else "not yet")
        body += row
    row = nodes.row()
    row += _cell(nodes.strong(text="all chapters"))
    row += _cell(
        nodes.strong(text=format_seconds(None if missing_quick else quick_total))
    )
    row += _cell(nodes.strong(text=format_seconds(full_total) if full else "-"))
    body += row
    if full:
        where = f"full mode: measured on {full.get('device', 'an unnamed device')}, {full.get('date', 'undated')}."
    else:
        where = (
            f"Full mode has not been measured yet: `{MEASURE_FULL}` on a GPU machine runs every "
            f"notebook in full mode and writes {FULL_TIMES}, which this table then shows."
        )
    note = nodes.paragraph(classes=["chapter-times-note"])
    note += nodes.Text(
        "Quick mode: the execution time of each notebook in the run that built this book "
        "(a CPU; the notebooks are executed once and cached by jupyter-cache). " + where
    )
    return [table, note]


class ChapterTimesTransform(SphinxPostTransform):
    default_priority = (
        8  # before the references (10) are resolved, like myst-nb's nb-exec-table
    )

    def run(self, **kwargs) -> None:
        nodes_found = list(self.document.findall(chapter_times_node))
        if not nodes_found:
            return
        full = load_full_times(self.app.srcdir)
        for node in nodes_found:
            node.replace_self(make_table(self.env, self.env.docname, full))


def pages_with_the_table(app: Sphinx, env) -> list[str]:
    """Write the pages with the table again when a notebook was executed in this build."""
    from myst_nb.sphinx_ import NbMetadataCollector

    if not NbMetadataCollector.new_exec_data(env):
        return []
    return [name for name, data in _nb_metadata(env).items() if data.get(METADATA_KEY)]


def setup(app: Sphinx) -> dict:
    app.add_node(chapter_times_node)
    app.add_directive("chapter-times", ChapterTimes)
    app.add_post_transform(ChapterTimesTransform)
    app.connect("env-updated", pages_with_the_table)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1.0"}
