"""Checks for the exercises of chapter 9 (what capsules learn).

9.1 the width of a digit (the statistic that names what a dimension does), and the dimension that
widens a capsule's digit most; 9.2 a sweep between two capsules (interpolation;
:func:`check_perturb_dimension` is its one-axis special case, the sweep the chapter draws); 9.3 the
polarization rule, applied to the shipped Fashion-MNIST network; 9.4 the receptive field of a primary capsule
in any network (:func:`check_primary_receptive_field` is its special case, the paper's network).
"""

from __future__ import annotations

import torch

from capsbook import probes

from .report import CheckReport, check, guarded

__all__ = [
    "check_digit_width",
    "check_interpolate_poses",
    "check_perturb_dimension",
    "check_polarization_rule",
    "check_widest_dimension",
    "check_primary_receptive_field",
    "check_receptive_field_of_any_network",
    "reference_digit_width",
    "reference_interpolate_poses",
    "reference_perturb_dimension",
    "reference_polarization_rule",
    "reference_widest_dimension",
    "reference_primary_receptive_field",
    "reference_receptive_field_of_any_network",
]


def _random(*shape, seed: int) -> torch.Tensor:
    return torch.randn(
        *shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64
    )


# ---------------------------------------------------------------------------------------------
# Exercise 9.1: the width of a digit
# ---------------------------------------------------------------------------------------------
def reference_digit_width(images: torch.Tensor) -> torch.Tensor:
    """Twice the ink-weighted standard deviation of the column index, for each of
    images (n, H, W); a blank image has width 0."""
    columns = torch.arange(images.shape[-1], dtype=images.dtype)
    ink = images.sum((-2, -1))
    safe = ink.clamp_min(1e-12)  # no division by 0 for a blank image
    mean = (images * columns).sum((-2, -1)) / safe
    variance = (images * (columns - mean[:, None, None]) ** 2).sum((-2, -1)) / safe
    return torch.where(ink > 0, 2 * variance.sqrt(), torch.zeros_like(ink))


def _columns(width: int, lit: dict[int, float], rows: int = 8) -> torch.Tensor:
    image = torch.zeros(rows, width, dtype=torch.float64)
    for column, value in lit.items():
        image[:, column] = value
    return image


@guarded
def check_digit_width(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise 9.1: ``fn(images)`` -> ``(n,)`` widths, ``2 * sqrt(ink-weighted variance of the column index)``."""
    two = _columns(
        20, {3: 1.0, 13: 1.0}
    )  # columns 3 and 13, equal ink: std 5, width 10
    singles = _columns(20, {5: 1.0})
    faint = _columns(
        20, {3: 1.0, 13: 0.25}
    )  # mean 5, variance (4 + 0.25 * 64) / 1.25 = 16: width 8
    blank = torch.zeros(8, 20, dtype=torch.float64)
    rows_only = torch.zeros(8, 20, dtype=torch.float64)
    rows_only[[1, 6], 4] = 1.0  # two rows of one column: width 0 (height 5)
    with check("Exercise 9.1: the width of a digit", verbose=verbose) as report:
        with report.attempt("runs on five (8, 20) pictures"):
            images = torch.stack([singles, two, 0.5 * two, faint, rows_only])
            out = torch.as_tensor(fn(images.clone())).double().flatten()
            if not report.expect(
                out.shape == (5,),
                "returns one width per picture, (n,)",
                f"got shape {tuple(out.shape)}; reduce over the last two axes (H, W)",
            ):
                return report
            report.expect(
                abs(out[0]) < 1e-6,
                "a single column of ink has width 0",
                f"got {out[0]:.4g}: the spread of the column index around its mean is 0",
            )
            hint = (
                "you forgot the factor 2 (the width is twice the standard deviation)"
                if abs(out[1] - 5) < 1e-6
                else "the standard deviation, not the variance"
                if abs(out[1] - 25) < 1e-6
                else "the mean column is 8 and each column lies 5 from it: standard deviation 5"
            )
            report.expect(
                abs(out[1] - 10) < 1e-6,
                "two equal columns 10 apart: width 10",
                f"got {out[1]:.4g}; {hint}",
            )
            # the next two compare widths with each other, so a missing factor 2 (or a
            # variance for a standard deviation) does not fail them too
            fainter = out[2] / out[1] if abs(out[1]) > 1e-9 else float("nan")
            report.expect(
                abs(fainter - 1) < 1e-6,
                "fainter ink leaves the width alone (normalise by the ink)",
                f"half the ink changed the width {fainter:.4g}-fold; divide the "
                "weighted sums by the total ink",
            )
            counted = out[3] / out[1] if abs(out[1]) > 1e-9 else float("nan")
            report.expect(
                abs(counted - 0.8) < 1e-6 or abs(counted - 0.64) < 1e-6,
                "each column counts by its ink: columns 3 (ink 1) and 13 (ink 0.25) "
                "give 0.8 of the width of two equal columns",
                f"got {counted:.4g} times the width of two equal columns; weight each "
                "pixel by its intensity"
                + (
                    " -- you counted inked pixels, not their intensity"
                    if abs(counted - 1) < 1e-6
                    else ""
                ),
            )
            report.expect(
                abs(out[4]) < 1e-6,
                "two rows of one column: width 0 (that spread is the height)",
                f"got {out[4]:.4g}"
                + (
                    " -- you measured the rows; the width runs along the columns (the "
                    "last axis)"
                    if abs(out[4] - 5) < 1e-6
                    else ""
                ),
            )
        with report.attempt("runs on a blank picture"):
            empty = torch.as_tensor(fn(blank.unsqueeze(0).clone())).double().flatten()
            report.expect(
                empty.shape == (1,)
                and bool(torch.isfinite(empty).all())
                and abs(float(empty[0])) < 1e-9,
                "a blank picture has width 0, not NaN",
                f"got {empty.tolist()}; guard the division by the total ink (0 here)",
            )
    return report


def reference_widest_dimension(sweeps: torch.Tensor) -> int:
    """``sweeps``: ``(16, steps, H, W)``, one capsule's decodings, each dimension moved from
    -0.25 (first step) to +0.25 (last).  The dimension whose +0.25 decoding is widest
    compared with its -0.25 one."""
    change = reference_digit_width(sweeps[:, -1]) - reference_digit_width(sweeps[:, 0])
    return int(change.argmax())


def _sweeps_with_known_widths() -> torch.Tensor:
    """(16, 11, 8, 20) decodings: dimension 3 widens the digit by 4 columns, dimension 7
    narrows it by 6, dimension 9 adds much ink without widening it; the rest stay."""
    steps, still = 11, _columns(20, {8: 1.0, 12: 1.0})  # width 4
    sweeps = still.expand(16, steps, 8, 20).clone()
    for k in range(steps):
        t = k / (steps - 1)  # 0 at -0.25, 1 at +0.25
        sweeps[3, k] = _columns(20, {8 - round(2 * t): 1.0, 12 + round(2 * t): 1.0})
        sweeps[7, k] = _columns(20, {5 + round(3 * t): 1.0, 15 - round(3 * t): 1.0})
        sweeps[9, k] = _columns(20, {8: 1.0 + 3 * t, 12: 1.0 + 3 * t})
    return sweeps


@guarded
def check_widest_dimension(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise 9.1, applied: ``fn(sweeps)`` -> the dimension that widens the digit most."""
    sweeps = _sweeps_with_known_widths()
    with check(
        "Exercise 9.1: the dimension that widens the digit most", verbose=verbose
    ) as report:
        with report.attempt("runs on a capsule's sweeps (16 dimensions, 11 steps)"):
            got = int(torch.as_tensor(fn(sweeps.clone())).reshape(()))
            hint = {
                7: "dimension 7 *narrows* the digit most (its width falls by 6): take "
                "the width at +0.25 minus the width at -0.25, without abs, and the largest",
                9: "dimension 9 changes the most pixels (it adds ink) but leaves the "
                "width alone: compare widths, not pictures",
            }.get(
                got,
                "measure each dimension's width at -0.25 (the first step) and "
                "+0.25 (the last), and take the largest increase",
            )
            report.expect(
                got == 3,
                "dimension 3, which widens the digit by 4 columns",
                f"got {got}; {hint}",
            )
    return report


# ---------------------------------------------------------------------------------------------
# Exercise 9.2: a sweep from one capsule to another
# ---------------------------------------------------------------------------------------------
def reference_interpolate_poses(
    pose_a: torch.Tensor, pose_b: torch.Tensor, steps: int
) -> torch.Tensor:
    """(steps, dim): pose_a to pose_b in equal steps, both ends included."""
    t = torch.linspace(0, 1, steps, dtype=pose_a.dtype, device=pose_a.device)
    return pose_a + t.unsqueeze(1) * (pose_b - pose_a)


@guarded
def check_interpolate_poses(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise 9.2: ``fn(pose_a, pose_b, steps)`` -> ``(steps, 16)`` evenly spaced poses from a to b."""
    a, b = _random(16, seed=3) * 0.2, _random(16, seed=4) * 0.2
    with check(
        "Exercise 9.2: a sweep from one capsule to another", verbose=verbose
    ) as report:
        with report.attempt("runs on two (16,) poses with steps=7"):
            out = torch.as_tensor(fn(a.clone(), b.clone(), 7)).double()
            if not report.expect(
                tuple(out.shape) == (7, 16),
                "returns (steps, 16)",
                f"got {tuple(out.shape)}",
            ):
                return report
            report.expect(
                torch.allclose(out[0], a),
                "the first pose is pose_a",
                "start at pose_a (t = 0)",
            )
            report.expect(
                torch.allclose(out[-1], b),
                "the last pose is pose_b (both ends included)",
                "end at pose_b (t = 1): torch.linspace(0, 1, steps) includes it, torch.arange does not",
            )
            report.expect(
                torch.allclose(out, reference_interpolate_poses(a, b, 7)),
                "equal steps on the straight line from a to b: a + t (b - a)",
                "use t = 0, 1/(steps-1), ..., 1 and a + t * (b - a)",
            )
        with report.attempt("runs with steps=2"):
            ends = torch.as_tensor(fn(a.clone(), b.clone(), 2)).double()
            if report.expect(
                tuple(ends.shape) == (2, 16),
                "steps=2 gives two poses",
                f"got shape {tuple(ends.shape)}, expected (2, 16)",
            ):
                report.expect(
                    torch.allclose(ends, torch.stack([a, b])),
                    "steps=2 gives just the two ends, pose_a then pose_b",
                    "with two steps, t is 0 then 1: the poses are pose_a and pose_b",
                )
    return report


# ---------------------------------------------------------------------------------------------
# Exercise 9.2's special case: one row of the perturbation figure (moving one axis of the pose)
# ---------------------------------------------------------------------------------------------
def reference_perturb_dimension(
    pose: torch.Tensor, dim: int, offsets: torch.Tensor
) -> torch.Tensor:
    """``pose``: ``(16,)``; returns ``(len(offsets), 16)``: ``pose`` with ``offsets[k]`` *added* to ``pose[dim]``."""
    return probes.perturbed_poses(pose, offsets, dims=[dim])[0]


@guarded
def check_perturb_dimension(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise 9.2 (its one-axis case): ``fn(pose, dim, offsets)`` -> ``(steps, 16)``, only ``dim`` moved."""
    pose = _random(16, seed=0) * 0.2
    offsets = probes.perturbation_offsets().double()
    with check(
        "Exercise 9.2: perturb one dimension of a capsule", verbose=verbose
    ) as report:
        with report.attempt("runs on a (16,) pose, dim=4 and the 11 offsets"):
            out = torch.as_tensor(fn(pose.clone(), 4, offsets.clone())).double()
            if not report.expect(
                tuple(out.shape) == (11, 16),
                "returns (steps, 16)",
                f"got {tuple(out.shape)}: one row per offset, each a whole pose",
            ):
                return report
            others = [k for k in range(16) if k != 4]
            report.expect(
                torch.allclose(out[:, others], pose[others].expand(11, 15)),
                "the other 15 dimensions keep their values",
                "copy the pose, then change one entry",
            )
            report.expect(
                torch.allclose(out[:, 4], pose[4] + offsets),
                "dimension 4 is the capsule's value plus the offset",
                "the paper *tweaks* each dimension: add the offset to pose[dim], do not replace it",
            )
            report.expect(
                torch.allclose(out[5], pose),
                "the middle column (offset 0) is the unchanged pose",
                "offset 0 must give back the pose itself",
            )
    return report


# ---------------------------------------------------------------------------------------------
# Exercise 9.3: the polarization rule, applied to another network
# ---------------------------------------------------------------------------------------------
def reference_polarization_rule(per_digit: torch.Tensor) -> bool:
    """``per_digit``: ``(counts, n)``, each digit's mean largest coupling after
    each routing iteration count, counts in increasing order.  True when the mean
    over the digits rises at every step and the last count's exceeds the first's by
    more than 2 paired standard errors (the same digits at both counts)."""
    means = per_digit.mean(1)
    rises = bool((means[1:] > means[:-1]).all())
    gain = per_digit[-1] - per_digit[0]
    return rises and bool(gain.mean() > 2 * gain.std() / len(gain) ** 0.5)


def _polarization_case(steps, gain_mean, gain_sd, base_sd, n=20) -> torch.Tensor:
    """(4, n): digits with spread ``base_sd`` at the first count; the means move by
    ``steps`` (the first three increments) and the last count gains ``gain_mean`` on
    average, digit by digit with SD ``gain_sd`` exactly."""
    z = _random(n, seed=11)
    z = (z - z.mean()) / z.std()
    w = _random(n, seed=12)
    w = (w - w.mean()) / w.std()
    base = 0.1 + base_sd * z
    rows = [base, base + steps[0], base + steps[0] + steps[1]]
    rows.append(base + gain_mean + gain_sd * w)
    return torch.stack(rows)


@guarded
def check_polarization_rule(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise 9.3: ``fn(per_digit)`` -> whether the chapter's polarization rule holds."""
    cases = [
        # (per_digit, what holds, what it diagnoses when the answer disagrees)
        (
            _polarization_case((0.02, 0.06), 0.3, 0.02, 0.01),
            True,
            "a clear rise at every step: the rule holds",
            "the means rise at every step and the gain is many standard errors",
        ),
        (
            _polarization_case((0.05, -0.02), 0.3, 0.02, 0.01),
            False,
            "a dip between two counts: the rule does not hold",
            "the rule asks for a rise at *every* step, not only from the first "
            "count to the last",
        ),
        (
            _polarization_case((0.002, 0.002), 0.01, 0.005, 0.1),
            True,
            "digits that differ a lot but each gain a little: paired, the rule holds",
            "the same digits are measured at both counts: take the standard error "
            "of each digit's gain (paired), not of the two means separately",
        ),
        (
            _polarization_case((0.001, 0.001), 1.5 * 0.05 / 20**0.5, 0.05, 0.01),
            False,
            "a gain of 1.5 paired standard errors: the rule does not hold",
            "the gain must exceed 2 standard errors of the mean gain, "
            "SD / sqrt(number of digits)",
        ),
    ]
    with check(
        "Exercise 9.3: the polarization rule, on any network", verbose=verbose
    ) as report:
        for per_digit, expected, what, hint in cases:
            with report.attempt(f"runs on a (4, 20) measurement: {what}"):
                got = fn(per_digit.clone())
                if isinstance(got, torch.Tensor):
                    got = got.item()
                report.expect(
                    bool(got) is expected and isinstance(got, (bool, int)),
                    what,
                    f"got {got!r}; {hint}",
                )
    return report


# ---------------------------------------------------------------------------------------------
# Exercise 9.4: what a primary capsule sees, in the paper's network and in any network
# ---------------------------------------------------------------------------------------------
def reference_primary_receptive_field(y: int, x: int) -> tuple[int, int, int, int]:
    """The paper's network: pixels ``rows top..bottom, columns left..right`` (inclusive) seen by position ``(y, x)``."""
    size, stride = 9 + (9 - 1), 2
    return y * stride, x * stride, y * stride + size - 1, x * stride + size - 1


@guarded
def check_primary_receptive_field(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise 9.4 (the paper's network): ``fn(y, x)`` -> ``(top, left, bottom, right)`` seen by position ``(y, x)``."""
    cases = [(0, 0), (2, 4), (5, 5)]
    with check(
        "Exercise 9.4: the receptive field of a primary capsule (the paper's network)",
        verbose=verbose,
    ) as report:
        with report.attempt("runs on positions (0, 0), (2, 4), (5, 5)"):
            answers = [tuple(int(v) for v in fn(y, x)) for y, x in cases]
            right = [reference_primary_receptive_field(y, x) for y, x in cases]
            report.expect(
                answers[0] == right[0],
                "position (0, 0) sees rows and columns 0..16 (17 pixels)",
                f"got {answers[0]}; conv1's 9x9 kernel widens the primary capsule's 9x9 window by 8 pixels"
                if answers[0][2] == 8
                else f"got {answers[0]}, expected {right[0]}",
            )
            report.expect(
                answers[1] == right[1],
                "positions are 2 pixels apart (the stride)",
                f"got {answers[1]} for (2, 4), expected {right[1]}",
            )
            report.expect(
                answers[2] == right[2],
                "the last position (5, 5) ends at pixel 26",
                f"got {answers[2]}, expected {right[2]}: pixel 27 is seen by no primary capsule",
            )
    return report


def reference_receptive_field_of_any_network(
    y: int, x: int, conv_kernel: int, primary_kernel: int, stride: int
) -> tuple[int, int, int, int]:
    """The input pixels (top, left, bottom, right), inclusive, seen by the primary
    capsules at (y, x): conv1 at stride 1, then primary_kernel at stride."""
    size = conv_kernel + primary_kernel - 1  # primary_kernel conv1 outputs in a row
    return y * stride, x * stride, y * stride + size - 1, x * stride + size - 1


@guarded
def check_receptive_field_of_any_network(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise 9.4: ``fn(y, x, conv_kernel, primary_kernel, stride)`` -> ``(top, left, bottom, right)``, inclusive."""
    cases = [
        ((0, 0, 9, 9, 2), "the paper's network at (0, 0): rows and columns 0..16"),
        ((2, 4, 9, 9, 2), "the paper's network at (2, 4)"),
        (
            (1, 2, 5, 3, 1),
            "conv1 5x5, primary 3x3 with stride 1, at (1, 2): a 7x7 patch",
        ),
        (
            (3, 0, 3, 7, 3),
            "conv1 3x3, primary 7x7 with stride 3, at (3, 0): 9 pixels from row 9",
        ),
    ]
    with check(
        "Exercise 9.4: the receptive field of a primary capsule in any network",
        verbose=verbose,
    ) as report:
        for arguments, what in cases:
            with report.attempt(
                f"runs on y, x, conv_kernel, primary_kernel, stride = {arguments}"
            ):
                got = tuple(int(v) for v in fn(*arguments))
                right = reference_receptive_field_of_any_network(*arguments)
                y, x, k1, k2, s = arguments
                hint = (
                    f"got {got}, expected {right}"
                    + (
                        ": conv1's kernel widens the window by conv_kernel - 1 pixels"
                        if got == (y * s, x * s, y * s + k2 - 1, x * s + k2 - 1)
                        else ""
                    )
                    + (
                        ": the window is conv_kernel + primary_kernel - 1 wide, not their sum"
                        if got
                        == (y * s, x * s, y * s + k1 + k2 - 1, x * s + k1 + k2 - 1)
                        else ""
                    )
                )
                report.expect(got == right, what, hint)
    return report
