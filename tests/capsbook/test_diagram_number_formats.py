"""The appendix's number-format figures: widths and bounds from the formats themselves."""

import math

import pytest
import torch
from matplotlib.patches import Rectangle

from capsbook.diagrams import number_formats as nf


@pytest.mark.parametrize(
    "dtype, fields",
    [
        (torch.float32, {"sign": 1, "exponent": 8, "mantissa": 23}),
        (torch.bfloat16, {"sign": 1, "exponent": 8, "mantissa": 7}),
        (torch.float16, {"sign": 1, "exponent": 5, "mantissa": 10}),
    ],
)
def test_fields_by_hand(dtype, fields):
    assert nf.format_fields(dtype) == fields
    assert sum(fields.values()) == torch.finfo(dtype).bits


def test_unit_roundoff_is_half_a_gap_at_one():
    assert nf.unit_roundoff(torch.float32) == 2.0**-24
    assert nf.unit_roundoff(torch.bfloat16) == 2.0**-8
    assert nf.unit_roundoff(torch.float16) == 2.0**-11


@pytest.mark.parametrize("dtype", nf.FORMATS)
def test_measured_errors_stay_within_the_bound_in_the_normal_range(dtype):
    info = torch.finfo(dtype)
    values = torch.logspace(
        math.log10(info.tiny), math.log10(info.max) - 0.01, 5000, dtype=torch.float64
    )
    errors = nf.rounding_errors(values, dtype)
    assert errors.max() <= nf.unit_roundoff(dtype)
    assert errors.max() > 0.5 * nf.unit_roundoff(dtype)  # the bound is nearly reached


def test_rounding_errors_by_hand():
    x = torch.tensor([1.0, 1 + 2.0**-8, 1e6], dtype=torch.float64)
    errors = nf.rounding_errors(x, torch.float16)
    assert errors[0] == 0  # 1 is exact
    assert errors[1] == 0  # float16 keeps 10 bits after the point: exact
    assert math.isinf(errors[2])  # beyond 65,504: rounds to infinity
    bf = nf.rounding_errors(
        torch.tensor([1 + 2.0**-9], dtype=torch.float64), torch.bfloat16
    )
    assert bf[0] == pytest.approx(2.0**-9 / (1 + 2.0**-9))  # a tie: rounds to even 1


def test_bit_layout_draws_one_box_per_bit():
    fig = nf.bit_layout()
    boxes = [p for p in fig.axes[0].patches if isinstance(p, Rectangle)]
    assert len(boxes) == sum(torch.finfo(d).bits for d in nf.FORMATS)  # 32 + 16 + 16
    words = " ".join(t.get_text() for t in fig.axes[0].texts)
    for label in ("mantissa 23", "mantissa 7", "exponent 5", "mantissa 10"):
        assert label in words
    assert "largest 65,504" in words and "8 significant bits" in words
    assert fig.get_figwidth() == 7.5


def test_rounding_error_plot_draws_each_bound():
    fig = nf.rounding_error_plot(n=200)
    ax = fig.axes[0]
    bounds = sorted(line.get_ydata()[0] for line in ax.get_lines())
    assert bounds == [2.0**-24, 2.0**-11, 2.0**-8]
    assert len(ax.collections) == 3
