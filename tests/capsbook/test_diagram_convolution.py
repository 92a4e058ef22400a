"""Chapter 1's convolution diagram (capsbook.diagrams.convolution): right, and readable."""

from __future__ import annotations

import itertools

from capsbook.diagrams.convolution import (
    INPUT,
    KERNEL,
    NEXT,
    WINDOW,
    _sum_line,
    convolution_example,
    convolution_window,
)


def by_hand(r: int, c: int) -> int:
    """The feature map at (r, c): the sum of the 9 products of window and kernel."""
    return sum(
        INPUT[r + u][c + v] * KERNEL[u][v]
        for u, v in itertools.product(range(3), [0, 1, 2])
    )


def test_the_feature_map_is_the_sum_of_products_at_every_position():
    ex = convolution_example()
    assert ex["output"] == [[by_hand(r, c) for c in range(3)] for r in range(3)]
    # a vertical-edge filter: negative where ink rises to the right, positive where it falls
    assert ex["output"][1][0] < 0 < ex["output"][1][2]


def test_the_outlined_value_and_its_arithmetic():
    ex = convolution_example()
    assert ex["value"] == by_hand(*WINDOW) == sum(map(sum, ex["products"]))
    line = _sum_line(ex)
    assert line.endswith(f"= {ex['value']}") and line.count("·") == 9
    assert NEXT == (WINDOW[0], WINDOW[1] + 1), "the next window is one pixel on"


def test_readable_at_the_book_width():
    fig = convolution_window()
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    width_px = fig.get_figwidth() * fig.dpi
    assert 700 <= width_px <= 800
    texts = [
        t for t in fig.findobj(lambda a: hasattr(a, "get_fontsize")) if t.get_text()
    ]
    assert texts and min(t.get_fontsize() for t in texts) >= 9
    box = fig.bbox
    for t in texts:
        extent = t.get_window_extent(renderer)
        assert box.x0 <= extent.x0 and extent.x1 <= box.x1, t.get_text()
        assert box.y0 <= extent.y0 and extent.y1 <= box.y1, t.get_text()
