"""Chapters 1 and 2's exercise checks: the reference solutions pass, typical wrong answers fail by name."""

import torch
import torch.nn.functional as F

from capsbook.exercises import ch01, ch02
from capslib.nn import count_parameters


def _fails(report, what_substring):
    assert not report.passed
    assert any(what_substring in failure for failure in report.failures), (
        report.failures
    )
    return report


def _hint(report, what_fragment):
    hints = [
        hint for what, ok, hint in report.results if not ok and what_fragment in what
    ]
    assert hints, f"nothing failed on {what_fragment!r}: {report.results}"
    return hints[0]


# -- chapter 1 ---------------------------------------------------------------------------------------
def test_conv_parameter_count_reference_is_nn_conv2d_and_capsnet():
    from capslib.models import CapsNet

    assert ch01.check_conv_parameter_count(
        ch01.reference_conv_parameter_count, verbose=False
    ).passed
    paper = CapsNet()
    assert ch01.reference_conv_parameter_count(1, 256, 9) == count_parameters(
        paper.conv1
    )
    assert ch01.reference_conv_parameter_count(256, 256, 9) == count_parameters(
        paper.primary_caps
    )


def test_conv_parameter_count_typical_mistakes():
    no_channels = lambda c_in, c_out, k, bias=True: (
        k * k * c_out + (c_out if bias else 0)
    )  # noqa: E731
    report = _fails(
        ch01.check_conv_parameter_count(no_channels, verbose=False), "3 -> 64 channels"
    )
    assert "spans all 3 input channels" in _hint(report, "3 -> 64 channels")
    assert not report.failed_on(
        "1 -> 8 channels"
    )  # with one input channel the mistake does not show
    no_bias = lambda c_in, c_out, k, bias=True: k * k * c_in * c_out  # noqa: E731
    report = _fails(ch01.check_conv_parameter_count(no_bias, verbose=False), "5x5")
    assert "one bias per filter" in _hint(
        report, "3 -> 64 channels"
    ) and not report.failed_on("bias=False")
    always_bias = lambda c_in, c_out, k, bias=True: k * k * c_in * c_out + c_out  # noqa: E731
    report = ch01.check_conv_parameter_count(always_bias, verbose=False)
    assert report.failures == ["2 -> 4 channels, 7x7, bias=False: 392 parameters"]
    assert "no biases" in _hint(report, "bias=False")
    linear_kernel = lambda c_in, c_out, k, bias=True: k * c_in * c_out + c_out  # noqa: E731
    assert "k * k weights" in _hint(
        ch01.check_conv_parameter_count(linear_kernel, verbose=False), "3 -> 64"
    )


def test_feature_map_size_accepts_numpy_integers_and_one_element_arrays():
    import numpy as np

    reference = ch01.reference_feature_map_size
    for wrap in (
        np.int64,
        np.int32,
        lambda v: np.array([v]),
        lambda v: np.array(v),
        lambda v: torch.tensor([v]),
    ):
        report = ch01.check_feature_map_size(
            lambda *args: wrap(reference(*args)), verbose=False
        )
        assert report.passed, report
    as_float = ch01.check_feature_map_size(
        lambda *args: np.array([float(reference(*args))]), verbose=False
    )
    assert as_float.failures == [
        "returns whole numbers (an int, a NumPy integer or a one-element integer array)"
    ]
    two = ch01.check_feature_map_size(
        lambda *args: np.array([reference(*args)] * 2), verbose=False
    )
    assert two.failed_on("agrees with F.conv2d")


def test_feature_map_size_typical_mistakes():
    one_side = lambda n, k, s, p, d: (n + p - d * (k - 1) - 1) // s + 1  # noqa: E731
    assert "both* sides" in _hint(
        ch01.check_feature_map_size(one_side, verbose=False), "agrees"
    )
    true_division = lambda n, k, s, p, d: (n + 2 * p - d * (k - 1) - 1) / s + 1  # noqa: E731
    report = _fails(
        ch01.check_feature_map_size(true_division, verbose=False),
        "returns whole numbers",
    )
    assert "use // rather than /" in _hint(report, "whole numbers")
    no_dilation = lambda n, k, s, p, d: (n + 2 * p - k) // s + 1  # noqa: E731
    report = ch01.check_feature_map_size(no_dilation, verbose=False)
    assert "8 of 12 right" in report.failures[
        0
    ] and "spans d (k - 1) + 1 pixels" in _hint(report, "agrees")
    times = lambda n, k, s, p, d: (n + 2 * p - d * k) // s + 1  # noqa: E731
    assert "not d k" in _hint(
        ch01.check_feature_map_size(times, verbose=False), "agrees"
    )
    four_arguments = lambda n, k, s, p: (n + 2 * p - k) // s + 1  # noqa: E731
    assert "five arguments" in _hint(
        ch01.check_feature_map_size(four_arguments, verbose=False), "agrees"
    )


def test_receptive_field_is_measured_not_assumed():
    assert ch01._measured_field([(5, 1), (2, 2), (5, 1), (2, 2)]) == 16
    assert (
        ch01._measured_field([(9, 1), (9, 2)])
        == 17
        == ch01.reference_receptive_field([(9, 1), (9, 2)])
    )
    assert ch01.check_receptive_field(
        ch01.reference_receptive_field, verbose=False
    ).passed


def test_receptive_field_typical_mistakes():
    import math

    no_strides = lambda layers: 1 + sum(k - 1 for k, _ in layers)  # noqa: E731
    report = _fails(
        ch01.check_receptive_field(no_strides, verbose=False), "(2, 2)]: 16 pixels"
    )
    assert "left out the strides" in _hint(
        report, "16 pixels"
    ) and not report.failed_on("[(3, 1)]: 3")
    own_stride = lambda layers: (
        1
        + sum(
            (k - 1) * math.prod(s for _, s in layers[: i + 1])  # noqa: E731
            for i, (k, _) in enumerate(layers)
        )
    )
    assert "*before* a layer" in _hint(
        ch01.check_receptive_field(own_stride, verbose=False), "16 pixels"
    )
    kernels = lambda layers: sum(k for k, _ in layers)  # noqa: E731
    assert "adds k - 1" in _hint(
        ch01.check_receptive_field(kernels, verbose=False), "7 pixels"
    )


def test_overlapping_max_pool_typical_mistakes():
    assert ch01.check_overlapping_max_pool(ch01.reference_overlapping_max_pool).passed
    average = lambda x, k, s: F.avg_pool2d(x[None, None], k, s)[0, 0]  # noqa: E731
    assert "average pooling" in _hint(
        ch01.check_overlapping_max_pool(average, verbose=False), "(7, 7)"
    )

    def disjoint(x, k, stride):  # the chapter's reshape: windows that do not overlap
        h, w = x.shape[0] // k, x.shape[1] // k
        return x[: h * k, : w * k].reshape(h, k, w, k).amax(dim=(1, 3))

    report = ch01.check_overlapping_max_pool(disjoint, verbose=False)
    assert report.failures == [
        "shape (3, 3) for (7, 7), k=3, stride=2",
        "shape (4, 3) for (9, 8), k=3, stride=2",
        "shape (3, 7) for (5, 9), k=3, stride=1",
    ]
    assert "move each window by the stride (2)" in _hint(report, "(7, 7)")


# -- chapter 2 ---------------------------------------------------------------------------------------
def test_shift_image():
    assert ch02.check_shift_image(ch02.reference_shift_image).passed
    rolled = lambda image, dx, dy: torch.roll(image, (dy, dx), dims=(0, 1))  # noqa: E731
    report = _fails(
        ch02.check_shift_image(rolled, verbose=False), "moves the content by dx=1, dy=0"
    )
    assert "torch.roll" in str(report)
    backwards = lambda image, dx, dy: ch02.reference_shift_image(image, -dx, -dy)  # noqa: E731
    assert "the other way" in str(
        _fails(ch02.check_shift_image(backwards, verbose=False), "moves the content")
    )


def test_same_average_pooled_reference_and_typical_mistakes():
    assert ch02.check_same_average_pooled(ch02.reference_same_average_pooled).passed
    obvious = lambda pooled: pooled.repeat_interleave(2, 0).repeat_interleave(2, 1)  # noqa: E731
    report = _fails(
        ch02.check_same_average_pooled(obvious, verbose=False),
        "differs from the obvious",
    )
    assert report.failures == ["differs from the obvious input in every window"]

    def max_construction(
        pooled,
    ):  # chapter 2's answer for max pooling: the maximum in one corner
        x = (pooled / 2).repeat_interleave(2, 0).repeat_interleave(2, 1)
        x[::2, ::2] = pooled
        return x

    assert "*maximum*" in _hint(
        ch02.check_same_average_pooled(max_construction, verbose=False), "average-pools"
    )

    def too_far(pooled):  # right means, but pixels below 0 and above 1
        x = pooled.repeat_interleave(2, 0).repeat_interleave(2, 1).clone()
        x[::2, ::2] += 1.0
        x[1::2, 1::2] -= 1.0
        return x

    report = ch02.check_same_average_pooled(too_far, verbose=False)
    assert report.failures == ["is still an image: values in [0, 1]"]
    assert report.failed_on("values in [0, 1]") and "distance to 0 and to 1" in _hint(
        report, "values in"
    )
    _fails(
        ch02.check_same_average_pooled(lambda pooled: pooled, verbose=False),
        "returns a (6, 8) input",
    )


def test_arrangement_training_set_reference_and_typical_mistakes():
    from capsbook import faces

    assert ch02.check_arrangement_training_set(
        ch02.reference_arrangement_training_set
    ).passed

    def scrambled_as_faces(n_each, n_scrambled, seed):
        data = faces.make_face_dataset(n_each, n_each, n_scrambled, seed=seed)
        data.labels = (data.kinds != faces.NON_FACE).long()
        return data

    report = ch02.check_arrangement_training_set(scrambled_as_faces, verbose=False)
    assert report.failures == [
        "label 1 for the faces only, 0 for non-faces and scrambled faces"
    ]
    assert "label them 0" in _hint(report, "label 1")
    no_scrambled = lambda n_each, n_scrambled, seed: faces.make_face_dataset(
        n_each, n_each, seed=seed
    )  # noqa: E731
    report = ch02.check_arrangement_training_set(no_scrambled, verbose=False)
    assert "third argument" in _hint(report, "scrambled faces")
    fixed = lambda n_each, n_scrambled, seed: faces.FaceDataset.concatenate(  # noqa: E731
        [
            faces.make_face_dataset(n_each, n_each, seed=seed),
            faces.make_scrambled_faces(n_scrambled, seed=2),
        ]
    )
    report = ch02.check_arrangement_training_set(fixed, verbose=False)
    assert report.failures == ["another seed gives other scrambled faces"]
    pair = lambda n_each, n_scrambled, seed: (  # noqa: E731
        ch02.reference_arrangement_training_set(n_each, n_scrambled, seed).images,
    )
    assert ch02.check_arrangement_training_set(pair, verbose=False).failures == [
        "returns a FaceDataset"
    ]

    def unseeded(n_each, n_scrambled, seed):
        return faces.make_face_dataset(
            n_each, n_each, n_scrambled, seed=int(torch.randint(100, ()))
        )

    assert ch02.check_arrangement_training_set(unseeded, verbose=False).failed_on(
        "the same seed"
    )
