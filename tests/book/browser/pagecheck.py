"""What a built page must not show a reader: the static checks of issue 23's first section.

Each function takes the HTML of one built page and returns a list of problems (empty when the
page is clean), each naming what it found. ``tests/book/test_browser.py`` runs them over every page
of the built book, and shows on made-up pages that each one catches what it is for.

- solution checks or glue-only cells left visible (``_ext/hidden_plumbing.py`` removes them);
- one printed stream split into one box per line (``nb_merge_streams`` in ``_config.yml``);
- raw reprs as results: dicts, tensors, arrays, floats with 7 or more decimals;
- absolute filesystem paths of the build machine in an output;
- a heading twice on one page;
- captions drawn in the theme's pale grey (``_static/captions.css`` overrides it).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from bs4 import BeautifulSoup

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "_ext"))
import hidden_plumbing  # noqa: E402  (_ext is not a package: Sphinx loads it by path)

CAPTION_CSS = "_static/captions.css"


def _soup(html: str) -> BeautifulSoup:
    return BeautifulSoup(html, "html.parser")


def _article(html: str):
    soup = _soup(html)
    return soup.find("article") or soup


def _first_line(text: str) -> str:
    return next((line for line in text.splitlines() if line.strip()), "")[:80]


def _cells(html: str):
    return _article(html).find_all("div", class_="cell")


def _outputs(html: str) -> list[str]:
    """The text of every output block on the page (streams, results, displayed text)."""
    return [
        block.get_text()
        for block in _article(html).select("div.cell_output div.output")
        if "text_html" not in block.get("class", [])
    ]


def visible_plumbing(html: str) -> list[str]:
    """Code cells whose input the reader sees although they are book plumbing."""
    problems = []
    for cell in _cells(html):
        code = cell.select_one("div.cell_input pre")
        if code is None:
            continue
        source = code.get_text()
        if hidden_plumbing.plumbing_tag(source) is not None:
            problems.append(f"a plumbing cell is shown: {_first_line(source)!r}")
    if hidden_plumbing.CHECK_MARKER in _article(html).get_text():
        problems.append(f"the page shows {hidden_plumbing.CHECK_MARKER!r}")
    return problems


def split_streams(html: str) -> list[str]:
    """Cells whose printed output is cut into several boxes of the same stream."""
    problems = []
    for cell in _cells(html):
        output = cell.find("div", class_="cell_output")
        if output is None:
            continue
        streams = [
            "stderr" if "stderr" in block.get("class", []) else "stdout"
            for block in output.find_all("div", class_="output", recursive=False)
            if {"stream", "stderr"} & set(block.get("class", []))
        ]
        for name in ("stdout", "stderr"):
            if streams.count(name) > 1:
                problems.append(
                    f"one cell prints its {name} in {streams.count(name)} boxes, "
                    f"from {_first_line(output.get_text())!r}"
                )
    return problems


RAW_REPRS = [
    (re.compile(r"\{\s*'[^'\n]+'\s*:"), "a dict"),
    (re.compile(r"\[\s*\(\s*'"), "a list of tuples"),
    (re.compile(r"\b(?:tensor|array)\(\["), "a tensor or array"),
    (
        re.compile(r"(?<![\w.])-?\d+\.\d{7,}(?:e[-+]?\d+)?\b"),
        "a float with 7+ decimals",
    ),
    (re.compile(r"\bnp\.float(?:32|64)\("), "a NumPy scalar"),
]


def raw_reprs(html: str) -> list[str]:
    """Outputs that print a Python repr where a formatted table or number belongs."""
    problems = []
    for text in _outputs(html):
        for pattern, what in RAW_REPRS:
            match = pattern.search(text)
            if match:
                line = next(
                    line for line in text.splitlines() if match.group(0) in line
                )
                problems.append(f"{what} printed as a result: {line.strip()[:100]!r}")
    return problems


# An absolute path of a POSIX machine: a slash, then two or more folders, not part of a URL
# (``https://host/a/b``) or of a relative path (``results/a/b``).
ABSOLUTE_PATH = re.compile(r"(?<![\w.:/~$-])/(?:[\w.@+-]+/)+[\w.@+-]*")
SYSTEM_ROOTS = (
    "home",
    "tmp",
    "work",
    "usr",
    "opt",
    "root",
    "var",
    "mnt",
    "srv",
    "Users",
)


def machine_paths(html: str) -> list[str]:
    """Outputs that name a folder of the machine that built the book."""
    problems = []
    for text in _outputs(html):
        for match in ABSOLUTE_PATH.finditer(text):
            path = match.group(0)
            if path.split("/")[1] in SYSTEM_ROOTS or ".venv" in path:
                problems.append(f"a machine path in an output: {path!r}")
    return problems


def repeated_headings(html: str) -> list[str]:
    """Headings whose text appears twice on the page."""
    seen: dict[str, int] = {}
    for heading in _article(html).find_all(["h1", "h2", "h3", "h4", "h5", "h6"]):
        text = " ".join(heading.get_text().replace("#", " ").split())
        if text:
            seen[text] = seen.get(text, 0) + 1
    return [
        f"the heading {text!r} appears {n} times" for text, n in seen.items() if n > 1
    ]


def caption_style_missing(html: str) -> list[str]:
    """The page does not load the style sheet that draws captions in the text's colour."""
    links = [link.get("href", "") for link in _soup(html).find_all("link")]
    if any(CAPTION_CSS in href for href in links):
        return []
    return [f"the page does not load {CAPTION_CSS}"]


PAGE_CHECKS = {
    "plumbing": visible_plumbing,
    "streams": split_streams,
    "reprs": raw_reprs,
    "paths": machine_paths,
    "headings": repeated_headings,
    "captions": caption_style_missing,
}


def check_page(html: str) -> list[str]:
    """Every check of this module on one page."""
    return [problem for check in PAGE_CHECKS.values() for problem in check(html)]
