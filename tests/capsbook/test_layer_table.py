"""capsbook.layer_table: per-layer output shapes and parameter counts from a real forward pass."""

import pytest
import torch
from torch import nn

from capsbook.layer_table import layer_table
from capslib.nn import count_parameters


def small_model():
    # conv: 1*4*3*3 + 4 = 40 parameters; linear: 36*5 + 5 = 185
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(36, 5))


def test_rows_hold_hand_computed_shapes_and_counts():
    table = layer_table(small_model(), (2, 1, 5, 5))
    assert [r.name for r in table.rows] == ["0", "1", "2", "3"]
    assert [r.output_shape for r in table.rows] == [
        (2, 4, 3, 3),
        (2, 4, 3, 3),
        (2, 36),
        (2, 5),
    ]
    assert [r.params for r in table.rows] == [40, 0, 0, 185]
    assert table.total_params == 225 == count_parameters(small_model())
    assert table.params_of("3") == 185
    with pytest.raises(KeyError, match="no row named"):
        table.params_of("decoder")


def test_depth_two_lists_grandchildren_and_still_adds_up():
    model = nn.Sequential(
        nn.Conv2d(1, 2, 3), nn.Sequential(nn.Flatten(), nn.Linear(18, 3))
    )
    shallow = layer_table(model, (1, 1, 5, 5))
    deep = layer_table(model, (1, 1, 5, 5), depth=2)
    assert [r.name for r in shallow.rows] == ["0", "1"]
    assert [r.name for r in deep.rows] == ["0", "1.0", "1.1"]
    assert deep.params_of("1.1") == 18 * 3 + 3 == shallow.params_of("1")
    assert sum(r.params for r in deep.rows) == deep.total_params == 20 + 57


class TupleOut(nn.Module):
    """Returns two tensors and owns a parameter outside any child (like a learned scale)."""

    def __init__(self):
        super().__init__()
        self.body = nn.Linear(4, 3)
        self.scale = nn.Parameter(torch.ones(7))
        self.unused = nn.Linear(2, 2)

    def forward(self, x):
        y = self.body(x)
        return y, y.sum(-1)


class Wrapper(nn.Module):
    def __init__(self):
        super().__init__()
        self.inner = TupleOut()

    def forward(self, x):
        return self.inner(x)


def test_tuple_outputs_unused_layers_and_loose_parameters():
    table = layer_table(TupleOut(), (5, 4))
    rows = {r.name: r for r in table.rows}
    assert rows["body"].output_shape == (5, 3)
    assert rows["unused"].output_shape is None  # never called in forward
    assert rows["(other parameters)"].params == 7
    assert table.total_params == 15 + 6 + 7
    nested = layer_table(Wrapper(), (5, 4))
    assert nested.rows[0].output_shape == ((5, 3), (5,))
    text = str(nested)
    assert "(5, 3) + (5,)" in text and "28" in text


def test_frozen_parameters_and_shared_layers_counted_once():
    shared = nn.Linear(3, 3)
    model = nn.Sequential(shared, nn.ReLU(), shared)
    model[0].bias.requires_grad_(False)
    table = layer_table(model, (2, 3))
    assert table.total_params == 12 and table.trainable_params == 9
    assert sum(r.params for r in table.rows) == 12
    assert [r.name for r in table.rows] == [
        "0",
        "1",
    ]  # PyTorch lists a shared layer once
    assert "trainable" in str(table)


def test_mode_and_gradients_are_left_as_they_were():
    model = nn.Sequential(nn.Linear(3, 3), nn.Dropout(0.5))
    model.train()
    layer_table(model, (2, 3))
    assert model.training and model[1].training
    assert all(p.grad is None for p in model.parameters())
    model.eval()
    layer_table(model, (2, 3))
    assert not model.training


def test_printed_table_lists_every_row_and_the_total():
    text = str(layer_table(small_model(), (2, 1, 5, 5)))
    lines = text.splitlines()
    assert lines[0] == "Sequential on input (2, 1, 5, 5)"
    assert any(
        line.startswith("0 ")
        and "Conv2d" in line
        and "(2, 4, 3, 3)" in line
        and line.endswith("40")
        for line in lines
    )
    assert lines[-1].startswith("total") and lines[-1].endswith("225")


@pytest.mark.parametrize("bad", [(), (1, 0, 28), "1x28", (1.0, 28), [1, -3], (True, 3)])
def test_bad_input_shape_is_a_value_error_naming_it(bad):
    with pytest.raises(ValueError, match="input_shape"):
        layer_table(small_model(), bad)


def test_bad_model_and_depth():
    with pytest.raises(TypeError, match="torch.nn.Module, got function"):
        layer_table(lambda x: x, (1, 3))
    with pytest.raises(ValueError, match="depth >= 1, got 0"):
        layer_table(small_model(), (1, 1, 5, 5), depth=0)


def test_capsnet_paper_shapes_and_counts():
    from capslib import models

    model = models.CapsNet(models.CapsNetConfig.paper())
    table = layer_table(model, (2, 1, 28, 28))
    assert table.total_params == 8_215_568
    assert table.total_params - table.params_of("decoder") == 6_804_224
    # the paper prints only 8.2M and 6.8M: the exact counts above are capslib's, and round to the paper's
    assert (
        round(table.total_params / 1e6, 1),
        round((table.total_params - table.params_of("decoder")) / 1e6, 1),
    ) == (8.2, 6.8)
    assert {r.name: r.output_shape for r in table.rows} == {
        "conv1": (2, 256, 20, 20),
        "primary_caps": (2, 1152, 8),
        "digit_caps": (2, 10, 16),
        "decoder": (2, 1, 28, 28),
    }
    assert [
        table.params_of(name)
        for name in ("conv1", "primary_caps", "digit_caps", "decoder")
    ] == [20_992, 5_308_672, 1_474_560, 1_411_344]
