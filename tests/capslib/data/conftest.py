"""Fixtures of the data tests: a machine with no network, and a few hundred MNIST test digits."""

from __future__ import annotations

import socket

import pytest

from capslib.data import load_mnist, sources


@pytest.fixture
def closed_port() -> tuple[str, int]:
    """A loopback port nothing listens on: connecting is refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()


@pytest.fixture
def offline(monkeypatch, closed_port):
    """No network: the probe goes to a closed loopback port."""
    monkeypatch.setattr(sources, "NETWORK_PROBE", closed_port)


@pytest.fixture(scope="module")
def digits():
    """300 digits of the MNIST test set (complete in the bundled sample too)."""
    return load_mnist("test", source="sample", verbose=False).subset(300)
