"""Chapter 1's stride-and-padding strip and receptive-field growth (capsbook.diagrams.conv_geometry)."""

from __future__ import annotations

import torch

from capsbook.classifiers import SmallCNN
from capsbook.conv_arithmetic import receptive_field, receptive_field_and_jump
from capsbook.diagrams.conv_geometry import (
    field_rows,
    growth_steps,
    receptive_field_growth,
    stride_padding_strip,
    strip_example,
)


def test_the_strip_outputs_are_the_window_sums_by_hand():
    ex = strip_example()
    padded, kernel = ex["padded"], ex["kernel"]
    assert padded == [0, 3, 1, 4, 1, 5, 9, 2, 0]
    assert ex["windows"] == [(0, 2), (2, 4), (4, 6), (6, 8)], "stride 2, 3 cells"
    by_hand = [
        sum(padded[first + u] * kernel[u] for u in range(3))
        for first, _ in ex["windows"]
    ]
    assert ex["output"] == by_hand == [7, 10, 20, 13]
    assert ex["size"] == (7 + 2 - 3) // 2 + 1 == len(ex["output"])


def test_the_strip_follows_other_settings():
    ex = strip_example([1, 2, 3, 4, 5, 6], [1, 1], padding=0, stride=3)
    assert ex["padded"] == [1, 2, 3, 4, 5, 6]
    assert ex["windows"] == [(0, 1), (3, 4)] and ex["output"] == [3, 9]


def test_the_fields_are_the_rule_measured_on_the_network():
    rows = field_rows()
    assert [r["name"] for r in rows] == ["conv1", "pool1", "conv2", "pool2"]
    layers = [(r["kernel"], r["stride"]) for r in rows]
    assert layers == [(5, 1), (2, 2), (5, 1), (2, 2)]
    sides = [r["extent"][2] for r in rows]
    assert sides == [r["extent"][3] for r in rows], "square fields"
    assert sides == [receptive_field(layers[: n + 1]) for n in range(4)]
    assert sides == [5, 6, 14, 16]
    assert [r["step"] for r in rows] == [
        receptive_field_and_jump(layers[:n])[1] for n in range(4)
    ]


def test_each_layer_adds_kernel_minus_one_steps_around_the_field_below():
    for row in growth_steps(field_rows()):
        left, width = row["field"]
        p_left, p_width = row["previous"]
        assert left <= p_left and p_left + p_width <= left + width, "nested"
        assert len(row["groups"]) == row["kernel"] - 1
        assert all(len(g) == row["step"] for g in row["groups"])
        assert sorted(sum(row["groups"], [])) == row["added"]
        assert width == p_width + (row["kernel"] - 1) * row["step"]


def test_a_trained_network_has_the_same_fields():
    torch.manual_seed(3)
    model = SmallCNN(channels=(4, 4), hidden=8)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(3.0)  # other weights: the field is the layers', not the weights'
    assert [r["extent"] for r in field_rows(model)] == [
        r["extent"] for r in field_rows()
    ]


def test_both_figures_are_drawn_at_the_book_width():
    for fig in (stride_padding_strip(), receptive_field_growth()):
        assert 700 <= fig.get_figwidth() * fig.dpi <= 800
