"""capslib.nn: the capsule layers, checked against hand-built tensors and the paper's shapes."""

from __future__ import annotations

import math

import pytest
import torch

from capslib.functional import capsule_length, dynamic_routing, squash
from capslib.nn import (
    CapsuleDecoder,
    PrimaryCapsules,
    RoutingCapsules,
    count_parameters,
)

F64 = torch.float64


# ----------------------------------------------------------------------------
# PrimaryCapsules: the channel layout
# ----------------------------------------------------------------------------
def test_capsule_vectors_hold_the_channels_of_one_type_at_one_position():
    types, dim, h, w = 3, 4, 2, 5
    layer = PrimaryCapsules(
        in_channels=1, capsule_types=types, capsule_dim=dim, kernel_size=1, stride=1
    )
    # a hand-built convolution output whose value spells out (type, component, y, x)
    conv_out = torch.empty(2, types * dim, h, w)
    for n in range(2):
        for t in range(types):
            for k in range(dim):
                for y in range(h):
                    for x in range(w):
                        conv_out[n, t * dim + k, y, x] = (
                            10000 * n + 1000 * t + 100 * k + 10 * y + x
                        )
    caps = layer.capsules_from_channels(conv_out)
    assert caps.shape == (2, types * h * w, dim)
    for n in range(2):
        for t in range(types):
            for y in range(h):
                for x in range(w):
                    capsule = caps[n, (t * h + y) * w + x]
                    expected = [
                        10000 * n + 1000 * t + 100 * k + 10 * y + x for k in range(dim)
                    ]
                    assert capsule.tolist() == expected
    # the known bug, conv_out.view(batch, -1, dim), groups neighbouring positions of one channel
    assert not torch.equal(conv_out.view(2, -1, dim), caps)


def test_primary_capsules_forward_squashes_the_hand_computed_vectors():
    types, dim, size = 2, 3, 4
    layer = PrimaryCapsules(
        in_channels=1, capsule_types=types, capsule_dim=dim, kernel_size=1, stride=1
    )
    with torch.no_grad():  # channel c = (c + 1) * pixel: a 1x1 conv with known weights
        layer.conv.weight.copy_(
            torch.arange(1.0, types * dim + 1).view(-1, 1, 1, 1) / 10
        )
        layer.conv.bias.zero_()
    image = torch.arange(1.0, size * size + 1).view(1, 1, size, size) / size**2
    out = layer(image)
    assert out.shape == (1, types * size * size, dim)
    for t in range(types):
        for y in range(size):
            for x in range(size):
                pixel = (y * size + x + 1) / size**2
                s = [(t * dim + k + 1) / 10 * pixel for k in range(dim)]
                norm2 = sum(v * v for v in s)
                expected = [norm2 / (1 + norm2) * v / math.sqrt(norm2) for v in s]
                got = out[0, (t * size + y) * size + x]
                torch.testing.assert_close(
                    got, torch.tensor(expected), rtol=1e-5, atol=1e-7
                )


def test_primary_capsules_paper_sizes():
    layer = PrimaryCapsules()
    assert layer.conv.in_channels == 256 and layer.conv.out_channels == 256
    assert layer.conv.kernel_size == (9, 9) and layer.conv.stride == (2, 2)
    assert layer.grid_size(20) == 6 and layer.num_capsules(20) == 1152
    assert layer.num_capsules(28) == 3200 and layer.num_capsules(32) == 4608
    assert count_parameters(layer) == 9 * 9 * 256 * 256 + 256
    u = layer(torch.randn(2, 256, 20, 20))
    assert u.shape == (2, 1152, 8)
    assert torch.all(capsule_length(u) < 1)


def test_primary_capsules_rejects_bad_inputs():
    layer = PrimaryCapsules(
        in_channels=4, capsule_types=2, capsule_dim=3, kernel_size=3, stride=1
    )
    with pytest.raises(
        ValueError,
        match=r"expected floating input of shape \(batch, 4, H, W\), got shape \(1, 3, 5, 5\)",
    ):
        layer(torch.randn(1, 3, 5, 5))
    with pytest.raises(ValueError, match="at least 3x3"):
        layer(torch.randn(1, 4, 2, 2))
    with pytest.raises(ValueError, match="capsule_dim to be a positive int, got 0"):
        PrimaryCapsules(capsule_dim=0)


# ----------------------------------------------------------------------------
# RoutingCapsules
# ----------------------------------------------------------------------------
def test_predictions_are_one_matrix_per_input_output_pair():
    torch.manual_seed(0)
    layer = RoutingCapsules(in_caps=5, in_dim=3, out_caps=4, out_dim=2).double()
    assert layer.weight.shape == (5, 4, 2, 3)
    u = torch.randn(2, 5, 3, dtype=F64)
    u_hat = layer.predictions(u)
    assert u_hat.shape == (2, 5, 4, 2)
    for n in range(2):
        for i in range(5):
            for j in range(4):
                torch.testing.assert_close(
                    u_hat[n, i, j], layer.weight[i, j] @ u[n, i]
                )  # Eq. 2


def test_routing_capsules_forward_is_dynamic_routing_of_the_predictions():
    torch.manual_seed(1)
    layer = RoutingCapsules(in_caps=6, in_dim=4, out_caps=3, out_dim=5, iterations=2)
    u = squash(torch.randn(3, 6, 4))
    v, c = layer(u, return_couplings=True)
    v_ref, c_ref = dynamic_routing(
        layer.predictions(u), iterations=2, return_couplings=True
    )
    torch.testing.assert_close(v, v_ref)
    torch.testing.assert_close(c, c_ref)
    assert v.shape == (3, 3, 5) and c.shape == (3, 6, 3)
    assert torch.equal(layer(u), v)


def test_routing_capsules_has_no_bias_and_the_official_initialisation():
    torch.manual_seed(2)
    layer = RoutingCapsules(in_caps=1152, in_dim=8, out_caps=10, out_dim=16)
    assert [name for name, _ in layer.named_parameters()] == ["weight"]
    assert layer.weight.numel() == 1152 * 10 * 16 * 8 == 1_474_560
    # truncated normal, std 0.1, cut at 2 std: the truncated distribution's std is 0.1 * 0.8796
    assert layer.weight.abs().max() <= 0.2
    assert layer.weight.std().item() == pytest.approx(0.1 * 0.8796, rel=0.02)
    assert abs(layer.weight.mean().item()) < 1e-3


def test_routing_capsules_rejects_bad_inputs():
    layer = RoutingCapsules(in_caps=6, in_dim=4, out_caps=3, out_dim=5)
    with pytest.raises(
        ValueError,
        match=r"expected floating input capsules of shape \(batch, 6, 4\), got shape \(2, 6, 5\)",
    ):
        layer(torch.randn(2, 6, 5))
    with pytest.raises(ValueError, match=r"got shape \(6, 4\)"):
        layer(torch.randn(6, 4))
    with pytest.raises(ValueError, match="iterations to be a positive int, got 0"):
        RoutingCapsules(6, 4, 3, 5, iterations=0)


# ----------------------------------------------------------------------------
# CapsuleDecoder
# ----------------------------------------------------------------------------
def make_poses():
    """Three examples whose longest capsules are 2, 0 and 1."""
    poses = torch.full((3, 4, 2), 0.1)
    poses[0, 2] = torch.tensor([0.6, 0.6])
    poses[1, 0] = torch.tensor([0.0, 0.9])
    poses[2, 1] = torch.tensor([-0.7, 0.1])
    return poses


def kept(masked: torch.Tensor) -> list[list[int]]:
    """Which capsules survived the mask, per example."""
    return [torch.nonzero(capsule_length(row)).flatten().tolist() for row in masked]


def test_decoder_masks_with_the_label_in_training_and_the_longest_capsule_otherwise():
    decoder = CapsuleDecoder(in_caps=4, caps_dim=2, hidden=(8,), out_shape=(1, 3, 3))
    poses, labels = make_poses(), torch.tensor([1, 1, 3])
    decoder.train()
    masked = decoder.mask(poses, targets=labels)
    assert kept(masked) == [[1], [1], [3]]
    torch.testing.assert_close(masked[0, 1], poses[0, 1])
    decoder.eval()
    assert kept(decoder.mask(poses, targets=labels)) == [
        [2],
        [0],
        [1],
    ]  # labels ignored at test time
    assert kept(decoder.mask(poses)) == [[2], [0], [1]]
    assert kept(decoder.mask(poses, mask_with=torch.tensor([3, 3, 0]))) == [
        [3],
        [3],
        [0],
    ]
    decoder.train()
    assert kept(
        decoder.mask(poses, targets=labels, mask_with=torch.tensor([0, 0, 0]))
    ) == [[0], [0], [0]]
    two = torch.tensor([[1, 0, 1, 0], [0, 1, 1, 0], [1, 1, 0, 0]])
    assert kept(decoder.mask(poses, mask_with=two)) == [[0, 2], [1, 2], [0, 1]]


def test_decoder_sees_only_the_kept_capsule():
    torch.manual_seed(3)
    decoder = CapsuleDecoder(
        in_caps=4, caps_dim=2, hidden=(8, 16), out_shape=(1, 3, 3)
    ).eval()
    poses = make_poses()
    out = decoder(poses, mask_with=torch.tensor([1, 1, 1]))
    changed = poses.clone()
    changed[:, [0, 2, 3]] = torch.randn(
        3, 3, 2
    )  # change every capsule but the kept one
    torch.testing.assert_close(decoder(changed, mask_with=torch.tensor([1, 1, 1])), out)
    assert out.shape == (3, 1, 3, 3)
    assert torch.all((out > 0) & (out < 1))  # sigmoid output


def test_decoder_paper_sizes():
    decoder = CapsuleDecoder()
    linears = [m for m in decoder.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [
        (160, 512),
        (512, 1024),
        (1024, 784),
    ]
    assert count_parameters(decoder) == 1_411_344
    assert isinstance(decoder.layers[-1], torch.nn.Sigmoid)
    assert decoder(torch.randn(2, 10, 16)).shape == (2, 1, 28, 28)


def test_decoder_rejects_bad_inputs():
    decoder = CapsuleDecoder(
        in_caps=4, caps_dim=2, hidden=(8,), out_shape=(1, 3, 3)
    ).train()
    poses = make_poses()
    with pytest.raises(
        ValueError, match=r"class labels in the range \[0, 4\), got labels from 0 to 4"
    ):
        decoder(poses, targets=torch.tensor([0, 4, 1]))
    with pytest.raises(
        ValueError, match=r"poses of shape \(batch, 4, 2\), got shape \(3, 4, 3\)"
    ):
        decoder(torch.randn(3, 4, 3))
    with pytest.raises(ValueError, match=r"expected 3 class indices"):
        decoder(poses, targets=torch.tensor([0, 1]))
    with pytest.raises(TypeError, match="integer dtype"):
        decoder(poses, targets=torch.tensor([0.0, 1.0, 2.0]))


# ----------------------------------------------------------------------------
# count_parameters: the one parameter count of the library and the book
# ----------------------------------------------------------------------------
def test_count_parameters_counts_a_shared_layer_once_and_can_skip_frozen_ones():
    shared = torch.nn.Linear(3, 2)  # 6 weights + 2 biases
    model = torch.nn.Sequential(shared, torch.nn.ReLU(), shared, torch.nn.Linear(2, 4))
    assert count_parameters(model) == 8 + 12
    model[3].weight.requires_grad_(False)
    assert count_parameters(model) == 8 + 12
    assert count_parameters(model, trainable_only=True) == 8 + 4
    assert count_parameters([shared.weight, shared.bias]) == 8
    assert count_parameters(list(model[3].parameters()), trainable_only=True) == 4
    with pytest.raises(TypeError, match="torch.nn.Module"):
        count_parameters("conv")
