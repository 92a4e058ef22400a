"""The book's own Sphinx extensions (``_ext/``), on a tiny book built with this repository's configuration.

* ``exercise_numbers``: an exercise box on ``notebooks/NN_*`` reads "Exercise N.k" (the appendix "A.k"),
  k its position on the page; the solution's title and a ``{numref}`` say the same; an exercise on a
  page without a chapter number fails the build under ``--warningiserror``.
* ``figure_numbers``: figures and tables on ``notebooks/NN_*`` read "Fig. N.k", as the exercises do.
* ``figure_images``: a numbered figure whose cell output is text, not a picture, fails the build.
* ``hidden_plumbing``: a solution check and a glue-only cell run but do not show on the page,
  with no tag in the notebook; and (``nb_merge_streams`` in ``_config.yml``) what one cell
  prints in several flushes shows in one box.
* ``chapter_times``: the preface's table lists every notebook in reading order with the time this
  build took to run it, and the full-mode time from ``results/notebook_times_full.json`` when it
  exists ("not yet" otherwise, with a note on how to measure it).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "_ext"))
import chapter_times  # noqa: E402
import exercise_numbers  # noqa: E402
from tiny_book import copy_configuration  # noqa: E402  (tests/book: beside this file)

FLAGS = ["--warningiserror", "--keep-going"]


def test_chapter_of_a_page():
    assert exercise_numbers.chapter_of("notebooks/00_setup") == "0"
    assert exercise_numbers.chapter_of("notebooks/04_squash") == "4"
    assert exercise_numbers.chapter_of("notebooks/11_beyond_routing") == "11"
    assert exercise_numbers.chapter_of("notebooks/appendix_fashion_mnist") == "A"
    assert exercise_numbers.chapter_of("notebooks/appendix_cpu_precision") == "B"
    assert exercise_numbers.chapter_of("notebooks/appendix_extra") == "A"
    assert exercise_numbers.chapter_of("book/preface") is None
    assert exercise_numbers.chapter_of("book/how_to_use") is None


def test_every_notebook_of_the_book_has_a_chapter_number():
    for path in sorted((REPO / "notebooks").glob("*.ipynb")):
        number = exercise_numbers.chapter_of(f"notebooks/{path.stem}")
        assert number == (
            chr(ord("A") + exercise_numbers.APPENDICES.index(path.stem))
            if path.stem.startswith("appendix")
            else str(int(path.stem[:2]))
        ), path.name


def test_format_seconds():
    assert chapter_times.format_seconds(None) == "-"
    assert chapter_times.format_seconds(38.4) == "38 s"
    assert chapter_times.format_seconds(150) == "2.5 min"
    assert chapter_times.format_seconds(2 * 3600) == "2.0 h"


def _notebook(title: str, code: str, markdown: str = "") -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = [
        nbformat.v4.new_markdown_cell(f"# {title}\n\n{markdown}"),
        nbformat.v4.new_code_cell(code),
    ]
    return nb


FIGURES_03 = """```{figure} ../_static/colab-badge.svg
:name: fig-03-one

One.
```

```{figure} ../_static/colab-badge.svg
:name: fig-03-two

Two.
```

"""

EXERCISES_03 = (
    FIGURES_03
    + """```{exercise} Alpha
:label: ex-03-a

Do alpha.
```

```{solution} ex-03-a
:class: dropdown

Alpha done.
```

```{exercise} Beta
:label: ex-03-b

Do beta.
```
"""
)


# Cells the reader must not see (no tags: hidden_plumbing tags them), and one whose prints,
# flushed apart, arrive as several stream messages.
PLUMBING_CELLS = [
    "# check the reference solution (the code of the hidden solution above)\n"
    "ANSWER_SHOWN = 'secret-answer-42'\nassert ANSWER_SHOWN",
    "from capsbook.glue import glue\n\nglue('tiny_value', 'glued-value-7', display=False)",
    "import sys, time\nfor i in range(3):\n"
    "    print(f'streamline-{i}')\n    sys.stdout.flush()\n    time.sleep(0.3)",
]


def _tiny_book(
    root: Path, *, extra_page: str | None = None, full_times: dict | None = None
) -> Path:
    copy_configuration(root)
    (root / "notebooks").mkdir()
    nbformat.write(
        _notebook(
            "3. First", "import time\ntime.sleep(1.2)\nprint('slept')", EXERCISES_03
        ),
        root / "notebooks" / "03_first.ipynb",
    )
    second = _notebook(
        "12. Second",
        "print(1 + 1)",
        "```{exercise} Gamma\n:label: ex-12-a\n\nDo gamma.\n```\n\n"
        "```{exercise} Delta\n:label: ex-12-b\n\nDo delta.\n```\n",
    )
    second.cells += [nbformat.v4.new_code_cell(source) for source in PLUMBING_CELLS]
    nbformat.write(second, root / "notebooks" / "12_second.ipynb")
    nbformat.write(
        _notebook(
            "Appendix: extra",
            "print('A')",
            "```{exercise} Epsilon\n:label: ex-a-a\n\nDo.\n```\n",
        ),
        root / "notebooks" / "appendix_extra.ipynb",
    )
    (root / "index.md").write_text(
        "# Index\n\nSee {numref}`ex-12-b` and {numref}`ex-03-a`, {numref}`fig-03-two`.\n\n"
        "```{chapter-times}\n```\n"
    )
    chapters = ["notebooks/03_first", "notebooks/12_second"]
    if extra_page:
        (root / "loose.md").write_text(extra_page)
        chapters.append("loose")
    toc = (
        "format: jb-book\nroot: index\nparts:\n  - caption: One\n    chapters:\n"
        + "".join(f"      - file: {c}\n" for c in chapters)
        + "  - caption: Appendices\n    chapters:\n      - file: notebooks/appendix_extra\n"
    )
    (root / "_toc.yml").write_text(toc)
    if full_times is not None:
        (root / "results").mkdir()
        (root / "results" / "notebook_times_full.json").write_text(
            json.dumps(full_times)
        )
    return root


def _build(root: Path) -> subprocess.CompletedProcess:
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    return subprocess.run(
        [str(jupyter_book), "build", str(root), *FLAGS],
        capture_output=True,
        text=True,
        timeout=600,
    )


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


@pytest.fixture(scope="module")
def tiny_book(tmp_path_factory):
    root = _tiny_book(tmp_path_factory.mktemp("tiny"))
    result = _build(root)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    return root / "_build" / "html"


@pytest.mark.slow
def test_exercise_boxes_are_numbered_by_chapter(tiny_book):
    first = (tiny_book / "notebooks" / "03_first.html").read_text()
    second = (tiny_book / "notebooks" / "12_second.html").read_text()
    appendix = (tiny_book / "notebooks" / "appendix_extra.html").read_text()
    titles = lambda html: re.findall(
        r'<span class="caption-number">(Exercise [^<]*?) </span>', html
    )  # noqa: E731
    assert titles(first) == ["Exercise 3.1", "Exercise 3.2"]
    assert titles(second) == ["Exercise 12.1", "Exercise 12.2"]
    assert titles(appendix) == ["Exercise A.1"]
    assert "Solution to Exercise 3.1 (Alpha)" in _text(first)
    index = _text((tiny_book / "index.html").read_text())
    assert "See Exercise 12.2 and Exercise 3.1" in index


@pytest.mark.slow
def test_figures_are_numbered_by_chapter(tiny_book):
    first = (tiny_book / "notebooks" / "03_first.html").read_text()
    assert re.findall(
        r'<span class="caption-number">(Fig\. [^<]*?) </span>', first
    ) == ["Fig. 3.1", "Fig. 3.2"]
    assert "Fig. 3.2" in _text((tiny_book / "index.html").read_text()), (
        "a {numref} says the same"
    )


@pytest.mark.slow
def test_chapter_times_table_lists_the_notebooks_with_this_builds_times(tiny_book):
    html = (tiny_book / "index.html").read_text()
    table = html[html.index('class="chapter-times') :]
    table = table[: table.index("</table>")]
    rows = [
        _text(row).strip() for row in re.findall(r"<tr[^>]*>(.*?)</tr>", table, re.S)
    ]
    assert rows[0] == "chapter quick mode (this build) full mode (GPU)"
    assert [r.split(" ")[0] for r in rows[1:4]] == ["3.", "12.", "Appendix:"], (
        rows
    )  # reading order
    seconds = int(re.search(r"3\. First (\d+) s", rows[1]).group(1))
    assert seconds >= 1, "the first notebook sleeps 1.2 s"
    assert all(r.endswith("not yet") for r in rows[1:4])
    assert rows[4].startswith("all chapters")
    assert "Full mode has not been measured yet" in _text(html)


@pytest.mark.slow
def test_chapter_times_show_a_full_mode_measurement(tmp_path):
    full = {
        "device": "NVIDIA Test GPU",
        "date": "2026-12-01",
        "seconds": {"notebooks/03_first": 125.0, "notebooks/12_second": 30.0},
    }
    root = _tiny_book(tmp_path / "book", full_times=full)
    result = _build(root)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    text = _text((root / "_build" / "html" / "index.html").read_text())
    assert re.search(r"3\. First \d+ s 2\.1 min", text), text
    assert re.search(r"12\. Second \d+ s 30 s", text)
    assert re.search(r"all chapters \d+ s 2\.6 min", text)
    assert "measured on NVIDIA Test GPU, 2026-12-01" in text


@pytest.mark.slow
def test_an_exercise_outside_a_chapter_fails_the_build(tmp_path):
    root = _tiny_book(
        tmp_path / "book",
        extra_page="# Loose\n\n```{exercise} Stray\n:label: ex-loose\n\nX.\n```\n",
    )
    result = _build(root)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "a page without a chapter number" in output and "'loose'" in output, output[
        -3000:
    ]


@pytest.mark.slow
def test_a_figure_whose_cell_prints_text_fails_the_build(tmp_path):
    root = _tiny_book(tmp_path / "book")
    nb = _notebook(
        "12. Second",
        "'<Figure size 750x460 with 1 Axes>'  # the repr of a Figure nobody showed",
    )
    nb.cells[1].metadata["mystnb"] = {
        "figure": {"caption": "A diagram.", "name": "fig-12-diagram"}
    }
    nbformat.write(nb, root / "notebooks" / "12_second.ipynb")
    result = _build(root)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert (
        "figure fig-12-diagram shows no image" in output
        and "<Figure size 750x460" in output
    ), output[-3000:]


@pytest.mark.slow
def test_plumbing_cells_run_but_do_not_show(tiny_book):
    sys.path.insert(0, str(REPO / "tests" / "book" / "browser"))
    import pagecheck

    html = (tiny_book / "notebooks" / "12_second.html").read_text()
    assert "secret-answer-42" not in html, "the solution check is shown"
    assert "tiny_value" not in html, "the glue-only cell is shown"
    assert pagecheck.visible_plumbing(html) == []
    assert "Do gamma." in html, "the rest of the page is there"


@pytest.mark.slow
def test_one_cells_prints_are_one_box(tiny_book):
    sys.path.insert(0, str(REPO / "tests" / "book" / "browser"))
    import pagecheck

    html = (tiny_book / "notebooks" / "12_second.html").read_text()
    assert all(f"streamline-{i}" in html for i in range(3))
    assert pagecheck.split_streams(html) == []
    box = html[html.index("streamline-0") :]
    assert "streamline-2" in box[: box.index("</pre>")], "the three lines share a box"
