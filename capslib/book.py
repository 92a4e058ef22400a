"""Helpers for the book's notebooks: put computed numbers into the prose.

The rendered book must never show a number typed by hand.  A notebook
computes a value and calls :func:`glue`; the prose then shows it with MyST's
``{glue:text}`name:.2f``` role.  Outside the book build (on Colab, say) the
value is simply displayed.
"""
from __future__ import annotations

from typing import Any


def glue(name: str, value: Any, *, display: bool = True) -> Any:
    """Make ``value`` available to the prose as ``{glue:text}`name```, and return it.

    Uses ``myst_nb.glue`` where MyST-NB is installed (the book build), else
    prints ``name = value`` so that the reader still sees it.
    """
    try:
        from myst_nb import glue as myst_glue
    except ImportError:
        if display:
            print(f"{name} = {value}")
        return value
    myst_glue(name, value, display=display)
    return value


def on_colab() -> bool:
    """True when running inside Google Colab."""
    import sys

    return "google.colab" in sys.modules
