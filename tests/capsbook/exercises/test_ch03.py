"""Exercise checks of chapter 3: typical wrong answers fail on the property they break, with the hint
that names the mistake.  (Every check's reference solution and unfinished stub: tests/capsbook/exercises/test_checks.py.)"""

import torch
from check_reports import hint_of

from capsbook import toy_capsules as toy
from capsbook.exercises import ch03


# --- Exercise 3.1: part-to-whole predictions --------------------------------------------------
def test_part_to_whole_wrong_order_fails_once_the_face_moves():
    report = ch03.check_part_to_whole(
        lambda part, transform: transform @ part, verbose=False
    )
    assert not report.failed_on(
        "(0.0, 0.0, 1.0, 0.0)"
    )  # at the identity face the order does not matter
    assert report.failed_on("every part predicts the face's pose (0.4, -0.3, 1.5, 0.8)")
    assert "order of a matrix product matters" in hint_of(
        report, "(0.4, -0.3, 1.5, 0.8)"
    )


# --- Exercise 3.2: the transform as a 4x4 weight matrix ---------------------------------------
def test_pose_weight_matrix_reference_matches_the_kronecker_form():
    # vec(P W) = (W^T kron I) vec(P) on the 9 numbers; the 4x4 matrix is its restriction to the free ones
    vec = lambda matrix: matrix.T.reshape(-1)  # noqa: E731 - column-major, as in the identity
    for name, transform in toy.part_to_whole_transforms().items():
        pose = toy.face_parts(0.2, -0.1, 1.1, 0.3)[name]
        kron = torch.kron(transform.T, torch.eye(3, dtype=torch.float64))
        torch.testing.assert_close(kron @ vec(pose), vec(pose @ transform))
        torch.testing.assert_close(
            ch03.reference_pose_weight_matrix(transform) @ toy.pose_vector(pose),
            toy.pose_vector(pose @ transform),
        )


def test_pose_weight_matrix_transposed_is_named():
    report = ch03.check_pose_weight_matrix(
        lambda t: ch03.reference_pose_weight_matrix(t).T, verbose=False
    )
    assert report.failed_on("for 6 random poses")
    assert "transpose" in hint_of(report, "for 6 random poses")


def test_pose_weight_matrix_without_the_offset_is_named():
    def no_offset(transform):
        matrix = ch03.reference_pose_weight_matrix(transform).clone()
        matrix[:2, 2:] = 0  # forgets that the offset turns with the part
        return matrix

    report = ch03.check_pose_weight_matrix(no_offset, verbose=False)
    assert "x' = x + e a - f b" in hint_of(report, "for 6 random poses")
    assert report.failed_on("stacked as W_ij")


def test_pose_weight_matrix_returning_the_3x3_transform_fails_the_shape():
    report = ch03.check_pose_weight_matrix(lambda t: t, verbose=False)
    assert report.failures == ["returns a 4x4 matrix"]


# --- Exercise 3.3: a measure of agreement -----------------------------------------------------
def test_agreement_on_positions_only_fails_the_rotation_case():
    def positions_only(predictions):
        xy = predictions[:, :2, 2]
        return float(((xy - xy.mean(0)) ** 2).sum(-1).mean().sqrt())

    report = ch03.check_agreement_spread(positions_only, verbose=False)
    assert report.failures == [
        "counts a rotated prediction at the right place as disagreement"
    ]


def test_agreement_against_first_prediction_fails_the_order_case():
    def from_first(predictions):
        vectors = toy.pose_vector(predictions)
        return float((vectors - vectors[0]).norm(dim=-1).mean())

    report = ch03.check_agreement_spread(from_first, verbose=False)
    assert report.failed_on("does not depend on the order")


# --- Exercise 3.1: the part that disagrees ----------------------------------------------------
def test_odd_part_reference_passes_and_finds_the_moved_part():
    assert ch03.check_odd_part(ch03.reference_odd_part, verbose=False).passed
    parts, moved = ch03.odd_part_cases()[1]
    assert ch03.reference_odd_part(parts) == moved


def _odd_one(vectors, names):
    others = (vectors.sum(0, keepdim=True) - vectors) / (len(vectors) - 1)
    return names[int((vectors - others).norm(dim=-1).argmax())]


def test_odd_part_by_position_only_misses_the_turned_nose():
    def by_position(parts):
        vectors = toy.pose_vector(toy.predict_whole(parts))[:, :2]
        return _odd_one(vectors, list(parts))

    report = ch03.check_odd_part(by_position, verbose=False)
    assert not report.failed_on("moved out of place")
    assert "compare the whole pose" in hint_of(report, "turned on the spot")


def test_odd_part_on_the_part_poses_is_told_to_use_the_predictions():
    def by_part_poses(parts):
        vectors = toy.pose_vector(torch.stack(list(parts.values())))
        return _odd_one(vectors, list(parts))

    report = ch03.check_odd_part(by_part_poses, verbose=False)
    assert "prediction of the face" in hint_of(report, "moved out of place")
