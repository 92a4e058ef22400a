"""The Fashion-MNIST sample bundled with capslib, and the loader's fallback to it.

The complete set (Debian's ``dataset-fashion-mnist``) may or may not be installed where the
tests run: the fallback tests hide it by pointing ``sources.FASHION_SYSTEM_DIR`` at an empty
folder, so they hold either way; the one test that needs the complete set skips without it.
"""

from __future__ import annotations

import hashlib
import importlib.util
from fnmatch import fnmatch
from pathlib import Path

import numpy as np
import pytest
import torch

from capslib.data import DataNotFoundError, load_fashion_mnist, read_idx, sources

REPO = Path(__file__).resolve().parents[3]
SAMPLE = sources.FASHION_SAMPLE_DIR
COMPLETE = Path(
    "/usr/share/datasets/fashion-mnist"
)  # where Debian's package puts it (never monkeypatched)


def load_script():
    spec = importlib.util.spec_from_file_location(
        "make_fashion_mnist_sample", REPO / "scripts" / "make_fashion_mnist_sample.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_sample_is_real_balanced_and_of_the_promised_size():
    train = read_idx(SAMPLE / "train-labels-idx1-ubyte.gz")
    test = read_idx(SAMPLE / "t10k-labels-idx1-ubyte.gz")
    assert np.array_equal(np.bincount(train, minlength=10), np.full(10, 500))
    assert np.array_equal(np.bincount(test, minlength=10), np.full(10, 200))
    images = read_idx(SAMPLE / "train-images-idx3-ubyte.gz")
    assert images.shape == (5000, 28, 28) and images.dtype == np.uint8
    # shuffled: the first 100 images already hold every class
    assert len(set(train[:100].tolist())) == 10


def test_the_sample_files_match_their_sha256sums():
    sums = dict(
        line.split()[::-1]
        for line in (SAMPLE / "SHA256SUMS").read_text().splitlines()
        if line.strip()
    )
    assert set(sums) == {p.name for p in SAMPLE.glob("*.gz")} and len(sums) == 4
    for name, digest in sums.items():
        assert hashlib.sha256((SAMPLE / name).read_bytes()).hexdigest() == digest, name


def test_no_training_image_of_the_sample_is_in_its_test_images():
    train = {
        image.tobytes() for image in read_idx(SAMPLE / "train-images-idx3-ubyte.gz")
    }
    test = {image.tobytes() for image in read_idx(SAMPLE / "t10k-images-idx3-ubyte.gz")}
    assert len(train) == 5000 and len(test) == 2000 and not train & test


def test_the_sample_is_small():
    """It ships in the wheel beside trained weights: about 3 MB (the MNIST sample is 2.4 MB)."""
    total = sum(p.stat().st_size for p in SAMPLE.iterdir())
    assert total < 3.5e6, f"the Fashion-MNIST sample has grown to {total / 1e6:.1f} MB"


def test_the_drawing_is_class_balanced_seeded_and_shuffled():
    script = load_script()
    labels = np.repeat(np.arange(10), 30)
    a, b = (
        script.draw_balanced(labels, 7, seed=5),
        script.draw_balanced(labels, 7, seed=5),
    )
    assert np.array_equal(a, b) and len(np.unique(a)) == 70
    assert np.array_equal(np.bincount(labels[a]), np.full(10, 7))
    assert not np.array_equal(
        labels[a], np.sort(labels[a])
    )  # shuffled, not class after class
    assert not np.array_equal(a, script.draw_balanced(labels, 7, seed=6))
    with pytest.raises(ValueError, match="class 0 has 30 examples, fewer than the 31"):
        script.draw_balanced(labels, 31, seed=0)


@pytest.mark.skipif(
    not (COMPLETE / "train-images-idx3-ubyte.gz").is_file(),
    reason="the complete Fashion-MNIST (apt-get install dataset-fashion-mnist) is not installed",
)
def test_the_script_draws_the_bundled_sample_again_from_the_complete_set():
    script = load_script()
    for split, (images_name, labels_name) in script.FILES.items():
        images, labels, index = script.make_split(COMPLETE, split)
        assert np.array_equal(read_idx(SAMPLE / images_name), images)
        assert np.array_equal(read_idx(SAMPLE / labels_name), labels)
        official = read_idx(COMPLETE / images_name)
        assert np.array_equal(
            official[index[:5]], images[:5]
        )  # rows of the official files
    assert (
        script.main(["--check", "--source", str(COMPLETE), "--out", str(SAMPLE)]) == 0
    )


def test_both_samples_ship_in_the_wheel():
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["capslib"]
    for folder in (sources.SAMPLE_DIR, SAMPLE):
        for path in folder.iterdir():
            name = path.relative_to(REPO / "capslib").as_posix()
            assert any(fnmatch(name, pattern) for pattern in patterns), (
                f"{name} would be left out of the wheel"
            )


# ------------------------------------------------------------------------------ the fallback
def test_without_the_complete_set_the_loader_returns_the_sample_and_says_why(
    hidden_complete_set, capsys
):
    """What the appendix's first data cell does on a fresh offline machine."""
    train = load_fashion_mnist("train")
    test = load_fashion_mnist("test")
    out = capsys.readouterr().out
    assert (len(train), len(test)) == (5000, 2000)
    assert (
        train.name == test.name == "Fashion-MNIST sample"
        and train.describe().startswith("Fashion-MNIST sample")
    )
    assert (
        train.images.shape == (5000, 1, 28, 28) and train.images.dtype == torch.float32
    )
    assert train.images.min() == 0 and train.images.max() == 1
    assert train.classes[9] == "Ankle boot" and "Xiao" in train.credit
    assert (
        "Using the bundled Fashion-MNIST training sample (500 images of each class)"
        in out
    )
    assert "no complete Fashion-MNIST in" in out and "no network to download it" in out
    assert "apt-get install dataset-fashion-mnist" in out
    assert "no network" in train.notes[0]  # the dataset carries the reason


def test_full_refuses_the_sample_and_names_the_fix(hidden_complete_set):
    with pytest.raises(DataNotFoundError) as caught:
        load_fashion_mnist("test", source="full")
    message = str(caught.value)
    assert "\n" not in message
    assert "source='full' needs the complete Fashion-MNIST test files" in message
    assert "Fix: `sudo apt-get install dataset-fashion-mnist`" in message
    assert (
        str(hidden_complete_set / "data" / "fashion-mnist") in message
    )  # where the files would go


def test_the_complete_set_wins_over_the_sample(hidden_complete_set, capsys):
    from capslib.data import write_idx

    folder = hidden_complete_set / "data" / "fashion-mnist"
    write_idx(
        folder / "t10k-images-idx3-ubyte.gz", np.full((12, 28, 28), 255, np.uint8)
    )
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.arange(12, dtype=np.uint8) % 10)
    test = load_fashion_mnist("test", source="full")
    assert test.name == "Fashion-MNIST" and len(test) == 12 and test.images.max() == 1
    assert (
        "complete Fashion-MNIST test set: 12 images from $CAPSLIB_DATA/fashion-mnist"
        in capsys.readouterr().out
    )


def test_source_sample_needs_no_reason(capsys):
    data = load_fashion_mnist("train", source="sample")
    assert len(data) == 5000 and data.notes == ["bundled sample (asked for)"]
    assert capsys.readouterr().out.strip() == (
        "Using the bundled Fashion-MNIST training sample "
        "(500 images of each class): 5,000 images"
    )
    with pytest.raises(
        ValueError,
        match="load_fashion_mnist: source must be 'auto', 'full' or 'sample'",
    ):
        load_fashion_mnist("train", source="complete")


def test_a_missing_sample_is_an_error_not_a_silent_empty_set(
    hidden_complete_set, monkeypatch
):
    monkeypatch.setattr(
        sources, "FASHION_SAMPLE_DIR", hidden_complete_set / "no-sample"
    )
    with pytest.raises(
        DataNotFoundError, match="bundled Fashion-MNIST sample is missing"
    ):
        load_fashion_mnist("train")


def test_the_trainer_runs_on_the_sample_when_the_complete_set_is_absent(
    hidden_complete_set,
):
    from capslib.train import TrainConfig
    from capslib.train.trainer import load_run_data

    config = TrainConfig(
        dataset="fashion-mnist",
        mode="quick",
        train_size=64,
        validation_size=32,
        test_size=48,
    ).resolved()
    data = load_run_data(config, torch.device("cpu"), verbose=False)
    assert data.name == "Fashion-MNIST sample" and "Xiao" in data.credit
    assert (len(data.train), len(data.validation), len(data.test)) == (64, 32, 48)
