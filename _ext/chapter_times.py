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
import re
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
    row += _cell(nodes.strong(text=format_seconds(full_total) if full else "not yet"))
    body += row
    if full:
        where = f"full mode: measured on {full.get('device', 'an unnamed device')}, {full.get('date', 'undated')}."
    else:
        # the reader's words only: how to measure it is for maintainers (MEASURE_FULL)
        where = (
            "Full mode has not been measured yet: it is meant for a GPU, and no GPU "
            "was available to this book."
        )
    note = nodes.paragraph(classes=["chapter-times-note"])
    note += nodes.Text(
        "Quick mode: the time each notebook took to run in the build of this book, "
        f"on {build_machine_words()}, which may be shared. " + where
    )
    return [table, note]


def build_machine_words() -> str:
    """The CPU that builds the book, as the shipped-models table names CPUs:
    ``"an AMD EPYC CPU with 2 cores"`` (read from the machine, never typed)."""
    import os

    from capslib.runtime import cpu_model

    model = " ".join(_TRADEMARKS.sub("", cpu_model()[0] or "").split())
    cores = os.cpu_count()
    cpu = f"an {model} CPU" if model[:1] in "AEIOU" else f"a {model} CPU"
    if not model:
        cpu = "a CPU"
    return f"{cpu} with {cores} core{'' if cores == 1 else 's'}" if cores else cpu


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


# -- the shipped models' table (the preface) ------------------------------------------
#
# ``{shipped-models}`` takes one line per model, ``name | network | trained on | paper |
# used in`` (``paper``: the published figure, cited in the page), and becomes a table
# whose other cells are read from the summary that ships with the weights
# (``capslib.pretrained.info``): the network's size, the test accuracy (float32 and the
# shipped float16 weights) and the training time, with the CPU and the number format.
# None of them is typed in the page.

_THREADS = re.compile(r"\((\d+) threads?")
_TRADEMARKS = re.compile(r"\((?:R|TM)\)|\bProcessor\b|\bCPU\b")


def hardware_words(device_name: str | None) -> str:
    """``"CPU Intel(R) Xeon(R) Processor (2 threads, ...)"`` -> ``"Intel Xeon CPU, 2 threads"``.

    The maker and family are kept: two CPUs of different makes are not comparable.
    """
    if not device_name:
        return "unrecorded hardware"
    if device_name.startswith("CPU"):
        name = " ".join(_TRADEMARKS.sub("", device_name.split(" (", 1)[0]).split())
        threads = _THREADS.search(device_name)
        cpu = f"{name} CPU" if name else "a CPU"
        if threads:
            n = int(threads.group(1))
            cpu += f", {n} thread" + ("" if n == 1 else "s")
        return cpu
    return device_name


def number_format(summary: dict) -> str:
    """The number format the run trained in: the recorded ``dtype``, else float32.

    A summary without ``dtype`` comes from a trainer whose ``auto`` meant plain float32
    on a CPU (bfloat16 only on a GPU); ``dtype`` was recorded once ``auto`` could pick
    bfloat16 on a CPU too.
    """
    dtype = summary.get("dtype")
    if dtype:
        return dtype
    chosen = (summary.get("config") or {}).get("dtype", "auto")
    return "float32" if chosen in ("auto", "float32") else chosen


def _percent(value: float | None) -> str:
    return "not recorded" if value is None else f"{100 * value:.2f}%"


def shipped_model_cells(summary: dict) -> tuple[str, str]:
    """``(test accuracy, training time)`` as a reader reads them, from a run summary.

    The accuracy is the trained model's (float32 weights); where the summary records
    the accuracy of the shipped float16 weights too, both are given, named.
    """
    accuracy = summary.get("test_accuracy")
    seconds = summary.get("wall_time_s")
    accuracy_text = _percent(accuracy)
    if accuracy is not None and summary.get("test_accuracy_float16") is not None:
        accuracy_text = (
            f"{accuracy_text} as trained; "
            f"{_percent(summary['test_accuracy_float16'])} shipped float16"
        )
    if seconds is None:
        time_text = "not recorded"
    else:
        epochs = summary.get("epochs")
        per = f"{epochs} epochs; " if epochs else ""
        time_text = (
            f"{format_seconds(seconds)} ({per}"
            f"{hardware_words(summary.get('device_name'))}, {number_format(summary)})"
        )
    return accuracy_text, time_text


def parameters_words(summary: dict) -> str:
    """``8215568`` -> ``"8.2 M parameters"`` (``""`` when not recorded)."""
    n = summary.get("parameters")
    return f"{n / 1e6:.1f} M parameters" if n else ""


class ShippedModels(SphinxDirective):
    has_content = True

    def run(self):
        from capslib import pretrained

        header = (
            "name",
            "network, trained on",
            "test accuracy (ours)",
            "paper",
            "training time",
            "used in",
        )
        table = nodes.table(classes=["colwidths-auto", "shipped-models"])
        group = nodes.tgroup(cols=len(header))
        table += group
        for _ in header:
            group += nodes.colspec(colwidth=1)
        head = nodes.thead()
        group += head
        row = nodes.row()
        for title in header:
            row += _cell(title)
        head += row
        body = nodes.tbody()
        group += body
        for line in self.content:
            if not line.strip():
                continue
            fields = [f.strip() for f in line.split("|")]
            if len(fields) != 5:
                raise self.error(
                    "shipped-models: expected 'name | network | trained on | paper"
                    f" | used in', got {line!r}"
                )
            name, network, data, paper, used = fields
            try:
                summary = pretrained.info(name)["summary"]
            except Exception as err:  # a name the manifest lacks: say so in the build
                raise self.error(
                    f"shipped-models: no shipped model {name!r} ({err})"
                ) from err
            accuracy, seconds = shipped_model_cells(summary)
            size = parameters_words(summary)
            row = nodes.row()
            row += _cell(nodes.literal(text=name))
            described = f"{network}, {size}" if size else network
            for text in (
                f"{described}, on {data}",
                accuracy,
                paper,
                seconds,
                used,
            ):
                row += _cell(text)
            body += row
        return [table]


def shipped_time_role(name, rawtext, text, lineno, inliner, options=None, content=None):
    """``{shipped-time}`mnist-capsnet``` -> "3.0 h (20 epochs; Intel Xeon CPU, 2 threads,
    float32)": a shipped
    model's recorded training time, read from its summary, never typed."""
    from capslib import pretrained

    try:
        summary = pretrained.info(text.strip())["summary"]
    except Exception as err:
        message = inliner.reporter.error(
            f"shipped-time: no shipped model {text!r} ({err})", line=lineno
        )
        return [inliner.problematic(rawtext, rawtext, message)], [message]
    return [nodes.Text(shipped_model_cells(summary)[1])], []


def setup(app: Sphinx) -> dict:
    app.add_node(chapter_times_node)
    app.add_directive("chapter-times", ChapterTimes)
    app.add_directive("shipped-models", ShippedModels)
    app.add_role("shipped-time", shipped_time_role)
    app.add_post_transform(ChapterTimesTransform)
    app.connect("env-updated", pages_with_the_table)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1.0"}
