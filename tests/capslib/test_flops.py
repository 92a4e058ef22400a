"""FLOP counting: per-layer counts against hand formulas and against torch's FlopCounterMode."""

import pytest
import torch

from capslib.flops import (
    capsnet_layer_counts,
    flops_per_image,
    flops_table,
    layer_counts,
    measured_flops_per_image,
)
from capslib.models import BaselineCNN, CapsNet, CapsNetConfig


def test_paper_capsnet_counts_by_hand():
    counts = {c.name: c.macs for c in capsnet_layer_counts(CapsNetConfig.paper())}
    assert (
        counts["conv1"] == 20 * 20 * 256 * 81 == 8_294_400
    )  # 9x9 conv, 1 -> 256 channels, 20x20 output
    assert (
        counts["primary_caps"] == 6 * 6 * 256 * 81 * 256 == 191_102_976
    )  # 9x9 stride 2, 256 -> 32*8 channels
    assert (
        counts["u_hat"] == 1152 * 10 * 16 * 8 == 1_474_560
    )  # one 16x8 matrix per (i, j) pair
    assert (
        counts["routing"] == (3 + 2) * 1152 * 10 * 16
    )  # 3 weighted sums + 2 agreements
    assert counts["decoder"] == 160 * 512 + 512 * 1024 + 1024 * 784 == 1_409_024
    with torch.device("meta"):  # sizes only: no memory, no initialisation
        model = CapsNet()
    assert flops_per_image(model) == 2 * 203_202_560
    assert flops_per_image(model, training=True) == 3 * 2 * 203_202_560


def test_ablations_and_input_sizes_change_the_right_terms():
    one = {
        c.name: c.macs
        for c in capsnet_layer_counts(
            CapsNetConfig.paper(routing_iterations=1, use_decoder=False)
        )
    }
    assert one["routing"] == 1152 * 10 * 16 and "decoder" not in one
    big = {
        c.name: c.macs for c in capsnet_layer_counts(CapsNetConfig.paper(input_size=40))
    }
    assert big["conv1"] == 32 * 32 * 256 * 81 and big["u_hat"] == 4608 * 10 * 16 * 8
    assert big["decoder"] == 160 * 512 + 512 * 1024 + 1024 * 1600


def test_baseline_counts_by_hand():
    with torch.device(
        "meta"
    ):  # the forward pass that finds the output sizes runs on meta tensors: no compute
        model = BaselineCNN()
    counts = {c.name: c.macs for c in layer_counts(model)}
    # 'same' padding: every convolution keeps 28x28.
    assert list(counts.values()) == [
        28 * 28 * 256 * 25 * 1,
        28 * 28 * 256 * 25 * 256,
        28 * 28 * 128 * 25 * 256,
        28 * 28 * 128 * 328,
        328 * 192,
        192 * 10,
    ]


@pytest.mark.parametrize(
    "make, shape",
    [
        (lambda: CapsNet(CapsNetConfig.small()), (1, 28, 28)),
        (
            lambda: CapsNet(CapsNetConfig.small(routing_iterations=2, input_size=36)),
            (1, 36, 36),
        ),
        (lambda: BaselineCNN(conv_channels=(8, 8, 4), hidden=(16, 8)), (1, 28, 28)),
    ],
)
def test_counts_agree_with_torch_flop_counter(make, shape):
    model = make()
    assert measured_flops_per_image(model, shape) == flops_per_image(model)


def test_table_and_bad_input():
    table = flops_table(CapsNet(CapsNetConfig.small()))
    assert "primary_caps" in table and "total" in table
    with pytest.raises(TypeError, match="expected a CapsNet or BaselineCNN"):
        layer_counts(torch.nn.Linear(2, 2))
