"""Helpers for the book's notebooks: put computed numbers into the prose.

The rendered book must never show a number typed by hand.  A notebook
computes a value and calls :func:`glue`; the prose then shows it with MyST's
``{glue:text}`name:.2f``` role.  Outside the book build (on Colab, say) the
value is simply displayed.
"""

from __future__ import annotations

from typing import Any


def glue(name: str, value: Any, *, display: bool = True) -> None:
    """Make ``value`` available to the prose as ``{glue:text}`name```.

    Uses ``myst_nb.glue`` where MyST-NB is installed (the book build), else
    prints ``name = value`` so that the reader still sees it.  Returns
    ``None``, as ``myst_nb.glue`` does: a ``glue(..., display=False)`` on a
    cell's last line must not put its value on the page as the cell's result.
    """
    try:
        from myst_nb import glue as myst_glue
    except ImportError:
        if display:
            print(f"{name} = {value}")
        return None
    myst_glue(name, value, display=display)
    return None


def on_colab() -> bool:
    """True when running inside Google Colab."""
    import sys

    return "google.colab" in sys.modules
