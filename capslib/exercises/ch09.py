"""Checks for the exercises of chapter 9 (what capsules learn)."""
from __future__ import annotations

import torch

from capslib import inspect as capsule_inspect

from .report import CheckReport, check

__all__ = [
    "check_perturb_dimension",
    "check_class_coupling_map",
    "check_primary_receptive_field",
    "reference_perturb_dimension",
    "reference_class_coupling_map",
    "reference_primary_receptive_field",
]


def _random(*shape, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


# ---------------------------------------------------------------------------------------------
# Exercise 9.1: one row of the perturbation figure
# ---------------------------------------------------------------------------------------------
def reference_perturb_dimension(pose: torch.Tensor, dim: int, offsets: torch.Tensor) -> torch.Tensor:
    """``pose``: ``(16,)``; returns ``(len(offsets), 16)``: ``pose`` with ``offsets[k]`` *added* to ``pose[dim]``."""
    return capsule_inspect.perturbed_poses(pose, offsets, dims=[dim])[0]


def check_perturb_dimension(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise 9.1: ``fn(pose, dim, offsets)`` -> ``(steps, 16)``, one row per offset, only ``dim`` moved."""
    pose = _random(16, seed=0) * 0.2
    offsets = capsule_inspect.perturbation_offsets().double()
    with check("Exercise 9.1: perturb one dimension of a capsule", verbose=verbose) as report:
        with report.attempt("runs on a (16,) pose, dim=4 and the 11 offsets"):
            out = torch.as_tensor(fn(pose.clone(), 4, offsets.clone())).double()
            if not report.expect(tuple(out.shape) == (11, 16), "returns (steps, 16)",
                                 f"got {tuple(out.shape)}: one row per offset, each a whole pose"):
                return report
            others = [k for k in range(16) if k != 4]
            report.expect(torch.allclose(out[:, others], pose[others].expand(11, 15)),
                          "the other 15 dimensions keep their values", "copy the pose, then change one entry")
            report.expect(torch.allclose(out[:, 4], pose[4] + offsets),
                          "dimension 4 is the capsule's value plus the offset",
                          "the paper *tweaks* each dimension: add the offset to pose[dim], do not replace it")
            report.expect(torch.allclose(out[5], pose), "the middle column (offset 0) is the unchanged pose",
                          "offset 0 must give back the pose itself")
    return report


# ---------------------------------------------------------------------------------------------
# Exercise 9.2: couplings back onto the 6x6 grid
# ---------------------------------------------------------------------------------------------
def reference_class_coupling_map(couplings: torch.Tensor, classes: torch.Tensor, capsule_types: int,
                                 grid: int) -> torch.Tensor:
    """``couplings``: ``(batch, types * grid * grid, classes)`` (type-major) -> ``(batch, grid, grid)``."""
    return capsule_inspect.couplings_for_class(couplings, classes, capsule_types, grid)


def check_class_coupling_map(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise 9.2: ``fn(couplings, classes, capsule_types, grid)`` -> the mean over types per position."""
    types, grid = 3, 4
    raw = torch.rand(2, types * grid * grid, 5, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    couplings = raw / raw.sum(-1, keepdim=True)
    classes = torch.tensor([2, 4])
    expected = reference_class_coupling_map(couplings, classes, types, grid)
    with check("Exercise 9.2: couplings on the primary capsule grid", verbose=verbose) as report:
        with report.attempt("runs on couplings (2, 48, 5), classes [2, 4], 3 types, a 4x4 grid"):
            out = torch.as_tensor(fn(couplings.clone(), classes.clone(), types, grid)).double()
            if not report.expect(tuple(out.shape) == (2, grid, grid), "returns (batch, grid, grid)",
                                 f"got {tuple(out.shape)}"):
                return report
            wrong_layout = couplings.gather(2, classes.view(2, 1, 1).expand(2, 48, 1)).view(2, grid, grid, types)
            report.expect(torch.allclose(out, expected, atol=1e-9),
                          "each position averages its own capsules (type-major layout: (type * grid + y) * grid + x)",
                          "view the chosen couplings as (batch, types, grid, grid), then average over types"
                          + (" -- you used a position-major layout (grid, grid, types)"
                             if torch.allclose(out, wrong_layout.mean(-1), atol=1e-9) else ""))
    return report


# ---------------------------------------------------------------------------------------------
# Exercise 9.3: what a primary capsule sees
# ---------------------------------------------------------------------------------------------
def reference_primary_receptive_field(y: int, x: int) -> tuple[int, int, int, int]:
    """The paper's network: pixels ``rows top..bottom, columns left..right`` (inclusive) seen by position ``(y, x)``."""
    size, stride = 9 + (9 - 1), 2
    return y * stride, x * stride, y * stride + size - 1, x * stride + size - 1


def check_primary_receptive_field(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise 9.3: ``fn(y, x)`` -> ``(top, left, bottom, right)`` of the input pixels primary position ``(y, x)`` sees."""
    cases = [(0, 0), (2, 4), (5, 5)]
    with check("Exercise 9.3: the receptive field of a primary capsule", verbose=verbose) as report:
        with report.attempt("runs on positions (0, 0), (2, 4), (5, 5)"):
            answers = [tuple(int(v) for v in fn(y, x)) for y, x in cases]
            right = [reference_primary_receptive_field(y, x) for y, x in cases]
            report.expect(answers[0] == right[0], "position (0, 0) sees rows and columns 0..16 (17 pixels)",
                          f"got {answers[0]}; conv1's 9x9 kernel widens the primary capsule's 9x9 window by 8 pixels"
                          if answers[0][2] == 8 else f"got {answers[0]}, expected {right[0]}")
            report.expect(answers[1] == right[1], "positions are 2 pixels apart (the stride)",
                          f"got {answers[1]} for (2, 4), expected {right[1]}")
            report.expect(answers[2] == right[2], "the last position (5, 5) ends at pixel 26",
                          f"got {answers[2]}, expected {right[2]}: pixel 27 is seen by no primary capsule")
    return report
