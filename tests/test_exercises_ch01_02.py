"""Chapters 1 and 2's exercise checks: the reference solutions pass, typical wrong answers fail by name."""
import pytest
import torch
import torch.nn.functional as F

from capslib import exercises
from capslib.exercises import ch01, ch02


def _fails(report, what_substring):
    assert not report.passed
    assert any(what_substring in failure for failure in report.failures), report.failures
    return report


def test_checks_are_found_from_the_package():
    for name in ("check_conv2d_by_hand", "check_feature_map_size", "check_dense_parameter_count",
                 "check_max_pool_by_hand", "check_shift_image", "check_same_pooled_output",
                 "check_true_class_confidence"):
        module = ch01 if hasattr(ch01, name) else ch02
        assert getattr(exercises, name) is getattr(module, name)


@pytest.mark.filterwarnings("ignore:Using padding='same'")
def test_conv2d_by_hand(capsys):
    assert ch01.check_conv2d_by_hand(ch01.reference_conv2d_by_hand).passed
    flipped = lambda image, kernel: ch01.reference_conv2d_by_hand(image, kernel.flip(0, 1))  # noqa: E731
    report = _fails(ch01.check_conv2d_by_hand(flipped), "same numbers as F.conv2d")
    assert "flipped the kernel" in str(report)
    padded = lambda image, kernel: F.conv2d(image[None, None], kernel[None, None], padding="same")[0, 0]  # noqa: E731
    _fails(ch01.check_conv2d_by_hand(padded), "output shape")
    assert "FAILED" in capsys.readouterr().out


def test_feature_map_size():
    assert ch01.check_feature_map_size(ch01.reference_feature_map_size).passed
    one_side_padding = lambda size, kernel, stride, padding: (size + padding - kernel) // stride + 1  # noqa: E731
    report = _fails(ch01.check_feature_map_size(one_side_padding, verbose=False), "agrees with F.conv2d")
    assert "both* sides" in str(report)
    true_division = lambda size, kernel, stride, padding: (size + 2 * padding - kernel) / stride + 1  # noqa: E731
    _fails(ch01.check_feature_map_size(true_division, verbose=False), "returns an int")


def test_dense_parameter_count():
    assert ch01.check_dense_parameter_count(ch01.reference_dense_parameter_count).passed
    no_bias = lambda height, width, channels, hidden: height * width * channels * hidden  # noqa: E731
    report = _fails(ch01.check_dense_parameter_count(no_bias, verbose=False), "4x5x3 -> 7 units")
    assert "add one bias per hidden unit" in str(report)


def test_max_pool_by_hand():
    assert ch01.check_max_pool_by_hand(ch01.reference_max_pool_by_hand).passed
    average = lambda x, k: F.avg_pool2d(x[None, None], k)[0, 0]  # noqa: E731
    report = _fails(ch01.check_max_pool_by_hand(average, verbose=False), "same numbers as F.max_pool2d")
    assert "average pooling" in str(report)
    overlapping = lambda x, k: F.max_pool2d(x[None, None], k, stride=1)[0, 0]  # noqa: E731
    _fails(ch01.check_max_pool_by_hand(overlapping, verbose=False), "shape")


def test_an_unfinished_answer_is_reported_not_raised():
    def unfinished(*args):
        raise NotImplementedError("write your answer here")

    for check in (ch01.check_conv2d_by_hand, ch01.check_feature_map_size, ch01.check_dense_parameter_count,
                  ch01.check_max_pool_by_hand, ch02.check_shift_image, ch02.check_same_pooled_output,
                  ch02.check_true_class_confidence):
        report = check(unfinished, verbose=False)
        assert not report.passed and "NotImplementedError" in str(report)


def test_shift_image():
    assert ch02.check_shift_image(ch02.reference_shift_image).passed
    rolled = lambda image, dx, dy: torch.roll(image, (dy, dx), dims=(0, 1))  # noqa: E731
    report = _fails(ch02.check_shift_image(rolled, verbose=False), "moves the content by dx=1, dy=0")
    assert "torch.roll" in str(report)
    backwards = lambda image, dx, dy: ch02.reference_shift_image(image, -dx, -dy)  # noqa: E731
    assert "the other way" in str(_fails(ch02.check_shift_image(backwards, verbose=False), "moves the content"))


def test_same_pooled_output():
    assert ch02.check_same_pooled_output(ch02.reference_same_pooled_output).passed
    obvious = lambda pooled: pooled.repeat_interleave(2, 0).repeat_interleave(2, 1)  # noqa: E731
    _fails(ch02.check_same_pooled_output(obvious, verbose=False), "differs from the obvious input")
    too_big = lambda pooled: ch02.reference_same_pooled_output(pooled) * 1.5  # noqa: E731
    _fails(ch02.check_same_pooled_output(too_big, verbose=False), "max-pools to exactly")


def test_true_class_confidence():
    state = torch.random.get_rng_state()
    assert ch02.check_true_class_confidence(ch02.reference_true_class_confidence).passed
    assert torch.equal(torch.random.get_rng_state(), state)  # the check leaves the global random state alone

    def predicted_class(model, images, labels, angles):
        from capslib.classify import affine_images, predict_proba
        return [float(predict_proba(model, affine_images(images, degrees=float(a))).amax(1).mean()) for a in angles]

    report = _fails(ch02.check_true_class_confidence(predicted_class, verbose=False), "true class at each angle")
    assert "*predicted* class" in str(report)
    not_rotated = lambda model, images, labels, angles: ch02.reference_true_class_confidence(  # noqa: E731
        model, images, labels, [0] * len(angles))
    _fails(ch02.check_true_class_confidence(not_rotated, verbose=False), "true class at each angle")
