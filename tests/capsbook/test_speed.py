"""capsbook.speed: what chapter 8 times on a GPU and on a CPU, tested on a CPU."""

from pathlib import Path

import pytest
import torch

from capsbook import speed
from capslib import precision

ROOT = Path(__file__).resolve().parents[2]


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
    assert "bfloat16 + torch.compile" in gpu and "batch 128" in gpu
    # a CPU says what it measured, then that the GPU's levers were not
    assert "Measured on CPU AMD EPYC:" in cpu and "4 variants" in cpu
    assert "reference layers" in cpu and "GPU's levers are not measured" in cpu


def test_the_gpu_levers_sentence_never_says_none_measured_on_a_gpu():
    gpu = speed.levers_sentence(speed.speed_plan("cuda", "float16"), "Tesla T4")
    cpu = speed.levers_sentence(speed.speed_plan("cpu"), "CPU AMD EPYC")
    for phrase in ("none of", "No GPU", "not measured", "CPU"):
        assert phrase not in gpu
    assert "float16 autocast and torch.compile" in gpu and "(Tesla T4)" in gpu
    assert "none of the GPU's" in cpu and "built on a CUDA GPU" in cpu


def fake_result(plan, seconds, flops=1e11, gemm=()):
    """A SpeedResult as time_plan would return it, with given seconds per step."""
    times = {v.label: list(t) for v, t in zip(plan.variants, seconds, strict=True)}
    return speed.SpeedResult(
        plan, times, {v.label: flops for v in plan.variants}, list(gemm)
    )


def test_gpu_table_and_reading_from_fake_bench_timings():
    plan = speed.speed_plan("cuda", "bfloat16")
    # medians 0.1, 0.05, 0.04 s per step of 128 -> 1,280, 2,560, 3,200 images/s
    result = fake_result(plan, ([0.1, 0.3, 0.1], [0.05, 0.05, 0.9], [0.04, 0.04, 0.04]))
    assert speed.speed_header(plan) == (
        "step",
        "images/s",
        "ms per step",
        "vs float32",
        "of the GPU's bf16 peak",
    )
    # 1,280 images/s x 1e11 FLOPs = 1.28e14 FLOP/s of a 1,000 TFLOP/s peak: 12.8%
    assert speed.speed_rows(result, peak_tflops=1000.0) == [
        ("float32", "1,280", "100", "1.00", "12.8%"),
        ("bfloat16", "2,560", "50", "2.00", "25.6%"),
        ("bfloat16 + torch.compile", "3,200", "40", "2.50", "32.0%"),
    ]
    assert speed.speed_rows(result)[0][-1] == "peak unknown"
    assert speed.speed_reading(result) == (
        "bfloat16 autocast ran 2.00 times as fast; "
        "adding torch.compile to bfloat16 ran 1.25 times as fast"
    )


def test_gpu_reading_calls_small_ratios_no_clear_difference():
    plan = speed.speed_plan("cuda", "float16")
    result = fake_result(plan, ([0.1], [0.095], [0.2]))
    assert speed.speed_reading(result) == (
        "float16 autocast made no clear difference (1.05 times); "
        "adding torch.compile to float16 ran slower (0.47 times the speed)"
    )


def test_cpu_table_uses_the_same_runs_gemm_as_yardstick():
    plan = speed.speed_plan("cpu", "bfloat16")
    # 0.032 s per step of 32 = 1,000 images/s x 1e9 FLOPs = 1 TFLOP/s of a 4 TFLOP/s GEMM
    result = fake_result(
        plan, ([0.032], [0.064], [0.016], [0.032]), flops=1e9, gemm=[4000.0]
    )
    rows = speed.speed_rows(result)
    assert rows[0] == ("3 iterations, fast paths", "1,000", "32", "1.00", "25.0%")
    assert rows[1][3] == "0.50" and rows[2][3] == "2.00"
    assert speed.speed_reading(result) == (
        "the fast paths against the reference layers ran 2.00 times as fast; "
        "1 routing iteration instead of 3 ran 2.00 times as fast; "
        "bf16 autocast made no clear difference (1.00 times)"
    )


def test_time_plan_on_a_gpu_plan_compiles_one_variant_and_times_no_gemm(monkeypatch):
    """The CUDA branch of time_plan, run with fake bench functions on a CPU."""
    from capslib import functional

    plan = speed.speed_plan("cuda", "bfloat16")
    compiled, built, checks_on = [], [], []

    def fake_compile(model, backend):
        compiled.append((type(model).__name__, backend))
        return model

    def fake_step(runner, images, labels, *, dtype, device):
        built.append((dtype, tuple(images.shape), runner.config.routing_iterations))
        return lambda: None

    def fake_time(fn, *, steps, warmup, device):
        checks_on.append(functional._value_checks_enabled)
        return [0.01 * steps]

    def no_gemm(*args, **kwargs):
        raise AssertionError("a GPU plan times no CPU GEMM")

    monkeypatch.setattr(torch, "compile", fake_compile)
    monkeypatch.setattr(speed, "training_step", fake_step)
    monkeypatch.setattr(speed, "time_calls", fake_time)
    monkeypatch.setattr(speed, "gemm_gflops", no_gemm)
    monkeypatch.setattr(speed, "flops_per_image", lambda model: 1e9)
    result = speed.time_plan(plan, torch.device("cpu"), rounds=3)
    assert compiled == [("CapsNet", "inductor")]  # only the "+ torch.compile" variant
    assert (
        built
        == [("float32", (128, 1, 28, 28), 3)] + [("bfloat16", (128, 1, 28, 28), 3)] * 2
    )
    assert checks_on == [False] * 9  # 3 variants x 3 rounds, value checks off
    assert {k: len(v) for k, v in result.times.items()} == {
        "float32": 3,
        "bfloat16": 3,
        "bfloat16 + torch.compile": 3,
    }
    assert result.gemm_gflops == [] and result.fraction_of_gemm("float32") is None
    assert result.train_flops_per_image["float32"] == 3e9  # forward + backward


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


def test_html_table_pads_every_cell_and_escapes_its_text():
    import re

    data = speed.html_table(("name", "value"), [("a<b", 1.5), ("c", "&")]).data
    cells = re.findall(r"<(t[hd]) style=\"([^\"]*)\">([^<]*)</t[hd]>", data)
    assert [c[2] for c in cells] == ["name", "value", "a&lt;b", "1.5", "c", "&amp;"]
    # every cell, header and body, carries padding on both sides (not 0)
    for _tag, style, _text in cells:
        padding = re.search(r"padding: ([\d.]+)em ([\d.]+)em", style)
        assert padding and float(padding[1]) > 0 and float(padding[2]) > 0
    assert all("border-bottom" in s for t, s, _ in cells if t == "th")
    assert data.count("<tr>") == 3  # the header and two rows
