"""The appendix on number formats: the side-by-side timing and the rules that read it."""

import math
import statistics

import pytest
import torch
from torch import nn

from capsbook import format_timing as ft
from capsbook.runs.recorded import paired_two_se
from capslib.bench import training_step
from capslib.models import CapsNet, CapsNetConfig


def tiny_config() -> CapsNetConfig:
    """A very small CapsNet of the paper's structure."""
    return CapsNetConfig(
        conv_channels=8,
        primary_types=4,
        primary_dim=4,
        digit_dim=6,
        decoder_hidden=(16, 32),
    )


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


# -- the bound: f profiled, the rule that reads it ----------------------------------------
def test_autocast_bound_by_hand():
    assert ft.autocast_bound(0.5, 3.0) == pytest.approx(1.5)  # 1 / (0.5 + 0.5/3)
    assert ft.autocast_bound(0.0, 10.0) == 1.0
    assert ft.autocast_bound(1.0, 2.0) == 2.0
    assert ft.autocast_bound(0.6, math.inf) == pytest.approx(2.5)  # 1 / 0.4
    with pytest.raises(ValueError):
        ft.autocast_bound(1.2, 2.0)


def test_bound_verdict_by_the_rule():
    # gains of 1.50 +- 0.02 (2 SE): above a bound of at most 1.4, within 1.45..1.55
    gains = [1.49, 1.51, 1.48, 1.52]
    assert ft.bound_verdict(gains, 1.3, 1.4) == "exceeded"
    assert ft.bound_verdict(gains, 1.45, 1.55) == "reached"
    assert ft.bound_verdict(gains, 1.7, 1.9) == "below"


def test_format_times_bound_from_shares_and_gemm_gains():
    n = 4
    t = _times(
        [1.0] * n,
        [0.9] * n,  # the small network gains 1.11
        [2.0] * n,
        [1.2, 1.19, 1.21, 1.2],  # the paper network about 1.67, with some noise
        [100.0] * n,
        [200.0] * n,
    )
    t.shares.update(small=[0.3, 0.5, 0.4], paper=[0.8, 0.8])
    # the GEMM gained exactly 2 in every round: SE 0, so the range comes from f only
    assert t.bound("small") == pytest.approx((1 / 0.85, 1 / 0.8, 1 / 0.75))
    assert t.bound("paper") == pytest.approx((1 / 0.6,) * 3)
    assert t.bound_verdict("paper") == "reached"  # 1 / 0.6 = 1.67
    assert t.bound_verdict("small") == "below"  # 1.11 < 1 / 0.85 = 1.18
    t.shares["paper"] = [0.5, 0.6]  # at most 1 / 0.7 = 1.43: 1.67 exceeds it
    assert t.bound_verdict("paper") == "exceeded"


def test_matrix_shares_leaves_out_the_float32_routing():
    from torch.profiler import ProfilerActivity, profile

    torch.manual_seed(0)
    model = CapsNet(tiny_config())
    images, labels = torch.rand(8, 1, 28, 28), torch.arange(8)
    step = training_step(
        model, images, labels, dtype="float32", device=torch.device("cpu")
    )
    step()  # warm
    shares = ft.matrix_shares(step, torch.device("cpu"), steps=2)
    assert len(shares) == 2 and all(0 < s < 1 for s in shares)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step()
    events = prof.events()
    routing = [
        e
        for e in events
        if e.name in ft.GEMM_OPS and ft._in_scope(e, ft.FLOAT32_SCOPES)
    ]
    # the routing's GEMMs exist (forward and backward) and are left out, the rest kept
    assert routing and any("Backward" in e.cpu_parent.name for e in routing)
    kept, everything = ft.gemm_seconds(events), ft.gemm_seconds(events, scopes=())
    routed = sum(e.self_cpu_time_total for e in routing) / 1e6
    assert 0 < kept < everything and everything - kept == pytest.approx(routed)


def test_capslib_keeps_digitcaps_float32_under_cpu_autocast():
    """What the appendix says runs in bf16 on a CPU: the two convolutions and the
    decoder; DigitCaps (W u and the routing) stays float32, so its GEMMs are the
    ones :data:`FLOAT32_SCOPES` leaves out of the share."""
    torch.manual_seed(0)
    model = CapsNet(tiny_config())
    seen = {}

    def note(key, tensor) -> None:  # a hook that returns None changes nothing
        seen.setdefault(key, tensor.dtype)

    # hooks on the DigitCaps layer only: hooks on the convolutions would turn the
    # fused convolution path off
    model.digit_caps.register_forward_pre_hook(lambda m, args: note("u", args[0]))
    model.digit_caps.register_forward_hook(lambda m, args, out: note("v", out))
    linear = next(m for m in model.decoder.modules() if isinstance(m, nn.Linear))
    linear.register_forward_hook(lambda m, args, out: note("decoder", out))
    images, labels = torch.rand(4, 1, 28, 28), torch.tensor([1, 2, 3, 4])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        model(images, labels)
    # the convolutions ran in bf16 (their capsules arrive in bf16), as did the decoder
    assert seen["u"] == torch.bfloat16 and seen["decoder"] == torch.bfloat16
    assert seen["v"] == torch.float32  # W u and the routing: float32
    assert model.digit_caps.weight.dtype == torch.float32
    with torch.autocast("cpu", dtype=torch.bfloat16):  # the reference layer: bf16 W u
        u_hat = model.digit_caps.predictions(torch.rand(4, model.digit_caps.in_caps, 4))
    assert u_hat.dtype == torch.bfloat16


def test_detectable_extra_errors_by_hand():
    # at the most discordance, D = 2 * 106 + d: 2 sqrt(244 - 0.1024) = 31.23 < 32
    assert ft.detectable_extra_errors(106, 10_000) == (32, 4)
    # 144: 2 sqrt(324 - 0.1296) = 35.99 < 36, and 2 sqrt(323 - 0.1225) = 35.93 > 35
    assert ft.detectable_extra_errors(144, 10_000)[0] == 36
    # by the rule itself: one less is within at the most discordance
    for errors in (50, 106, 300):
        surely, _ = ft.detectable_extra_errors(errors, 10_000)
        d = surely - 1
        assert d <= paired_two_se(errors + d, errors, 10_000)[1]
