"""Exercise checks of chapter 8: typical wrong answers fail on the property they break, with the hint
that names the mistake.  (Every check's reference solution and unfinished stub: tests/capsbook/exercises/test_checks.py.)"""

import torch
from check_reports import failures


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
