"""Quick and full modes, the run description, and seeding."""

from __future__ import annotations

import pytest
import torch

import capslib


def test_explicit_modes(monkeypatch):
    monkeypatch.setenv("CAPSLIB_MODE", "full")
    assert capslib.get_mode() == "full"
    monkeypatch.setenv("CAPSLIB_MODE", " Quick ")
    assert capslib.get_mode() == "quick" and capslib.is_quick()
    assert capslib.get_mode("full") == "full"  # the argument wins over the environment


def test_auto_follows_the_hardware(monkeypatch):
    monkeypatch.setenv("CAPSLIB_MODE", "auto")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert capslib.get_mode() == "full"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert capslib.get_mode() == "quick"
    assert capslib.get_mode("auto") == "quick"


@pytest.mark.parametrize("unset", [None, "", "  "])
def test_the_default_is_quick_even_on_a_gpu(monkeypatch, unset):
    # full mode trains for hours: a GPU alone (Colab's) must not start it
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    if unset is None:
        monkeypatch.delenv("CAPSLIB_MODE", raising=False)
    else:
        monkeypatch.setenv("CAPSLIB_MODE", unset)
    assert capslib.get_mode() == "quick" and capslib.is_quick()
    assert capslib.get_mode("full") == "full"  # asked for explicitly
    assert capslib.get_mode("auto") == "full"  # asked for via auto, on the GPU


def test_bad_mode_names_the_fix(monkeypatch):
    monkeypatch.setenv("CAPSLIB_MODE", "fast")
    with pytest.raises(
        ValueError,
        match=r"CAPSLIB_MODE must be one of quick, full or auto, got 'fast'.*export",
    ):
        capslib.get_mode()


def test_describe_run_names_mode_data_and_device():
    line = capslib.describe_run(
        mode="quick", device="cpu", data="MNIST sample, train split: 5,000 images"
    )
    assert line.startswith(
        "mode=quick | data=MNIST sample, train split: 5,000 images | device=CPU "
    )
    # the CPU is named with its thread count (and model, where known)
    assert f"({torch.get_num_threads()} thread" in line


def test_versions_report():
    report = capslib.versions()
    assert (
        report["torch"] == torch.__version__
        and report["capslib"] == capslib.__version__
    )


def test_seed_everything_repeats_random_streams():
    capslib.seed_everything(123)
    a = (
        torch.rand(3),
        __import__("numpy").random.rand(2).tolist(),
        __import__("random").random(),
    )
    capslib.seed_everything(123)
    b = (
        torch.rand(3),
        __import__("numpy").random.rand(2).tolist(),
        __import__("random").random(),
    )
    assert torch.equal(a[0], b[0]) and a[1:] == b[1:]
    with pytest.raises(TypeError):
        capslib.seed_everything(1.5)
    with pytest.raises(ValueError):
        capslib.seed_everything(-1)


def test_no_lazy_submodules():
    """capslib imports its submodules explicitly: no __getattr__ that imports on first access."""
    assert not hasattr(capslib, "__getattr__")
    with pytest.raises(AttributeError):
        capslib.no_such_module


@pytest.mark.parametrize(("threads", "words"), [(1, "1 thread,"), (2, "2 threads,")])
def test_cpu_name_counts_threads_in_words(monkeypatch, threads, words):
    monkeypatch.setattr(torch, "get_num_threads", lambda: threads)
    name = capslib.device_name("cpu")
    assert name.startswith("CPU") and f"({words}" in name, name
