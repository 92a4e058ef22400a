"""Shared fixtures. Tests run on the CPU in quick mode with a fixed seed.

The tests mirror the packages: tests/capslib/ and tests/capsbook/ (one file per module),
tests/book/ for the book as a whole (its structure, pages in a browser, packaging, system
packages). The browser tests' Chromium is in tests/book/conftest.py.
"""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("CAPSLIB_MODE", "quick")
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(autouse=True)
def _seeded():
    """Every test starts from the same random state."""
    import capslib

    capslib.seed_everything(0)
    yield
