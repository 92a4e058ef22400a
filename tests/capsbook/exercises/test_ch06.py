"""Exercise checks of chapter 6: typical wrong answers fail on the property they break, with the hint
that names the mistake.  (Every check's reference solution and unfinished stub: tests/capsbook/exercises/test_checks.py.)"""

import pytest
import torch
from check_reports import failures, hint_of

from capsbook.exercises import ch06


def test_margin_loss_reference_passes():
    assert ch06.check_margin_loss(ch06.reference_margin_loss, verbose=False).passed


def test_margin_loss_reference_is_capslibs_for_multi_hot_and_class_index_targets():
    from capslib import functional as cf

    lengths = torch.rand(4, 10, dtype=torch.float64)
    labels = torch.tensor([1, 3, 5, 7])
    multi_hot = torch.nn.functional.one_hot(labels, 10).double()
    torch.testing.assert_close(
        ch06.reference_margin_loss(lengths, multi_hot), cf.margin_loss(lengths, labels)
    )


def test_margin_loss_mean_over_classes_fails():
    def mean_over_classes(lengths, targets):
        return ch06.reference_margin_loss(lengths, targets) / lengths.shape[1]

    report = ch06.check_margin_loss(mean_over_classes, verbose=False)
    assert not report.passed and "equals capslib.functional.margin_loss" in failures(
        report
    )
    assert "costs (0.9)^2 = 0.81" in failures(report) and "10 times too small" in str(
        report
    )


def test_margin_loss_lambda_on_the_wrong_term_fails():
    def swapped(lengths, targets):
        t = targets.to(lengths.dtype)
        return (
            (
                0.5 * t * (0.9 - lengths).clamp(min=0) ** 2
                + (1 - t) * (lengths - 0.1).clamp(min=0) ** 2
            )
            .sum(1)
            .mean()
        )

    report = ch06.check_margin_loss(swapped, verbose=False)
    assert "digits missed" in failures(report) and "absent capsule at 0.6" in failures(
        report
    )


def test_margin_loss_with_one_present_class_only_fails_on_two_digits():
    def first_target_only(lengths, targets):  # argmax: the single-label habit
        one = torch.nn.functional.one_hot(targets.argmax(dim=1), lengths.shape[1]).to(
            lengths.dtype
        )
        return ch06.reference_margin_loss(lengths, one)

    report = ch06.check_margin_loss(first_target_only, verbose=False)
    assert "both capsules long" in failures(report) and "five-class" not in failures(
        report
    )


def test_margin_loss_hard_coded_ten_classes_fails_on_five():
    def ten_classes(lengths, targets):
        t = targets.to(lengths.dtype)[:, :10]
        return (
            t * (0.9 - lengths[:, :10]).clamp(min=0) ** 2
            + 0.5 * (1 - t) * (lengths[:, :10] - 0.1).clamp(min=0) ** 2
        ).sum(1).mean() * (10 / lengths.shape[1])

    report = ch06.check_margin_loss(ten_classes, verbose=False)
    assert failures(report) == "works for any number of classes"


def test_mse_weight_reference_is_xifengguos_0392_on_mnist_and_passes():
    assert ch06.reference_mse_weight((1, 28, 28)) == pytest.approx(
        0.392
    )  # CapsNet-Keras's lam_recon
    assert ch06.reference_mse_weight((1, 36, 36)) == pytest.approx(0.648)
    assert ch06.check_mse_weight(ch06.reference_mse_weight, verbose=False).passed


def test_mse_weight_without_channels_fails_on_colour_only(capsys):
    report = ch06.check_mse_weight(lambda shape: 0.0005 * shape[-1] * shape[-2])
    assert (
        failures(report)
        == "w * mse_loss equals 0.0005 x the per-image sum for (3, 32, 32)"
    )
    assert "count the 3 channels" in capsys.readouterr().out


def test_mse_weight_of_the_plain_scale_fails_everywhere():
    report = ch06.check_mse_weight(lambda shape: 0.0005, verbose=False)
    assert len(report.failures) == 4 and "0.0005 alone weighs the mean" in str(report)


def test_mse_weight_unfinished_answer_is_reported_not_raised():
    def unfinished(image_shape):
        raise NotImplementedError("replace this line with your answer")

    report = ch06.check_mse_weight(unfinished, verbose=False)
    assert not report.passed and report.not_attempted


def test_mask_reference_passes_and_always_keeping_the_longest_fails():
    assert ch06.check_mask_capsules(ch06.reference_mask_capsules, verbose=False).passed

    def longest(poses, classes):
        return ch06.reference_mask_capsules(poses, poses.norm(dim=-1).argmax(dim=1))

    report = ch06.check_mask_capsules(longest, verbose=False)
    assert failures(report) == (
        "with the labels: keeps that capsule only | "
        "with the runner-up capsules: keeps that capsule only"
    )
    assert "whatever was asked" in str(report)


def test_mask_zeroing_the_chosen_capsule_fails_with_its_hint():
    report = ch06.check_mask_capsules(
        lambda poses, classes: poses - ch06.reference_mask_capsules(poses, classes),
        verbose=False,
    )
    assert len(report.failures) == 3 and "you zeroed the chosen capsule" in str(report)


def test_mask_reference_agrees_with_capslib_decoder_mask():
    from capslib.nn import CapsuleDecoder

    poses = torch.randn(5, 10, 16)
    labels = torch.tensor([1, 2, 3, 4, 5])
    decoder = CapsuleDecoder()
    assert torch.equal(
        decoder.mask(poses, mask_with=labels),
        ch06.reference_mask_capsules(poses, labels),
    )
    decoder.eval()
    longest = poses.norm(dim=-1).argmax(dim=1)
    assert torch.equal(
        decoder.mask(poses), ch06.reference_mask_capsules(poses, longest)
    )


def test_paired_rule_reference_passes_and_matches_capsbook():
    from capsbook.loss_experiments.seeds import paired_compare

    assert ch06.check_paired_rule(ch06.reference_paired_rule, verbose=False).passed
    for _, a, b in ch06._PAIRED_CASES:
        mine = ch06.reference_paired_rule(a, b)
        theirs = paired_compare(a, b)
        assert mine[0] == pytest.approx(theirs["difference"])
        assert mine[1] == pytest.approx(theirs["se"]) and mine[2] == theirs["verdict"]
    # by hand: differences 1, 2, 3 -> mean 2, sd 1, se 1 / sqrt(3) = 0.577; t = 3.46
    # is beyond 2 but within t for 2 degrees of freedom, 0.95 sqrt(2 / 0.0975) = 4.30
    mean, se, verdict = ch06.reference_paired_rule(
        {0: 2.0, 1: 5.0, 2: 9.0}, {0: 1.0, 1: 3.0, 2: 6.0}
    )
    assert (mean, verdict) == (2.0, "not shown") and se == pytest.approx(3**-0.5)
    # differences 2, 2, 2.4: mean 2.133, se 0.133, t = 16: higher
    assert (
        ch06.reference_paired_rule({0: 3.0, 1: 5.0, 2: 8.4}, {0: 1.0, 1: 3.0, 2: 6.0})[
            2
        ]
        == "higher"
    )


def _paired(a, b, *, se_of, order="seed", ignore_minimum=False, bar=None):
    """A paired rule with one mistake: the standard error, the pairing or the minimum."""
    import math
    import statistics

    if order == "seed":
        seeds = sorted(set(a) & set(b))
        d = [a[s] - b[s] for s in seeds]
    else:  # by position in the dicts
        d = [x - y for x, y in zip(a.values(), b.values())]
    if len(d) < 3 and not ignore_minimum:
        return 0.0, None, "not decided"
    mean = statistics.fmean(d)
    if se_of == "unpaired":
        se = math.sqrt(
            statistics.variance(a.values()) / len(a)
            + statistics.variance(b.values()) / len(b)
        )
    elif se_of == "n":
        se = statistics.pstdev(d) / math.sqrt(len(d))
    else:
        se = statistics.stdev(d) / math.sqrt(len(d))
    if bar is None:  # the rule's: Student's t for n - 1 degrees of freedom
        from capsbook.paired import t_critical

        bar = t_critical(len(d) - 1)
    verdict = (
        "higher" if mean > bar * se else "lower" if mean < -bar * se else "not shown"
    )
    return mean, se, verdict


def test_paired_rule_with_the_unpaired_standard_error_fails_with_its_hint():
    report = ch06.check_paired_rule(
        lambda a, b: _paired(a, b, se_of="unpaired"), verbose=False
    )
    hint = hint_of(report, "hidden by the spread of the seeds: difference")
    assert "unpaired standard error" in hint
    assert "hidden by the spread of the seeds: verdict 'higher'" in failures(report)


def test_paired_rule_pairing_by_position_fails_with_its_hint():
    report = ch06.check_paired_rule(
        lambda a, b: _paired(a, b, se_of="paired", order="position"), verbose=False
    )
    assert "by seed, not by their position" in hint_of(report, "different orders")
    assert "spread of the seeds: difference" not in failures(report)  # same order


def test_paired_rule_with_n_in_the_standard_deviation_fails_with_its_hint():
    report = ch06.check_paired_rule(
        lambda a, b: _paired(a, b, se_of="n"), verbose=False
    )
    assert "n - 1" in hint_of(report, "needs n - 1: difference")


def test_paired_rule_deciding_with_two_seeds_fails():
    report = ch06.check_paired_rule(
        lambda a, b: _paired(a, b, se_of="paired", ignore_minimum=True), verbose=False
    )
    assert failures(report) == "two seeds in common: 'not decided'"


def test_paired_rule_at_two_standard_errors_fails_with_the_t_hint():
    report = ch06.check_paired_rule(
        lambda a, b: _paired(a, b, se_of="paired", bar=2.0), verbose=False
    )
    assert "beyond two standard errors, within t: verdict 'not shown'" in failures(
        report
    )
    hint = hint_of(report, "within t: verdict")
    assert "2 standard errors" in hint and "4.30" in hint
    assert "four seeds" not in failures(report)  # t = 3.66 counts at 2 and at 3.18


def test_paired_rule_with_the_t_of_three_seeds_for_four_fails():
    report = ch06.check_paired_rule(
        lambda a, b: _paired(a, b, se_of="paired", bar=4.303), verbose=False
    )
    assert (
        failures(report) == "four seeds: t for 3 degrees of freedom: verdict 'higher'"
    )
