"""capsbook.speed: what chapter 8 times on a GPU and on a CPU, tested on a CPU."""

import json

import pytest
import torch

from capsbook import speed
from capslib import precision


def fake_gpu(monkeypatch, name, capability, native_bf16):
    monkeypatch.setattr(precision, "gpu_has_native_bf16", lambda device: native_bf16)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: name)
    monkeypatch.setattr(
        torch.cuda, "get_device_capability", lambda device=None: capability
    )


def test_gpu_plan_times_float32_bf16_and_compile_on_the_paper_capsnet_at_128():
    plan = speed.speed_plan("cuda", "bfloat16")
    assert plan.on_gpu and plan.batch_size == 128
    assert [(v.dtype, v.compile) for v in plan.variants] == [
        ("float32", False),
        ("bfloat16", False),
        ("bfloat16", True),
    ]
    assert {v.config for v in plan.variants} == {"paper"}


def test_an_h100_like_gpu_times_bf16(monkeypatch):
    fake_gpu(monkeypatch, "NVIDIA H100 80GB HBM3", (9, 0), True)
    assert speed.reduced_dtype("cuda") == "bfloat16"


def test_a_t4_like_gpu_times_float16_not_emulated_bf16(monkeypatch):
    fake_gpu(monkeypatch, "Tesla T4", (7, 5), False)
    reduced = speed.reduced_dtype("cuda")
    assert reduced == "float16"
    labels = [v.label for v in speed.speed_plan("cuda", reduced).variants]
    assert labels == ["float32", "float16", "float16 + torch.compile"]


def test_an_old_gpu_still_times_bf16_against_float32(monkeypatch):
    fake_gpu(monkeypatch, "Tesla P100", (6, 0), False)
    assert speed.reduced_dtype("cuda") == "bfloat16"


def test_cpu_plan_compares_fast_paths_and_adds_bf16_only_where_native():
    with_bf16 = speed.speed_plan("cpu", "bfloat16")
    assert not with_bf16.on_gpu
    assert [v.fast for v in with_bf16.variants][:2] == [True, False]
    assert with_bf16.variants[-1].dtype == "bfloat16"
    without = speed.speed_plan("cpu", "float16")  # a CPU's auto never gives float16
    assert {v.dtype for v in without.variants} == {"float32"}
    assert not any(v.compile for v in with_bf16.variants)


def test_reduced_dtype_must_be_a_reduced_precision():
    with pytest.raises(ValueError, match="reduced must be"):
        speed.speed_plan("cuda", "float32")


def test_the_gpu_sentence_never_says_not_measured():
    gpu = speed.measured_sentence(speed.speed_plan("cuda"), "NVIDIA H100")
    cpu = speed.measured_sentence(speed.speed_plan("cpu"), "CPU AMD EPYC")
    assert "not measured" not in gpu and "Measured on NVIDIA H100:" in gpu
    assert "bfloat16 + torch.compile" in gpu
    assert "not measured here" in cpu and "CPU AMD EPYC" in cpu


def test_time_plan_times_every_variant_in_turns_with_value_checks_restored():
    from capslib import functional

    plan = speed.SpeedPlan(
        "cpu",
        4,
        (
            speed.Variant("fast", "small", "float32", routing_iterations=1),
            speed.Variant(
                "reference", "small", "float32", routing_iterations=1, fast=False
            ),
        ),
    )
    before = functional._value_checks_enabled
    result = speed.time_plan(plan, torch.device("cpu"), rounds=2, gemm_size=64)
    assert functional._value_checks_enabled == before
    assert {k: len(v) for k, v in result.times.items()} == {"fast": 2, "reference": 2}
    assert len(result.gemm_gflops) == 2
    assert result.images_per_s("fast") > 0
    assert (
        result.train_flops_per_image["fast"]
        == result.train_flops_per_image["reference"]
    )
    assert 0 < result.fraction_of_gemm("fast")


def write_run(folder, name, dtype, accuracy, test_size=10_000):
    run = folder / name
    run.mkdir()
    summary = {
        "dtype": dtype,
        "dtype_reason": f"--dtype {dtype} was asked for",
        "test_accuracy": accuracy,
        "test_size": test_size,
        "images_per_s": 100.0,
    }
    (run / "summary.json").write_text(json.dumps(summary))


def test_parity_rows_are_empty_until_a_pair_is_recorded(tmp_path):
    assert speed.parity_rows(tmp_path) == []
    write_run(tmp_path, "parity-small-float32", "float32", 0.99)
    assert speed.parity_rows(tmp_path) == []  # its bf16 twin is not there yet


def test_parity_rows_give_the_difference_and_two_standard_errors(tmp_path):
    write_run(tmp_path, "parity-small-float32", "float32", 0.99)
    write_run(tmp_path, "parity-small-bfloat16", "bfloat16", 0.985)
    rows = speed.parity_rows(tmp_path)
    assert [r[2] for r in rows] == ["float32", "bfloat16"]
    model, epochs, dtype, reason, accuracy, diff, two_se, within, ips = rows[1]
    assert (model, epochs, accuracy, ips) == ("small CapsNet", 3, 0.985, 100.0)
    assert diff == pytest.approx(-0.005)
    expected = 2 * ((0.99 * 0.01 + 0.985 * 0.015) / 10_000) ** 0.5
    assert two_se == pytest.approx(expected)
    assert within is False  # 0.5 points apart where two standard errors are 0.31
    assert reason == "--dtype bfloat16 was asked for"
    assert rows[0][5:8] == (None, None, None)
