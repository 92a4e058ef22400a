"""Chapter 4's vote-chain diagram: its numbers are the squash's, and it reads at the book's width."""

from __future__ import annotations

import math

from capsbook.diagrams.capsules import (
    VOTE_LENGTH,
    vote_chain,
    vote_chain_numbers,
)


def test_agreeing_votes_add_their_lengths_and_squash_by_hand():
    agreeing = vote_chain_numbers()["agreeing"]
    s = 4 * VOTE_LENGTH
    assert math.isclose(float(agreeing["s"].norm()), s, rel_tol=1e-12)
    assert math.isclose(float(agreeing["v"].norm()), s**2 / (1 + s**2), rel_tol=1e-7)


def test_scattered_votes_are_shorter_and_the_squash_widens_the_contrast():
    numbers = vote_chain_numbers()
    agreeing, scattered = numbers["agreeing"], numbers["scattered"]
    ratio_s = float(agreeing["s"].norm() / scattered["s"].norm())
    ratio_v = float(agreeing["v"].norm() / scattered["v"].norm())
    # both sums are below 1, where the squash is near-quadratic
    assert float(agreeing["s"].norm()) < 1 and 1.5 < ratio_s < ratio_v
    # the scattered sum is near a random walk's 2 x the vote length
    assert 0.5 * 2 * VOTE_LENGTH < float(scattered["s"].norm()) < 2 * 2 * VOTE_LENGTH


def test_the_figure_reads_at_the_book_width():
    fig = vote_chain()
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    width, height = fig.get_figwidth() * fig.dpi, fig.get_figheight() * fig.dpi
    assert 700 <= width <= 800 and height <= 600
    texts = [
        t
        for t in fig.findobj(
            lambda a: hasattr(a, "get_text") and hasattr(a, "get_fontsize")
        )
        if t.get_text().strip()
    ]
    assert texts and min(t.get_fontsize() for t in texts) >= 9
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in texts]
    for name, box in boxes:
        assert box.x0 >= -0.5 and box.x1 <= width + 0.5, name
        assert box.y0 >= -0.5 and box.y1 <= height + 0.5, name
    for k, (a, box_a) in enumerate(boxes):
        for b, box_b in boxes[k + 1 :]:
            overlap_x = min(box_a.x1, box_b.x1) - max(box_a.x0, box_b.x0)
            overlap_y = min(box_a.y1, box_b.y1) - max(box_a.y0, box_b.y0)
            assert overlap_x <= 0.5 or overlap_y <= 0.5, (a, b)
