"""Check the rendered book the way a reader sees it: in a real browser (headless Chromium).

Each ``check_*`` function looks at one thing and returns a list of problems, one readable line
each; an empty list means the check passed. The browser tests (``tests/book/test_browser.py``) run
them over every page of the built book, and the negative tests run the same functions over
deliberately broken copies of a page, to show that each check notices what it is meant to.

Pages are served from ``_build/html`` by a local HTTP server; every request to another origin
is blocked and recorded, so the checks hold offline and prove that nothing comes from a CDN.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import os
import re
import shutil
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml

#: Flags for Chromium in a sandboxed container with no network (without the background-networking
#: flags, Chromium's own connections to Google services are refused and logged).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
COLAB_PREFIX = "https://colab.research.google.com/github/"
IMAGE_MIME_TYPES = ("image/png", "image/jpeg", "image/svg+xml", "image/gif")
#: myst-nb's HTML priority: the first of these an output has is what the page shows.
RENDER_PRIORITY = (
    "application/vnd.jupyter.widget-view+json",
    "application/javascript",
    "text/html",
    "image/svg+xml",
    "image/png",
    "image/jpeg",
    "image/gif",
    "text/markdown",
    "text/latex",
    "text/plain",
)
REMOVED_OUTPUT_TAGS = {"remove-output", "remove_output", "remove-cell", "remove_cell"}
#: Code that draws a figure in a notebook cell (pyplot, or capsbook.plots's helpers).
PLOTTING_CODE = re.compile(
    r"\bplt\.(show|subplots|figure|imshow|plot|bar|hist|scatter)\s*\("
    r"|\bshow_digits\s*\(|\.imshow\s*\(|\bcapslib\.plot\.\w+\s*\("
)


def find_chromium() -> str | None:
    """The system Chromium (Debian's ``chromium`` package), or ``$CHROMIUM`` when set."""
    candidates = [os.environ.get("CHROMIUM"), "/usr/bin/chromium"]
    candidates += [
        shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome")
    ]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


# --------------------------------------------------------------------------- the book's pages


def toc_docnames(toc_path: Path) -> list[str]:
    """Every document of a Jupyter Book ``_toc.yml`` (jb-book format), in reading order.

    >>> # root: book/preface; parts: [{chapters: [{file: notebooks/00_setup}]}]
    >>> # -> ["book/preface", "notebooks/00_setup"]
    """
    toc = yaml.safe_load(Path(toc_path).read_text(encoding="utf-8"))
    if not isinstance(toc, dict) or "root" not in toc:
        raise ValueError(
            f"{toc_path}: expected a jb-book table of contents with a 'root', got {toc!r:.200}"
        )
    names = [_strip_suffix(toc["root"])]

    def walk(entries: Iterable[dict]) -> None:
        for entry in entries or []:
            if "file" in entry:
                names.append(_strip_suffix(entry["file"]))
            for key in ("parts", "chapters", "sections"):
                walk(entry.get(key, []))

    walk([toc])
    return list(dict.fromkeys(names))


def _strip_suffix(name: str) -> str:
    return re.sub(r"\.(md|ipynb|rst)$", "", str(name))


def source_of(book_root: Path, docname: str) -> Path | None:
    """The source file of a document (``.md``, ``.ipynb`` or ``.rst``), or None."""
    for suffix in (".ipynb", ".md", ".rst"):
        path = Path(book_root) / f"{docname}{suffix}"
        if path.exists():
            return path
    return None


def _markdown_and_code(source: Path) -> tuple[str, list[dict]]:
    """(all markdown text, the code cells) of a notebook or a markdown page."""
    if source.suffix != ".ipynb":
        return source.read_text(encoding="utf-8"), []
    notebook = json.loads(source.read_text(encoding="utf-8"))
    markdown = "\n\n".join(
        _text(cell["source"])
        for cell in notebook["cells"]
        if cell["cell_type"] == "markdown"
    )
    code = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
    return markdown, code


def _text(source: str | list[str]) -> str:
    return source if isinstance(source, str) else "".join(source)


def _without_code(markdown: str) -> str:
    """Markdown with fenced code blocks and inline code spans removed (they may hold a literal `$`)."""
    markdown = re.sub(
        r"^(`{3,}|~{3,})(?!\{)[^\n]*\n.*?^\1\s*$", "", markdown, flags=re.M | re.S
    )
    return re.sub(r"`[^`\n]+`", "", markdown)


def source_has_math(source: Path) -> bool:
    """Does the page's markdown hold math ($...$, $$...$$, {math}, \\begin{...})?"""
    markdown, _ = _markdown_and_code(source)
    text = _without_code(markdown)
    return bool(re.search(r"\$\$|\$[^$\s][^$\n]*\$|\{math\}|\\begin\{", text))


def source_solution_count(source: Path) -> int:
    """How many sphinx-exercise ``{solution}`` directives the page's source holds."""
    markdown, _ = _markdown_and_code(source)
    return len(
        re.findall(r"^\s*(?:`{3,}|:{3,})\{solution(?:-start)?\}", markdown, flags=re.M)
    )


def source_plots(source: Path) -> bool:
    """Does a code cell of the notebook draw a figure (and keep its output)?"""
    _, code_cells = _markdown_and_code(source)
    return any(
        PLOTTING_CODE.search(_text(cell["source"]))
        for cell in code_cells
        if not REMOVED_OUTPUT_TAGS & set(cell.get("metadata", {}).get("tags", []))
    )


def as_built(book_root: Path, source: Path):
    """The notebook as the book build reads it: with the tags ``_ext/hidden_plumbing`` adds.

    jupyter-cache's key covers the cells' tags, so a notebook read straight from disk does not
    match what a build that reused the cache stored.
    """
    import importlib.util
    import json

    import nbformat

    spec = importlib.util.spec_from_file_location(
        "hidden_plumbing", Path(book_root) / "_ext" / "hidden_plumbing.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    raw = json.loads(Path(source).read_text(encoding="utf-8"))
    module.hide_plumbing(raw)
    return nbformat.reads(json.dumps(raw), as_version=4)


def executed_notebook(build_dir: Path, book_root: Path, docname: str):
    """The notebook as the book build executed it (outputs included), or None.

    The build keeps executed notebooks in jupyter-cache (``_build/.jupyter_cache``, the
    ``execute_notebooks: cache`` setting): the outputs are matched to the source by its code.
    ``_build/jupyter_execute`` is the fallback (myst-nb writes it without outputs when the
    notebook came from the cache, so it is only used when it has outputs).
    """
    import nbformat

    source = source_of(book_root, docname)
    if source is None or source.suffix != ".ipynb":
        return None
    cache_dir = Path(build_dir) / ".jupyter_cache"
    if (cache_dir / "global.db").exists():
        from jupyter_cache import get_cache

        with contextlib.suppress(KeyError):
            _, merged = get_cache(cache_dir).merge_match_into_notebook(
                as_built(book_root, source)
            )
            return merged
    written = Path(build_dir) / "jupyter_execute" / f"{docname}.ipynb"
    if written.exists():
        notebook = nbformat.read(written, as_version=4)
        if any(
            cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code"
        ):
            return notebook
    return None


def figure_outputs(notebook) -> int:
    """How many figures (image outputs that the page shows) an executed notebook holds.

    Outputs of cells tagged ``remove-output``/``remove-cell`` and values stored with ``glue``
    (shown elsewhere, if at all) are not counted; nor outputs that render as something else
    (a widget, HTML) by myst-nb's priority.
    """
    count = 0
    for cell in notebook.cells:
        if cell.cell_type != "code" or REMOVED_OUTPUT_TAGS & set(
            cell.get("metadata", {}).get("tags", [])
        ):
            continue
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if not data or "scrapbook" in output.get("metadata", {}):
                continue
            shown = next((mime for mime in RENDER_PRIORITY if mime in data), None)
            count += shown in IMAGE_MIME_TYPES
    return count


def colab_url(repository_url: str, branch: str, path_in_repo: str) -> str:
    """The Colab address that opens a notebook of a GitHub repository."""
    match = re.fullmatch(
        r"https://github\.com/([^/]+)/([^/]+?)(?:\.git)?/?", repository_url
    )
    if not match:
        raise ValueError(
            f"expected a https://github.com/OWNER/REPO repository url, got {repository_url!r}"
        )
    owner, repo = match.groups()
    return f"{COLAB_PREFIX}{owner}/{repo}/blob/{branch}/{path_in_repo}"


# --------------------------------------------------------------------------- serving and visiting


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args) -> None:  # noqa: A002 (the base class's name)
        pass


@contextlib.contextmanager
def serve(directory: Path) -> Iterator[str]:
    """Serve a folder over HTTP on a free localhost port; yields the base URL (ending in /)."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(
        target=server.serve_forever, name=f"serve {directory}", daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def is_local(url: str) -> bool:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme in {"data", "blob", "about"}:
        return True
    return parts.hostname in LOCAL_HOSTS


@dataclass
class Visit:
    """A page loaded in the browser, with everything that went wrong while it loaded."""

    page: object  # playwright.sync_api.Page
    url: str
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    other_origin_requests: list[str] = field(default_factory=list)


# Wait until MathJax has typeset the page (when it loaded) and the web fonts are in.
_READY_JS = """async () => {
  const within = (promise, ms) => Promise.race([promise, new Promise(done => setTimeout(done, ms))]);
  const mathjax = window.MathJax;
  if (mathjax && mathjax.startup && mathjax.startup.promise) await within(mathjax.startup.promise, 20000);
  await within(document.fonts.ready, 5000);
  return true;
}"""


def visit(context, url: str, timeout_ms: int = 30_000) -> Visit:
    """Open ``url`` in a new tab of a Playwright browser context and wait until it has rendered.

    Requests to any other origin than localhost are aborted and recorded (the book must not
    need them); console errors, uncaught exceptions, failed requests and HTTP errors are recorded.
    """
    page = context.new_page()
    record = Visit(page=page, url=url)

    def route(route_) -> None:
        if is_local(route_.request.url):
            route_.continue_()
        else:
            record.other_origin_requests.append(route_.request.url)
            route_.abort("blockedbyclient")

    def on_console(message) -> None:
        if message.type == "error":
            where = message.location.get("url", "") if message.location else ""
            record.console_errors.append(
                f"{message.text} ({where})" if where else message.text
            )

    def on_failed(request) -> None:
        if is_local(request.url):
            record.failed_requests.append(f"{request.url}: {request.failure}")

    def on_response(response) -> None:
        if response.status >= 400:
            record.failed_requests.append(f"{response.url}: HTTP {response.status}")

    page.route("**/*", route)
    page.on("console", on_console)
    page.on("pageerror", lambda error: record.page_errors.append(str(error)))
    page.on("requestfailed", on_failed)
    page.on("response", on_response)
    page.goto(url, wait_until="load", timeout=timeout_ms)
    page.evaluate(_READY_JS)
    return record


# --------------------------------------------------------------------------- the checks


def check_loads_cleanly(record: Visit) -> list[str]:
    """No console errors, no uncaught exceptions, no failed or 4xx/5xx requests."""
    problems = [f"console error: {text}" for text in record.console_errors]
    problems += [f"uncaught exception: {text}" for text in record.page_errors]
    problems += [f"failed request: {text}" for text in record.failed_requests]
    return problems


def check_offline(record: Visit) -> list[str]:
    """Nothing was requested from another origin (a CDN, a font service, a badge server)."""
    return [
        f"request to another origin (the book must work offline): {url}"
        for url in record.other_origin_requests
    ]


_MATH_JS = r"""() => {
  const root = document.querySelector("article") || document.body;
  const math = [...root.querySelectorAll(".math")];
  const untypeset = math.filter(el => !el.querySelector("mjx-container"))
                        .map(el => el.textContent.trim().slice(0, 80));
  const containers = root.querySelectorAll("mjx-container").length;
  const errors = [...root.querySelectorAll("mjx-merror")]
                   .map(el => (el.getAttribute("data-mjx-error") || el.textContent).slice(0, 80));
  // Raw TeX visible as text, outside code (where a backslash or $$ may be meant literally).
  const skip = "pre, code, kbd, samp, script, style, textarea, mjx-container, .highlight";
  const raw = [], stray = [], strayParents = new Set();
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  const pattern = /\$\$|\\(?:[A-Za-z]{2,}|[()\[\]])/;
  const isMath = node => node && node.nodeType === 1 && node.classList.contains("math");
  const around = node => node.textContent.replace(/\s+/g, " ").trim().slice(0, 60);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const parent = node.parentElement;
    if (!parent || parent.closest(skip)) continue;
    if (!parent.checkVisibility({visibilityProperty: true, opacityProperty: true})) continue;
    const text = node.textContent;
    const match = text.match(pattern);
    if (match) {
      const at = Math.max(0, match.index - 30);
      raw.push(text.slice(at, match.index + 40).replace(/\s+/g, " ").trim());
    }
    // A "$" left over beside an equation: typically "$$...$$" written inside a paragraph,
    // which MyST reads as inline math between single dollars.
    if ((isMath(node.nextSibling) && /\$\s*$/.test(text)) || (isMath(node.previousSibling) && /^\s*\$/.test(text))) {
      if (!strayParents.has(parent)) stray.push(around(parent));
      strayParents.add(parent);
    }
  }
  return {count: math.length, untypeset, containers, errors, raw, stray};
}"""


def check_math_typeset(page, expect_math: bool = False) -> list[str]:
    """Every equation was typeset by MathJax, with no TeX errors and no raw TeX visible.

    ``expect_math``: the page's source holds math, so the page must show typeset math
    (``mjx-container`` elements), not merely have none that failed.
    """
    found = page.evaluate(_MATH_JS)
    problems = [
        f"equation not typeset (no mjx-container): {text!r}"
        for text in found["untypeset"]
    ]
    problems += [f"MathJax error: {text!r}" for text in found["errors"]]
    problems += [f"raw TeX visible in the text: {text!r}" for text in found["raw"]]
    problems += [
        f"stray '$' beside an equation (a $$...$$ display inside a paragraph? give it its own lines, "
        f"with a blank line before): {text!r}"
        for text in found["stray"]
    ]
    if expect_math and found["containers"] == 0:
        problems.append(
            f"the source has math but the page shows no typeset equation "
            f"({found['count']} math elements, 0 mjx-container): did MathJax load?"
        )
    return problems


_IMAGES_JS = """async () => {
  const images = [...document.images];
  for (const image of images) if (image.loading === "lazy") image.loading = "eager";
  await Promise.all(images.map(image => image.complete ? null : new Promise(done => {
    image.addEventListener("load", done, {once: true});
    image.addEventListener("error", done, {once: true});
    setTimeout(done, 10000);
  })));
  const article = document.querySelector("article");
  return images.map(image => {
    const box = image.getBoundingClientRect();
    return {
      src: image.getAttribute("src"),
      loaded: image.complete && image.naturalWidth > 0,
      inArticle: !!(article && article.contains(image)),
      isFigure: !!image.closest(".cell_output"),
      collapsed: !!image.closest("details:not([open]), .toggle-hidden"),
      visible: image.checkVisibility({visibilityProperty: true, opacityProperty: true})
               && box.width > 0 && box.height > 0,
    };
  });
}"""


def page_images(page) -> list[dict]:
    """Every ``<img>`` of the page once loading has finished: src, loaded, visible, ..."""
    return page.evaluate(_IMAGES_JS)


def check_images_loaded(page) -> list[str]:
    """Every ``<img>`` loaded (natural width > 0); images of the text are not hidden.

    Images inside a collapsed block (a hidden solution, a closed ``<details>``) may be hidden;
    the theme's menus (e.g. the launch button's logos) are outside the article and not checked
    for visibility.
    """
    problems = []
    for image in page_images(page):
        if not image["loaded"]:
            problems.append(f"image did not load (naturalWidth 0): {image['src']}")
        elif image["inArticle"] and not image["collapsed"] and not image["visible"]:
            problems.append(f"image is hidden on the page: {image['src']}")
    return problems


def check_figures(page, expected: int, source_plots: bool = False) -> list[str]:
    """The page shows (loaded, visible unless collapsed) at least the figures its notebook made.

    ``expected``: image outputs in the executed notebook (:func:`figure_outputs`).
    ``source_plots``: the notebook's code draws figures, so at least one must appear.
    """
    figures = [image for image in page_images(page) if image["isFigure"]]
    shown = [
        image
        for image in figures
        if image["loaded"] and (image["visible"] or image["collapsed"])
    ]
    problems = [
        f"figure not shown ({'not loaded' if not image['loaded'] else 'hidden'}): {image['src']}"
        for image in figures
        if image not in shown
    ]
    if len(shown) < expected:
        problems.append(
            f"the executed notebook has {expected} figure(s), the page shows {len(shown)}"
        )
    if source_plots and expected == 0 and not shown:
        problems.append(
            "the notebook's code draws figures but the executed notebook has no image output and the "
            "page shows none: was the kernel's matplotlib backend non-inline (MPLBACKEND=Agg) at build time?"
        )
    return problems


_SOLUTIONS_JS = """() => [...document.querySelectorAll("article .solution")].map(solution => {
  const body = [...solution.children].filter(child => !child.classList.contains("admonition-title"));
  const visible = body.some(child => child.checkVisibility({visibilityProperty: true, opacityProperty: true})
                                     && child.getBoundingClientRect().height > 0);
  return {id: solution.id, visible, hasBody: body.length > 0};
})"""


def check_solutions_hidden_until_clicked(
    page, expected: int | None = None, timeout_ms: int = 2000
) -> list[str]:
    """Each exercise solution is hidden when the page opens and shown after a click on its title.

    ``expected``: how many ``{solution}`` directives the source has (None: don't compare).
    ``timeout_ms``: how long a solution may take to appear after its click. Leaves every solution open.
    """
    before = page.evaluate(_SOLUTIONS_JS)
    problems = []
    if expected is not None and len(before) != expected:
        problems.append(
            f"the source has {expected} solution(s), the page has {len(before)}"
        )
    problems += [
        f"solution {s['id']} is visible before it is clicked"
        for s in before
        if s["visible"]
    ]
    problems += [
        f"solution {s['id']} has no content" for s in before if not s["hasBody"]
    ]
    titles = page.locator("article .solution > .admonition-title")
    for index, solution in enumerate(before):
        if solution["visible"]:
            continue
        button = titles.nth(index).locator(".toggle-button")
        target = button if button.count() else titles.nth(index)
        try:
            target.click(timeout=timeout_ms)
            page.wait_for_function(
                f"() => ({_SOLUTIONS_JS})()[{index}].visible", timeout=timeout_ms
            )
        except (
            Exception
        ) as error:  # a Playwright timeout: report it as a problem of this page
            problems.append(
                f"solution {solution['id']} is still hidden after a click ({type(error).__name__})"
            )
    return problems


def check_code_fits(page) -> list[str]:
    """Code blocks wider than the page: the reader sees them cut off (the block scrolls sideways)."""
    clipped = page.evaluate(
        """() => [...document.querySelectorAll('article div.highlight pre')]
            .filter(e => e.offsetParent !== null && e.scrollWidth > e.clientWidth + 1)
            .map(e => e.textContent.split('\\n')
                .reduce((a, b) => (b.length > a.length ? b : a), ''))"""
    )
    return [f"code cut off at the page's width: {line[:80]!r}" for line in clipped]


def check_colab_link(page, expected_url: str) -> list[str]:
    """The page links to Colab at ``expected_url`` (this notebook), and to no other notebook."""
    hrefs = page.eval_on_selector_all(
        "a[href]", "links => links.map(link => link.href)"
    )
    colab = [href for href in hrefs if href.startswith(COLAB_PREFIX)]
    problems = []
    if expected_url not in colab:
        problems.append(
            f"no Colab launch link to {expected_url} (Colab links found: {sorted(set(colab)) or 'none'})"
        )
    problems += [
        f"Colab link to another notebook: {href}"
        for href in sorted(set(colab))
        if href != expected_url
    ]
    return problems


_SEARCH_JS = """() => {
  const summary = document.querySelector("#search-results .search-summary");
  return summary && summary.textContent.trim().length > 0;
}"""


def check_search(
    context, base_url: str, term: str, timeout_ms: int = 20_000
) -> list[str]:
    """The book's search page finds ``term`` (at least one result, linking into the book).

    The search page itself must also load cleanly and offline.
    """
    record = visit(
        context,
        urllib.parse.urljoin(base_url, f"search.html?q={urllib.parse.quote(term)}"),
    )
    page = record.page
    try:
        try:
            page.wait_for_function(_SEARCH_JS, timeout=timeout_ms)
        except Exception:  # a Playwright timeout: the search never finished
            problems = [
                f"the search page gave no summary for {term!r} within {timeout_ms / 1000:.0f} s"
            ]
        else:
            results = page.eval_on_selector_all(
                "#search-results ul.search li a",
                "links => links.map(link => link.href)",
            )
            if results:
                problems = [
                    f"search result outside the book: {href}"
                    for href in results
                    if not href.startswith(base_url)
                ]
            else:
                summary = page.text_content("#search-results .search-summary") or ""
                problems = [f"searching {term!r} found nothing: {summary.strip()!r}"]
        return problems + check_loads_cleanly(record) + check_offline(record)
    finally:
        page.close()


def page_links(page) -> list[str]:
    """Absolute addresses of every link on the page that stays on the page's origin."""
    hrefs = page.eval_on_selector_all(
        "a[href]", "links => links.map(link => link.href)"
    )
    origin = "{0.scheme}://{0.netloc}".format(urllib.parse.urlsplit(page.url))
    return [href for href in hrefs if href.startswith(origin + "/")]


class LinkChecker:
    """Fetches linked addresses once each (HTTP status, and the ids of HTML targets)."""

    def __init__(self, fetch: Callable[[str], tuple[int, str]] | None = None):
        self._fetch = fetch or _http_get
        self._cache: dict[str, tuple[int, str]] = {}

    def get(self, url: str) -> tuple[int, str]:
        if url not in self._cache:
            self._cache[url] = self._fetch(url)
        return self._cache[url]

    def check(self, links: Iterable[str]) -> list[str]:
        """Every link resolves (no 4xx/5xx) and, for ``page.html#anchor``, the anchor exists."""
        problems = []
        for link in sorted(set(links)):
            address, _, fragment = link.partition("#")
            status, body = self.get(address)
            if status >= 400:
                problems.append(f"broken link ({status}): {link}")
            elif (
                fragment
                and body
                and not _has_anchor(body, urllib.parse.unquote(fragment))
            ):
                problems.append(
                    f"broken anchor: {link} (no id {urllib.parse.unquote(fragment)!r} in the target)"
                )
        return problems


def _http_get(url: str) -> tuple[int, str]:
    """(status, the body when it is HTML, else '')."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            is_html = "html" in response.headers.get("Content-Type", "")
            return response.status, response.read().decode(
                "utf-8", "replace"
            ) if is_html else ""
    except urllib.error.HTTPError as error:
        return error.code, ""
    except (urllib.error.URLError, OSError) as error:
        return 599, f"{error}"


def _has_anchor(html: str, anchor: str) -> bool:
    quoted = re.escape(anchor)
    return re.search(rf"""\b(?:id|name)\s*=\s*["']{quoted}["']""", html) is not None


def save_screenshot(page, path: Path) -> Path:
    """A full-page screenshot of the page as it is now, for a person to review."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)
    return path


def screenshot_name(docname: str) -> str:
    """``notebooks/04_squash`` -> ``notebooks__04_squash.png``."""
    return docname.replace("/", "__") + ".png"


# --------------------------------------------------------------------------- broken copies


def mirror(html_dir: Path, destination: Path, omit: Iterable[str] = ()) -> Path:
    """A cheap copy of a built site: symbolic links to every file, except the ``omit`` paths.

    Folders are recreated, files are linked; a page to be broken is then overwritten with
    :func:`write_variant` without touching the original.
    """
    html_dir, destination = Path(html_dir), Path(destination)
    omitted = {Path(path) for path in omit}
    for directory, subdirs, files in os.walk(html_dir):
        relative = Path(directory).relative_to(html_dir)
        subdirs[:] = [name for name in subdirs if relative / name not in omitted]
        (destination / relative).mkdir(parents=True, exist_ok=True)
        for name in files:
            if relative / name not in omitted:
                (destination / relative / name).symlink_to(Path(directory) / name)
    return destination


def write_variant(site: Path, relative_path: str, change: Callable[[str], str]) -> Path:
    """Replace ``site/relative_path`` (a link into the original) by a changed copy of its text."""
    path = Path(site) / relative_path
    text = path.read_text(encoding="utf-8")
    changed = change(text)
    if changed == text:
        raise ValueError(f"the change made no difference to {relative_path}")
    path.unlink()
    path.write_text(changed, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- outputs and exercise numbers
# Static checks: they read the executed notebooks and the built HTML files, no browser needed.

#: The text of a bare value printed by a cell's last expression: a number (also a NumPy or torch
#: scalar), a string's repr, a short tuple, a bool or None.
BARE_VALUE = re.compile(
    r"""\s*(?:
        [-+]?(?:\d[\d_]*(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?j?   # 6, 0.305, 1e-3
      | [-+]?(?:nan|inf)
      | (?:np\.)?(?:float|int|uint|bool_|complex)\d*\([^()]*\)   # np.float64(0.3)
      | tensor\([^()\[\]]*\)                                    # tensor(0.3051)
      | '(?:[^'\\]|\\.)*' | "(?:[^"\\]|\\.)*"                   # '8 and 16'
      | \([^()\n]{0,80}\)                                       # (3, 4)
      | True | False | None
    )\s*""",
    re.X,
)


def stray_outputs(notebook) -> list[str]:
    """Cells whose only output is a bare value that the page shows as text: a stray print of the last line.

    A cell counts when its outputs are one ``execute_result`` holding only ``text/plain`` that is a
    number, a string repr or a short tuple (``BARE_VALUE``): no figure, HTML or markdown, not a glued
    value, not in a cell whose output is removed. End such a cell with ``;``, assign the value, or
    print a sentence that says what it is.
    """
    found = []
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code" or REMOVED_OUTPUT_TAGS & set(
            cell.get("metadata", {}).get("tags", [])
        ):
            continue
        outputs = [
            o
            for o in cell.get("outputs", [])
            if "scrapbook" not in o.get("metadata", {})
        ]
        if len(outputs) != 1 or outputs[0].get("output_type") != "execute_result":
            continue
        data = outputs[0].get("data", {})
        if set(data) != {"text/plain"}:
            continue
        text = _text(data["text/plain"])
        if BARE_VALUE.fullmatch(text):
            last_line = _text(cell.get("source", "")).strip().splitlines()[-1:] or [""]
            found.append(
                f"cell {index} ({last_line[0][:60]!r}) shows the bare value {text.strip()[:60]!r}"
            )
    return found


def failed_check_outputs(notebook) -> list[str]:
    """Cells whose printed output has "[FAILED]": an exercise check that failed on the page.

    An unattempted exercise prints "not attempted yet"; a hidden check of the reference solution
    prints nothing. So "[FAILED]" on a page means a broken check or solution.
    """
    found = []
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        for output in cell.get("outputs", []):
            text = _text(output.get("text", "")) + _text(
                output.get("data", {}).get("text/plain", "")
            )
            if "[FAILED]" in text:
                line = next(ln for ln in text.splitlines() if "[FAILED]" in ln)
                found.append(f"cell {index} prints {line.strip()[:120]!r}")
    return found


def _html_text(fragment: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", fragment)).strip()


def check_exercise_numbers(html: str, chapter: str) -> list[str]:
    """The page's exercise boxes read "Exercise {chapter}.1", ".2", ... and the check printed under
    each box (its first "Exercise N.k:" output before the next box) carries the box's number."""
    problems = []
    boxes = [
        (m.start(), m.group(1))
        for m in re.finditer(
            r'<span class="caption-number">Exercise ([^<]*?)\s*</span>', html
        )
    ]
    expected = [f"{chapter}.{k}" for k in range(1, len(boxes) + 1)]
    if [number for _, number in boxes] != expected:
        problems.append(
            f"exercise boxes numbered {[n for _, n in boxes]}, expected {expected}"
        )
    outputs = [
        (m.start(), _html_text(m.group(1)))
        for m in re.finditer(r"<pre>(.*?)</pre>", html, re.S)
    ]
    for k, (start, number) in enumerate(boxes):
        end = boxes[k + 1][0] if k + 1 < len(boxes) else len(html)
        printed = [
            re.match(r"Exercise ([\dA-Z]+\.\d+):", text)
            for pos, text in outputs
            if start < pos < end
        ]
        printed = [m.group(1) for m in printed if m]
        if not printed:
            problems.append(f"Exercise {number}: no check output under the box")
        elif printed[0] != number:
            problems.append(
                f"the box says Exercise {number}, its check prints Exercise {printed[0]}"
            )
    return problems
