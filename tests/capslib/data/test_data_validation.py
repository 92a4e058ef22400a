"""Data input that must not slip through (issue #13): a download that never answers, images of the
wrong type or range, labels that are not class indices, and full mode without data."""

from __future__ import annotations

import socket
import time

import numpy as np
import pytest
import torch

from capslib.data import (
    DataNotFoundError,
    IDXError,
    load_fashion_mnist,
    load_mnist,
    sources,
    write_idx,
)


def write_pair(folder, images, labels, prefix="t10k"):
    write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", images)
    write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", labels)


# ------------------------------------------------------------------------ a captive portal
@pytest.fixture
def captive_portal(monkeypatch, tmp_path):
    """A local host that accepts TCP connections and never answers, standing in for every dataset host.

    The probe reaches it (so the loader believes there is a network); torchvision's mirrors point at it;
    each socket operation of the download may wait 1 s.
    """
    import torchvision

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(
        16
    )  # the kernel completes every handshake; nobody ever reads or answers
    host, port = server.getsockname()
    monkeypatch.setattr(sources, "NETWORK_PROBE", (host, port))
    for dataset in (torchvision.datasets.MNIST, torchvision.datasets.FashionMNIST):
        monkeypatch.setattr(dataset, "mirrors", [f"http://{host}:{port}/"])
    monkeypatch.setenv("CAPSLIB_DOWNLOAD_TIMEOUT", "1")
    monkeypatch.setattr(
        sources, "FASHION_SYSTEM_DIR", tmp_path / "no-system-package"
    )  # hide Debian's
    yield host, port
    server.close()


def test_a_download_that_never_answers_falls_back_to_the_sample(
    captive_portal, tmp_path, capsys
):
    assert sources.network_available() is True  # the portal accepts the connection
    start = time.monotonic()
    train = load_mnist("train", data_dir_=tmp_path)
    fashion = load_fashion_mnist("test", data_dir_=tmp_path)
    assert time.monotonic() - start < 10, (
        "each download must give up after the configured timeout"
    )
    assert train.name == "MNIST sample" and fashion.name == "Fashion-MNIST sample"
    out = capsys.readouterr().out
    assert (
        "its download failed (TimeoutError" in out and "CAPSLIB_DOWNLOAD_TIMEOUT" in out
    )
    assert "download failed" in fashion.notes[0]
    # the attempt leaves no partial file behind for the next run to trip over
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


def test_full_mode_with_a_download_that_never_answers_names_the_fix(
    captive_portal, tmp_path
):
    start = time.monotonic()
    with pytest.raises(
        DataNotFoundError,
        match=r"its download failed \(TimeoutError.*Fix: .*CAPSLIB_DATA",
    ):
        load_mnist("test", source="full", data_dir_=tmp_path)
    assert time.monotonic() - start < 10


@pytest.mark.parametrize("value", ["0", "-3", "soon"])
def test_the_download_timeout_must_be_a_positive_number(monkeypatch, value):
    monkeypatch.setenv("CAPSLIB_DOWNLOAD_TIMEOUT", value)
    with pytest.raises(
        ValueError,
        match="CAPSLIB_DOWNLOAD_TIMEOUT must be a positive number of seconds",
    ):
        sources.download_timeout()
    monkeypatch.delenv("CAPSLIB_DOWNLOAD_TIMEOUT")
    assert sources.download_timeout() == sources.DOWNLOAD_TIMEOUT_S


# ------------------------------------------------------------------------ image types and ranges
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float_images_in_unit_range_are_not_divided_again(tmp_path, offline, dtype):
    images = np.random.default_rng(0).random((20, 28, 28)).astype(dtype)
    images[0, 0, 0], images[0, 0, 1] = 0.0, 1.0
    write_pair(tmp_path / "mnist", images, np.arange(20, dtype=np.uint8) % 10)
    data = load_mnist("test", data_dir_=tmp_path, verbose=False)
    assert data.images.dtype == torch.float32 and data.images.max() == 1.0
    assert torch.allclose(
        data.images[:, 0], torch.from_numpy(images.astype(np.float32))
    )


def test_uint8_images_are_scaled_by_one_over_255(tmp_path, offline):
    images = np.arange(20 * 28 * 28).reshape(20, 28, 28).astype(np.uint8)
    write_pair(tmp_path / "mnist", images, np.zeros(20, np.uint8))
    data = load_mnist("test", data_dir_=tmp_path, verbose=False)
    flat = data.images.flatten()  # pixel i holds i % 256
    assert (
        flat[255].item() == 1.0
        and flat[51].item() == pytest.approx(0.2)
        and flat[256].item() == 0.0
    )


@pytest.mark.parametrize(
    "bad, message",
    [
        (2.0, r"float images must lie in \[0, 1\], found 0..2"),
        (-0.5, r"float images must lie in \[0, 1\], found -0.5..1"),
        (np.nan, r"1 pixel values are NaN or infinite"),
        (np.inf, r"1 pixel values are NaN or infinite"),
    ],
)
def test_float_images_out_of_range_or_not_finite_are_refused(
    tmp_path, offline, bad, message
):
    images = np.zeros((20, 28, 28), np.float32)
    images[1] = 1.0
    images[3, 4, 5] = bad
    write_pair(tmp_path / "mnist", images, np.zeros(20, np.uint8))
    with pytest.raises(IDXError, match=rf"t10k-images-idx3-ubyte.gz: {message}"):
        load_mnist("test", data_dir_=tmp_path)


@pytest.mark.parametrize("dtype", [np.int16, np.int8, np.int32])
def test_other_integer_images_are_refused_with_the_types_that_work(
    tmp_path, offline, dtype
):
    write_pair(
        tmp_path / "mnist", np.full((20, 28, 28), 100, dtype), np.zeros(20, np.uint8)
    )
    with pytest.raises(
        IDXError,
        match=rf"images of type {np.dtype(dtype).name} are not read as images: "
        r"expected unsigned bytes 0..255 .* or floats in \[0, 1\]",
    ):
        load_mnist("test", data_dir_=tmp_path)


# ------------------------------------------------------------------------ labels
@pytest.mark.parametrize(
    "labels",
    [np.arange(20, dtype=np.float32) % 10, np.where(np.arange(20) == 7, np.nan, 1.0)],
)
def test_float_or_nan_labels_are_refused(tmp_path, offline, labels):
    write_pair(tmp_path / "mnist", np.zeros((20, 28, 28), np.uint8), labels)
    with pytest.raises(
        IDXError,
        match=r"t10k-labels-idx1-ubyte.gz: labels must be integers .* "
        r"the file holds float(32|64) values",
    ):
        load_mnist("test", data_dir_=tmp_path)


@pytest.mark.parametrize("dtype", [np.int16, np.int32, np.int8])
def test_integer_labels_of_any_width_are_read_as_int64(tmp_path, offline, dtype):
    write_pair(
        tmp_path / "mnist",
        np.zeros((20, 28, 28), np.uint8),
        (np.arange(20) % 10).astype(dtype),
    )
    data = load_mnist("test", data_dir_=tmp_path, verbose=False)
    assert data.labels.dtype == torch.int64 and data.labels.tolist() == [
        i % 10 for i in range(20)
    ]


def test_negative_labels_are_refused(tmp_path, offline):
    write_pair(
        tmp_path / "mnist", np.zeros((20, 28, 28), np.uint8), np.full(20, -1, np.int16)
    )
    with pytest.raises(IDXError, match=r"labels must lie in 0..9, found -1..-1"):
        load_mnist("test", data_dir_=tmp_path)


# ------------------------------------------------------------------------ full mode without data, from the CLI
def test_full_mode_without_data_ends_in_one_clear_line_from_the_cli(
    monkeypatch, tmp_path, offline, capsys
):
    from capslib.train.__main__ import main

    monkeypatch.setenv("CAPSLIB_DATA", str(tmp_path))
    monkeypatch.setenv("CAPSLIB_MODE", "full")
    assert main(["--dataset", "mnist", "--device", "cpu", "--no-progress"]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith(
        "error: load_mnist: source='full' needs the complete MNIST train files"
    )
    assert (
        "Fix: copy the four MNIST files into one of those folders, or point CAPSLIB_DATA"
        in lines[0]
    )
