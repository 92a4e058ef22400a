"""Chapter 4's widening rule, against hand computation, and its committed measurement."""

from __future__ import annotations

import math

import pytest
import torch

from capsbook import squash_contrast as sc
from capslib import pretrained
from capslib.data import load_mnist


def test_squashed_length_and_its_inverse_by_hand():
    assert sc.squashed_length(1.0) == 0.5
    assert math.isclose(sc.squashed_length(3.0), 0.9)
    assert math.isclose(sc.input_length(0.9), 3.0)
    v = torch.tensor([0.0, 0.2, 0.5, 0.8])
    assert torch.allclose(sc.input_length(v), torch.tensor([0.0, 0.5, 1.0, 2.0]))


@pytest.mark.parametrize(
    "a, b, ratio_out, widens",
    [
        # f(2) = 0.8; f(0.25) = 0.0625 / 1.0625 = 1 / 17: out 13.6 > in 8
        (2.0, 0.25, 0.8 * 17, True),
        # f(1) = 0.5: out 1.6 < in 2
        (2.0, 1.0, 1.6, False),
        # the agreeing sum longer than 2, yet widened: product 0.75 < 1;
        # f(2.5) = 6.25 / 7.25, f(0.3) = 0.09 / 1.09
        (2.5, 0.3, (6.25 / 7.25) / (0.09 / 1.09), True),
        # the same long sum against a longer random one: product 1.25 > 1
        (2.5, 0.5, (6.25 / 7.25) / 0.2, False),
        # both short: product 0.18, widened
        (0.6, 0.3, (0.36 / 1.36) / (0.09 / 1.09), True),
    ],
)
def test_the_rule_on_each_side_of_the_boundary(a, b, ratio_out, widens):
    ratio_in, out = sc.contrast(a, b)
    assert math.isclose(ratio_in, a / b) and math.isclose(out, ratio_out)
    assert (out > ratio_in) == widens == sc.widens(a, b) == (a * b < 1)


def test_at_the_boundary_the_ratio_is_kept_exactly():
    # a b = 1: f(2) / f(0.5) = 0.8 / 0.2 = 4 = 2 / 0.5
    ratio_in, ratio_out = sc.contrast(2.0, 0.5)
    assert math.isclose(ratio_in, ratio_out) and ratio_out == pytest.approx(4.0)
    assert not sc.widens(2.0, 0.5)


def test_the_rule_is_the_sign_of_the_identity_on_many_pairs():
    generator = torch.Generator().manual_seed(0)
    a, b = torch.rand(2, 10_000, generator=generator, dtype=torch.float64) * 4 + 1e-3
    ratio_in, ratio_out = sc.contrast(a, b)
    away = ((a - b) * (1 - a * b)).abs() > 1e-9  # not on the boundary
    assert torch.equal((ratio_out > ratio_in)[away], sc.widens(a, b)[away])
    # for a > b it is the product alone
    longer = (a > b) & away
    assert torch.equal(sc.widens(a, b)[longer], (a * b < 1)[longer])


def test_present_and_rival_pick_the_label_and_the_longest_other():
    lengths = torch.tensor([[0.1, 0.9, 0.3], [0.5, 0.2, 0.4]], dtype=torch.float64)
    v_p, v_a = sc.present_and_rival(lengths, torch.tensor([1, 2]))
    assert v_p.tolist() == [0.9, 0.4] and v_a.tolist() == [0.3, 0.5]


def test_verdict_needs_two_standard_errors():
    # 2 * sqrt(0.25 / 400) = 0.05
    assert sc.verdict(0.56, 400) == "widens"
    assert sc.verdict(0.54, 400) == "undecided"
    assert sc.verdict(0.44, 400) == "narrows"
    assert sc.verdict(0.54, 10_000) == "widens"


def test_summarise_by_hand():
    # s_p = 3 (v 0.9), s_a = 0.25 (v 1/17): product 0.75, widened
    # s_p = 3, s_a = 0.5 (v 0.2): product 1.5, narrowed
    v_present = torch.tensor([0.9, 0.9], dtype=torch.float64)
    summary = sc.summarise(v_present, torch.tensor([1 / 17, 0.2], dtype=torch.float64))
    assert summary["digits"] == 2 and summary["widened"] == 0.5
    assert summary["se"] == pytest.approx(math.sqrt(0.25 / 2))
    assert summary["saturated"] == pytest.approx(1.0)
    assert summary["median_product"] == pytest.approx(0.75)  # lower median


def test_the_record_holds_a_random_sample_of_test_digits_and_its_verdict():
    record = sc.read_result()
    summary = record["summary"]
    n = summary["digits"]
    assert 1_000 <= n <= 10_000 and record["model"] == "mnist-capsnet"
    assert record["model_sha256"] == pretrained.info("mnist-capsnet")["sha256"]
    assert summary["widened"] == pytest.approx(1 - len(record["narrowed"]) / n)
    assert record["verdict"] == sc.verdict(summary["widened"], n)
    measured = set(sc.digit_order()[:n].tolist())
    assert record["narrowed"] == sorted(set(record["narrowed"]))
    assert set(record["narrowed"]) <= measured >= set(record["near_boundary"])
    for field in ("commit", "device", "torch", "date", "wall_seconds", "command"):
        assert record["provenance"][field]


def test_digit_order_is_a_seeded_permutation():
    order = sc.digit_order()
    assert sorted(order.tolist()) == list(range(10_000))
    assert torch.equal(order, sc.digit_order()) and order[:5].tolist() != list(range(5))


def test_the_record_and_the_shipped_model_agree_on_its_first_digits():
    record = sc.read_result()
    model = pretrained.load("mnist-capsnet", "cpu").model
    test = load_mnist("test", source="sample", verbose=False)
    index = sc.digit_order()[:40]
    lengths = sc.capsule_lengths(model, test.images[index])
    v_p, v_a = sc.present_and_rival(lengths, test.labels[index])
    flags = sc.widens(sc.input_length(v_p), sc.input_length(v_a))
    boundary, narrowed = set(record["near_boundary"]), set(record["narrowed"])
    for i, flag in zip(index.tolist(), flags.tolist()):
        if i not in boundary:
            assert flag == (i not in narrowed), i
