"""Checks for the exercises of chapter 3 (capsules: neurons that output vectors)."""
from __future__ import annotations

import math

import torch

from capslib import toy_capsules as toy

from .report import CheckReport, check

__all__ = [
    "check_capsule_presence",
    "check_part_to_whole",
    "check_agreement_spread",
    "reference_capsule_presence",
    "reference_part_to_whole",
    "reference_agreement_spread",
]


def _as_float(value) -> float:
    return float(torch.as_tensor(value).detach().double())


# ---------------------------------------------------------------------------------------------
# Exercise 3.1: a capsule's length is the probability that its entity is present
# ---------------------------------------------------------------------------------------------
def reference_capsule_presence(v: torch.Tensor) -> torch.Tensor:
    """``v``: ``(batch, capsules, dim)`` -> ``(batch, capsules)``: each capsule's length."""
    return (v * v).sum(dim=-1).sqrt()


def check_capsule_presence(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise 3.1: ``fn(v)`` returns the length of each capsule vector.

    ``v``: ``(batch, capsules, dim)``; the answer: ``(batch, capsules)``, the
    Euclidean length along the last axis (the probability that the capsule's
    entity is present).
    """
    v = torch.tensor([[[0.6, 0.8, 0.0], [0.0, 0.0, 0.0]],
                      [[0.1, 0.2, 0.2], [-0.5, 0.5, 0.5]]], dtype=torch.float64)
    expected = torch.tensor([[1.0, 0.0], [0.3, math.sqrt(0.75)]], dtype=torch.float64)
    with check("Exercise 3.1: capsule lengths as presence probabilities", verbose=verbose) as report:
        with report.attempt("runs on a (2, 2, 3) batch of capsules"):
            out = torch.as_tensor(fn(v.clone()))
            ok_shape = report.expect(tuple(out.shape) == (2, 2), "returns shape (batch, capsules) = (2, 2)",
                                     f"got shape {tuple(out.shape)}; reduce over the last axis (dim=-1) only")
            if ok_shape:
                report.expect(torch.allclose(out.double(), expected, atol=1e-6),
                              "lengths 1.0, 0.0, 0.3 and 0.866 on hand-made capsules",
                              f"got {out.double().flatten().tolist()}; the length is the square root of the "
                              "sum of squares, not the sum of the components or their squares")
        with report.attempt("does not depend on the direction"):
            rotation = torch.tensor([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
            rotated = torch.as_tensor(fn(v @ rotation.T)).double()
            report.expect(torch.allclose(rotated, torch.as_tensor(fn(v.clone())).double(), atol=1e-6),
                          "rotating the vectors leaves their lengths unchanged",
                          "use all components symmetrically: sqrt(sum of v_k^2)")
    return report


# ---------------------------------------------------------------------------------------------
# Exercise 3.2: a part predicts the whole through its own transform
# ---------------------------------------------------------------------------------------------
def reference_part_to_whole(part_pose: torch.Tensor, transform: torch.Tensor) -> torch.Tensor:
    """The face's pose predicted by a part: ``part_pose @ transform`` (3x3 each)."""
    return part_pose @ transform


def check_part_to_whole(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise 3.2: ``fn(part_pose, transform)`` returns the whole's pose predicted by a part.

    ``part_pose``: the part's 3x3 pose; ``transform``: its part-to-whole
    transform ``W_i = R_i^{-1}`` (from
    :func:`capslib.toy_capsules.part_to_whole_transforms`).  The answer: the
    3x3 pose of the face, which for every part of a real face is that face's
    pose.
    """
    transforms = toy.part_to_whole_transforms()
    face_poses = [(0.0, 0.0, 1.0, 0.0), (0.4, -0.3, 1.5, 0.8), (-0.2, 0.5, 0.7, -2.0)]
    with check("Exercise 3.2: part-to-whole predictions", verbose=verbose) as report:
        for face_pose in face_poses:
            face = toy.pose_matrix(*face_pose)
            parts = toy.face_parts(*face_pose)
            with report.attempt(f"runs on the parts of a face with pose {face_pose}"):
                predictions = [torch.as_tensor(fn(parts[name].clone(), transforms[name].clone())).double()
                               for name in parts]
                ok_shape = report.expect(all(tuple(p.shape) == (3, 3) for p in predictions),
                                         f"returns 3x3 poses (face pose {face_pose})",
                                         "return a 3x3 matrix: the product of two 3x3 matrices")
                if ok_shape:
                    report.expect(all(torch.allclose(p, face, atol=1e-6) for p in predictions),
                                  f"every part predicts the face's pose {face_pose}",
                                  "the part's pose is F @ R_i, so F = P_i @ R_i^-1 = part_pose @ transform; "
                                  "the order of a matrix product matters (transform @ part_pose is wrong "
                                  "once the face moves or turns)")
    return report


# ---------------------------------------------------------------------------------------------
# Exercise 3.3: measure the agreement of the predictions
# ---------------------------------------------------------------------------------------------
def reference_agreement_spread(predictions: torch.Tensor) -> float:
    """``predictions``: ``(n, 3, 3)`` -> RMS distance of the pose vectors from their mean."""
    vectors = toy.pose_vector(predictions)
    return float(((vectors - vectors.mean(dim=0)) ** 2).sum(dim=-1).mean().sqrt())


def check_agreement_spread(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise 3.3: ``fn(predictions)`` returns a number that measures disagreement.

    ``predictions``: ``(n, 3, 3)`` predicted poses of the whole.  The answer:
    a number that is 0 when all predictions are the same pose, positive
    otherwise, grows when one prediction moves further away, does not depend
    on the order of the predictions, and counts a difference of *rotation or
    scale* as well as of position.
    """
    agreeing = toy.predict_whole(toy.face_parts(0.2, -0.1, 1.2, 0.5))
    scrambled = toy.predict_whole(toy.scramble_parts(toy.face_parts(0.2, -0.1, 1.2, 0.5), seed=0))

    def moved(shift: float) -> torch.Tensor:
        out = agreeing.clone()
        out[0, 0, 2] += shift
        return out

    turned = agreeing.clone()
    turned[1] = turned[1] @ toy.pose_matrix(0.0, 0.0, 1.0, 1.0)  # same position, rotated by 1 rad
    with check("Exercise 3.3: measure agreement", verbose=verbose) as report:
        with report.attempt("runs on 4 predictions"):
            at_face = _as_float(fn(agreeing.clone()))
            report.expect(abs(at_face) < 1e-6, "0 when the parts form a face (all predictions equal)",
                          f"got {at_face:.4g}; measure distances between the predictions, not their size")
            at_scrambled = _as_float(fn(scrambled.clone()))
            report.expect(at_scrambled > 0.1, "clearly positive when the parts are scrambled",
                          f"got {at_scrambled:.4g}")
            spreads = [_as_float(fn(moved(shift))) for shift in (0.1, 0.2, 0.4)]
            report.expect(all(a < b for a, b in zip(spreads, spreads[1:])),
                          "grows as one prediction moves further away",
                          f"got {[round(s, 4) for s in spreads]} for shifts 0.1, 0.2, 0.4")
            permuted = _as_float(fn(scrambled[torch.tensor([2, 0, 3, 1])].clone()))
            report.expect(abs(permuted - at_scrambled) < 1e-6 * max(1.0, abs(at_scrambled)),
                          "does not depend on the order of the predictions",
                          "compare every prediction with their mean (or with each other), not with the first one")
            at_turned = _as_float(fn(turned))
            report.expect(at_turned > 1e-3, "counts a rotated prediction at the right place as disagreement",
                          "use the whole pose (position, scale and rotation), e.g. toy.pose_vector, not "
                          "only the position")
    return report
