"""Feature-map sizes, parameter counts and receptive fields (capsbook.conv_arithmetic) against PyTorch."""

import itertools

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from capsbook.classifiers import SmallCNN
from capsbook.conv_arithmetic import (
    conv_parameter_count,
    feature_map_size,
    mask_extent,
    measured_receptive_field,
    receptive_field,
    receptive_field_and_jump,
)
from capslib.nn import count_parameters


def test_feature_map_size_is_the_shape_pytorch_produces():
    grid = itertools.product((7, 12, 28), (1, 3, 5), (1, 2, 3), (0, 1, 2), (1, 2))
    for size, kernel, stride, padding, dilation in grid:
        span = dilation * (kernel - 1) + 1
        if size + 2 * padding < span:
            continue
        actual = F.conv2d(
            torch.zeros(1, 1, size, size),
            torch.zeros(1, 1, kernel, kernel),
            stride=stride,
            padding=padding,
            dilation=dilation,
        ).shape[-1]
        assert feature_map_size(size, kernel, stride, padding, dilation) == actual


def test_feature_map_size_of_capsnet_and_of_pooling():
    assert (
        feature_map_size(28, 9) == 20 and feature_map_size(20, 9, stride=2) == 6
    )  # Conv1, PrimaryCaps
    assert feature_map_size(28, 2, stride=2) == 14  # 2x2 max pooling
    assert (
        F.max_pool2d(torch.zeros(1, 1, 13, 13), 3, stride=2).shape[-1]
        == feature_map_size(13, 3, 2)
        == 6
    )


def test_feature_map_size_refuses_what_pytorch_refuses():
    with pytest.raises(ValueError, match="does not fit"):
        feature_map_size(4, 3, dilation=2)
    with pytest.raises(ValueError, match="stride >= 1"):
        feature_map_size(28, 3, stride=0)
    with pytest.raises(ValueError, match="an int"):
        feature_map_size(28.0, 3)


def test_conv_parameter_count_matches_nn_conv2d():
    for c_in, c_out, k, bias in [
        (1, 8, 5, True),
        (3, 64, 5, True),
        (256, 256, 9, True),
        (4, 2, (3, 5), False),
    ]:
        layer = nn.Conv2d(c_in, c_out, k, bias=bias)
        assert conv_parameter_count(c_in, c_out, k, bias) == count_parameters(layer)
    assert (
        conv_parameter_count(3, 64, 5) == 64 * (5 * 5 * 3 + 1) == 4_864
    )  # by hand: 76 per filter


def test_receptive_field_by_hand():
    assert receptive_field([]) == 1
    assert receptive_field([(3, 1)]) == 3
    assert receptive_field([(3, 1), (3, 1)]) == 5  # two 3x3 see 5x5
    assert (
        receptive_field([(2, 2), (3, 1)]) == 2 + 2 * 2
    )  # after a stride-2 pool, one step is 2 pixels
    assert receptive_field([(5, 1), (2, 2), (5, 1), (2, 2)]) == 16
    assert receptive_field([(9, 1), (9, 2)]) == 17
    # the jump: neighbouring units are the product of the strides apart
    assert receptive_field_and_jump([(5, 1), (2, 2), (5, 1), (2, 2)]) == (16, 4)
    assert receptive_field_and_jump([]) == (1, 1)
    with pytest.raises(ValueError, match="pairs"):
        receptive_field([(3, 1, 1)])


@pytest.mark.parametrize(
    "layers",
    [
        [(3, 1)],
        [(5, 1), (2, 2), (5, 1), (2, 2)],
        [(3, 2), (3, 2), (3, 1)],
        [(9, 1), (9, 2)],
        [(2, 2), (2, 2), (3, 1)],
    ],
)
def test_measured_field_of_a_random_stack_is_the_formula(layers):
    torch.manual_seed(0)
    modules, channels = [], 1
    for kernel, stride in layers:
        if stride > 1 and kernel == 2:  # a 2x2 window with stride 2: max pooling
            modules.append(nn.MaxPool2d(kernel, stride))
        else:
            modules += [nn.Conv2d(channels, 3, kernel, stride), nn.ReLU()]
            channels = 3
    net = nn.Sequential(*modules)
    size = 48
    with torch.no_grad():
        grid = net(torch.zeros(1, 1, size, size)).shape[-1]
    mask = measured_receptive_field(
        net, (1, size, size), (grid // 2, grid // 2), n_probes=256
    )
    top, left, height, width = mask_extent(mask)
    assert height == width == receptive_field(layers)
    assert int(mask.sum()) == height * width  # a full square, no holes


def test_measured_field_of_small_cnn_is_16_pixels_centred_on_its_cell():
    torch.manual_seed(0)
    model = SmallCNN(num_classes=10)
    mask = measured_receptive_field(
        lambda x: model.feature_maps(x)["pool2"], (1, 28, 28), (3, 3), n_probes=64
    )
    assert mask_extent(mask) == (
        6,
        6,
        16,
        16,
    )  # cell (3, 3) of the 7x7 grid covers pixels 12..15, plus 6 around
    corner = measured_receptive_field(
        lambda x: model.feature_maps(x)["pool2"], (1, 28, 28), (0, 0), n_probes=64
    )
    assert mask_extent(corner) == (
        0,
        0,
        10,
        10,
    )  # the padding's share of the field lies outside the image


def test_mask_extent_refuses_an_empty_mask():
    with pytest.raises(ValueError, match="no True"):
        mask_extent(torch.zeros(3, 3, dtype=torch.bool))
