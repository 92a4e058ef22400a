"""Exercise checks of chapter 9: typical wrong answers fail on the property they break, with the hint
that names the mistake.  (Every check's reference solution and unfinished stub: tests/capsbook/exercises/test_checks.py.)"""

import torch

from capsbook.exercises import ch09


# --- 9.1 the width of a digit -------------------------------------------------------------------
def _weighted_std(images):
    columns = torch.arange(images.shape[-1], dtype=images.dtype)
    ink = images.sum((-2, -1)).clamp_min(1e-12)
    mean = (images * columns).sum((-2, -1)) / ink
    return ((images * (columns - mean[:, None, None]) ** 2).sum((-2, -1)) / ink).sqrt()


def test_width_without_the_factor_two_is_named():
    report = ch09.check_digit_width(_weighted_std, verbose=False)
    assert report.failed_on("width 10") and "factor 2" in str(report)
    assert not report.failed_on("single column")


def test_a_width_without_the_factor_two_fails_only_there():
    report = ch09.check_digit_width(_weighted_std, verbose=False)
    assert report.failures == ["two equal columns 10 apart: width 10"]


def test_a_variance_for_a_width_fails_only_on_the_width_itself():
    report = ch09.check_digit_width(lambda x: _weighted_std(x) ** 2, verbose=False)
    assert report.failures == ["two equal columns 10 apart: width 10"]
    assert "standard deviation, not the variance" in str(report)


def test_width_that_counts_inked_pixels_fails_on_the_faint_column():
    report = ch09.check_digit_width(
        lambda images: 2 * _weighted_std((images > 0).double()), verbose=False
    )
    assert report.failed_on(
        "each column counts by its ink"
    ) and "counted inked pixels" in str(report)
    assert not report.failed_on("width 10")


def test_width_along_the_rows_is_named():
    report = ch09.check_digit_width(
        lambda images: 2 * _weighted_std(images.transpose(-1, -2)), verbose=False
    )
    assert report.failed_on("that spread is the height") and "last axis" in str(report)


def test_width_of_a_blank_picture_must_not_be_nan():
    def unguarded(images):
        columns = torch.arange(images.shape[-1], dtype=images.dtype)
        ink = images.sum((-2, -1))
        mean = (images * columns).sum((-2, -1)) / ink
        return (
            2
            * (
                (images * (columns - mean[:, None, None]) ** 2).sum((-2, -1)) / ink
            ).sqrt()
        )

    report = ch09.check_digit_width(unguarded, verbose=False)
    assert report.failures == ["a blank picture has width 0, not NaN"]


# --- 9.2 interpolation, 9.4 receptive field of any network ------------------------------------
def _arange_steps(a, b, steps):
    """A usual slip: arange(steps) / steps stops one step short of pose b."""
    t = (torch.arange(steps, dtype=a.dtype) / steps).unsqueeze(1)
    return a + t * (b - a)


def test_interpolation_that_misses_the_last_pose_fails():
    report = ch09.check_interpolate_poses(_arange_steps, verbose=False)
    assert report.failed_on("the last pose is pose_b") and not report.failed_on(
        "the first pose"
    )


def test_receptive_field_that_adds_the_kernels_is_named():
    def summed(y, x, k1, k2, s):
        return y * s, x * s, y * s + k1 + k2 - 1, x * s + k1 + k2 - 1

    report = ch09.check_receptive_field_of_any_network(summed, verbose=False)
    assert len(report.failures) == 4 and "not their sum" in str(report)


def test_receptive_field_that_forgets_conv1_is_named():
    report = ch09.check_receptive_field_of_any_network(
        lambda y, x, k1, k2, s: (y * s, x * s, y * s + k2 - 1, x * s + k2 - 1),
        verbose=False,
    )
    assert not report.passed and "widens the window by conv_kernel - 1" in str(report)


def test_perturbation_that_replaces_instead_of_adding_fails():
    def replaces(pose, dim, offsets):
        out = pose.expand(len(offsets), pose.shape[0]).clone()
        out[:, dim] = offsets
        return out

    report = ch09.check_perturb_dimension(replaces, verbose=False)
    assert report.failed_on("plus the offset") and not report.failed_on("other 15")


def test_receptive_field_without_conv1_fails():
    report = ch09.check_primary_receptive_field(
        lambda y, x: (2 * y, 2 * x, 2 * y + 8, 2 * x + 8), verbose=False
    )
    assert report.failed_on("17 pixels") and "conv1" in str(report)


# --- 9.1 applied: the dimension that widens the digit most ----------------------------------
def _width_change(sweeps):
    return ch09.reference_digit_width(sweeps[:, -1]) - ch09.reference_digit_width(
        sweeps[:, 0]
    )


def test_the_largest_absolute_change_picks_the_narrowing_dimension():
    report = ch09.check_widest_dimension(
        lambda sweeps: int(_width_change(sweeps).abs().argmax()), verbose=False
    )
    assert not report.passed and "narrows" in str(report)


def test_the_most_changed_pixels_are_not_the_widest():
    def most_pixels(sweeps):
        return int((sweeps[:, -1] - sweeps[:, 0]).abs().sum((-2, -1)).argmax())

    report = ch09.check_widest_dimension(most_pixels, verbose=False)
    assert not report.passed and "compare widths, not pictures" in str(report)


def test_the_widest_dimension_of_the_atlas_is_the_width_increase():
    sweeps = ch09._sweeps_with_known_widths()
    assert ch09.reference_widest_dimension(sweeps) == 3
    assert _width_change(sweeps)[3] == 4 and _width_change(sweeps)[7] == -6


# --- 9.2: two steps -------------------------------------------------------------------------
def test_two_steps_of_the_right_shape_but_wrong_poses_say_so():
    report = ch09.check_interpolate_poses(_arange_steps, verbose=False)
    assert report.failed_on("just the two ends") and not report.failed_on(
        "steps=2 gives two poses"
    )
    assert "got shape" not in str(report)


# --- 9.3: the polarization rule -------------------------------------------------------------
def _rule(per_digit, paired=True, every_step=True, standard_errors=2.0):
    means = per_digit.mean(1)
    rises = bool((means[1:] > means[:-1]).all()) if every_step else True
    gain = per_digit[-1] - per_digit[0]
    n = per_digit.shape[1]
    if paired:
        se = gain.std() / n**0.5
    else:
        se = (per_digit[-1].var() / n + per_digit[0].var() / n) ** 0.5
    return rises and bool(gain.mean() > standard_errors * se)


def test_an_unpaired_standard_error_fails_on_the_paired_case_only():
    report = ch09.check_polarization_rule(
        lambda p: _rule(p, paired=False), verbose=False
    )
    assert len(report.failures) == 1 and "(paired)" in str(report)


def test_first_to_last_only_misses_the_dip():
    report = ch09.check_polarization_rule(
        lambda p: _rule(p, every_step=False), verbose=False
    )
    assert len(report.failures) == 1 and "*every* step" in str(report)


def test_one_standard_error_passes_a_gain_the_rule_rejects():
    report = ch09.check_polarization_rule(
        lambda p: _rule(p, standard_errors=1.0), verbose=False
    )
    assert len(report.failures) == 1 and "2 standard errors" in str(report)


def test_the_rule_applied_to_the_shipped_fashion_network_runs_on_the_sample():
    """The exercise's applied half, as its solution does it, on a few images."""
    from capsbook import probes
    from capslib import pretrained

    model, _ = pretrained.load("fashion-capsnet", device="cpu")
    x, y = next(pretrained.test_batches("fashion-mnist", 0, limit=20, source="sample"))
    result = probes.coupling_polarization(model, x, y, (3, 5, 10, 20))
    assert result.per_digit.shape == (4, 20)
    assert ch09.reference_polarization_rule(result.per_digit) in (True, False)
    assert all(0.1 <= m <= 1 for m in result.largest_mean)
