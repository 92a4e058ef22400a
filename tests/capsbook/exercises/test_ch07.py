"""Exercise checks of chapter 7: typical wrong answers fail on the property they break, with the hint
that names the mistake.  (Every check's reference solution and unfinished stub: tests/capsbook/exercises/test_checks.py.)"""

import torch
from check_reports import failures

from capsbook import pitfalls
from capsbook.exercises import ch07
from capslib.nn import PrimaryCapsules


def test_conv_output_size_reference_passes_and_off_by_one_fails(capsys):
    assert ch07.check_conv_output_size(
        ch07.reference_conv_output_size, verbose=False
    ).passed
    report = ch07.check_conv_output_size(
        lambda size, kernel, stride: (size - kernel) // stride
    )
    assert not report.passed and len(report.failures) == 8
    assert "one short" in capsys.readouterr().out


def test_capsnet_parameters_reference_passes_with_the_paper_totals():
    from capslib.models import CapsNetConfig

    assert ch07.reference_capsnet_parameters(CapsNetConfig.paper()) == 8_215_568
    assert (
        ch07.reference_capsnet_parameters(CapsNetConfig.paper(use_decoder=False))
        == 6_804_224
    )
    assert ch07.check_capsnet_parameters(
        ch07.reference_capsnet_parameters, verbose=False
    ).passed


def test_capsnet_parameters_shared_weights_answer_fails_with_its_hint(capsys):
    def one_w_per_type(config):
        grid = config.primary_grid**2
        per_position = (
            config.primary_types
            * config.num_classes
            * config.primary_dim
            * config.digit_dim
        )
        return (
            ch07.reference_capsnet_parameters(config)
            - per_position * grid
            + per_position
        )

    report = ch07.check_capsnet_parameters(one_w_per_type)
    assert len(report.failures) == 4
    assert "its own W_ij" in capsys.readouterr().out


def test_capsnet_parameters_without_biases_fails():
    from capslib.models import CapsNetConfig

    def no_biases(config):
        return ch07.reference_capsnet_parameters(config) - config.conv_channels

    report = ch07.check_capsnet_parameters(no_biases, verbose=False)
    assert len(report.failures) == 4 and "remember the biases" in str(report)
    assert no_biases(CapsNetConfig.paper()) == 8_215_568 - 256


def test_primary_layout_reference_passes_and_the_reshape_pitfall_fails():
    assert ch07.check_primary_capsule_layout(
        ch07.reference_primary_capsule_layout, verbose=False
    ).passed
    report = ch07.check_primary_capsule_layout(
        pitfalls.primary_capsules_reshape_across_positions, verbose=False
    )
    assert "holds the 8 channels of type 2 at (1, 0)" in failures(report)


# -- Exercise 7.3: capsules from a channels-last map (the layout of Keras and TensorFlow code) --
def test_channels_last_reference_equals_primary_capsules_on_the_same_map_channels_first():
    conv_out = torch.randn(
        2, 2, 5, 3 * 4
    )  # (batch, h, w, types * dim), non-square grid
    expected = PrimaryCapsules(
        in_channels=1, capsule_types=3, capsule_dim=4, kernel_size=1
    ).capsules_from_channels(conv_out.permute(0, 3, 1, 2).contiguous())
    assert torch.equal(
        ch07.reference_primary_capsules_channels_last(conv_out, 4), expected
    )
    # by hand: capsule (type 1, y=1, x=3) is number (1 * 2 + 1) * 5 + 3 = 18 and holds channels 4..7 there
    assert torch.equal(expected[0, 18], conv_out[0, 1, 3, 4:8])


def test_channels_last_check_passes_the_reference():
    assert ch07.check_primary_capsules_channels_last(
        ch07.reference_primary_capsules_channels_last, verbose=False
    ).passed


def test_channels_last_check_fails_keras_order_with_its_hint(capsys):
    # Keras's Reshape((-1, dim)) on a channels-last map: right vectors, position-major order
    report = ch07.check_primary_capsules_channels_last(
        lambda x, dim: x.reshape(x.shape[0], -1, dim)
    )
    assert not report.passed
    assert "position-major" in capsys.readouterr().out


def test_channels_last_check_fails_the_channels_first_answer_applied_to_channels_last():
    # the chapter's channels-first answer run on a channels-last map: the bug of code ported the other way
    report = ch07.check_primary_capsules_channels_last(
        ch07.reference_primary_capsule_layout, verbose=False
    )
    assert not report.passed


def test_channels_last_check_fails_swapped_rows_and_columns(capsys):
    def swapped(x, dim):  # type, then column, then row
        b, h, w, c = x.shape
        return x.view(b, h, w, c // dim, dim).permute(0, 3, 2, 1, 4).reshape(b, -1, dim)

    report = ch07.check_primary_capsules_channels_last(swapped)
    assert not report.passed
    assert "wrong order" in capsys.readouterr().out


def test_channels_last_check_reports_the_stub_as_not_attempted():
    def stub(x, dim):
        raise NotImplementedError("replace this line with your answer")

    report = ch07.check_primary_capsules_channels_last(stub, verbose=False)
    assert not report.passed and len(report.results) == 1  # stops at the first attempt


# -- Exercise 7.2: what grows when CapsNet sees 36x36 (MultiMNIST) images --
def test_size_growth_reference_matches_hand_counts_at_28_and_36():
    from capslib.models import CapsNetConfig

    at_28 = ch07.reference_size_growth(CapsNetConfig.paper())
    at_36 = ch07.reference_size_growth(CapsNetConfig.paper(input_size=36))
    # by hand: 6x6 and 10x10 grids of 32 types; one 16x8 W_ij per (capsule, class)
    assert at_28["digit_caps"] == 6 * 6 * 32 * 10 * 16 * 8 == 1_474_560
    assert at_36["digit_caps"] == 10 * 10 * 32 * 10 * 16 * 8 == 4_096_000
    assert at_36["predictions"] == 3200 * 10 * 16
    # the decoder's last layer: 1024 -> 36 * 36 instead of 1024 -> 28 * 28
    assert at_36["decoder"] - at_28["decoder"] == (1024 + 1) * (36 * 36 - 28 * 28)
    # the convolutions' weights do not depend on the image size
    assert (at_28["conv1"], at_28["primary_caps"]) == (
        at_36["conv1"],
        at_36["primary_caps"],
    )
    assert sum(at_28[k] for k in ch07.GROWTH_KEYS[:4]) == 8_215_568


def test_size_growth_check_passes_the_reference():
    assert ch07.check_size_growth(ch07.reference_size_growth, verbose=False).passed


def test_size_growth_check_names_the_28x28_answer(capsys):
    import dataclasses

    def stale(config):  # the grid and the decoder of 28x28 inputs, whatever the size
        return ch07.reference_size_growth(dataclasses.replace(config, input_size=28))

    report = ch07.check_size_growth(stale)
    assert len(report.failures) == 3  # every case but the 28x28 one
    out = capsys.readouterr().out
    assert "primary grid grows" in out and "redraws the whole" in out


def test_size_growth_check_names_vectors_counted_instead_of_numbers(capsys):
    def vectors(config):
        answer = ch07.reference_size_growth(config)
        answer["predictions"] //= config.digit_dim
        return answer

    report = ch07.check_size_growth(vectors)
    assert len(report.failures) == 4
    assert "counts prediction vectors" in capsys.readouterr().out


def test_size_growth_check_names_one_w_per_type_and_grown_convolutions(capsys):
    def shared(config):
        answer = ch07.reference_size_growth(config)
        c = config
        answer["digit_caps"] = c.primary_types * c.num_classes * c.primary_dim * 16
        answer["conv1"] *= 2
        return answer

    report = ch07.check_size_growth(shared)
    assert len(report.failures) == 4
    out = capsys.readouterr().out
    assert "convolution's sharing" in out and "do not depend on the image size" in out


def test_size_growth_check_reports_a_missing_key():
    report = ch07.check_size_growth(lambda c: {"conv1": 0}, verbose=False)
    assert not report.passed and "missing" in str(report)
