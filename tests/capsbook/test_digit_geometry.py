"""capsbook.digit_geometry: centres of mass and stem slants against hand-made images."""

from __future__ import annotations

import math

import pytest
import torch

from capsbook.digit_geometry import stem_slant
from capsbook.probes.perturbation import centre_of_mass


def test_centre_of_mass_of_two_pixels_by_hand():
    image = torch.zeros(1, 5, 7)
    image[0, 1, 2] = 1.0  # row 1, column 2
    image[0, 3, 6] = 3.0  # row 3, column 6: three times the ink
    y, x = centre_of_mass(image)[0]  # (row, column), as chapter 3 reads it
    assert x.item() == pytest.approx((2 + 3 * 6) / 4)
    assert y.item() == pytest.approx((1 + 3 * 3) / 4)


def seven(lean: float) -> torch.Tensor:
    """A 7 on 28 x 28: a bar on row 4, a one-pixel stem x = 14 + lean * (y - 16)."""
    image = torch.zeros(28, 28)
    image[4, 8:20] = 1.0
    for row in range(5, 25):
        image[row, round(14 + lean * (row - 16))] = 1.0
    return image


@pytest.mark.parametrize("lean", [-0.5, 0.0, 0.25])
def test_the_stem_slant_of_a_drawn_seven(lean):
    fit = stem_slant(seven(lean)[None])
    # rounding to whole pixels moves the fitted lean by a few hundredths
    assert fit["lean"].item() == pytest.approx(lean, abs=0.03)
    expected = math.degrees(math.atan(-lean))
    assert fit["slant"].item() == pytest.approx(expected, abs=2.0)
    # the fit starts below the bar: the top third of rows 4..24 ends at row 10
    assert fit["first_row"].item() == 4 + 21 // 3 and fit["last_row"].item() == 24


def test_a_top_leaning_right_is_a_positive_slant():
    assert stem_slant(seven(-0.3)[None])["slant"].item() > 0


def test_a_blank_image_is_refused_by_name():
    with pytest.raises(ValueError, match="no ink"):
        stem_slant(torch.zeros(1, 28, 28))
