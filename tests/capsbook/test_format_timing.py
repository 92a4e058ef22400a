"""The appendix on number formats: the side-by-side timing and the rules that read it."""

import math
import statistics

import pytest
import torch

from capsbook import format_timing as ft


def _times(small32, small16, paper32, paper16, gemm32=None, gemm16=None):
    n = len(small32)
    return ft.FormatTimes(
        batch_size=32,
        steps={
            "small": {"float32": small32, "bfloat16": small16},
            "paper": {"float32": paper32, "bfloat16": paper16},
        },
        gemm={"float32": gemm32 or [100.0] * n, "bfloat16": gemm16 or [300.0] * n},
        train_flops_per_image={"small": 1e8, "paper": 1e9},
    )


def test_mean_se_by_hand():
    m = ft.mean_se([1.0, 2.0, 3.0])
    assert m.mean == 2.0 and m.n == 3
    assert m.se == pytest.approx(1 / math.sqrt(3))  # stdev 1
    assert (m.low, m.high) == pytest.approx(
        (2 - 2 / math.sqrt(3), 2 + 2 / math.sqrt(3))
    )
    with pytest.raises(ValueError):
        ft.mean_se([1.0])


def test_gain_verdict_counts_only_what_clears_the_noise():
    assert ft.gain_verdict([1.5, 1.6, 1.55, 1.45]) == "a gain"
    assert ft.gain_verdict([0.5, 0.55, 0.6]) == "a loss"
    # a mean of 1.3, but with this spread 1.1 lies within two SEs: not shown
    assert ft.gain_verdict([0.8, 1.8, 1.3]) == "not shown"
    assert ft.gain_verdict([1.0, 1.02, 0.98]) == "not shown"


def test_compare_gains_is_paired_by_round():
    # each round's load moves both ratios alike; the paper's is always 0.1 above
    small = [1.2, 1.8, 1.4, 1.6]
    paper = [1.3, 1.9, 1.5, 1.7]
    m, which = ft.compare_gains(paper, small)
    assert m.mean == pytest.approx(0.1) and m.se == pytest.approx(0, abs=1e-12)
    assert which == "more"
    assert ft.compare_gains(small, paper)[1] == "less"
    # unpaired, the same numbers would overlap; swap rounds to break the pairing
    assert ft.compare_gains(paper, small[::-1])[1] == "not shown"
    with pytest.raises(ValueError):
        ft.compare_gains([1.0, 2.0], [1.0])


def test_format_times_ratios_and_speeds_by_hand():
    t = _times([0.6, 0.5], [0.3, 0.5], [2.0, 3.0], [1.0, 2.0], [100.0, 50.0])
    assert t.rounds == 2 and t.configs == ("small", "paper")
    assert t.gains("small") == pytest.approx([2.0, 1.0])
    assert t.gains("paper") == pytest.approx([2.0, 1.5])
    assert t.gemm_gains() == pytest.approx([3.0, 6.0])
    assert t.images_per_s("paper", "float32") == pytest.approx(32 / 2.5)
    # 1e9 FLOPs per image x 12.8 images/s = 12.8 GFLOP/s, over a median GEMM of 75
    assert t.fraction_of_gemm("paper") == pytest.approx(12.8 / 75)


def test_size_reading_says_what_the_rule_decided():
    n = 6
    held = _times([1.0] * n, [0.9] * n, [2.0] * n, [1.0] * n)
    assert "expectation held" in ft.size_reading(held, "a CPU")
    failed = _times([1.0] * n, [0.5] * n, [2.0] * n, [1.6] * n)
    assert "expectation failed" in ft.size_reading(failed, "a CPU")
    noisy = _times(
        [1.0, 1.0, 1.0, 1.0], [0.5, 0.8, 0.6, 0.7], [1.0] * 4, [0.6, 0.7, 0.5, 0.8]
    )
    words = ft.size_reading(noisy, "a CPU")
    assert "not shown" in words and "Over 4 rounds on a CPU" in words


def test_time_formats_times_each_pair_every_round():
    torch.manual_seed(0)
    t = ft.time_formats(torch.device("cpu"), rounds=2, configs=("small",), gemm_size=64)
    assert t.rounds == 2
    assert all(len(v) == 2 for v in t.steps["small"].values())
    assert all(s > 0 for v in t.steps["small"].values() for s in v)
    assert len(t.gains("small")) == 2 and len(t.gemm_gains()) == 2
    assert t.train_flops_per_image["small"] > 0
    assert statistics.median(t.gemm["float32"]) > 0
    for rounds in (1, 3):  # each order must come as often as the other
        with pytest.raises(ValueError, match="even"):
            ft.time_formats(torch.device("cpu"), rounds=rounds, configs=("small",))
