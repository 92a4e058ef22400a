"""Chapter 9's diagram of the primary-capsule grid: every patch is what the layers see."""

from __future__ import annotations

import pytest
import torch

from capsbook.conv_arithmetic import mask_extent, measured_receptive_field
from capsbook.diagrams.primary_grid import primary_capsule_grid, primary_positions
from capslib.models import CapsNet, CapsNetConfig


def test_the_papers_positions_by_hand():
    positions = primary_positions(CapsNetConfig.paper())
    assert len(positions) == 36
    # conv1 9x9 then 9x9 stride 2: 9 + (9 - 1) x 1 = 17 pixels, 2 apart
    assert positions[0] == {
        "y": 0,
        "x": 0,
        "top": 0,
        "left": 0,
        "bottom": 16,
        "right": 16,
    }
    assert positions[-1] == {
        "y": 5,
        "x": 5,
        "top": 10,
        "left": 10,
        "bottom": 26,
        "right": 26,
    }
    assert positions[1]["left"] - positions[0]["left"] == 2


@pytest.mark.parametrize(
    "config",
    [
        # the channel counts do not change what a position sees: few, to keep it fast
        CapsNetConfig.paper(conv_channels=16, primary_types=2),
        CapsNetConfig.small(input_size=40, conv_channels=16, primary_types=2),
    ],
    ids=["paper", "small-40px"],
)
def test_each_patch_is_what_back_propagation_reaches(config):
    """The drawn patch of a position is the set of input pixels its capsules depend on."""
    torch.manual_seed(0)
    net = CapsNet(config).eval()

    def primary_conv(x):
        return net.primary_caps.conv(torch.relu(net.conv1(x)))

    positions = primary_positions(config)
    g = config.primary_grid
    assert len(positions) == g * g
    for p in (positions[0], positions[g + 1], positions[-1]):
        mask = measured_receptive_field(
            primary_conv,
            (1, config.input_size, config.input_size),
            (p["y"], p["x"]),
            n_probes=8,
        )
        top, left, height, width = mask_extent(mask)
        assert (top, left) == (p["top"], p["left"])
        assert (top + height - 1, left + width - 1) == (p["bottom"], p["right"])


def test_the_figure_reads_at_the_book_width_and_draws_every_position():
    from capslib.data import load_mnist

    image = load_mnist("test", source="sample", verbose=False).images[0]
    fig = primary_capsule_grid(CapsNetConfig.paper(), image=image)
    assert 700 <= fig.get_figwidth() * fig.dpi <= 800
    assert fig.get_figheight() * fig.dpi <= 600
    assert fig.capslib_positions == primary_positions(CapsNetConfig.paper())
    assert fig.capslib_highlighted == [(0, 0), (2, 3), (5, 5)]
    texts = [
        t for t in fig.findobj(lambda a: hasattr(a, "get_fontsize")) if t.get_text()
    ]
    strings = [t.get_text() for t in texts]
    assert "hatched: row and column 27, seen by no position" in strings
    assert "cell (y, x) sees the shaded 17×17 patch" in strings
    # text size, inside the figure, no overlaps: tests/capsbook/test_diagrams.py (ALL)


def test_a_grid_that_covers_the_input_hatches_nothing():
    # conv1 5x5, primary 3x3 stride 1 on 28x28: 22 positions, the last ends at 27
    config = CapsNetConfig.small(conv_kernel=5, primary_kernel=3, primary_stride=1)
    positions = primary_positions(config)
    assert positions[-1]["bottom"] == config.input_size - 1
    fig = primary_capsule_grid(config)
    assert not [
        t
        for t in fig.findobj(lambda a: hasattr(a, "get_text"))
        if "hatched" in t.get_text()
    ]
