"""Chapter 6's diagram of the two losses: its numbers come from the config, and it reads."""

from __future__ import annotations

import pytest

from capsbook.diagrams.losses import two_losses, two_losses_numbers
from capslib.models import CapsNetConfig


def _texts(fig):
    return [
        t for t in fig.findobj(lambda a: hasattr(a, "get_fontsize")) if t.get_text()
    ]


def test_the_papers_numbers_by_hand():
    n = two_losses_numbers(CapsNetConfig.paper())
    assert n["pixels"] == 28 * 28 == n["mean_weaker"] == 784
    assert n["scale"] == 0.0005 and n["hidden"] == (512, 1024)
    assert (n["m_plus"], n["m_minus"], n["lambda_"]) == (0.9, 0.1, 0.5)
    assert (n["capsules"], n["dim"]) == (10, 16)


def test_another_image_size_changes_what_the_mean_divides_by():
    # 36 x 36 MultiMNIST: the mean divides by 1,296, and the diagram says so
    config = CapsNetConfig.small(input_size=36)
    n = two_losses_numbers(config)
    assert n["pixels"] == 1296
    strings = " ".join(t.get_text() for t in _texts(two_losses(config)))
    assert "mean (÷1296)" in strings and "1296 pixels" in strings
    assert "784" not in strings


def test_the_figure_draws_both_losses_and_reads_at_the_book_width():
    fig = two_losses()
    assert 700 <= fig.get_figwidth() * fig.dpi <= 800
    assert fig.get_figheight() * fig.dpi <= 450
    texts = _texts(fig)
    strings = [t.get_text() for t in texts]
    joined = " ".join(strings)
    for part in ("margin loss", "mask: keep", "decoder", "sum (paper)", "+"):
        assert part in joined, part
    assert "× 0.0005" in strings and "mean (÷784)" in joined
    # text size, inside the figure, no overlaps: tests/capsbook/test_diagrams.py (ALL)


@pytest.mark.parametrize("config", [CapsNetConfig.paper(), CapsNetConfig.small()])
def test_each_label_fits_inside_its_box(config):
    """No label spills over the edge of the box drawn around it."""
    fig = two_losses(config)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    patches = [
        p.get_window_extent(renderer)
        for p in ax.patches
        if type(p).__name__ == "FancyBboxPatch"
    ]
    assert len(patches) == 8  # capsules, lengths, margin, mask, decoder, ...
    for t in _texts(fig):
        b = t.get_window_extent(renderer)
        cx, cy = (b.x0 + b.x1) / 2, (b.y0 + b.y1) / 2
        around = [p for p in patches if p.x0 < cx < p.x1 and p.y0 < cy < p.y1]
        for p in around:
            assert p.x0 <= b.x0 and b.x1 <= p.x1, t.get_text()
            assert p.y0 <= b.y0 and b.y1 <= p.y1, t.get_text()
