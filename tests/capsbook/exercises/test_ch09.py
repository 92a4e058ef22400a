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
def test_interpolation_that_misses_the_last_pose_fails():
    def arange_steps(a, b, steps):
        t = (torch.arange(steps, dtype=a.dtype) / steps).unsqueeze(1)
        return a + t * (b - a)

    report = ch09.check_interpolate_poses(arange_steps, verbose=False)
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


def test_position_major_coupling_map_fails_with_layout_hint():
    def position_major(couplings, classes, types, grid):
        chosen = couplings.gather(
            2, classes.view(-1, 1, 1).expand(-1, couplings.shape[1], 1)
        ).squeeze(2)
        return chosen.view(-1, grid, grid, types).mean(-1)

    report = ch09.check_class_coupling_map(position_major, verbose=False)
    assert report.failed_on("type-major")
    assert "position-major" in str(report)


def test_receptive_field_without_conv1_fails():
    report = ch09.check_primary_receptive_field(
        lambda y, x: (2 * y, 2 * x, 2 * y + 8, 2 * x + 8), verbose=False
    )
    assert report.failed_on("17 pixels") and "conv1" in str(report)
