"""Wrong answers for the checks of chapters 7 and 8 that tests/test_exercises_ch06_08.py does not cover.

Exercise 7.3 (capsules from a channels-last map, the layout of Keras and TensorFlow code).
"""

import torch

from capsbook import pitfalls
from capsbook.exercises import ch07
from capslib.nn import PrimaryCapsules


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


def test_the_pitfall_applied_channels_first_groups_positions_not_channels():
    conv_out = torch.arange(2 * 8 * 3 * 3, dtype=torch.float32).view(1, 16, 3, 3)
    wrong = pitfalls.primary_capsules_reshape_across_positions(conv_out, capsule_dim=8)
    assert torch.equal(
        wrong[0, 0], conv_out[0, 0].flatten()[:8]
    )  # 8 positions of channel 0


# -- Exercise 8.4: the range of test errors that sampling alone allows --------------------------------------
def test_error_range_reference_passes_and_matches_capslib():
    from capsbook.exercises import ch08
    from capsbook.runs import error_count_range

    assert ch08.check_error_range(ch08.reference_error_range, verbose=False).passed
    assert (
        ch08.reference_error_range(0.0025, 10_000)
        == error_count_range(0.0025, 10_000)
        == (16, 35)
    )


def test_error_range_normal_approximation_fails_with_its_hint(capsys):
    import math

    from capsbook.exercises import ch08

    def normal(rate, n):
        sd = math.sqrt(n * rate * (1 - rate))
        return round(n * rate - 1.96 * sd), round(n * rate + 1.96 * sd)

    # by hand: 0.01 on 500 examples, mean 5, sd 2.22 -> (1, 9); the binomial range is (1, 10)
    assert normal(0.01, 500) == (1, 9)
    report = ch08.check_error_range(normal)
    assert not report.passed
    assert "normal approximation" in capsys.readouterr().out


def test_error_range_stub_is_not_attempted():
    from capsbook.exercises import ch08

    def stub(rate, n):
        raise NotImplementedError("replace this line with your answer")

    report = ch08.check_error_range(stub, verbose=False)
    assert not report.passed and len(report.results) == 1
