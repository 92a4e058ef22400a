"""Derived datasets: the affine test set, the shifted 40x40 training set, MultiMNIST pairs."""

import pytest
import torch

from capslib.data import (
    affine_mnist,
    pad_to_canvas,
    shifted_mnist,
)


def test_pad_to_canvas_centres():
    images = torch.ones(2, 1, 28, 28)
    padded = pad_to_canvas(images, 40)
    assert padded.shape == (2, 1, 40, 40) and padded.sum() == images.sum()
    assert padded[:, :, 6:34, 6:34].sum() == images.sum()
    with pytest.raises(ValueError, match="canvas"):
        pad_to_canvas(images, 27)


def test_shifted_mnist_keeps_every_digit_whole_and_is_seeded(digits):
    shifted = shifted_mnist(digits, seed=0)
    assert shifted.images.shape == (300, 1, 40, 40)
    assert torch.equal(shifted.labels, digits.labels)
    # A shift of up to 6 px on a 40x40 canvas never cuts the 28x28 digit: the ink is kept exactly.
    assert torch.allclose(shifted.images.sum((1, 2, 3)), digits.images.sum((1, 2, 3)))
    assert torch.equal(shifted_mnist(digits, seed=0).images, shifted.images)
    assert not torch.equal(shifted_mnist(digits, seed=1).images, shifted.images)
    # Placements vary: the centre of mass moves by up to 6 px from the canvas centre.
    ys = torch.arange(40.0)
    mass = shifted.images[:, 0].sum((1, 2))
    cy = (shifted.images[:, 0].sum(2) * ys).sum(1) / mass
    cy0 = (pad_to_canvas(digits.images, 40)[:, 0].sum(2) * ys).sum(1) / mass
    assert (cy - cy0).abs().max() <= 6 + 1e-4 and (cy - cy0).abs().max() >= 5


def test_affine_mnist_shapes_range_determinism(digits):
    affine = affine_mnist(digits, seed=0)
    assert (
        affine.images.shape == (300, 1, 40, 40) and affine.images.dtype == torch.float32
    )
    assert torch.equal(affine.labels, digits.labels)
    assert affine.images.min() >= 0 and affine.images.max() <= 1
    assert torch.equal(affine_mnist(digits, seed=0).images, affine.images)
    assert not torch.equal(affine_mnist(digits, seed=1).images, affine.images)
    # Scaling by 0.8-1.2 changes the ink by at most the area factor 0.64-1.44 (plus resampling blur).
    ratio = affine.images.sum((1, 2, 3)) / digits.images.sum((1, 2, 3))
    assert ratio.min() > 0.5 and ratio.max() < 1.6
    # With every range at zero it is a pure integer translation of the centred digit.
    plain = affine_mnist(
        digits, seed=0, rotation_degrees=0.0, shear=0.0, scale=(1.0, 1.0)
    )
    assert torch.allclose(
        plain.images.sum((1, 2, 3)), digits.images.sum((1, 2, 3)), atol=1e-3
    )
    assert "rotation up to 20" in affine.notes[-1]
