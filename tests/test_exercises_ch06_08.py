"""Exercise checks of chapters 6-8: the reference solution passes, a typical wrong answer fails on the named point."""
import pytest
import torch

import capslib.exercises as exercises
from capslib import pitfalls
from capslib.exercises import ch06, ch07, ch08


def failures(report):
    return " | ".join(report.failures)


# -- chapter 6 -------------------------------------------------------------------
def test_margin_loss_reference_passes_and_is_found_lazily():
    assert exercises.check_margin_loss is ch06.check_margin_loss
    assert ch06.check_margin_loss(ch06.reference_margin_loss, verbose=False).passed


def test_margin_loss_mean_over_classes_fails():
    def mean_over_classes(lengths, targets):
        return ch06.reference_margin_loss(lengths, targets) / lengths.shape[1]
    report = ch06.check_margin_loss(mean_over_classes, verbose=False)
    assert not report.passed and "equals capslib.functional.margin_loss" in failures(report)
    assert "costs (0.9)^2 = 0.81" in failures(report)


def test_margin_loss_lambda_on_the_wrong_term_fails():
    def swapped(lengths, targets):
        t = torch.nn.functional.one_hot(targets, 10).to(lengths.dtype)
        return (0.5 * t * (0.9 - lengths).clamp(min=0) ** 2
                + (1 - t) * (lengths - 0.1).clamp(min=0) ** 2).sum(1).mean()
    report = ch06.check_margin_loss(swapped, verbose=False)
    assert "missing true capsule" in failures(report) and "absent capsule at 0.6" in failures(report)


def test_reconstruction_loss_reference_passes_and_the_mean_pitfall_fails(capsys):
    assert ch06.check_reconstruction_loss(ch06.reference_reconstruction_loss, verbose=False).passed
    report = ch06.check_reconstruction_loss(pitfalls.reconstruction_loss_mean)
    assert not report.passed
    assert "equals capslib.functional.reconstruction_loss" in failures(report)
    assert "784 times too small" in capsys.readouterr().out


def test_reconstruction_loss_unfinished_answer_is_reported_not_raised():
    def unfinished(reconstructions, images):
        raise NotImplementedError("replace this line with your answer")
    report = ch06.check_reconstruction_loss(unfinished, verbose=False)
    assert not report.passed and "NotImplementedError" in str(report)


def test_mask_reference_passes_and_masking_with_the_prediction_in_training_fails():
    assert ch06.check_mask_capsules(ch06.reference_mask_capsules, verbose=False).passed
    report = ch06.check_mask_capsules(lambda poses, labels=None: ch06.reference_mask_capsules(poses, None),
                                      verbose=False)
    assert failures(report) == "with labels, keeps the true class's capsule and zeros the others"


def test_mask_reference_agrees_with_capslib_decoder_mask():
    from capslib.nn import CapsuleDecoder
    poses = torch.randn(5, 10, 16)
    labels = torch.tensor([1, 2, 3, 4, 5])
    decoder = CapsuleDecoder()
    assert torch.equal(decoder.mask(poses, mask_with=labels), ch06.reference_mask_capsules(poses, labels))
    decoder.eval()
    assert torch.equal(decoder.mask(poses), ch06.reference_mask_capsules(poses))


# -- chapter 7 -------------------------------------------------------------------
def test_conv_output_size_reference_passes_and_off_by_one_fails(capsys):
    assert ch07.check_conv_output_size(ch07.reference_conv_output_size, verbose=False).passed
    report = ch07.check_conv_output_size(lambda size, kernel, stride: (size - kernel) // stride)
    assert not report.passed and len(report.failures) == 8
    assert "one short" in capsys.readouterr().out


def test_capsnet_parameters_reference_passes_with_the_paper_totals():
    from capslib.models import CapsNetConfig
    assert ch07.reference_capsnet_parameters(CapsNetConfig.paper()) == 8_215_568
    assert ch07.reference_capsnet_parameters(CapsNetConfig.paper(use_decoder=False)) == 6_804_224
    assert ch07.check_capsnet_parameters(ch07.reference_capsnet_parameters, verbose=False).passed


def test_capsnet_parameters_shared_weights_answer_fails_with_its_hint(capsys):
    def one_w_per_type(config):
        grid = config.primary_grid ** 2
        per_position = config.primary_types * config.num_classes * config.primary_dim * config.digit_dim
        return ch07.reference_capsnet_parameters(config) - per_position * grid + per_position
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
    assert ch07.check_primary_capsule_layout(ch07.reference_primary_capsule_layout, verbose=False).passed
    report = ch07.check_primary_capsule_layout(pitfalls.primary_capsules_reshape_across_positions, verbose=False)
    assert "holds the 8 channels of type 2 at (1, 0)" in failures(report)


# -- chapter 8 -------------------------------------------------------------------
def test_validation_split_reference_passes():
    assert ch08.check_validation_split(ch08.reference_validation_split, verbose=False).passed


@pytest.mark.parametrize("wrong, failure", [
    (lambda n, k, seed: (torch.arange(n), torch.arange(k)), "every example is in exactly one part"),
    (lambda n, k, seed: (torch.arange(k, n), torch.arange(k)), "another seed gives another validation set"),
    (lambda n, k, seed: (lambda p: (p[k:], p[:k]))(torch.randperm(n)), "the same seed gives the same split"),
])
def test_validation_split_wrong_answers_fail(wrong, failure):
    report = ch08.check_validation_split(wrong, verbose=False)
    assert failure in failures(report)


def test_learning_rate_reference_passes_and_matches_the_documented_values():
    assert ch08.reference_learning_rate(0) == 1e-3
    assert ch08.reference_learning_rate(2000) == pytest.approx(9.6e-4)
    assert ch08.check_learning_rate(ch08.reference_learning_rate, verbose=False).passed


def test_learning_rate_staircase_and_per_step_decay_fail(capsys):
    staircase = ch08.check_learning_rate(lambda step: 1e-3 * 0.96 ** (step // 2000))
    assert staircase.failures == ["step 1: 0.00099998", "step 1,000: 0.000979796"]
    assert "that is the staircase" in capsys.readouterr().out
    per_step = ch08.check_learning_rate(lambda step: 1e-3 * 0.96 ** step, verbose=False)
    assert len(per_step.failures) == 6 and "not per step" in str(per_step)


def test_select_by_validation_reference_passes_and_test_set_selection_fails(capsys):
    assert ch08.check_select_by_validation(ch08.reference_select_by_validation, verbose=False).passed
    def by_test(history):
        best = max(history, key=lambda r: r["test_accuracy"])
        return best["epoch"], best["test_accuracy"]
    report = ch08.check_select_by_validation(by_test)
    assert "picks epoch 3" in failures(report)
    assert "best TEST epoch" in capsys.readouterr().out
    def last_on_tie(history):
        best = max(reversed(history), key=lambda r: r["val_accuracy"])
        return best["epoch"], best["test_accuracy"]
    assert "picks epoch 3" in failures(ch08.check_select_by_validation(last_on_tie, verbose=False))


@pytest.mark.parametrize("check", [ch07.check_conv_output_size, ch07.check_capsnet_parameters, ch08.check_learning_rate])
def test_an_unfinished_stub_is_reported_once_not_once_per_case(check):
    def stub(*args):
        raise NotImplementedError("replace this line with your answer")
    report = check(stub, verbose=False)
    assert not report.passed and len(report.results) == 1 and "NotImplementedError" in str(report)
