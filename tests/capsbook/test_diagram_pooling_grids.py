"""Chapter 2's diagram of pool1's and pool2's grids: the cells it draws are what max pooling computes."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from capsbook.diagrams.pooling import (
    GRID_FEATURES,
    pooled_columns,
    pooling_grids,
    pooling_grids_example,
)
from capsbook.pooling import shift_images


def test_pooled_columns_by_hand():
    # pixels 1 and 6: pool1 cells 0 and 3 (2 px wide), pool2 cells 0 and 1 (4 px wide)
    assert pooled_columns([1, 6], 2) == [0, 3]
    assert pooled_columns([0, 3], 2, 8) == [0, 1]
    assert pooled_columns([3, 8], 2) == [1, 4]


def test_the_example_is_two_max_poolings_of_shifted_rows():
    rows = pooling_grids_example()
    image = torch.zeros(1, 1, 1, 16)
    image[..., list(GRID_FEATURES)] = 1.0
    for row in rows:
        moved = shift_images(image, row["shift"], 0)
        pool1 = F.max_pool2d(moved, (1, 2))
        pool2 = F.max_pool2d(pool1, (1, 2))
        assert row["pool1"] == torch.nonzero(pool1.flatten()).flatten().tolist()
        assert row["pool2"] == torch.nonzero(pool2.flatten()).flatten().tolist()


def test_the_shifts_show_what_the_chapter_reads():
    first, two, four = pooling_grids_example()
    assert two["pool1"] == [c + 1 for c in first["pool1"]]  # pool1: one cell on
    # pool2 after 2 px: neither in place nor moved one cell
    assert two["pool2"] not in (first["pool2"], [c + 1 for c in first["pool2"]])
    assert four["pool2"] == [c + 1 for c in first["pool2"]]  # 4 px: one pool2 cell


def test_the_figure_names_the_rows_and_the_verdicts():
    fig = pooling_grids()
    strings = [t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text"))]
    assert strings.count("pool2") == 3 and strings.count("pool1") == 3
    assert any("no shift matches" in s for s in strings)
    assert any("moved 1 cell" in s and "pool2" in s for s in strings)
    assert tuple(fig.get_size_inches()) == (7.5, 4.3)
