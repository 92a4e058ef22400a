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


@pytest.fixture
def hidden_complete_set(monkeypatch, tmp_path):
    """No complete Fashion-MNIST anywhere and no network: the state of a fresh offline machine."""
    import socket

    from capslib.data import sources

    monkeypatch.setattr(sources, "FASHION_SYSTEM_DIR", tmp_path / "no-system-package")
    with socket.socket() as s:  # a closed loopback port: "no network", answered at once
        s.bind(("127.0.0.1", 0))
        monkeypatch.setattr(sources, "NETWORK_PROBE", s.getsockname())
    monkeypatch.setenv("CAPSLIB_DATA", str(tmp_path / "data"))
    return tmp_path
