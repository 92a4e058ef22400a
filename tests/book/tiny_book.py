"""What a book of a page or two needs from this repository to build as the real one does.

Not a test module: the tests that build a tiny book (test_browser.py, test_extensions.py) import it
(pytest puts this folder on ``sys.path``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

#: The configuration, the bibliography, the static files and the Sphinx extensions of the book.
CONFIGURATION = ("_config.yml", "book/references.bib", "_static", "_ext")


def copy_configuration(root: Path) -> Path:
    """Copy :data:`CONFIGURATION` from the repository into the book folder ``root``; return ``root``."""
    for name in CONFIGURATION:
        source, target = REPO / name, root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(
                source, target, ignore=shutil.ignore_patterns("__pycache__")
            )
        else:
            target.write_bytes(source.read_bytes())
    return root
