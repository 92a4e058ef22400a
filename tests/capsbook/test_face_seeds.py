"""capsbook.robustness.face_seeds: the scrambled-face rule over seeds, by hand, and one tiny training."""

import math

import pytest
import torch

from capsbook.robustness.face_seeds import (
    FACE_ACCURACY_FLOOR,
    MIN_SEEDS,
    face_data,
    face_seeds_verdict,
    train_face_pair,
)


def _seed(seed, cnn_rate, caps_rate, cnn_acc=0.99, caps_acc=0.99):
    return {
        "seed": seed,
        "cnn": {"rate": cnn_rate, "accuracy": cnn_acc},
        "capsnet": {"rate": caps_rate, "accuracy": caps_acc},
    }


def test_the_rule_by_hand():
    # d = 0.3, 0.1, 0.2, 0.4, 0.0: mean 0.2, sd sqrt(0.1 / 4) = 0.158, SE 0.0707
    rates = [(0.8, 0.5), (0.6, 0.5), (0.7, 0.5), (0.9, 0.5), (0.5, 0.5)]
    result = face_seeds_verdict([_seed(i, *r) for i, r in enumerate(rates)])
    se = math.sqrt(0.1 / 4) / math.sqrt(5)
    assert result.difference == pytest.approx(0.2)
    assert result.se == pytest.approx(se)
    assert result.verdict == "held"  # 0.2 > 2 * 0.0707
    assert (result.seeds, result.cnn_rate, result.capsnet_rate) == (
        5,
        pytest.approx(0.7),
        pytest.approx(0.5),
    )
    assert "mean of 5 seeds: CapsNet 50.0%, CNN 70.0%" in result.measured
    assert f"+20.0%, 2 SE over seeds {2 * se:.1%}" in result.measured
    swapped = [_seed(i, b, a) for i, (a, b) in enumerate(rates)]
    assert face_seeds_verdict(swapped).verdict.startswith("did not hold")


def test_the_seeds_spread_not_the_images_decides():
    # a large mean difference that flips sign from seed to seed: not shown
    rates = [(0.9, 0.1), (0.1, 0.9), (0.95, 0.05), (0.2, 0.7), (0.8, 0.3)]
    result = face_seeds_verdict([_seed(i, *r) for i, r in enumerate(rates)])
    assert result.difference == pytest.approx(0.18)
    assert 2 * result.se > 0.18 and result.verdict.startswith("not shown")


def test_floors_and_too_few_seeds():
    good = [_seed(i, 0.8, 0.5) for i in range(MIN_SEEDS)]
    assert face_seeds_verdict(good[:-1]).verdict == (
        f"not tested (fewer than {MIN_SEEDS} seeds)"
    )
    low = good[:3] + [_seed(3, 0.8, 0.5, caps_acc=0.84)] + good[4:]
    assert face_seeds_verdict(low).verdict == (
        "not tested (a detector below 85% on seed 3)"
    )
    assert FACE_ACCURACY_FLOOR == 0.85


def test_one_seed_trains_both_detectors_on_one_budget():
    data = face_data(16, 8)
    pair = train_face_pair(3, data, epochs=1, batch_size=8)
    assert pair["seed"] == 3
    for net in ("cnn", "capsnet"):
        r = pair[net]
        assert r["examples_seen"] == 32
        assert r["face"].shape == (8,) and r["face"].dtype == torch.bool
        assert r["rate"] == pytest.approx(r["face"].float().mean().item())
        assert 0.0 <= r["accuracy"] <= 1.0 and r["cpu_seconds"] > 0
    # the same seed gives the same detectors: the record can be re-measured
    again = train_face_pair(3, data, epochs=1, batch_size=8)
    assert torch.equal(again["cnn"]["face"], pair["cnn"]["face"])
    assert torch.equal(again["capsnet"]["face"], pair["capsnet"]["face"])
