"""--dtype auto: chosen by what the hardware computes natively (capslib.precision), printed and recorded."""

import json

import pytest
import torch

import capslib.runtime as runtime
from capslib.precision import DtypeChoice, choose_dtype, cpu_bf16_units

EPYC_FLAGS = {
    "sse4_2",
    "avx2",
    "avx512f",
    "avx512_bf16",
    "avx512_vnni",
}  # AMD EPYC (Zen 4)
XEON_AMX_FLAGS = {
    "avx2",
    "avx512f",
    "amx_tile",
    "amx_bf16",
    "amx_int8",
}  # Intel Xeon (Sapphire Rapids)
AVX2_FLAGS = {"sse4_2", "avx2", "fma"}  # no bf16 units


def test_bf16_units_are_read_from_the_flags_not_the_vendor():
    assert cpu_bf16_units(EPYC_FLAGS) == ["AVX512_BF16"]
    assert cpu_bf16_units(XEON_AMX_FLAGS) == ["AMX"]
    assert cpu_bf16_units(AVX2_FLAGS) == []
    assert cpu_bf16_units({"avx512f"}) == []  # AVX-512 alone computes bf16 by emulation


@pytest.mark.parametrize(
    "flags, expected",
    [
        (EPYC_FLAGS, "bfloat16"),
        (XEON_AMX_FLAGS, "bfloat16"),
        (AVX2_FLAGS, "float32"),
        (set(), "float32"),
    ],
)
def test_auto_on_a_cpu(monkeypatch, flags, expected):
    monkeypatch.setattr(runtime, "cpu_flags", lambda: set(flags))
    choice = choose_dtype("auto", torch.device("cpu"))
    assert choice.name == expected
    assert choice.reason.startswith("auto: ")
    assert (choice.autocast is torch.bfloat16) == (expected == "bfloat16")


def test_an_explicit_dtype_is_taken_as_asked(monkeypatch):
    monkeypatch.setattr(runtime, "cpu_flags", lambda: set(AVX2_FLAGS))
    assert choose_dtype("bfloat16", "cpu") == DtypeChoice(
        "bfloat16", "--dtype bfloat16 was asked for"
    )
    assert choose_dtype("float32", "cpu").autocast is None
    with pytest.raises(
        ValueError, match="expected one of auto, float32, bfloat16, float16, got 'half'"
    ):
        choose_dtype("half", "cpu")


def _fake_gpu(monkeypatch, name, capability, native_bf16):
    """Patch the CUDA queries as a GPU ``name`` would answer them (no GPU needed)."""

    def is_bf16_supported(including_emulation=True):
        return (
            native_bf16 or including_emulation
        )  # this torch counts emulation unless told not to

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", is_bf16_supported)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: name)
    monkeypatch.setattr(
        torch.cuda, "get_device_capability", lambda device=None: capability
    )


def test_a_t4_like_gpu_gets_float16_not_emulated_bf16(monkeypatch):
    _fake_gpu(monkeypatch, "Tesla T4", (7, 5), native_bf16=False)
    choice = choose_dtype("auto", torch.device("cuda"))
    assert choice.name == "float16" and choice.autocast is torch.float16
    assert "no native bf16" in choice.reason and "loss scaling" in choice.reason


def test_an_h100_like_gpu_gets_bf16(monkeypatch):
    _fake_gpu(monkeypatch, "NVIDIA H100 80GB HBM3", (9, 0), native_bf16=True)
    assert choose_dtype("auto", torch.device("cuda")).name == "bfloat16"


def test_an_old_gpu_gets_float32(monkeypatch):
    _fake_gpu(monkeypatch, "Tesla P100", (6, 0), native_bf16=False)
    assert choose_dtype("auto", torch.device("cuda")).name == "float32"


@pytest.fixture(scope="module")
def tiny(tiny_run):
    """This file's tiny run (tests/capslib/conftest.py)."""
    return tiny_run(
        epochs=1,
        train_size=64,
        validation_size=32,
        test_size=32,
        eval_batch_size=32,
        dtype="auto",
    )


@pytest.mark.parametrize(
    "flags, expected", [(EPYC_FLAGS, "bfloat16"), (AVX2_FLAGS, "float32")]
)
def test_the_choice_and_its_reason_are_printed_and_recorded(
    monkeypatch, tmp_path, capsys, flags, expected, tiny
):
    from capslib.train import TrainConfig, train

    monkeypatch.setattr(runtime, "cpu_flags", lambda: set(flags))
    result = train(TrainConfig(**tiny, out=str(tmp_path / "run")))
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["dtype"] == expected == result.summary["dtype"]
    assert summary["dtype_reason"].startswith("auto: this CPU has")
    assert f"dtype={expected} (auto: this CPU has" in capsys.readouterr().out


def test_a_resume_that_auto_would_run_in_another_dtype_is_refused(
    monkeypatch, tmp_path, tiny
):
    from capslib.train import TrainConfig, train
    from capslib.train.checkpoint import CheckpointError

    monkeypatch.setattr(runtime, "cpu_flags", lambda: set(EPYC_FLAGS))
    out = str(tmp_path / "run")
    train(TrainConfig(**{**tiny, "max_steps": 1}, out=out), verbose=False)
    monkeypatch.setattr(
        runtime, "cpu_flags", lambda: set(AVX2_FLAGS)
    )  # the run moves to an AVX2 machine
    with pytest.raises(
        CheckpointError, match="trained in bfloat16.*Fix: add --dtype bfloat16"
    ):
        train(TrainConfig(**tiny, out=out), resume=True, verbose=False)
    result = train(
        TrainConfig(**{**tiny, "dtype": "bfloat16"}, out=out),
        resume=True,
        verbose=False,
    )
    assert result.summary["dtype"] == "bfloat16"
