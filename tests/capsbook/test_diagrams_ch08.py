"""Chapter 8's diagrams: the data path and the paired 2 x 2 table, right and readable."""

from __future__ import annotations

import math

import pytest
from matplotlib.patches import FancyBboxPatch

from capsbook.diagrams.paired_table import paired_table, paired_table_values
from capsbook.diagrams.pipeline import data_pipeline, pipeline_numbers
from capsbook.paired import paired_comparison

DIAGRAMS = {
    "pipeline": lambda: data_pipeline(title="Fig. 8.1: the trainer's data path"),
    "paired_table": lambda: paired_table(title="Fig. 8.4: two epochs"),
}


def _texts(fig):
    return [
        t
        for t in fig.findobj(
            lambda a: hasattr(a, "get_text") and hasattr(a, "get_fontsize")
        )
        if t.get_text().strip() and t.get_visible()
    ]


@pytest.mark.parametrize("name", DIAGRAMS)
def test_readable_at_the_book_width(name):
    fig = DIAGRAMS[name]()
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    assert 700 <= fig.get_figwidth() * fig.dpi <= 800
    assert fig.get_figheight() * fig.dpi <= 600
    texts = [(t, t.get_window_extent(renderer)) for t in _texts(fig)]
    assert texts and min(t.get_fontsize() for t, _ in texts) >= 9
    w, h = fig.bbox.width, fig.bbox.height
    for t, b in texts:  # inside the figure
        assert b.x0 >= -0.5 and b.y0 >= -0.5 and b.x1 <= w + 0.5 and b.y1 <= h + 0.5, t
    for k, (a, ba) in enumerate(texts):  # no two texts overlap
        for b, bb in texts[k + 1 :]:
            overlap_x = min(ba.x1, bb.x1) - max(ba.x0, bb.x0)
            overlap_y = min(ba.y1, bb.y1) - max(ba.y0, bb.y0)
            assert overlap_x <= 0.5 or overlap_y <= 0.5, (a.get_text(), b.get_text())
    boxes = [
        p.get_window_extent(renderer)
        for p in fig.axes[0].patches
        if isinstance(p, FancyBboxPatch)
    ]
    for t, tb in texts:  # a text centred in a box fits in it
        cx, cy = (tb.x0 + tb.x1) / 2, (tb.y0 + tb.y1) / 2
        for bb in boxes:
            if bb.x0 < cx < bb.x1 and bb.y0 < cy < bb.y1:
                assert bb.x0 - 0.5 <= tb.x0 and tb.x1 <= bb.x1 + 0.5, t.get_text()
                assert bb.y0 - 0.5 <= tb.y0 and tb.y1 <= bb.y1 + 0.5, t.get_text()


def test_pipeline_sizes_by_hand():
    n = pipeline_numbers()
    assert n["disk_mb"] == pytest.approx(60_000 * 784 / 1e6)  # one byte per pixel
    assert n["device_mb"] == pytest.approx(4 * n["disk_mb"])  # float32
    assert (n["train"], n["validation"]) == (55_000, 5_000)
    assert n["steps_per_epoch"] == 429  # 55,000 // 128, the last partial batch dropped
    assert pipeline_numbers(batch_size=100)["steps_per_epoch"] == 550


def test_pipeline_prints_the_numbers_it_computes():
    fig = data_pipeline(batch_size=64, max_shift=3)
    words = " ".join(t.get_text() for t in _texts(fig))
    assert "859 steps per epoch" in words  # 55,000 // 64
    assert "a batch of 64" in words and "up to 3 px" in words
    assert "188 MB" in words and "47 MB" in words


def test_paired_table_by_hand_and_against_mcnemar():
    v = paired_table_values(20, 5, 20, 5000)
    assert (v["errors_a"], v["errors_b"], v["both_right"]) == (40, 25, 4955)
    assert (v["d"], v["D"]) == (15, 25)
    assert v["two_se"] == pytest.approx(2 * math.sqrt(25 - 15**2 / 5000))
    assert v["verdict"] == "beyond"  # 15 > 9.99
    # from the counts alone D is in [15, 65]: 2 SE in [7.7, 16.1], undecided
    assert v["counts_bounds"] == pytest.approx(
        (2 * math.sqrt(15 - 0.045), 2 * math.sqrt(65 - 0.045))
    )
    assert v["counts_verdict"] == "undecided"
    # the same cells as sets of digits: paired_comparison finds the same off-diagonals
    wrong_a = set(range(40))  # 0..19 shared, 20..39 only A
    wrong_b = set(range(20)) | set(range(40, 45))  # 40..44 only B
    assert paired_comparison(wrong_a, wrong_b)[:2] == (v["a_only"], v["b_only"])


def test_paired_table_refuses_impossible_counts():
    with pytest.raises(ValueError, match="must be a count"):
        paired_table_values(-1, 5, 20, 5000)
    with pytest.raises(ValueError, match="more than n"):
        paired_table_values(20, 5, 20, 40)


def test_paired_table_prints_its_values():
    fig = paired_table(3, 9, 1, 100, names=("P", "Q"))
    words = " ".join(t.get_text() for t in _texts(fig))
    v = fig.capslib_values
    assert v["d"] == -6 and v["D"] == 12
    assert "only P wrong" in words and "only Q wrong" in words
    assert f"{v['two_se']:.1f}" in words and "87" in words  # both right: 100 - 13
