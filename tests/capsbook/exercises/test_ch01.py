"""Exercise checks of chapter 1: typical wrong answers fail on the property they break, with the hint
that names the mistake.  (Every check's reference solution and unfinished stub: tests/capsbook/exercises/test_checks.py.)"""

import torch
import torch.nn.functional as F
from check_reports import fails_on, hint_of

from capsbook.exercises import ch01
from capslib.nn import count_parameters


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
    report = fails_on(
        ch01.check_conv_parameter_count(no_channels, verbose=False), "3 -> 64 channels"
    )
    assert "spans all 3 input channels" in hint_of(report, "3 -> 64 channels")
    assert not report.failed_on(
        "1 -> 8 channels"
    )  # with one input channel the mistake does not show
    no_bias = lambda c_in, c_out, k, bias=True: k * k * c_in * c_out  # noqa: E731
    report = fails_on(ch01.check_conv_parameter_count(no_bias, verbose=False), "5x5")
    assert "one bias per filter" in hint_of(
        report, "3 -> 64 channels"
    ) and not report.failed_on("bias=False")
    always_bias = lambda c_in, c_out, k, bias=True: k * k * c_in * c_out + c_out  # noqa: E731
    report = ch01.check_conv_parameter_count(always_bias, verbose=False)
    assert report.failures == ["2 -> 4 channels, 7x7, bias=False: 392 parameters"]
    assert "no biases" in hint_of(report, "bias=False")
    linear_kernel = lambda c_in, c_out, k, bias=True: k * c_in * c_out + c_out  # noqa: E731
    assert "k * k weights" in hint_of(
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
    assert "both* sides" in hint_of(
        ch01.check_feature_map_size(one_side, verbose=False), "agrees"
    )
    true_division = lambda n, k, s, p, d: (n + 2 * p - d * (k - 1) - 1) / s + 1  # noqa: E731
    report = fails_on(
        ch01.check_feature_map_size(true_division, verbose=False),
        "returns whole numbers",
    )
    assert "use // rather than /" in hint_of(report, "whole numbers")
    no_dilation = lambda n, k, s, p, d: (n + 2 * p - k) // s + 1  # noqa: E731
    report = ch01.check_feature_map_size(no_dilation, verbose=False)
    assert "8 of 12 right" in report.failures[
        0
    ] and "spans d (k - 1) + 1 pixels" in hint_of(report, "agrees")
    times = lambda n, k, s, p, d: (n + 2 * p - d * k) // s + 1  # noqa: E731
    assert "not d k" in hint_of(
        ch01.check_feature_map_size(times, verbose=False), "agrees"
    )
    four_arguments = lambda n, k, s, p: (n + 2 * p - k) // s + 1  # noqa: E731
    assert "five arguments" in hint_of(
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
    report = fails_on(
        ch01.check_receptive_field(no_strides, verbose=False), "(2, 2)]: 16 pixels"
    )
    assert "left out the strides" in hint_of(
        report, "16 pixels"
    ) and not report.failed_on("[(3, 1)]: 3")
    own_stride = lambda layers: (
        1
        + sum(
            (k - 1) * math.prod(s for _, s in layers[: i + 1])  # noqa: E731
            for i, (k, _) in enumerate(layers)
        )
    )
    assert "*before* a layer" in hint_of(
        ch01.check_receptive_field(own_stride, verbose=False), "16 pixels"
    )
    kernels = lambda layers: sum(k for k, _ in layers)  # noqa: E731
    assert "adds k - 1" in hint_of(
        ch01.check_receptive_field(kernels, verbose=False), "7 pixels"
    )


def test_overlapping_max_pool_typical_mistakes():
    assert ch01.check_overlapping_max_pool(ch01.reference_overlapping_max_pool).passed
    average = lambda x, k, s: F.avg_pool2d(x[None, None], k, s)[0, 0]  # noqa: E731
    assert "average pooling" in hint_of(
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
    assert "move each window by the stride (2)" in hint_of(report, "(7, 7)")
