"""Checks for the exercises of chapter 3 (capsules: neurons that output vectors).

``check_part_to_whole`` (one part's prediction of the face) is no longer an exercise of its
own: exercise 3.1 is ``check_odd_part``, which builds on that prediction.
"""

from __future__ import annotations

import torch

from capsbook import toy_capsules as toy

from .report import CheckReport, check, guarded

__all__ = [
    "check_odd_part",
    "check_part_to_whole",
    "check_pose_weight_matrix",
    "check_agreement_spread",
    "reference_odd_part",
    "reference_part_to_whole",
    "reference_pose_weight_matrix",
    "reference_agreement_spread",
]


def _as_float(value) -> float:
    return float(torch.as_tensor(value).detach().double())


# ---------------------------------------------------------------------------------------------
# Exercise 3.1: a part predicts the whole through its own transform
# ---------------------------------------------------------------------------------------------
def reference_part_to_whole(
    part_pose: torch.Tensor, transform: torch.Tensor
) -> torch.Tensor:
    """The face's pose predicted by a part: ``part_pose @ transform`` (3x3 each)."""
    return part_pose @ transform


@guarded
def check_part_to_whole(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise 3.1: ``fn(part_pose, transform)`` returns the whole's pose predicted by a part.

    ``part_pose``: the part's 3x3 pose; ``transform``: its part-to-whole
    transform ``W_i = R_i^{-1}`` (from
    :func:`capsbook.toy_capsules.part_to_whole_transforms`).  The answer: the
    3x3 pose of the face, which for every part of a real face is that face's
    pose.
    """
    transforms = toy.part_to_whole_transforms()
    face_poses = [(0.0, 0.0, 1.0, 0.0), (0.4, -0.3, 1.5, 0.8), (-0.2, 0.5, 0.7, -2.0)]
    with check("Exercise 3.1: part-to-whole predictions", verbose=verbose) as report:
        for face_pose in face_poses:
            face = toy.pose_matrix(*face_pose)
            parts = toy.face_parts(*face_pose)
            with report.attempt(f"runs on the parts of a face with pose {face_pose}"):
                predictions = [
                    torch.as_tensor(
                        fn(parts[name].clone(), transforms[name].clone())
                    ).double()
                    for name in parts
                ]
                ok_shape = report.expect(
                    all(tuple(p.shape) == (3, 3) for p in predictions),
                    f"returns 3x3 poses (face pose {face_pose})",
                    "return a 3x3 matrix: the product of two 3x3 matrices",
                )
                if ok_shape:
                    report.expect(
                        all(torch.allclose(p, face, atol=1e-6) for p in predictions),
                        f"every part predicts the face's pose {face_pose}",
                        "the part's pose is P_face @ R_i, so P_face = P_i @ R_i^-1 = part_pose @ transform; "
                        "the order of a matrix product matters (transform @ part_pose is wrong "
                        "once the face moves or turns)",
                    )
    return report


# ---------------------------------------------------------------------------------------------
# Exercise 3.2: the part-to-whole transform as a capsule's weight matrix
# ---------------------------------------------------------------------------------------------
def reference_pose_weight_matrix(transform: torch.Tensor) -> torch.Tensor:
    """The 4x4 M with pose_vector(P @ transform) = M @ pose_vector(P) for every P."""
    c, d, e, f = transform[0, 0], transform[1, 0], transform[0, 2], transform[1, 2]
    return torch.tensor(
        [[1, 0, e, -f], [0, 1, f, e], [0, 0, c, -d], [0, 0, d, c]],
        dtype=transform.dtype,
    )


def _random_poses(n: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    params = torch.rand(n, 4, generator=generator, dtype=torch.float64)
    return torch.stack(
        [
            toy.pose_matrix(
                float(x) - 0.5, float(y) - 0.5, 0.5 + float(s), 6.0 * float(t) - 3.0
            )
            for x, y, s, t in params
        ]
    )


@guarded
def check_pose_weight_matrix(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise 3.2: ``fn(transform)`` returns the 4x4 weight matrix that a capsule would use.

    ``transform``: a part's 3x3 part-to-whole transform ``W_i``.  The answer:
    the 4x4 matrix ``M_i`` with ``pose_vector(P @ W_i) = M_i @ pose_vector(P)``
    for every pose ``P`` (a pose vector is ``(x, y, s cos a, s sin a)``), so
    that a part capsule whose output is its pose vector ``u_i`` predicts the
    whole as ``u_hat_i = M_i @ u_i``: chapter 5's ``W_ij u_i``.
    """
    transforms = toy.part_to_whole_transforms()
    poses = _random_poses(6, seed=7)
    with check(
        "Exercise 3.2: a part-to-whole transform as a weight matrix", verbose=verbose
    ) as report:
        with report.attempt("runs on the four part-to-whole transforms of the toy"):
            answers = {
                name: torch.as_tensor(fn(transform.clone())).double()
                for name, transform in transforms.items()
            }
            if not report.expect(
                all(tuple(m.shape) == (4, 4) for m in answers.values()),
                "returns a 4x4 matrix",
                f"got shape {tuple(next(iter(answers.values())).shape)}: one row per number of "
                "the predicted pose vector (x, y, s cos a, s sin a), one column per number "
                "of the part's",
            ):
                return report
            expected = {
                name: reference_pose_weight_matrix(t) for name, t in transforms.items()
            }
            right = [
                torch.allclose(
                    answers[name] @ toy.pose_vector(pose),
                    toy.pose_vector(pose @ transforms[name]),
                    atol=1e-8,
                )
                for name in transforms
                for pose in poses
            ]
            if all(right):
                hint = ""
            elif all(
                torch.allclose(answers[n].T, expected[n], atol=1e-8) for n in transforms
            ):
                hint = (
                    "your matrix is the transpose of the right one: row k of M must give the k-th number of "
                    "the output, M @ u"
                )
            elif all(
                torch.allclose(answers[n][2:, 2:], expected[n][2:, 2:], atol=1e-8)
                for n in transforms
            ):
                hint = (
                    "the scale-and-rotation numbers come out right, the position does not: the part's offset "
                    "inside the whole (e, f, the last column of the transform) moves the prediction by an "
                    "amount that turns and scales with the part, x' = x + e a - f b; it goes into the "
                    "first two rows, in the columns of a and b"
                )
            else:
                hint = (
                    "multiply P = [[a, -b, x], [b, a, y], [0, 0, 1]] by the transform [[c, -d, e], "
                    "[d, c, f], [0, 0, 1]] on paper and read off x', y', a', b' as combinations of "
                    "x, y, a, b"
                )
            report.expect(
                all(right),
                "pose_vector(P @ W_i) = M_i @ pose_vector(P) for 6 random poses and each part",
                hint,
            )
            stacked = torch.stack(list(answers.values()))[
                :, None
            ]  # (in_caps, out_caps=1, 4, 4)
            parts = toy.face_parts(0.3, -0.2, 1.3, 0.9)
            u = toy.pose_vector(torch.stack(list(parts.values())))[
                None
            ]  # (batch=1, in_caps, 4)
            u_hat = torch.einsum("ijdk,bik->bijd", stacked, u)[
                0, :, 0
            ]  # chapter 5's W_ij u_i
            report.expect(
                torch.allclose(
                    u_hat, toy.pose_vector(toy.predict_whole(parts)), atol=1e-8
                ),
                "stacked as W_ij, your matrices give every part's prediction of a face as W_ij u_i",
                "fix the case above first",
            )
    return report


# ---------------------------------------------------------------------------------------------
# Exercise 3.3: measure the agreement of the predictions
# ---------------------------------------------------------------------------------------------
def reference_agreement_spread(predictions: torch.Tensor) -> float:
    """The mean distance of the predicted poses (n, 3, 3) from their mean."""
    vectors = toy.pose_vector(predictions)  # (n, 4): x, y, s cos a, s sin a
    return (vectors - vectors.mean(dim=0)).norm(dim=-1).mean().item()


@guarded
def check_agreement_spread(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise 3.3: ``fn(predictions)`` returns a number that measures disagreement.

    ``predictions``: ``(n, 3, 3)`` predicted poses of the whole.  The answer:
    a number that is 0 when all predictions are the same pose, positive
    otherwise, grows when one prediction moves further away, does not depend
    on the order of the predictions, and counts a difference of *rotation or
    scale* as well as of position.
    """
    agreeing = toy.predict_whole(toy.face_parts(0.2, -0.1, 1.2, 0.5))
    scrambled = toy.predict_whole(
        toy.scramble_parts(toy.face_parts(0.2, -0.1, 1.2, 0.5), seed=0)
    )

    def moved(shift: float) -> torch.Tensor:
        out = agreeing.clone()
        out[0, 0, 2] += shift
        return out

    turned = agreeing.clone()
    turned[1] = turned[1] @ toy.pose_matrix(
        0.0, 0.0, 1.0, 1.0
    )  # same position, rotated by 1 rad
    with check("Exercise 3.3: measure agreement", verbose=verbose) as report:
        with report.attempt("runs on 4 predictions"):
            at_face = _as_float(fn(agreeing.clone()))
            report.expect(
                abs(at_face) < 1e-6,
                "0 when the parts form a face (all predictions equal)",
                f"got {at_face:.4g}; measure distances between the predictions, not their size",
            )
            at_scrambled = _as_float(fn(scrambled.clone()))
            report.expect(
                at_scrambled > 0.1,
                "clearly positive when the parts are scrambled",
                f"got {at_scrambled:.4g}",
            )
            spreads = [_as_float(fn(moved(shift))) for shift in (0.1, 0.2, 0.4)]
            report.expect(
                all(a < b for a, b in zip(spreads, spreads[1:])),
                "grows as one prediction moves further away",
                f"got {[round(s, 4) for s in spreads]} for shifts 0.1, 0.2, 0.4",
            )
            permuted = _as_float(fn(scrambled[torch.tensor([2, 0, 3, 1])].clone()))
            report.expect(
                abs(permuted - at_scrambled) < 1e-6 * max(1.0, abs(at_scrambled)),
                "does not depend on the order of the predictions",
                "compare every prediction with their mean (or with each other), not with the first one",
            )
            at_turned = _as_float(fn(turned))
            report.expect(
                at_turned > 1e-3,
                "counts a rotated prediction at the right place as disagreement",
                "use the whole pose (position, scale and rotation), e.g. toy.pose_vector, not "
                "only the position",
            )
    return report


# ---------------------------------------------------------------------------------------------
# Exercise 3.1: the part that disagrees
# ---------------------------------------------------------------------------------------------
def reference_odd_part(parts: dict[str, torch.Tensor]) -> str:
    """The name of the part whose prediction of the face lies farthest from the
    mean of the other parts' predictions."""
    vectors = toy.pose_vector(toy.predict_whole(parts))  # (n_parts, 4): each face
    n = len(vectors)
    others = (vectors.sum(dim=0, keepdim=True) - vectors) / (n - 1)
    names = list(parts)
    return names[int((vectors - others).norm(dim=-1).argmax())]


TURNED = ("nose", "mouth", "nose", "left eye")
SHIFTED = ("right eye", "left eye", "mouth", "nose")


def odd_part_cases() -> list[tuple[dict[str, torch.Tensor], str]]:
    """Faces at eight random poses, each with one part moved or turned out of place, and
    every part jittered by ``toy.jitter_parts``' default noise."""
    generator = torch.Generator().manual_seed(31)
    cases = []
    for k in range(8):
        x, y, angle = (
            torch.rand(3, generator=generator, dtype=torch.float64) - 0.5
        ).tolist()
        scale = 0.8 + 0.4 * torch.rand(1, generator=generator).item()
        parts = toy.face_parts(x, y, scale, 6.0 * angle)
        # the nose sits near the face's centre: turned, it barely moves the prediction's
        # position, so only a comparison of whole poses finds it
        moved = (TURNED if k % 2 == 0 else SHIFTED)[k // 2]
        if k % 2:  # moved by 0.3 face widths, in the picture's frame
            shift = toy.pose_matrix(0.3 * scale, -0.2 * scale).to(parts[moved].dtype)
            parts[moved] = shift @ parts[moved]
        else:  # turned by 60 degrees about its own centre
            turn = toy.pose_matrix(0.0, 0.0, 1.0, 1.05).to(parts[moved].dtype)
            parts[moved] = parts[moved] @ turn
        # every part a little off, as a detector would give them (toy.jitter_parts' noise)
        cases.append((toy.jitter_parts(parts, seed=100 + k), moved))
    return cases


@guarded
def check_odd_part(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise 3.1: ``fn(parts)`` names the part of a face that is out of place.

    ``parts``: ``{name: (3, 3) pose}`` as ``toy.face_parts`` gives them, with one part moved
    or turned. The answer must name it for faces at any pose (so positions in the picture
    alone cannot tell), whether the part was moved or only turned (so the prediction's
    rotation and scale count as well as its position).
    """
    cases = odd_part_cases()
    with check("Exercise 3.1: the part that disagrees", verbose=verbose) as report:
        with report.attempt("runs on a face with one part moved"):
            answers = [
                fn({n: p.clone() for n, p in parts.items()}) for parts, _ in cases
            ]
            if not report.expect(
                all(isinstance(a, str) and a in toy.FACE_PARTS for a in answers),
                "returns the name of a part",
                f"got {answers[0]!r}; return one of {list(toy.FACE_PARTS)}",
            ):
                return report
            shifted = [
                a == m for a, (_, m), k in zip(answers, cases, range(8)) if k % 2
            ]
            turned = [
                a == m for a, (_, m), k in zip(answers, cases, range(8)) if not k % 2
            ]
            report.expect(
                all(shifted),
                "finds a part moved out of place, at 4 face poses",
                f"right for {sum(shifted)} of 4: compare each part's *prediction of the "
                "face* (part pose @ its transform), not the part poses themselves, "
                "which differ for every part",
            )
            report.expect(
                all(turned),
                "finds a part turned on the spot, at 4 face poses",
                f"right for {sum(turned)} of 4: a turned part predicts a face turned "
                "and moved; compare the whole pose (toy.pose_vector), not only the "
                "position",
            )
    return report
