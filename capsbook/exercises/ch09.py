"""Checks for the exercises of chapter 9 (what capsules learn).

9.1 the width of a digit (the statistic that names what a dimension does); 9.2 a sweep between two
capsules (interpolation; :func:`check_perturb_dimension` is its one-axis special case, the sweep the
chapter draws); 9.3 couplings on the primary-capsule grid; 9.4 the receptive field of a primary capsule
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
    "check_class_coupling_map",
    "check_primary_receptive_field",
    "check_receptive_field_of_any_network",
    "reference_digit_width",
    "reference_interpolate_poses",
    "reference_perturb_dimension",
    "reference_class_coupling_map",
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
            report.expect(
                abs(out[2] - 10) < 1e-6,
                "fainter ink leaves the width alone (normalise by the ink)",
                f"got {out[2]:.4g}; divide the weighted sums by the total ink",
            )
            report.expect(
                abs(out[3] - 8) < 1e-6,
                "each column counts by its ink: columns 3 (ink 1) and 13 (ink 0.25): 8",
                f"got {out[3]:.4g}; weight each pixel by its intensity"
                + (
                    " -- you counted inked pixels, not their intensity"
                    if abs(out[3] - 10) < 1e-6
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
            report.expect(
                tuple(ends.shape) == (2, 16)
                and torch.allclose(ends, torch.stack([a, b])),
                "steps=2 gives just the two ends",
                f"got shape {tuple(ends.shape)}",
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
# Exercise 9.3: couplings back onto the primary-capsule grid
# ---------------------------------------------------------------------------------------------
def reference_class_coupling_map(
    couplings: torch.Tensor, classes: torch.Tensor, capsule_types: int, grid: int
) -> torch.Tensor:
    """The couplings (batch, types * grid * grid, classes) to each image's class,
    averaged over the capsule types at each position: (batch, grid, grid)."""
    batch = couplings.shape[0]
    chosen = couplings[torch.arange(batch), :, classes]  # (batch, types * grid * grid)
    return chosen.view(batch, capsule_types, grid, grid).mean(dim=1)  # type first


@guarded
def check_class_coupling_map(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise 9.3: ``fn(couplings, classes, capsule_types, grid)`` -> the mean over types per position."""
    types, grid = 3, 4
    raw = torch.rand(
        2,
        types * grid * grid,
        5,
        generator=torch.Generator().manual_seed(1),
        dtype=torch.float64,
    )
    couplings = raw / raw.sum(-1, keepdim=True)
    classes = torch.tensor([2, 4])
    expected = reference_class_coupling_map(couplings, classes, types, grid)
    with check(
        "Exercise 9.3: couplings on the primary capsule grid", verbose=verbose
    ) as report:
        with report.attempt(
            "runs on couplings (2, 48, 5), classes [2, 4], 3 types, a 4x4 grid"
        ):
            out = torch.as_tensor(
                fn(couplings.clone(), classes.clone(), types, grid)
            ).double()
            if not report.expect(
                tuple(out.shape) == (2, grid, grid),
                "returns (batch, grid, grid)",
                f"got {tuple(out.shape)}",
            ):
                return report
            wrong_layout = couplings.gather(
                2, classes.view(2, 1, 1).expand(2, 48, 1)
            ).view(2, grid, grid, types)
            report.expect(
                torch.allclose(out, expected, atol=1e-9),
                "each position averages its own capsules (type-major layout: (type * grid + y) * grid + x)",
                "view the chosen couplings as (batch, types, grid, grid), then average over types"
                + (
                    " -- you used a position-major layout (grid, grid, types)"
                    if torch.allclose(out, wrong_layout.mean(-1), atol=1e-9)
                    else ""
                ),
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
