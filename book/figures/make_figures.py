"""Draw the figures of the book's markdown pages from ``capsbook.diagrams`` (run from anywhere).

    python book/figures/make_figures.py

The markdown pages cannot run code, so their figures are SVG files made by this script and
committed beside it. Each SVG records a fingerprint of the code that drew it (this script and
the module of capsbook.diagrams that draws it, with their shared style); ``tests/capsbook/test_diagrams.py``
fails when that code has changed and the SVG
was not made again.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
#: figure file -> name of the capsbook.diagrams function that draws it
FIGURES = {"book_path.svg": "book_path"}


def fingerprint() -> str:
    """sha256 of this script, of the capsbook/diagrams modules that define the figures' functions,
    and of their shared style (``_style.py``), sorted by name."""
    import inspect

    sys.path.insert(0, str(ROOT))
    from capsbook import diagrams

    sources = {
        Path(inspect.getsourcefile(getattr(diagrams, function))).resolve()
        for function in FIGURES.values()
    }
    sources.add(ROOT / "capsbook" / "diagrams" / "_style.py")
    digest = hashlib.sha256()
    for path in [Path(__file__).resolve(), *sorted(sources)]:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def draw(name: str, function: str, folder: Path = HERE) -> Path:
    import matplotlib

    from capsbook import diagrams

    fig = getattr(diagrams, function)()
    path = folder / name
    with matplotlib.rc_context(
        {"svg.hashsalt": "capsnet-course", "svg.fonttype": "path"}
    ):
        fig.savefig(
            path,
            format="svg",
            bbox_inches="tight",
            metadata={
                "Date": None,
                "Creator": "book/figures/make_figures.py",
                "Description": f"capsbook.diagrams.{function}(); code fingerprint {fingerprint()}",
            },
        )
    return path


def main() -> int:
    sys.path.insert(0, str(ROOT))
    for name, function in FIGURES.items():
        print(f"wrote {draw(name, function).relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
