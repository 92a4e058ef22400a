"""Chapter 0's figure of MNIST's preprocessing: its numbers are the digits' own (box and
centre of mass checked by hand on small pictures). Its readability is checked with every
diagram's, in test_diagrams.py's ALL."""

from __future__ import annotations

import pytest
import torch

from capsbook.diagrams.mnist_centring import digit_geometry_of, mnist_centring
from capslib.data import load_mnist


@pytest.fixture(scope="module")
def test_digits():
    return load_mnist("test", source="sample", verbose=False).images  # all 10,000


def test_geometry_by_hand():
    picture = torch.zeros(2, 5, 6)
    picture[0, 1, 2] = 1.0  # one pixel of full ink at row 1, column 2 ...
    picture[0, 3, 4] = 0.5  # ... and one of half ink at row 3, column 4
    geo = digit_geometry_of(picture)
    assert geo["top"][0] == 1 and geo["bottom"][0] == 3
    assert geo["left"][0] == 2 and geo["right"][0] == 4
    assert geo["height"][0] == 3 and geo["width"][0] == 3  # inclusive: 3 rows, 3 cols
    # the ink-weighted mean: (1 * 1 + 0.5 * 3) / 1.5 = 5/3, (1 * 2 + 0.5 * 4) / 1.5 = 8/3
    assert torch.allclose(geo["centre"][0], torch.tensor([5 / 3, 8 / 3]).double())
    assert geo["height"][1] == 0 and geo["width"][1] == 0  # a blank picture
    assert torch.equal(geo["centre"][1], torch.zeros(2).double())


def test_mnist_is_what_the_figure_says(test_digits):
    geo = digit_geometry_of(test_digits[:, 0])
    larger = torch.maximum(geo["height"], geo["width"])
    assert larger.max() == 20  # every digit fits a 20x20 box ...
    assert (larger == 20).float().mean() > 0.9  # ... and nearly all fill one side
    centre = geo["centre"]
    # every centre of mass in pixel (14, 14): [13.5, 14.5) in both coordinates
    assert centre.min() >= 13.5 - 1e-6 and centre.max() < 14.5


def test_the_legend_reads_the_drawn_digit(test_digits):
    fig = mnist_centring(test_digits, index=0)
    words = " ".join(
        t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text"))
    )
    geo = digit_geometry_of(test_digits[:1, 0])
    row, col = geo["centre"][0].tolist()
    assert f"centre of mass: row {row:.2f}, column {col:.2f}" in words
    assert f"ink box: {int(geo['height'][0])} rows x {int(geo['width'][0])}" in words
    assert "all 10,000 digits" in words


def test_refuses_pictures_of_another_size():
    with pytest.raises(ValueError, match="expected MNIST digits"):
        mnist_centring(torch.zeros(3, 1, 40, 40))
