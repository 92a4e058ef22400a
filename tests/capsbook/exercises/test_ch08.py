"""Wrong answers for the checks of chapters 7 and 8 that tests/test_exercises_ch06_08.py does not cover.

Exercise 7.3 (capsules from a channels-last map, the layout of Keras and TensorFlow
code) and chapter 8's four checks.
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


# -- Exercise 8.1: a validation split by groups ---------------------------------------
def failures(report):
    return " | ".join(report.failures)


def test_group_split_reference_passes_and_keeps_groups_whole():
    from capsbook.exercises import ch08

    assert ch08.check_group_split(ch08.reference_group_split, verbose=False).passed
    groups = torch.tensor([5, 5, 9, 9, 9, 2])
    train_idx, val_idx = ch08.reference_group_split(groups, 1, seed=0)
    assert len(set(groups[val_idx].tolist())) == 1
    assert sorted(torch.cat([train_idx, val_idx]).tolist()) == list(range(6))


def test_group_split_that_splits_examples_fails_with_its_hint(capsys):
    from capsbook.exercises import ch08

    def by_example(groups, val_groups, seed):  # chapter 8's first split, misapplied
        n = len(groups)
        order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
        k = val_groups * n // len(groups.unique())
        return order[k:], order[:k]

    report = ch08.check_group_split(by_example)
    assert "no group has examples on both sides" in failures(report)
    assert "you split the examples" in capsys.readouterr().out


def test_group_split_by_smallest_ids_fails_on_the_seed():
    from capsbook.exercises import ch08

    def smallest(groups, val_groups, seed):
        in_val = torch.isin(groups, groups.unique()[:val_groups])
        return torch.nonzero(~in_val).flatten(), torch.nonzero(in_val).flatten()

    report = ch08.check_group_split(smallest, verbose=False)
    assert failures(report) == "another seed holds out other groups"


# -- Exercise 8.2: where a learning-rate schedule ends -------------------------------
def test_final_lr_fraction_reference_gives_the_chapters_numbers():
    from capsbook.exercises import ch08

    check = ch08.check_final_lr_fraction
    assert check(ch08.reference_final_lr_fraction, verbose=False).passed
    default = ch08.reference_final_lr_fraction(0.96, 2000, 20, 55_000, 128)
    shipped = ch08.reference_final_lr_fraction(0.9, 430, 20, 55_000, 128)
    assert round(default, 2) == 0.84 and round(shipped, 2) == 0.12


def test_final_lr_fraction_wrong_step_counts_fail_with_their_hints(capsys):
    from capsbook.exercises import ch08

    def unfloored(rate, decay_steps, epochs, n, batch):
        return rate ** (epochs * n / batch / decay_steps)

    def staircase(rate, decay_steps, epochs, n, batch):
        return rate ** (epochs * (n // batch) // decay_steps)

    assert not ch08.check_final_lr_fraction(unfloored).passed
    assert "count whole steps" in capsys.readouterr().out
    assert not ch08.check_final_lr_fraction(staircase).passed
    assert "that is the staircase" in capsys.readouterr().out


# -- Exercise 8.3: early stopping on the validation split ----------------------------
def test_early_stop_reference_passes():
    from capsbook.exercises import ch08

    assert ch08.check_early_stop(ch08.reference_early_stop, verbose=False).passed
    assert ch08.reference_early_stop([0.9, 0.8, 0.7], 5) == (3, 1)


def test_early_stop_that_peeks_past_the_stop_fails_with_its_hint(capsys):
    from capsbook.exercises import ch08

    def peeks(val_accuracy, patience):
        stop, _ = ch08.reference_early_stop(val_accuracy, patience)
        return stop, 1 + val_accuracy.index(max(val_accuracy))

    assert not ch08.check_early_stop(peeks).passed
    assert "never trained" in capsys.readouterr().out


def test_early_stop_counting_ties_as_improvements_fails_with_its_hint(capsys):
    from capsbook.exercises import ch08

    def ties_improve(val_accuracy, patience):
        best, best_epoch, waited = -1.0, 0, 0
        for epoch, accuracy in enumerate(val_accuracy, start=1):
            if accuracy >= best:
                best, best_epoch, waited = accuracy, epoch, 0
            else:
                waited += 1
                if waited == patience:
                    return epoch, best_epoch
        return len(val_accuracy), best_epoch

    report = ch08.check_early_stop(ties_improve)
    assert "stops after epoch 4, keeps epoch 2" in failures(report)
    assert "a tie is not an improvement" in capsys.readouterr().out
