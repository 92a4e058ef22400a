"""capslib.cnns: the paper's baseline CNN against its sizes, and the two CNNs' checks of their arguments."""

from __future__ import annotations

import pytest
import torch

from capslib.cnns import BaselineCNN, PooledCNN
from capslib.nn import count_parameters


# ----------------------------------------------------------------------------
# the baseline CNN
# ----------------------------------------------------------------------------
def test_baseline_parameter_count_matches_the_papers_35_4_million():
    model = BaselineCNN()
    conv = (25 * 1 * 256 + 256) + (25 * 256 * 256 + 256) + (25 * 256 * 128 + 128)
    fc = (28 * 28 * 128 * 328 + 328) + (328 * 192 + 192) + (192 * 10 + 10)
    assert count_parameters(model) == conv + fc == 35_445_522
    assert round(count_parameters(model) / 1e6, 1) == 35.4
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(m.out_channels, m.kernel_size, m.stride) for m in convs] == [
        (256, (5, 5), (1, 1)),
        (256, (5, 5), (1, 1)),
        (128, (5, 5), (1, 1)),
    ]
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert [m.out_features for m in linears] == [328, 192, 10]
    dropouts = [m for m in model.modules() if isinstance(m, torch.nn.Dropout)]
    assert len(dropouts) == 1 and dropouts[0].p == 0.5
    assert isinstance(
        model.classifier[-2], torch.nn.Dropout
    )  # dropout just before the output


@pytest.mark.parametrize("size, params", [(36, 56_941_330), (40, 69_704_466)])
def test_baseline_larger_inputs(size, params):
    model = BaselineCNN(input_size=size, conv_channels=(8, 8, 4), hidden=(16, 8))
    logits = model.eval()(torch.rand(2, 1, size, size))
    assert logits.shape == (2, 10)
    assert count_parameters(BaselineCNN(input_size=size)) == params


def test_baseline_forward_and_errors():
    model = BaselineCNN().eval()
    with torch.no_grad():
        logits = model(torch.rand(2, 1, 28, 28))
    assert logits.shape == (2, 10) and torch.isfinite(logits).all()
    with pytest.raises(TypeError, match="floating images"):
        model(torch.zeros(2, 1, 28, 28, dtype=torch.int64))
    with pytest.raises(
        ValueError,
        match=r"images of shape \(batch, 1, 28, 28\), got shape \(2, 1, 40, 40\)",
    ):
        model(torch.rand(2, 1, 40, 40))
    with pytest.raises(ValueError, match="dropout"):
        BaselineCNN(dropout=1.0)


@pytest.mark.parametrize(
    "network, arguments, message",
    [
        (BaselineCNN, dict(kernel_size=4), "odd kernel_size"),
        (BaselineCNN, dict(hidden=()), "hidden to be a non-empty tuple"),
        (PooledCNN, dict(conv_channels=()), "conv_channels to be a non-empty tuple"),
        (PooledCNN, dict(hidden=(8, True)), "hidden to be a tuple of positive ints"),
        (PooledCNN, dict(dropout=1.0), "0 <= dropout < 1"),
        (PooledCNN, dict(input_size=0), "input_size to be a positive int, got 0"),
    ],
)
def test_the_cnns_refuse_bad_arguments(network, arguments, message):
    with pytest.raises(ValueError, match=message):
        network(**arguments)


def test_the_cnns_record_the_arguments_that_rebuild_them():
    small = dict(input_size=8, conv_channels=(2,), kernel_size=3, hidden=(3,))
    for network in (BaselineCNN, PooledCNN):
        model = network(**small)
        assert model.arguments == dict(
            small, in_channels=1, num_classes=10, dropout=0.5
        )
        rebuilt = network(**model.arguments)
        assert count_parameters(rebuilt) == count_parameters(model)
    assert PooledCNN(hidden=()).arguments["hidden"] == ()  # straight to the output
