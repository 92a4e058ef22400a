"""Exercise checks of chapter 8: typical wrong answers fail on the property they break, with the hint
that names the mistake.  (Every check's reference solution and unfinished stub: tests/capsbook/exercises/test_checks.py.)"""

import torch
from check_reports import failures


# -- Exercise 8.4: a paired comparison from the recorded mistakes ------------------
def test_paired_difference_reference_by_hand():
    import math

    from capsbook.exercises import ch08

    check = ch08.check_paired_difference
    assert check(ch08.reference_paired_difference, verbose=False).passed
    # a wrong on 0..38 (39), b on 14..43 (30): 25 shared, D = 14 + 5 = 19, d = 9
    d, two_se = ch08.reference_paired_difference(range(39), range(14, 44), 10_000)
    assert d == 9 and abs(two_se - 2 * (19 - 81 / 10_000) ** 0.5) < 1e-12
    assert d > two_se  # beyond two paired SEs: b is better on these digits
    unpaired = 2 * math.sqrt(39 * (1 - 39 / 10_000) + 30 * (1 - 30 / 10_000))
    assert round(two_se, 2) == 8.72 and round(unpaired, 1) == 16.6  # the solution's
    # the same counts with no mistake shared: D = 69
    _, disjoint = ch08.reference_paired_difference(range(39), range(100, 130), 10_000)
    assert disjoint > d  # the same 9 digits are then within two SEs (16.6)


def test_paired_difference_unpaired_se_fails_with_its_hint(capsys):
    import math

    from capsbook.exercises import ch08

    def unpaired(wrong_a, wrong_b, n):
        ea, eb = len(wrong_a), len(wrong_b)
        return ea - eb, 2 * math.sqrt(ea * (1 - ea / n) + eb * (1 - eb / n))

    assert not ch08.check_paired_difference(unpaired).passed
    assert "unpaired SE of two separate error counts" in capsys.readouterr().out


def test_paired_difference_counting_shared_mistakes_fails_with_its_hint(capsys):
    import math

    from capsbook.exercises import ch08

    def union(wrong_a, wrong_b, n):
        d = len(wrong_a) - len(wrong_b)
        return d, 2 * math.sqrt(len(set(wrong_a) | set(wrong_b)) - d * d / n)

    def no_term(wrong_a, wrong_b, n):
        return len(wrong_a) - len(wrong_b), 2 * math.sqrt(
            len(set(wrong_a) ^ set(wrong_b))
        )

    assert not ch08.check_paired_difference(union).passed
    assert "D counts the shared mistakes too" in capsys.readouterr().out
    assert not ch08.check_paired_difference(no_term).passed
    assert "subtract d**2 / n" in capsys.readouterr().out


def test_paired_difference_stub_is_not_attempted():
    from capsbook.exercises import ch08

    def stub(wrong_a, wrong_b, n):
        raise NotImplementedError("replace this line with your answer")

    report = ch08.check_paired_difference(stub, verbose=False)
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


# -- Exercise 8.2: when torch.compile pays for its compilation ----------------------
def test_break_even_reference_by_hand():
    import math

    from capsbook.exercises import ch08

    check = ch08.check_break_even_steps
    assert check(ch08.reference_break_even_steps, verbose=False).passed
    # 40 s saved at 3 ms a step: 13,333.3 steps, so 13,334; the shipped run has 8,580
    assert ch08.reference_break_even_steps(0.012, 0.009, 40.0) == 13_334
    assert ch08.reference_break_even_steps(0.5, 0.25, 10.0) == 40  # exactly paid
    assert ch08.reference_break_even_steps(0.1, 0.1, 1.0) == math.inf


def test_break_even_wrong_answers_fail_with_their_hints(capsys):
    import math

    from capsbook.exercises import ch08

    def floored(eager, compiled, compile_s):
        return (
            math.floor(compile_s / (eager - compiled)) if eager > compiled else math.inf
        )

    def over_compiled(eager, compiled, compile_s):
        return math.ceil(compile_s / compiled) if eager > compiled else math.inf

    def negative(eager, compiled, compile_s):
        return math.ceil(compile_s / (eager - compiled)) if eager != compiled else -1

    assert not ch08.check_break_even_steps(floored).passed
    assert "rounded down" in capsys.readouterr().out
    assert not ch08.check_break_even_steps(over_compiled).passed
    assert "time saved per step" in capsys.readouterr().out
    assert not ch08.check_break_even_steps(negative).passed
    assert "return math.inf" in capsys.readouterr().out


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
