"""The rendered book, tested in a real browser (headless Chromium driven by Playwright).

Every page of the table of contents is opened from ``_build/html`` (served on localhost, every
request to another origin blocked) and checked as a reader would see it: it loads without
errors and offline, its equations are typeset, its images and figures appear, its exercise
solutions are hidden until clicked, a notebook page links to itself on Colab, its links
resolve; the search finds "squash"; a screenshot of every page is saved in ``_build/screenshots``.

The negative tests break one thing in a copy of a built page (MathJax files removed, a CDN
script, an image with a bad address or hidden, a solution un-hidden, ...) and show that the
same check functions (``tests/book/browser/bookcheck.py``) report it.

Needs a built book: ``make book`` (``make test`` builds a fresh one first). Without it these
tests fail and say so. ``CAPSLIB_BOOK_ROOT`` points them at another book folder (with its own
``_build``), e.g. a copy built in /tmp.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent / "browser"))
import bookcheck  # noqa: E402  (tests/book/browser is not a package: it holds the checker and its fixtures)
from tiny_book import copy_configuration  # noqa: E402  (tests/book: beside this file)

REPO = Path(__file__).resolve().parents[2]
BOOK_ROOT = Path(os.environ.get("CAPSLIB_BOOK_ROOT", REPO)).resolve()
BUILD = BOOK_ROOT / "_build"
HTML = BUILD / "html"
SCREENSHOTS = BUILD / "screenshots"
DOCNAMES = bookcheck.toc_docnames(BOOK_ROOT / "_toc.yml")
NOTEBOOKS = [name for name in DOCNAMES if (BOOK_ROOT / f"{name}.ipynb").exists()]
SEARCH_TERM = "squash"

browser_test = pytest.mark.browser


def _repository() -> tuple[str, str, str]:
    """(url, branch, path_to_book) from the book's ``_config.yml``."""
    config = yaml.safe_load((BOOK_ROOT / "_config.yml").read_text(encoding="utf-8"))
    repository = config.get("repository", {})
    path = (repository.get("path_to_book") or "").strip("/")
    return (
        repository["url"],
        repository.get("branch", "main"),
        f"{path}/" if path else "",
    )


def expected_colab_url(docname: str) -> str:
    url, branch, path_to_book = _repository()
    return bookcheck.colab_url(url, branch, f"{path_to_book}{docname}.ipynb")


def require_built_book(html: Path = HTML, docnames: list[str] = DOCNAMES) -> None:
    """Fail (not skip) when the book has not been built: the browser tests need it."""
    if not (html / "index.html").exists():
        pytest.fail(
            f"no built book at {html}: run `make book` first (or `make test`, which builds a fresh one)"
        )
    missing = [name for name in docnames if not (html / f"{name}.html").exists()]
    if missing:
        pytest.fail(
            f"the built book at {html} lacks pages of _toc.yml: {missing}; run `make book` first"
        )


# --------------------------------------------------------------------------- fixtures


# ``browser`` and ``context`` (one Chromium for the session) are in tests/book/conftest.py, shared with
# tests/book/test_browser_slider.py.


class BuiltBook:
    """The built book served on localhost; each page is visited once and all checks recorded."""

    def __init__(self, context, html: Path = HTML):
        self.context = context
        self.html = html
        self.links = bookcheck.LinkChecker()
        self._stack = contextlib.ExitStack()
        self._base_url: str | None = None
        self._reports: dict[str, dict[str, list[str]]] = {}

    @property
    def base_url(self) -> str:
        require_built_book(self.html)
        if self._base_url is None:
            self._base_url = self._stack.enter_context(bookcheck.serve(self.html))
        return self._base_url

    def close(self) -> None:
        self._stack.close()

    def report(self, docname: str) -> dict[str, list[str]]:
        """{check name: problems} for one page of the book (visited on first use)."""
        if docname not in self._reports:
            self._reports[docname] = self._check_page(docname)
        return self._reports[docname]

    def _check_page(self, docname: str) -> dict[str, list[str]]:
        record = bookcheck.visit(self.context, f"{self.base_url}{docname}.html")
        page, source = record.page, bookcheck.source_of(BOOK_ROOT, docname)
        try:
            problems = {
                "math": bookcheck.check_math_typeset(
                    page, expect_math=bookcheck.source_has_math(source)
                ),
                "images": bookcheck.check_images_loaded(page),
                "links": self.links.check(bookcheck.page_links(page)),
                "code": bookcheck.check_code_fits(page),
            }
            if docname in NOTEBOOKS:
                executed = bookcheck.executed_notebook(BUILD, BOOK_ROOT, docname)
                if (
                    executed is None
                ):  # never weaken the figure check to "some figure": say what is missing
                    problems["figures"] = [
                        f"no executed copy of {docname} in {BUILD / '.jupyter_cache'} or "
                        f"{BUILD / 'jupyter_execute'}: rebuild the book (make book) first"
                    ]
                else:
                    problems["figures"] = bookcheck.check_figures(
                        page,
                        bookcheck.figure_outputs(executed),
                        bookcheck.source_plots(source),
                    )
                problems["colab"] = bookcheck.check_colab_link(
                    page, expected_colab_url(docname)
                )
            bookcheck.save_screenshot(
                page, SCREENSHOTS / bookcheck.screenshot_name(docname)
            )
            problems["solutions"] = bookcheck.check_solutions_hidden_until_clicked(
                page, bookcheck.source_solution_count(source)
            )
            # last, so that errors raised by opening the solutions count too
            problems["errors"] = bookcheck.check_loads_cleanly(record)
            problems["offline"] = bookcheck.check_offline(record)
        finally:
            page.close()
        return problems


@pytest.fixture(scope="session")
def book(context):
    built = BuiltBook(context)
    yield built
    built.close()


def assert_no_problems(docname: str, problems: list[str]) -> None:
    assert not problems, f"{docname}:\n  " + "\n  ".join(problems)


# --------------------------------------------------------------------------- the built book


@browser_test
def test_every_page_of_the_toc_was_built():
    require_built_book()


@browser_test
@pytest.mark.parametrize("docname", DOCNAMES)
def test_page_loads_without_errors(book, docname):
    assert_no_problems(docname, book.report(docname)["errors"])


@browser_test
@pytest.mark.parametrize("docname", DOCNAMES)
def test_page_fetches_nothing_from_another_origin(book, docname):
    assert_no_problems(docname, book.report(docname)["offline"])


@browser_test
@pytest.mark.parametrize("docname", DOCNAMES)
def test_equations_are_typeset(book, docname):
    assert_no_problems(docname, book.report(docname)["math"])


@browser_test
@pytest.mark.parametrize("docname", DOCNAMES)
def test_images_load(book, docname):
    assert_no_problems(docname, book.report(docname)["images"])


@browser_test
@pytest.mark.parametrize("docname", NOTEBOOKS)
def test_notebook_figures_appear(book, docname):
    assert_no_problems(docname, book.report(docname)["figures"])


@browser_test
@pytest.mark.parametrize("docname", DOCNAMES)
def test_solutions_are_hidden_until_clicked(book, docname):
    assert_no_problems(docname, book.report(docname)["solutions"])


@browser_test
@pytest.mark.parametrize("docname", NOTEBOOKS)
def test_notebook_page_links_to_itself_on_colab(book, docname):
    assert_no_problems(docname, book.report(docname)["colab"])


@browser_test
@pytest.mark.parametrize("docname", DOCNAMES)
def test_internal_links_resolve(book, docname):
    assert_no_problems(docname, book.report(docname)["links"])


@browser_test
@pytest.mark.parametrize("docname", DOCNAMES)
def test_code_fits_the_page(book, docname):
    assert_no_problems(docname, book.report(docname)["code"])


@browser_test
@pytest.mark.parametrize("docname", DOCNAMES)
def test_screenshot_saved(book, docname):
    book.report(docname)
    path = SCREENSHOTS / bookcheck.screenshot_name(docname)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"


@browser_test
def test_search_finds_squash(book, context):
    assert_no_problems(
        "search.html", bookcheck.check_search(context, book.base_url, SEARCH_TERM)
    )


@browser_test
def test_the_book_has_math_figures_and_solutions(book):
    """The checks above are not vacuous: the book has typeset math, figures and hidden solutions."""
    require_built_book()
    pages = {
        name: (HTML / f"{name}.html").read_text(encoding="utf-8") for name in DOCNAMES
    }
    assert any('class="math' in text for text in pages.values()), (
        "no page of the book has math"
    )
    assert any(
        re.search(r'class="cell_output[^"]*".*?<img', text, re.S)
        for text in pages.values()
    ), "no notebook page of the book shows a figure"
    assert any('class="solution dropdown' in text for text in pages.values()), (
        "no page has a hidden solution"
    )


# --------------------------------------------------------------------------- negative tests
# Each breaks one thing in a copy of a built page (the template chapter: it has math, figures
# and solutions) and shows that the corresponding check reports it. The copy links to the
# original files except the broken ones, so the original build is never touched.


@pytest.fixture(scope="module")
def template():
    """The first notebook page of the book with math, a figure and a hidden solution."""
    require_built_book()
    for name in NOTEBOOKS:
        text = (HTML / f"{name}.html").read_text(encoding="utf-8")
        if (
            'class="math' in text
            and 'class="solution dropdown' in text
            and re.search(r'class="cell_output[^"]*".*?<img', text, re.S)
        ):
            return name
    pytest.fail(
        "no notebook page has math, a figure and a hidden solution (the template chapter should)"
    )


@pytest.fixture
def broken_copy(tmp_path, context):
    """make(omit=(), change=None) -> (visit of the template page in a broken copy, base URL)."""
    stack = contextlib.ExitStack()

    def make(docname: str, omit=(), change=None):
        site = bookcheck.mirror(HTML, tmp_path / "site", omit=omit)
        if change is not None:
            bookcheck.write_variant(site, f"{docname}.html", change)
        base_url = stack.enter_context(bookcheck.serve(site))
        record = bookcheck.visit(context, f"{base_url}{docname}.html")
        stack.callback(record.page.close)
        return record, base_url

    yield make
    stack.close()


def _insert_into_article(html: str, fragment: str) -> str:
    """Put an HTML fragment right after the title of the page's article."""
    return re.sub(
        r"(<article.*?</h1>)",
        lambda m: m.group(1) + fragment,
        html,
        count=1,
        flags=re.S,
    )


def _first_figure_src(html: str) -> str:
    """The src="..." attribute of the first figure (notebook output image) of the page."""
    match = re.search(
        r'class="cell_output[^"]*".*?<img[^>]*\b(src="[^"]+")', html, re.S
    )
    assert match, "the template page has no figure"
    return match.group(1)


@browser_test
def test_an_unbroken_copy_passes_every_check(broken_copy, template):
    """The control: the copy itself breaks nothing, so each failure below comes from its change."""
    record, _ = broken_copy(template)
    executed = bookcheck.executed_notebook(BUILD, BOOK_ROOT, template)
    source = bookcheck.source_of(BOOK_ROOT, template)
    assert bookcheck.check_math_typeset(record.page, expect_math=True) == []
    assert bookcheck.check_images_loaded(record.page) == []
    assert (
        bookcheck.check_figures(record.page, bookcheck.figure_outputs(executed), True)
        == []
    )
    assert bookcheck.check_colab_link(record.page, expected_colab_url(template)) == []
    assert (
        bookcheck.check_solutions_hidden_until_clicked(
            record.page, bookcheck.source_solution_count(source)
        )
        == []
    )
    assert bookcheck.check_loads_cleanly(record) == []
    assert bookcheck.check_offline(record) == []


@browser_test
def test_removed_mathjax_files_are_caught(broken_copy, template):
    record, _ = broken_copy(template, omit=["_static/mathjax"])
    problems = bookcheck.check_math_typeset(record.page, expect_math=True)
    assert any("not typeset" in problem for problem in problems), problems
    assert any(
        "tex-chtml.js" in problem for problem in bookcheck.check_loads_cleanly(record)
    )


@browser_test
def test_mathjax_from_a_cdn_is_caught(broken_copy, template):
    """The default Jupyter Book page: MathJax from jsdelivr, which offline shows raw TeX."""
    cdn = "https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js"
    record, _ = broken_copy(
        template,
        change=lambda html: re.sub(
            r'src="[^"]*_static/mathjax/tex-chtml\.js[^"]*"', f'src="{cdn}"', html
        ),
    )
    assert bookcheck.check_offline(record) == [
        f"request to another origin (the book must work offline): {cdn}"
    ]
    assert any(
        "not typeset" in problem
        for problem in bookcheck.check_math_typeset(record.page)
    )


@browser_test
def test_raw_tex_in_the_text_is_caught(broken_copy, template):
    """TeX that MathJax did not take (here its closing $$ is lost) stays visible as raw text."""
    record, _ = broken_copy(
        template,
        change=lambda html: _insert_into_article(
            html,
            r"<p>The squash is $$\frac{\|s\|^2}{1 + \|s\|^2} with its closing delimiter lost.</p>",
        ),
    )
    problems = bookcheck.check_math_typeset(record.page, expect_math=True)
    assert any(
        "raw TeX visible" in problem and "$$" in problem and "frac" in problem
        for problem in problems
    ), problems


@browser_test
def test_stray_dollar_beside_an_equation_is_caught(broken_copy, template):
    """What MyST makes of "text:\\n$$x$$" inside a paragraph: inline math with a "$" left on each side."""
    record, _ = broken_copy(
        template,
        change=lambda html: _insert_into_article(
            html,
            '<p>The length:\n$<span class="math notranslate nohighlight">\\(\\|v\\|\\)</span>$</p>',
        ),
    )
    problems = bookcheck.check_math_typeset(record.page, expect_math=True)
    assert len(problems) == 1 and problems[0].startswith(
        "stray '$' beside an equation"
    ), problems


@browser_test
def test_image_with_a_bad_address_is_caught(broken_copy, template):
    def break_figure(html):
        return html.replace(
            _first_figure_src(html), 'src="../_images/no-such-figure.png"', 1
        )

    record, _ = broken_copy(template, change=break_figure)
    assert any(
        "no-such-figure.png" in p for p in bookcheck.check_images_loaded(record.page)
    )
    assert any(
        "not loaded" in p for p in bookcheck.check_figures(record.page, expected=1)
    )
    assert any(
        "no-such-figure.png" in p and "404" in p
        for p in bookcheck.check_loads_cleanly(record)
    )


@browser_test
def test_code_wider_than_the_page_is_caught(broken_copy, template):
    long_line = "total = " + " + ".join(f"x{i}" for i in range(30))  # 210 columns

    def widen_code(html):  # the first code cell's input (outputs wrap instead)
        start = html.index('class="cell_input')
        at = html.index('<div class="highlight"><pre>', start)
        at += len('<div class="highlight"><pre>')
        return html[:at] + long_line + "\n" + html[at:]

    record, _ = broken_copy(template, change=widen_code)
    problems = bookcheck.check_code_fits(record.page)
    assert len(problems) == 1 and "total = x0" in problems[0], problems


@browser_test
def test_hidden_image_is_caught(broken_copy, template):
    def hide_figure(html):
        src = _first_figure_src(html)
        return html.replace(src, f'{src} style="display: none"', 1)

    record, _ = broken_copy(template, change=hide_figure)
    assert any("hidden" in p for p in bookcheck.check_images_loaded(record.page))
    assert any("hidden" in p for p in bookcheck.check_figures(record.page, expected=1))


@browser_test
def test_missing_figure_is_caught(broken_copy, template):
    def drop_figures(html):
        return re.sub(
            r'(class="cell_output[^"]*".*?)<img[^>]*>', r"\1", html, count=1, flags=re.S
        )

    record, _ = broken_copy(template, change=drop_figures)
    executed = bookcheck.executed_notebook(BUILD, BOOK_ROOT, template)
    expected = bookcheck.figure_outputs(executed)
    problems = bookcheck.check_figures(record.page, expected)
    assert (
        f"the executed notebook has {expected} figure(s), the page shows {expected - 1}"
        in problems
    )
    # and a notebook whose code plots but whose build drew nothing (MPLBACKEND=Agg in the kernel)
    record.page.evaluate(
        "() => document.querySelectorAll('.cell_output img').forEach(i => i.remove())"
    )
    assert any(
        "MPLBACKEND" in p
        for p in bookcheck.check_figures(record.page, 0, source_plots=True)
    )


@browser_test
def test_unhidden_solution_is_caught(broken_copy, template):
    record, _ = broken_copy(
        template,
        change=lambda html: html.replace(
            'class="solution dropdown admonition"', 'class="solution admonition"', 1
        ),
    )
    problems = bookcheck.check_solutions_hidden_until_clicked(record.page)
    assert len(problems) == 1 and "visible before it is clicked" in problems[0], (
        problems
    )


@browser_test
def test_solution_that_does_not_open_is_caught(broken_copy, template):
    record, _ = broken_copy(
        template,
        change=lambda html: html.replace(
            "</head>",
            "<style>.solution > section { display: none !important; }</style></head>",
            1,
        ),
    )
    problems = bookcheck.check_solutions_hidden_until_clicked(
        record.page, timeout_ms=1000
    )
    assert problems and all("still hidden after a click" in p for p in problems), (
        problems
    )


@browser_test
def test_solution_missing_from_the_page_is_caught(broken_copy, template):
    record, _ = broken_copy(template)
    count = bookcheck.source_solution_count(bookcheck.source_of(BOOK_ROOT, template))
    problems = bookcheck.check_solutions_hidden_until_clicked(
        record.page, expected=count + 1
    )
    assert problems == [f"the source has {count + 1} solution(s), the page has {count}"]


@browser_test
def test_colab_link_to_another_notebook_is_caught(broken_copy, template):
    own = expected_colab_url(template)
    other = own.replace(f"{template}.ipynb", "notebooks/some_other_chapter.ipynb")
    record, _ = broken_copy(template, change=lambda html: html.replace(own, other))
    problems = bookcheck.check_colab_link(record.page, own)
    assert any(p.startswith("no Colab launch link") for p in problems)
    assert f"Colab link to another notebook: {other}" in problems


@browser_test
def test_broken_internal_links_are_caught(broken_copy, template):
    record, base_url = broken_copy(
        template,
        change=lambda html: _insert_into_article(
            html,
            '<p><a href="no-such-chapter.html">gone</a> <a href="#no-such-section">nowhere</a></p>',
        ),
    )
    problems = bookcheck.LinkChecker().check(bookcheck.page_links(record.page))
    page_url = f"{base_url}{template}.html"
    assert sorted(problems) == sorted(
        [
            f"broken link (404): {base_url}{Path(template).parent.as_posix()}/no-such-chapter.html",
            f"broken anchor: {page_url}#no-such-section (no id 'no-such-section' in the target)",
        ]
    )


@browser_test
def test_script_error_is_caught(broken_copy, template):
    record, _ = broken_copy(
        template,
        change=lambda html: html.replace(
            "</body>",
            "<script>throw new Error('deliberately broken page')</script></body>",
            1,
        ),
    )
    assert any(
        "deliberately broken page" in p for p in bookcheck.check_loads_cleanly(record)
    )


@browser_test
def test_search_without_its_index_is_caught(broken_copy, template, context):
    _, base_url = broken_copy(template, omit=["searchindex.js"])
    problems = bookcheck.check_search(context, base_url, SEARCH_TERM, timeout_ms=3000)
    assert any("searchindex.js" in p for p in problems), problems


@browser_test
def test_search_for_a_word_not_in_the_book_is_caught(book, context):
    problems = bookcheck.check_search(context, book.base_url, "qqzzxxnotaword")
    assert len(problems) == 1 and "found nothing" in problems[0], problems


def test_missing_build_fails_and_says_make_book(tmp_path):
    with pytest.raises(pytest.fail.Exception, match=r"run `make book` first"):
        require_built_book(tmp_path / "_build" / "html")
    (tmp_path / "index.html").write_text("<html></html>")
    with pytest.raises(
        pytest.fail.Exception, match=r"lacks pages of _toc.yml: \['book/preface'\]"
    ):
        require_built_book(tmp_path, ["book/preface"])


# --------------------------------------------------------------------------- the helpers themselves


def test_toc_docnames_walks_parts_chapters_and_sections(tmp_path):
    toc = tmp_path / "_toc.yml"
    toc.write_text(
        "format: jb-book\nroot: book/preface\nparts:\n"
        "  - caption: A\n    chapters:\n      - file: notebooks/00_setup.ipynb\n"
        "        sections:\n          - file: notebooks/00b\n"
        "  - caption: B\n    chapters:\n      - file: book/glossary.md\n"
    )
    assert bookcheck.toc_docnames(toc) == [
        "book/preface",
        "notebooks/00_setup",
        "notebooks/00b",
        "book/glossary",
    ]
    toc.write_text("- just a list\n")
    with pytest.raises(ValueError, match="expected a jb-book table of contents"):
        bookcheck.toc_docnames(toc)


def test_the_real_toc_lists_the_book():
    assert DOCNAMES[0] == "book/preface" and "notebooks/00_setup" in NOTEBOOKS
    assert all(bookcheck.source_of(BOOK_ROOT, name) is not None for name in DOCNAMES), [
        name for name in DOCNAMES if bookcheck.source_of(BOOK_ROOT, name) is None
    ]


def test_colab_url_names_the_notebook_in_the_repository():
    assert bookcheck.colab_url(
        "https://github.com/capsnet-course/capsule-networks-course",
        "main",
        "notebooks/04_squash.ipynb",
    ) == (
        "https://colab.research.google.com/github/capsnet-course/capsule-networks-course/"
        "blob/main/notebooks/04_squash.ipynb"
    )
    assert expected_colab_url("notebooks/00_setup") == (
        "https://colab.research.google.com/github/capsnet-course/capsule-networks-course/"
        "blob/main/notebooks/00_setup.ipynb"
    )
    with pytest.raises(ValueError, match="expected a https://github.com/OWNER/REPO"):
        bookcheck.colab_url("https://gitlab.com/a/b", "main", "x.ipynb")


def _notebook(cells) -> Path:
    notebook = nbformat.v4.new_notebook(cells=cells)
    return notebook


def test_figure_outputs_counts_what_the_page_shows():
    png = {"image/png": "iVBOR", "text/plain": "<Figure>"}
    cells = [
        nbformat.v4.new_code_cell(
            "plt.show()", outputs=[nbformat.v4.new_output("display_data", data=png)]
        ),
        nbformat.v4.new_code_cell(
            "x",
            outputs=[
                nbformat.v4.new_output("execute_result", data=png, execution_count=1)
            ],
        ),
        # removed by a tag, glued elsewhere, shown as HTML or a widget: not a figure of this page
        nbformat.v4.new_code_cell(
            "y",
            metadata={"tags": ["remove-output"]},
            outputs=[nbformat.v4.new_output("display_data", data=png)],
        ),
        nbformat.v4.new_code_cell(
            "glue('f', fig)",
            outputs=[
                nbformat.v4.new_output(
                    "display_data", data=png, metadata={"scrapbook": {"name": "f"}}
                )
            ],
        ),
        nbformat.v4.new_code_cell(
            "df",
            outputs=[
                nbformat.v4.new_output(
                    "display_data", data={"text/html": "<table/>", **png}
                )
            ],
        ),
        nbformat.v4.new_code_cell(
            "w",
            outputs=[
                nbformat.v4.new_output(
                    "display_data",
                    data={"application/vnd.jupyter.widget-view+json": {}, **png},
                )
            ],
        ),
        nbformat.v4.new_code_cell(
            "print(1)", outputs=[nbformat.v4.new_output("stream", text="1\n")]
        ),
    ]
    assert bookcheck.figure_outputs(_notebook(cells)) == 2


def test_source_readers_find_math_solutions_and_plots(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "# T\n\nSet `$CAPSLIB_DATA` or `$HOME`.\n\n```bash\necho $$ $x$\n```\n"
    )
    assert not bookcheck.source_has_math(page)
    page.write_text(
        "# T\n\nThe length $\\|v\\|$ and\n\n````{solution} ex-1\n:class: dropdown\nx\n````\n"
        ":::{solution} ex-2\ny\n:::\n"
    )
    assert (
        bookcheck.source_has_math(page) and bookcheck.source_solution_count(page) == 2
    )
    notebook = tmp_path / "nb.ipynb"
    nbformat.write(
        _notebook([nbformat.v4.new_code_cell("import matplotlib.pyplot as plt")]),
        notebook,
    )
    assert not bookcheck.source_plots(notebook)
    nbformat.write(
        _notebook([nbformat.v4.new_code_cell("fig = show_digits(x, y)")]), notebook
    )
    assert bookcheck.source_plots(notebook)
    nbformat.write(
        _notebook(
            [
                nbformat.v4.new_code_cell(
                    "plt.show()", metadata={"tags": ["remove-cell"]}
                )
            ]
        ),
        notebook,
    )
    assert not bookcheck.source_plots(notebook)


def test_mirror_links_everything_but_what_is_omitted(tmp_path):
    original = tmp_path / "html"
    (original / "_static" / "mathjax").mkdir(parents=True)
    (original / "_static" / "mathjax" / "tex-chtml.js").write_text("mathjax")
    (original / "_static" / "theme.css").write_text("css")
    (original / "index.html").write_text("<h1>Book</h1>")
    copy = bookcheck.mirror(original, tmp_path / "copy", omit=["_static/mathjax"])
    assert (copy / "_static" / "theme.css").read_text() == "css"
    assert not (copy / "_static" / "mathjax").exists()
    bookcheck.write_variant(
        copy, "index.html", lambda html: html.replace("Book", "Broken")
    )
    assert (copy / "index.html").read_text() == "<h1>Broken</h1>"
    assert (original / "index.html").read_text() == "<h1>Book</h1>", (
        "the original must not change"
    )
    with pytest.raises(ValueError, match="made no difference"):
        bookcheck.write_variant(copy, "_static/theme.css", lambda text: text)


def test_link_checker_reports_missing_pages_and_anchors():
    site = {
        "http://127.0.0.1:1/a.html": (200, '<h2 id="intro">Intro</h2>'),
        "http://127.0.0.1:1/b.html": (404, ""),
        "http://127.0.0.1:1/_images/f.png": (200, ""),
    }
    fetched = []

    def fetch(url):
        fetched.append(url)
        return site[url]

    checker = bookcheck.LinkChecker(fetch)
    problems = checker.check(
        [
            "http://127.0.0.1:1/a.html#intro",
            "http://127.0.0.1:1/a.html#outro",
            "http://127.0.0.1:1/a.html",
            "http://127.0.0.1:1/b.html",
            "http://127.0.0.1:1/_images/f.png",
        ]
    )
    assert problems == [
        "broken anchor: http://127.0.0.1:1/a.html#outro (no id 'outro' in the target)",
        "broken link (404): http://127.0.0.1:1/b.html",
    ]
    assert sorted(fetched) == sorted(site), "each address is fetched once"


def test_only_localhost_counts_as_local():
    assert bookcheck.is_local("http://127.0.0.1:8000/_static/x.js")
    assert bookcheck.is_local("http://localhost/x") and bookcheck.is_local(
        "data:image/png;base64,AAAA"
    )
    assert not bookcheck.is_local(
        "https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js"
    )
    assert not bookcheck.is_local(
        "https://colab.research.google.com/assets/colab-badge.svg"
    )


# --------------------------------------------------------------------------- build hygiene


def _book_command() -> list[str]:
    """The flags of the Makefile's `book` recipe (jupyter-book build . FLAGS)."""
    recipe = re.search(
        r"^book:.*\n\t(.*jupyter-book build \. *(.*))$",
        (REPO / "Makefile").read_text(),
        re.M,
    )
    assert recipe, "the Makefile has no `book` recipe running `jupyter-book build .`"
    return recipe.group(2).split()


def _tiny_book(root: Path, page: str) -> Path:
    """A one-page book with this repository's configuration, extensions and bibliography."""
    copy_configuration(root)
    (root / "_toc.yml").write_text("format: jb-book\nroot: page\n")
    (root / "page.md").write_text(page)
    return root


@pytest.mark.slow
def test_warnings_fail_the_book_build(tmp_path):
    """`make book`'s flags turn a missing citation, an undefined label, a duplicate label and a
    remote image into a failed build that names each; the same book without them builds."""
    flags = _book_command()
    assert "--warningiserror" in flags or "-W" in flags, flags
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    broken = _tiny_book(
        tmp_path / "broken",
        (
            "# Page\n\nA citation {cite}`no_such_key_2099`, a reference {ref}`no-such-label`.\n\n"
            "(twice)=\n## One\n\n(twice)=\n## Two\n\n![remote](https://example.com/picture.png)\n"
        ),
    )
    result = subprocess.run(
        [str(jupyter_book), "build", str(broken), *flags],
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-2000:]
    for expected in (
        'could not find bibtex key "no_such_key_2099"',
        "undefined label: 'no-such-label'",
        'Duplicate explicit target name: "twice"',
        "remote image 'https://example.com/picture.png'",
    ):
        assert expected in output, f"{expected!r} not reported:\n{output[-3000:]}"
    clean = _tiny_book(
        tmp_path / "clean",
        "# Page\n\nA citation {cite}`sabour2017dynamic` and $x^2$.\n\n"
        "```{bibliography}\n```\n",
    )
    result = subprocess.run(
        [str(jupyter_book), "build", str(clean), *flags],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    assert (
        clean / "_build" / "html" / "_static" / "mathjax" / "tex-chtml.js"
    ).exists(), "MathJax not served locally"
    assert (
        "_static/mathjax/tex-chtml.js"
        in (clean / "_build" / "html" / "page.html").read_text()
    )


# --------------------------------------------------------------------------- outputs and exercise numbers
# Static checks of the built book (executed notebooks and HTML files; no browser), then the checks
# themselves on made-up notebooks and pages.


def _executed(docname: str):
    require_built_book()
    executed = bookcheck.executed_notebook(BUILD, BOOK_ROOT, docname)
    if executed is None:
        pytest.fail(
            f"no executed copy of {docname} in {BUILD / '.jupyter_cache'}: rebuild the book (make book)"
        )
    return executed


@browser_test
@pytest.mark.parametrize("docname", NOTEBOOKS)
def test_no_stray_bare_outputs(docname):
    """No cell shows only a bare value (`6`, `'8 and 16'`, `0.3050829132499757`): say what a number is."""
    assert_no_problems(docname, bookcheck.stray_outputs(_executed(docname)))


@browser_test
@pytest.mark.parametrize("docname", NOTEBOOKS)
def test_no_failed_check_on_the_page(docname):
    """An unattempted exercise says "not attempted yet"; no page shows "[FAILED]"."""
    assert_no_problems(docname, bookcheck.failed_check_outputs(_executed(docname)))
    html = (HTML / f"{docname}.html").read_text(encoding="utf-8")
    assert "[FAILED]" not in html, f"{docname}.html shows [FAILED]"


@browser_test
@pytest.mark.parametrize("docname", NOTEBOOKS)
def test_exercise_boxes_and_checks_carry_the_same_number(docname):
    require_built_book()
    sys.path.insert(0, str(REPO / "_ext"))
    import exercise_numbers

    html = (HTML / f"{docname}.html").read_text(encoding="utf-8")
    assert 'class="caption-number">Exercise' in html, (
        f"{docname} shows no numbered exercise box"
    )
    assert_no_problems(
        docname,
        bookcheck.check_exercise_numbers(html, exercise_numbers.chapter_of(docname)),
    )


def _made_up_notebook(cells):
    """cells: [(source, outputs, tags)] -> an executed notebook."""
    nb = nbformat.v4.new_notebook()
    for source, outputs, tags in cells:
        cell = nbformat.v4.new_code_cell(source, outputs=outputs)
        if tags:
            cell.metadata["tags"] = tags
        nb.cells.append(cell)
    return nb


def _result(data, metadata=None):
    return nbformat.v4.new_output(
        "execute_result", data=data, metadata=metadata or {}, execution_count=1
    )


def _stream(text):
    return nbformat.v4.new_output("stream", name="stdout", text=text)


def test_stray_outputs_are_found():
    bare = [
        "6",
        "'8 and 16'",
        "0.3050829132499757",
        "(3, 4)",
        "np.float64(0.305)",
        "tensor(0.3051)",
        "-1e-05",
        "True",
        '"quoted"',
    ]
    nb = _made_up_notebook(
        [(f"x{i}", [_result({"text/plain": text})], []) for i, text in enumerate(bare)]
    )
    found = bookcheck.stray_outputs(nb)
    assert len(found) == len(bare), found
    assert "'8 and 16'" in found[1] and "cell 1 ('x1')" in found[1]


def test_shown_results_are_not_stray():
    figure = {
        "image/png": "iVBORw0KGgo=",
        "text/plain": "<Figure size 640x480 with 1 Axes>",
    }
    table = {"text/html": "<table></table>", "text/plain": "   a\n0  1"}
    nb = _made_up_notebook(
        [
            ("fig", [_result(figure)], []),
            ("df", [_result(table)], []),
            ("print(6)", [_stream("6\n")], []),  # a print says what it prints
            (
                "glue('x', 6)",
                [_result({"text/plain": "6"}, {"scrapbook": {"name": "x"}})],
                [],
            ),
            ("n", [_result({"text/plain": "6"})], ["remove-output"]),  # not on the page
            ("x = 6", [], []),
            (
                "[1, 2, 3]",
                [_result({"text/plain": "[1, 2, 3]"})],
                [],
            ),  # a list is data, not a stray value
            (
                "model",
                [_result({"text/plain": "CapsNet(\n  (conv1): Conv2d(1, 256)\n)"})],
                [],
            ),
            (
                "print(6); 7",
                [_stream("6\n"), _result({"text/plain": "7"})],
                [],
            ),  # more than one output
        ]
    )
    assert bookcheck.stray_outputs(nb) == []


def test_failed_checks_are_found_and_not_attempted_is_fine():
    nb = _made_up_notebook(
        [
            (
                "check(a)",
                [
                    _stream(
                        "Exercise 4.1: not attempted yet -- replace the `raise NotImplementedError` "
                        "with your code, then run this cell again.\n"
                    )
                ],
                [],
            ),
            (
                "check(b)",
                [
                    _stream(
                        "Exercise 4.2: slope:\n  [passed] shape\n  [FAILED] values -- raised ...\n"
                    )
                ],
                [],
            ),
        ]
    )
    found = bookcheck.failed_check_outputs(nb)
    assert found == ["cell 1 prints '[FAILED] values -- raised ...'"]


def _box(number: str) -> str:
    return (
        f'<div class="exercise admonition"><p class="admonition-title"><span class="caption-number">'
        f"Exercise {number} </span> (Title)</p></div>"
    )


def _printed(text: str) -> str:
    return f'<div class="cell_output"><pre><span></span>{text}</pre></div>'


def test_exercise_numbers_in_a_page():
    good = (
        _box("4.1")
        + _printed("Exercise 4.1: not attempted yet -- ...")
        + _box("4.2")
        + _printed("Exercise 4.2: the slope:\n  [passed] x")
    )
    assert bookcheck.check_exercise_numbers(good, "4") == []
    book_wide = _box("13") + _printed("Exercise 4.1: not attempted yet")
    assert bookcheck.check_exercise_numbers(book_wide, "4") == [
        "exercise boxes numbered ['13'], expected ['4.1']",
        "the box says Exercise 13, its check prints Exercise 4.1",
    ]
    silent = _box("A.1") + _printed("something else")
    assert bookcheck.check_exercise_numbers(silent, "A") == [
        "Exercise A.1: no check output under the box"
    ]


# --------------------------------------------------------------------------- what no page may show
# Static checks of every built page (tests/book/browser/pagecheck.py): no solution check or glue-only
# cell shown, one printed stream in one box, no raw repr as a result, no path of the machine that
# built the book, no heading twice, captions in the text's colour. Then each check on a made-up
# page that breaks its rule.

import pagecheck  # noqa: E402


@browser_test
@pytest.mark.parametrize("check", sorted(pagecheck.PAGE_CHECKS))
@pytest.mark.parametrize("docname", DOCNAMES)
def test_page_shows_nothing_it_must_not(docname, check):
    require_built_book()
    html = (HTML / f"{docname}.html").read_text(encoding="utf-8")
    assert_no_problems(docname, pagecheck.PAGE_CHECKS[check](html))


def _page(*cells: str, head: str = "") -> str:
    body = "".join(f'<div class="cell docutils container">{c}</div>' for c in cells)
    return f"<html><head>{head}</head><body><article>{body}</article></body></html>"


def _input(code: str) -> str:
    return f'<div class="cell_input docutils container"><pre>{code}</pre></div>'


def _output(*blocks: tuple[str, str]) -> str:
    inner = "".join(
        f'<div class="output {kind} highlight-myst-ansi"><pre>{text}</pre></div>'
        for kind, text in blocks
    )
    return f'<div class="cell_output docutils container">{inner}</div>'


CLEAN = _page(
    _input("print(accuracy)"),
    _output(("stream", "accuracy 97.5%\nloss 0.031\n")),
    head='<link rel="stylesheet" href="../_static/captions.css" />',
)


def test_a_clean_page_passes_every_page_check():
    assert pagecheck.check_page(CLEAN) == []


def test_visible_plumbing_is_caught():
    check = _page(_input("# check the reference solution (the code ...)\nassert f(1)"))
    glued = _page(_input("glue(&quot;a&quot;, 1, display=False)"))
    assert pagecheck.visible_plumbing(check)
    assert pagecheck.visible_plumbing(glued) == [
        "a plumbing cell is shown: 'glue(\"a\", 1, display=False)'"
    ]
    assert pagecheck.visible_plumbing(_page(_input("x = f()\nglue('a', x)"))) == []


def test_a_stream_split_into_boxes_is_caught():
    split = _page(_output(("stream", "line 1\n"), ("stream", "line 2\n")))
    assert pagecheck.split_streams(split) == [
        "one cell prints its stdout in 2 boxes, from 'line 1'"
    ]
    apart = _page(_output(("stream", "out\n"), ("stderr", "warning\n")))
    assert pagecheck.split_streams(apart) == []


@pytest.mark.parametrize(
    "text",
    [
        "{'ch02_plain_0': 0.927, 'ch02_aug_0': 0.95}",
        "0.9750000238418579",
        "tensor([0.1000, 0.2000])",
        "[('max', 0), ('none', 1)]",
        "accuracy np.float64(0.975)",
    ],
)
def test_raw_reprs_are_caught(text):
    assert pagecheck.raw_reprs(_page(_output(("text_plain", text))))


def test_formatted_numbers_are_not_raw_reprs():
    text = "accuracy 97.50% | loss 3.1e-02 | 60,000 digits | sizes 28 -> 20 -> 6"
    assert pagecheck.raw_reprs(_page(_output(("stream", text)))) == []


def test_machine_paths_are_caught_and_urls_are_not():
    page = _page(
        _output(
            ("stream", "MNIST from /home/alice/capsnet/data/MNIST/raw (complete)\n")
        )
    )
    assert pagecheck.machine_paths(page) == [
        "a machine path in an output: '/home/alice/capsnet/data/MNIST/raw'"
    ]
    fine = "https://github.com/a/b/c, results/mnist-paper/summary.json, $CAPSLIB_DATA/mnist"
    assert pagecheck.machine_paths(_page(_output(("stream", fine)))) == []


def test_a_heading_twice_is_caught():
    page = "<article><h2>Exercises#</h2><p>x</p><h2>Exercises#</h2><h3>Other</h3></article>"
    assert pagecheck.repeated_headings(page) == [
        "the heading 'Exercises' appears 2 times"
    ]


def test_a_page_without_the_caption_style_is_caught():
    assert pagecheck.caption_style_missing(_page()) == [
        "the page does not load _static/captions.css"
    ]


@browser_test
@pytest.mark.parametrize("theme", ["light", "dark"])
def test_captions_are_in_the_texts_colour(book, context, theme):
    """A figure's caption is drawn in the colour of the text, not the theme's pale grey."""
    require_built_book()
    page = context.new_page()
    try:
        page.goto(f"{book.base_url}notebooks/00_setup.html")
        page.evaluate(f"document.documentElement.dataset.theme = '{theme}'")
        colours = page.evaluate(
            """() => {
                const caption = document.querySelector('figure figcaption p, figcaption');
                const text = document.querySelector('article p');
                return [caption && getComputedStyle(caption).color,
                        getComputedStyle(text).color];
            }"""
        )
    finally:
        page.close()
    caption, text = colours
    assert caption is not None, "no figure caption on the page"
    assert caption == text, f"{theme} theme: caption {caption}, text {text}"
