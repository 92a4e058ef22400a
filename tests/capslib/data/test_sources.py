"""Where the data comes from: complete data, bundled sample, clear errors offline."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

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


def make_mnist_like(folder, n_train=30, n_test=20, seed=0):
    rng = np.random.default_rng(seed)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        write_idx(
            folder / f"{prefix}-images-idx3-ubyte.gz",
            rng.integers(0, 256, (n, 28, 28), dtype=np.uint8),
        )
        write_idx(
            folder / f"{prefix}-labels-idx1-ubyte.gz",
            (np.arange(n) % 10).astype(np.uint8),
        )


def test_bundled_sample(capsys, tmp_path, offline):
    train = load_mnist("train", source="sample", data_dir_=tmp_path)
    test = load_mnist("test", source="sample", data_dir_=tmp_path)
    assert len(train) == 5000 and len(test) == 10000
    assert (
        train.images.shape == (5000, 1, 28, 28) and train.images.dtype == torch.float32
    )
    assert 0.0 == train.images.min() and train.images.max() == 1.0
    assert torch.equal(torch.bincount(train.labels), torch.full((10,), 500))
    assert train.name == "MNIST sample" and "LeCun" in train.credit
    assert "5,000-digit training sample" in capsys.readouterr().out


def test_auto_uses_complete_data_when_present(capsys, tmp_path, offline):
    make_mnist_like(tmp_path / "mnist")
    train = load_mnist("train", data_dir_=tmp_path)
    assert len(train) == 30 and train.name == "MNIST"
    assert (
        f"complete MNIST train set: 30 images from {tmp_path / 'mnist'}"
        in capsys.readouterr().out
    )


def test_capslib_data_environment_variable(monkeypatch, tmp_path, offline):
    make_mnist_like(tmp_path)  # files directly in the folder also count
    monkeypatch.setenv("CAPSLIB_DATA", str(tmp_path))
    assert len(load_mnist("test", verbose=False)) == 20


def test_torchvision_layout_is_found(tmp_path, offline):
    make_mnist_like(tmp_path / "MNIST" / "raw")
    assert (
        len(load_mnist("train", source="full", data_dir_=tmp_path, verbose=False)) == 30
    )


def test_auto_falls_back_to_the_sample_and_says_so(capsys, tmp_path, offline):
    train = load_mnist("train", data_dir_=tmp_path)
    assert train.name == "MNIST sample"
    out = capsys.readouterr().out
    assert "no complete MNIST" in out and "CAPSLIB_DATA" in out


def test_missing_dataset_offline_fails_fast_with_the_fix(tmp_path, offline):
    start = time.monotonic()
    with pytest.raises(
        DataNotFoundError, match=r"no network to download it\. Fix: .*CAPSLIB_DATA"
    ):
        load_mnist("train", source="full", data_dir_=tmp_path)
    assert time.monotonic() - start < 10, (
        "offline, the loader must fail in seconds, not hang"
    )


def test_network_probe_is_bounded(closed_port):
    start = time.monotonic()
    assert sources.network_available(closed_port, timeout=1.0) is False
    assert time.monotonic() - start < 5


def test_mismatched_image_and_label_files(tmp_path, offline):
    make_mnist_like(tmp_path / "mnist")
    write_idx(tmp_path / "mnist" / "train-labels-idx1-ubyte.gz", np.zeros(29, np.uint8))
    with pytest.raises(IDXError, match=r"30 images but .*29 labels"):
        load_mnist("train", data_dir_=tmp_path)


def test_labels_out_of_range(tmp_path, offline):
    make_mnist_like(tmp_path / "mnist")
    write_idx(
        tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz", np.full(20, 12, np.uint8)
    )
    with pytest.raises(IDXError, match=r"labels must lie in 0..9, found 12..12"):
        load_mnist("test", data_dir_=tmp_path)


def test_bad_arguments():
    with pytest.raises(
        ValueError, match="split: expected 'train' or 'test', got 'validation'"
    ):
        load_mnist("validation")
    with pytest.raises(ValueError, match="source must be 'auto', 'full' or 'sample'"):
        load_mnist("train", source="complete")


def test_fashion_mnist_full_missing_says_how_to_install(monkeypatch, tmp_path, offline):
    monkeypatch.setattr(sources, "FASHION_SYSTEM_DIR", tmp_path / "none")
    with pytest.raises(
        DataNotFoundError,
        match=r"no network to download it\. Fix: `sudo apt-get install "
        r"dataset-fashion-mnist`.*fashion-mnist",
    ):
        load_fashion_mnist("train", source="full", data_dir_=tmp_path)


def test_fashion_mnist_from_a_data_folder(monkeypatch, tmp_path, offline):
    monkeypatch.setattr(sources, "FASHION_SYSTEM_DIR", tmp_path / "none")
    make_mnist_like(tmp_path / "fashion-mnist")
    data = load_fashion_mnist("test", data_dir_=tmp_path, verbose=False)
    assert len(data) == 20 and data.classes[9] == "Ankle boot" and "Xiao" in data.credit


def test_subset_is_deterministic(tmp_path, offline):
    train = load_mnist("train", source="sample", verbose=False)
    a, b = train.subset(100, seed=3), train.subset(100, seed=3)
    assert torch.equal(a.images, b.images) and len(a) == 100
    assert torch.equal(train.subset(10).labels, train.labels[:10])
    with pytest.raises(ValueError, match=r"expected 0 < n <= 5000, got 6000"):
        train.subset(6000)


def test_network_probe_bounds_a_stalled_name_lookup(monkeypatch):
    """A resolver that never answers must not stall the loader: the whole probe is bounded."""
    released = threading.Event()

    def stalled_connection(*args, **kwargs):
        released.wait(30)
        raise OSError("the lookup gave up")

    monkeypatch.setattr(sources.socket, "create_connection", stalled_connection)
    start = time.monotonic()
    try:
        assert sources.network_available(("example.invalid", 443), timeout=0.5) is False
        assert time.monotonic() - start < 3
    finally:
        released.set()  # let the abandoned probe thread end now, not during a later test


def test_the_probe_thread_never_raises(monkeypatch):
    """Whatever the connection attempt does (here: returns None, which is no context manager), the probe
    says "no network" and its thread raises nothing (pytest would print PytestUnhandledThreadExceptionWarning)."""
    escaped = []
    monkeypatch.setattr(
        threading, "excepthook", lambda args: escaped.append(args.exc_type)
    )
    monkeypatch.setattr(
        sources.socket, "create_connection", lambda *args, **kwargs: None
    )
    assert sources.network_available(("example.invalid", 443), timeout=2.0) is False
    assert escaped == []


def test_the_offline_fixture_reaches_the_default_probe(offline):
    """load_mnist probes NETWORK_PROBE as it is at call time (so tests can point it at a closed port)."""
    start = time.monotonic()
    assert sources.network_available() is False
    assert time.monotonic() - start < 5


def test_images_of_the_wrong_size_are_refused(tmp_path, offline):
    make_mnist_like(tmp_path / "mnist")
    write_idx(
        tmp_path / "mnist" / "t10k-images-idx3-ubyte.gz",
        np.zeros((20, 32, 32), np.uint8),
    )
    with pytest.raises(IDXError, match=r"32"):
        load_mnist("test", data_dir_=tmp_path)


def test_sample_fallback_says_why(tmp_path, offline, capsys):
    load_mnist("train", data_dir_=tmp_path, download=False)
    assert "downloads were turned off" in capsys.readouterr().out
    load_mnist("train", data_dir_=tmp_path)
    assert "no network to download it" in capsys.readouterr().out


def test_the_bundled_complete_test_set_is_not_called_a_fallback(
    tmp_path, offline, capsys
):
    """The bundled MNIST test split is the complete one: no "no complete MNIST" reason beside it."""
    test = load_mnist("test", data_dir_=tmp_path)
    out = capsys.readouterr().out
    assert len(test) == 10_000
    assert (
        out.strip()
        == "Using the complete MNIST test set, bundled with capslib: 10,000 images"
    )


def test_the_sample_ships_in_the_package_data():
    """pip install (Colab) must carry the bundled sample: pyproject's package-data names it."""
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    pyproject = tomllib.loads(
        (Path(__file__).resolve().parents[3] / "pyproject.toml").read_text()
    )
    patterns = pyproject["tool"]["setuptools"]["package-data"]["capslib"]
    shipped = {
        p.relative_to(sources.SAMPLE_DIR.parents[1]).as_posix()
        for p in sources.SAMPLE_DIR.iterdir()
    }
    from fnmatch import fnmatch

    for name in shipped:
        assert any(fnmatch(name, pattern) for pattern in patterns), (
            f"{name} would be left out of the wheel"
        )


# ----------------------------------------------------------------------------
# issue 23: what the loaders print names the source as the reader knows it, not this machine's folders
# ----------------------------------------------------------------------------
ABSOLUTE_PATH = re.compile(r"(^|[\s(:'\"])/[\w.-]+/")


def _no_machine_paths(text: str, *folders) -> None:
    assert not ABSOLUTE_PATH.search(text), text
    for folder in folders:
        assert str(folder) not in text, text


def test_the_complete_data_is_named_from_capslib_data(
    capsys, tmp_path, monkeypatch, offline
):
    make_mnist_like(tmp_path / "mnist")
    monkeypatch.setenv("CAPSLIB_DATA", str(tmp_path))
    train = load_mnist("train", source="full")
    out = capsys.readouterr().out
    assert out.strip() == (
        "Using the complete MNIST train set: 30 images from $CAPSLIB_DATA/mnist"
    )
    assert train.source == "$CAPSLIB_DATA/mnist"
    _no_machine_paths(out + train.describe(), tmp_path)


def test_the_fallback_reason_and_the_sample_name_no_machine_folder(
    capsys, tmp_path, monkeypatch, offline
):
    monkeypatch.setenv("CAPSLIB_DATA", str(tmp_path / "empty"))
    monkeypatch.setattr(sources, "FASHION_SYSTEM_DIR", tmp_path / "no-system-package")
    mnist = load_mnist("train")
    fashion = load_fashion_mnist("test")
    out = capsys.readouterr().out
    assert "no complete MNIST in $CAPSLIB_DATA/mnist, $CAPSLIB_DATA or" in out
    assert mnist.source == "the MNIST sample bundled with capslib"
    assert fashion.source == "the Fashion-MNIST sample bundled with capslib"
    _no_machine_paths(
        out + mnist.describe() + fashion.describe() + " ".join(mnist.notes),
        tmp_path,
        sources.SAMPLE_DIR,
    )


def test_debians_package_and_the_repository_folder_are_named_as_such(
    capsys, tmp_path, monkeypatch, offline
):
    system = tmp_path / "usr-share-datasets-fashion-mnist"
    make_mnist_like(system)
    monkeypatch.setattr(sources, "FASHION_SYSTEM_DIR", system)
    monkeypatch.delenv("CAPSLIB_DATA", raising=False)
    monkeypatch.setattr(sources, "REPO_DATA_DIR", tmp_path / "repo" / "data")
    monkeypatch.setattr(sources, "_PACKAGE_ROOT", tmp_path / "repo")
    test = load_fashion_mnist("test", source="full")
    load_mnist("train", download=False)
    out = capsys.readouterr().out
    assert "20 images from Debian's dataset-fashion-mnist" in out
    assert test.source == "Debian's dataset-fashion-mnist"
    assert (
        "no complete MNIST in the repository's data/mnist, data or data/MNIST/raw"
        in out
    )
    _no_machine_paths(out, tmp_path)


def test_a_run_description_names_no_machine_folder(tmp_path, monkeypatch, offline):
    from capslib.train import TrainConfig
    from capslib.train.run_data import load_run_data

    make_mnist_like(tmp_path / "mnist", n_train=200, n_test=50)
    monkeypatch.setenv("CAPSLIB_DATA", str(tmp_path))
    settings = TrainConfig(
        dataset="mnist", mode="quick", validation_size=50, config="tiny", device="cpu"
    ).resolved()
    data = load_run_data(settings, torch.device("cpu"), verbose=False)
    _no_machine_paths(data.describe(), tmp_path)


def test_the_fallback_line_informs_in_one_line(tmp_path, offline, capsys):
    """A fresh clone's first output: what was used, why, what the complete set changes,
    how to get it; one line, in that order, and nothing that reads like an error."""
    load_mnist("train", data_dir_=tmp_path)
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    used = out.index(
        "Using the bundled MNIST 5,000-digit training sample: 5,000 images"
    )
    why = out.index("no network to download it")
    change = out.index("the complete set (60,000 training digits) gives")
    fix = out.index("set CAPSLIB_DATA to a folder that holds it in mnist/")
    assert used < why < change < fix
    assert not re.search(r"\berror\b(?! bars)|warning|fail|missing", out, re.I)
