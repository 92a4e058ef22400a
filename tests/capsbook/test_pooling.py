"""Invariance, equivariance and information loss of pooling (capsbook.pooling)."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from capsbook.pooling import (
    conv_equivariance_error,
    pooling_invariance_rate,
    preimages_of_max_pool,
    shift_images,
)


def test_shift_images_moves_and_fills_with_zeros():
    x = torch.arange(1.0, 17.0).view(1, 1, 4, 4)
    right = shift_images(x, 1, 0)
    assert (
        torch.equal(right[..., :, 1:], x[..., :, :3]) and (right[..., :, 0] == 0).all()
    )
    up_left = shift_images(x, -2, -1)
    assert (
        torch.equal(up_left[..., :3, :2], x[..., 1:, 2:])
        and up_left[..., 3, :].sum() == 0
    )
    assert torch.equal(shift_images(x, 0, 0), x)
    assert shift_images(x, 5, 0).sum() == 0
    assert torch.equal(
        shift_images(shift_images(x, 1, 1), -1, -1)[..., :3, :3], x[..., :3, :3]
    )
    with pytest.raises(TypeError, match="whole-pixel"):
        shift_images(x, 0.5, 0)


def test_invariance_rate_on_hand_made_cases():
    # one bright pixel at the left of a 2x2 window: a shift right by 1 keeps it in the same window
    x = torch.zeros(2, 1, 4, 4)
    x[0, 0, 1, 0] = 1.0  # column 0 -> column 1: same window, unchanged
    x[1, 0, 1, 1] = 1.0  # column 1 -> column 2: next window, changed
    rate = pooling_invariance_rate(x, shift=(1, 0))
    assert rate.images == 0.5
    assert rate.units == pytest.approx(
        1 - 2 / 8
    )  # 8 pooled values, image 1 changes two of them
    assert rate.active_units == pytest.approx(
        1 / 3
    )  # active: image 0 one value, image 1 two values
    assert rate.n_images == 2 and rate.shift == (1, 0) and rate.kernel_size == 2


def test_constant_regions_are_invariant_and_no_shift_is_invariant():
    x = torch.rand(3, 2, 8, 8)
    assert pooling_invariance_rate(x, shift=(0, 0)).images == 1.0
    flat = torch.zeros(1, 1, 8, 8)
    flat[..., 2:6, 2:6] = 1.0
    assert pooling_invariance_rate(flat, shift=(1, 0), kernel_size=1).images == 0.0


def test_conv_is_equivariant_away_from_borders_exactly():
    torch.manual_seed(0)
    conv = nn.Conv2d(1, 3, 5, padding=2)
    x = torch.rand(4, 1, 20, 20)
    error = conv_equivariance_error(conv, x, 2, -1)
    assert error.margin == 4
    assert error.interior < 1e-5
    assert (
        error.border > 1e-2
    )  # at the border, padding and the lost column make a difference


def test_conv_equivariance_refuses_a_shrinking_conv():
    with pytest.raises(ValueError, match="size-preserving"):
        conv_equivariance_error(nn.Conv2d(1, 1, 3), torch.rand(1, 1, 8, 8), 1, 0)


def test_preimages_all_pool_to_the_same_output_and_differ():
    g = torch.Generator().manual_seed(0)
    pooled = torch.rand(2, 3, 4, generator=g) + 0.1
    inputs = preimages_of_max_pool(pooled, 50, generator=g)
    assert inputs.shape == (50, 2, 6, 8)
    assert torch.equal(F.max_pool2d(inputs, 2), pooled.expand(50, 2, 3, 4))
    flat = inputs.flatten(1)
    assert torch.cdist(flat, flat).add(torch.eye(50) * 1e9).min() > 0.1  # all different
    # where the maximum sits varies: every place in a window is used
    positions = (
        inputs.unfold(2, 2, 2).unfold(3, 2, 2).reshape(50, 2, 3, 4, 4).argmax(-1)
    )
    assert set(positions.flatten().tolist()) == {0, 1, 2, 3}


def test_preimages_refuse_negative_values():
    with pytest.raises(ValueError, match=">= 0"):
        preimages_of_max_pool(-torch.ones(1, 2, 2), 3)
