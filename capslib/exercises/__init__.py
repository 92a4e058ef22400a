"""Checks for the book's exercises.

Each chapter has a module ``capslib.exercises.chNN`` whose ``check_*``
functions take the reader's answer, run it against properties and values
computed by the tested library, print what passed and what did not, and
return a :class:`CheckReport`.  They are reachable from this package
directly: ``capslib.exercises.check_squash(my_squash)``.
"""
from __future__ import annotations

import importlib
import pkgutil

from .report import CheckReport, check

__all__ = ["CheckReport", "check"]


def __getattr__(name: str):
    """Find ``check_*`` functions in the chapter modules (``ch00``, ``ch01``, ...)."""
    if name.startswith("check_"):
        for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
            if info.name.startswith("ch"):
                module = importlib.import_module(f"{__name__}.{info.name}")
                if hasattr(module, name):
                    return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
