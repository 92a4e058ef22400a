"""capslib.models: CapsNet and the baseline CNN against the paper's sizes, and the configuration's checks."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from capslib.functional import margin_loss, reconstruction_loss
from capslib.models import (
    CapsNet,
    CapsNetConfig,
    CapsNetOutput,
    capsnet_loss,
)
from capslib.nn import count_parameters


@pytest.fixture(scope="module")
def paper_model() -> CapsNet:
    torch.manual_seed(0)
    return CapsNet()


def tiny_config(**overrides) -> CapsNetConfig:
    """A very small CapsNet for fast behavioural tests (same structure)."""
    values = dict(
        conv_channels=8,
        primary_types=4,
        primary_dim=4,
        digit_dim=6,
        decoder_hidden=(16, 32),
    )
    values.update(overrides)
    return CapsNetConfig(**values)


# ----------------------------------------------------------------------------
# the paper's sizes
# ----------------------------------------------------------------------------
def test_paper_parameter_counts(paper_model):
    assert count_parameters(paper_model) == 8_215_568
    assert count_parameters(CapsNet(use_decoder=False)) == 6_804_224
    assert count_parameters(paper_model.conv1) == 9 * 9 * 1 * 256 + 256 == 20_992
    assert (
        count_parameters(paper_model.primary_caps)
        == 9 * 9 * 256 * 256 + 256
        == 5_308_672
    )
    assert count_parameters(paper_model.digit_caps) == 1152 * 10 * 16 * 8 == 1_474_560
    assert count_parameters(paper_model.decoder) == (160 * 512 + 512) + (
        512 * 1024 + 1024
    ) + (1024 * 784 + 784)


def test_paper_config_values():
    c = CapsNetConfig.paper()
    assert c == CapsNetConfig()
    assert (
        c.conv_channels,
        c.conv_kernel,
        c.primary_types,
        c.primary_dim,
        c.primary_kernel,
        c.primary_stride,
        c.digit_dim,
        c.num_classes,
        c.routing_iterations,
    ) == (256, 9, 32, 8, 9, 2, 16, 10, 3)
    assert (
        c.decoder_hidden == (512, 1024)
        and c.use_decoder
        and c.input_size == 28
        and c.in_channels == 1
    )
    assert (c.m_plus, c.m_minus, c.lambda_, c.reconstruction_scale) == (
        0.9,
        0.1,
        0.5,
        0.0005,
    )
    assert (
        c.conv_output_size == 20 and c.primary_grid == 6 and c.num_primary_caps == 1152
    )


@pytest.mark.parametrize("size, primary_caps", [(28, 1152), (36, 3200), (40, 4608)])
def test_output_shapes_for_28_36_and_40_pixel_inputs(size, primary_caps):
    torch.manual_seed(1)
    model = CapsNet(input_size=size).eval()
    assert model.config.num_primary_caps == primary_caps
    assert model.digit_caps.weight.shape == (primary_caps, 10, 16, 8)
    with torch.no_grad():
        out = model(torch.rand(2, 1, size, size), return_couplings=True)
    assert isinstance(out, CapsNetOutput)
    assert out.lengths.shape == (2, 10)
    assert out.poses.shape == (2, 10, 16)
    assert out.reconstructions.shape == (2, 1, size, size)
    assert out.couplings.shape == (2, primary_caps, 10)
    assert torch.all((out.lengths >= 0) & (out.lengths < 1))
    assert torch.all((out.reconstructions > 0) & (out.reconstructions < 1))
    torch.testing.assert_close(out.couplings.sum(-1), torch.ones(2, primary_caps))


def test_outputs_without_decoder_or_couplings():
    model = CapsNet(tiny_config(use_decoder=False))
    assert model.decoder is None
    out = model(torch.rand(3, 1, 28, 28))
    assert out.reconstructions is None and out.couplings is None
    torch.testing.assert_close(out.lengths, out.poses.norm(dim=-1))


def test_small_config_is_the_same_network_with_fewer_channels():
    small = CapsNetConfig.small()
    assert (
        small.conv_channels == 64
        and small.primary_types == 16
        and small.primary_dim == 8
    )
    assert (
        small.num_primary_caps == 576
        and small.routing_iterations == 3
        and small.digit_dim == 16
    )
    assert (
        count_parameters(CapsNet(small))
        == ((81 * 64 + 64) + (81 * 64 * 128 + 128) + 576 * 10 * 16 * 8 + 1_411_344)
        == 2_817_552
    )
    assert CapsNetConfig.small(routing_iterations=1).routing_iterations == 1


# ----------------------------------------------------------------------------
# behaviour
# ----------------------------------------------------------------------------
def test_decoder_uses_the_label_in_training_and_the_prediction_in_eval():
    torch.manual_seed(2)
    model = CapsNet(tiny_config())
    images = torch.rand(4, 1, 28, 28)
    model.eval()
    with torch.no_grad():
        out = model(images)
        predicted = out.lengths.argmax(1)
        other = (predicted + 1) % 10
        torch.testing.assert_close(
            model(images, targets=other).reconstructions, out.reconstructions
        )
        torch.testing.assert_close(
            model(images, mask_with=predicted).reconstructions, out.reconstructions
        )
        model.train()
        by_label = model(images, targets=other).reconstructions
        torch.testing.assert_close(
            by_label, model(images, mask_with=other).reconstructions
        )
        assert not torch.equal(
            by_label, out.reconstructions
        )  # a different capsule was decoded


def test_predict_is_the_longest_capsule():
    torch.manual_seed(3)
    model = CapsNet(tiny_config()).eval()
    images = torch.rand(5, 1, 28, 28)
    with torch.no_grad():
        lengths = model(images).lengths
    assert torch.equal(model.predict(images), lengths.argmax(1))


def test_routing_iterations_reach_the_layer():
    model = CapsNet(tiny_config(), routing_iterations=1, detach_intermediate=True)
    assert model.digit_caps.iterations == 1 and model.digit_caps.detach_intermediate
    # one iteration: uniform couplings 1/10
    out = model(torch.rand(2, 1, 28, 28), return_couplings=True)
    torch.testing.assert_close(out.couplings, torch.full_like(out.couplings, 0.1))


def test_loss_is_margin_plus_scaled_reconstruction_with_the_config_constants():
    torch.manual_seed(4)
    config = tiny_config(
        m_plus=0.8, m_minus=0.2, lambda_=0.25, reconstruction_scale=0.01
    )
    model = CapsNet(config).train()
    images, labels = torch.rand(4, 1, 28, 28), torch.tensor([0, 3, 9, 3])
    out = model(images, labels)
    total, margin, reconstruction = model.loss(out, images, labels)
    torch.testing.assert_close(margin, margin_loss(out.lengths, labels, 0.8, 0.2, 0.25))
    torch.testing.assert_close(
        reconstruction, reconstruction_loss(out.reconstructions, images, 0.01)
    )
    torch.testing.assert_close(total, margin + reconstruction)
    paper = capsnet_loss(out, images, labels)  # the paper's constants by default
    torch.testing.assert_close(paper.margin, margin_loss(out.lengths, labels))
    torch.testing.assert_close(
        paper.reconstruction, reconstruction_loss(out.reconstructions, images)
    )
    no_decoder = CapsNet(tiny_config(use_decoder=False))
    out = no_decoder(images)
    loss = no_decoder.loss(out, images, labels)
    assert loss.reconstruction.item() == 0 and torch.equal(loss.total, loss.margin)


def test_every_parameter_gets_a_finite_gradient_and_training_lowers_the_loss():
    torch.manual_seed(5)
    model = CapsNet(tiny_config()).train()
    images = torch.rand(8, 1, 28, 28)
    labels = torch.arange(8) % 10
    out = model(images, labels)
    first = model.loss(out, images, labels).total
    first.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(10):
        optimiser.zero_grad()
        loss = model.loss(model(images, labels), images, labels).total
        loss.backward()
        optimiser.step()
    assert (
        model.loss(model(images, labels), images, labels).total.item()
        < 0.8 * first.item()
    )


def test_same_seed_same_model():
    torch.manual_seed(6)
    a = CapsNet(tiny_config())
    torch.manual_seed(6)
    b = CapsNet(tiny_config())
    x = torch.rand(2, 1, 28, 28)
    torch.testing.assert_close(a.eval()(x).lengths, b.eval()(x).lengths, rtol=0, atol=0)


# ----------------------------------------------------------------------------
# errors
# ----------------------------------------------------------------------------
def test_capsnet_rejects_bad_images():
    model = CapsNet(tiny_config())
    with pytest.raises(TypeError, match=r"floating images.*dtype uint8"):
        model(torch.zeros(2, 1, 28, 28, dtype=torch.uint8))
    with pytest.raises(
        ValueError,
        match=r"images of shape \(batch, 1, 28, 28\), got shape \(2, 28, 28\)",
    ):
        model(torch.rand(2, 28, 28))
    with pytest.raises(
        ValueError, match=r"\(batch, 1, 28, 28\), got shape \(2, 1, 36, 36\)"
    ):
        model(torch.rand(2, 1, 36, 36))
    with pytest.raises(ValueError, match=r"class labels in the range \[0, 10\)"):
        model.train()(torch.rand(2, 1, 28, 28), targets=torch.tensor([0, 12]))


@pytest.mark.parametrize(
    "field, value, message",
    [
        (
            "conv_channels",
            0,
            "CapsNetConfig.conv_channels: expected a positive int, got 0",
        ),
        (
            "routing_iterations",
            0,
            "CapsNetConfig.routing_iterations: expected a positive int, got 0",
        ),
        (
            "primary_dim",
            2.5,
            "CapsNetConfig.primary_dim: expected a positive int, got 2.5",
        ),
        (
            "m_minus",
            0.95,
            r"CapsNetConfig.m_plus/m_minus: expected 0 <= m_minus < m_plus <= 1",
        ),
        ("lambda_", -1.0, r"CapsNetConfig.lambda_: expected a number >= 0"),
        (
            "reconstruction_scale",
            float("nan"),
            "CapsNetConfig.reconstruction_scale: expected a finite number",
        ),
        (
            "input_size",
            16,
            r"CapsNetConfig.input_size: 16 is too small.*input_size >= 17",
        ),
        (
            "decoder_hidden",
            (512, 0),
            "CapsNetConfig.decoder_hidden: expected a tuple of positive ints",
        ),
    ],
)
def test_config_rejects_bad_values_naming_the_field(field, value, message):
    with pytest.raises(ValueError, match=message):
        CapsNetConfig(**{field: value})


def test_overrides_are_checked():
    with pytest.raises(
        TypeError, match=r"unknown configuration field\(s\) \['routing_iteration'\]"
    ):
        CapsNet(routing_iteration=2)
    with pytest.raises(TypeError, match="expected a CapsNetConfig"):
        CapsNet({"conv_channels": 8})
    assert CapsNet(tiny_config(), in_channels=3).conv1.in_channels == 3
    assert dataclasses.replace(
        CapsNetConfig(), decoder_hidden=[4, 8]
    ).decoder_hidden == (4, 8)


def test_forward_and_loss_under_cpu_autocast_bfloat16():
    torch.manual_seed(7)
    model = CapsNet(tiny_config()).train()
    images, labels = torch.rand(4, 1, 28, 28), torch.tensor([1, 2, 3, 4])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(images, labels)
        loss = model.loss(out, images, labels)
    assert loss.total.dtype == torch.float32  # losses are reduced in float32
    assert torch.all((out.lengths >= 0) & (out.lengths < 1))
    loss.total.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())
    with torch.no_grad():  # close to the float32 result
        reference = model.loss(model(images, labels), images, labels).total
    assert loss.total.item() == pytest.approx(reference.item(), rel=0.05)


def test_official_loss_scale_is_the_papers_margin_term_divided_by_20():
    """The official _margin_loss: 0.5*present + 0.25*absent averaged over batch and classes (= paper / 20);
    the reconstruction term is the same 0.0005 * SSE in both."""
    torch.manual_seed(0)
    paper = CapsNet(
        CapsNetConfig.small(conv_channels=16, primary_types=4, decoder_hidden=(32, 64))
    )
    official = CapsNet(dataclasses.replace(paper.config, loss_scale="official"))
    official.load_state_dict(paper.state_dict())
    images, labels = torch.rand(4, 1, 28, 28), torch.tensor([0, 3, 3, 9])
    a = paper.loss(paper(images, targets=labels), images, labels)
    b = official.loss(official(images, targets=labels), images, labels)
    lengths = paper(images, targets=labels).lengths.detach()
    t = torch.nn.functional.one_hot(labels, 10).float()
    by_hand = (
        0.5 * t * (0.9 - lengths).clamp(min=0) ** 2
        + 0.25 * (1 - t) * (lengths - 0.1).clamp(min=0) ** 2
    ).mean()  # the official code's formula
    assert b.margin.item() == pytest.approx(by_hand.item(), rel=1e-5)
    assert b.margin.item() == pytest.approx(a.margin.item() / 20, rel=1e-5)
    assert b.reconstruction.item() == pytest.approx(a.reconstruction.item(), rel=1e-6)


def test_official_initialisation_and_the_primary_capsules_scale():
    torch.manual_seed(0)
    model = CapsNet(init="official")
    conv1, primary = model.conv1.weight, model.primary_caps.conv.weight
    assert conv1.std().item() == pytest.approx(
        0.05 * 0.88, rel=0.05
    )  # a normal truncated at 2 std has 0.88 std
    assert primary.std().item() == pytest.approx(0.1 * 0.88, rel=0.02)
    assert (
        conv1.abs().max() <= 0.1 and primary.abs().max() <= 0.2
    )  # truncated at two standard deviations
    assert torch.all(model.conv1.bias == 0.1) and torch.all(
        model.primary_caps.conv.bias == 0.1
    )
    assert (
        model.primary_caps.preactivation_scale == 1 / 32
    )  # the one-iteration routing over 32 types
    assert count_parameters(model) == 8_215_568  # the same architecture
    default = CapsNet()
    assert default.primary_caps.preactivation_scale == 1.0
    with pytest.raises(ValueError, match="init"):
        CapsNetConfig(init="xavier")
    with pytest.raises(ValueError, match="loss_scale"):
        CapsNetConfig(loss_scale="keras")


def test_official_primary_capsules_see_their_pre_activations_divided_by_32():
    torch.manual_seed(0)
    model = CapsNet(
        CapsNetConfig.small(
            init="official", conv_channels=16, primary_types=4, decoder_hidden=(32, 64)
        )
    )
    x = torch.relu(model.conv1(torch.rand(2, 1, 28, 28)))
    s = model.primary_caps.capsules_from_channels(model.primary_caps.conv(x))
    from capslib.functional import squash

    torch.testing.assert_close(
        model.primary_caps(x), squash(s / 4)
    )  # small(): 4 capsule types
