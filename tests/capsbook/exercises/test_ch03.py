"""Exercise checks of chapters 3-5: typical wrong answers fail with the expected failure named and the right hint.
(Every check's reference solution and unfinished stub: tests/test_exercise_checks.py.)"""

import math

import pytest
import torch

import capslib.functional as cf
from capsbook import toy_capsules as toy
from capsbook.exercises import ch03, ch04, ch05


def hint_of(report, fragment: str) -> str:
    """The hint printed beside the failed property whose description contains ``fragment``."""
    hints = [hint for what, ok, hint in report.results if not ok and fragment in what]
    assert hints, (
        f"no failed property matches {fragment!r}: failures are {report.failures}"
    )
    return hints[0]


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


# --- Exercise 4.1: the squash inverted --------------------------------------------------------
def test_unsquash_without_the_square_root_is_named():
    def no_root(v, dim=-1):
        length = v.norm(dim=dim, keepdim=True)
        return v / length.clamp_min(1e-12) * length / (1 - length)

    report = ch04.check_unsquash(no_root, verbose=False)
    assert "take its square root" in hint_of(report, "hand values")
    assert report.failed_on("squash(your s) = v")
    assert not report.failed_on("dim=1")  # the dim case tests only the axis


def test_unsquash_scaling_v_instead_of_its_direction_is_named():
    report = ch04.check_unsquash(
        lambda v, dim=-1: (
            v
            * torch.sqrt(
                v.norm(dim=dim, keepdim=True) / (1 - v.norm(dim=dim, keepdim=True))
            )
        ),
        verbose=False,
    )
    assert "unit vector v / |v|" in hint_of(report, "hand values")


def test_unsquash_dividing_by_the_norm_fails_only_at_zero():
    def naive(v, dim=-1):
        length = v.norm(dim=dim, keepdim=True)
        return v / length * torch.sqrt(length / (1 - length))

    report = ch04.check_unsquash(naive, verbose=False)
    assert report.failures == [
        "a zero vector (a capsule that says 'absent') needs a zero input, not NaN"
    ]


def test_unsquash_ignoring_dim_fails_the_dim_case():
    report = ch04.check_unsquash(
        lambda v, dim=-1: ch04.reference_unsquash(v, dim=-1), verbose=False
    )
    assert report.failures == [
        "inverts along dim=1 when asked (the same answer as along the last axis, transposed)"
    ]


def test_unsquash_reference_inverts_capslib_squash():
    s = 3 * torch.randn(
        50, 16, generator=torch.Generator().manual_seed(0), dtype=torch.float64
    )
    torch.testing.assert_close(
        ch04.reference_unsquash(cf.squash(s)), s, rtol=1e-6, atol=1e-6
    )
    assert float(
        ch04.reference_unsquash(torch.tensor([0.9, 0.0], dtype=torch.float64)).norm()
    ) == pytest.approx(3.0)


# --- Exercises 4.2 and 4.3 ---------------------------------------------------------------------
def test_slope_of_the_wrong_function_fails():
    report = ch04.check_squash_slope(
        lambda r: 1 / (1 + r) ** 2, verbose=False
    )  # slope of r / (1 + r)
    assert report.failed_on("matches autograd")
    assert report.failed_on("slope 0 at r = 0")


def test_naive_length_has_nan_gradient_at_zero():
    report = ch04.check_safe_length(
        lambda v: torch.sqrt((v * v).sum(-1)), verbose=False
    )
    assert report.failures == ["the gradient at a zero vector is finite (no NaN)"]


# --- Exercise 5.1: prediction vectors ---------------------------------------------------------
def test_prediction_vectors_from_the_mean_input_fail():
    # every input capsule's matrix applied to the average input capsule instead of to its own
    report = ch05.check_prediction_vectors(
        lambda u, W: torch.einsum("ijdk,bk->bijd", W, u.mean(1)), verbose=False
    )
    assert report.failed_on("u_hat[b, i, j] = W[i, j] @ u[b, i]")


def test_prediction_vectors_shared_matrix_fails():
    report = ch05.check_prediction_vectors(
        lambda u, W: torch.einsum("jdk,bik->bijd", W[0], u), verbose=False
    )
    assert report.failed_on("all entries right")


# --- Exercise 5.2: the agreement update -------------------------------------------------------
def test_cosine_update_reference_passes_and_ignores_length():
    assert ch05.check_cosine_update(ch05.reference_cosine_update, verbose=False).passed
    b = torch.zeros(1, 2, 1)
    u_hat = torch.tensor([[[[3.0, 0.0]], [[0.0, 0.0]]]])  # (1, 2, 1, 2): long, and zero
    v = torch.tensor([[[1.0, 1.0]]])  # 45 degrees from the first
    out = ch05.reference_cosine_update(b, u_hat, v)
    assert out[0, 0, 0] == pytest.approx(math.cos(math.pi / 4)) and out[0, 1, 0] == 0


def test_cosine_update_with_the_papers_dot_product_is_named():
    report = ch05.check_cosine_update(
        lambda b, u_hat, v: b + (u_hat * v.unsqueeze(1)).sum(dim=-1), verbose=False
    )
    assert "the paper's dot product" in hint_of(report, "every entry right")
    assert report.failed_on("3 times longer")


def test_cosine_update_with_one_length_left_in_is_named():
    def half(b, u_hat, v):
        return b + (u_hat * v.unsqueeze(1)).sum(dim=-1) / u_hat.norm(dim=-1)

    report = ch05.check_cosine_update(half, verbose=False)
    assert "length of v_j as well" in hint_of(report, "every entry right")


def test_cosine_update_that_divides_by_zero_fails():
    def unsafe(b, u_hat, v):
        v = v.unsqueeze(1)
        return b + (u_hat * v).sum(-1) / (u_hat.norm(dim=-1) * v.norm(dim=-1))

    report = ch05.check_cosine_update(unsafe, verbose=False)
    assert not report.failed_on("every entry right")
    assert "0 / 0 is NaN" in hint_of(report, "no NaN")


# --- Exercise 5.3: two parents, two clusters --------------------------------------------------
def test_competing_clusters_reference_separates_the_groups():
    _, c = cf.dynamic_routing(
        ch05.reference_competing_clusters(), 3, return_couplings=True
    )
    assert (c[0, :4, 0] > 0.75).all() and (c[0, 4:, 1] > 0.75).all()


def test_competing_clusters_that_agree_everywhere_are_named():
    def everyone_agrees():
        u_hat = torch.zeros(1, 8, 2, 2)
        u_hat[..., 0] = 1.0
        return u_hat

    report = ch05.check_competing_clusters(everyone_agrees, verbose=False)
    assert "say the same thing at both parents" in hint_of(report, "its own parent")


def test_competing_clusters_where_a_group_agrees_at_both_parents_is_named():
    def a_agrees_twice():
        u_hat = ch05.reference_competing_clusters().clone()
        u_hat[0, :4, 1] = torch.tensor(
            [-1.0, 0.0], dtype=torch.float64
        )  # group A agrees at parent 1 too
        return u_hat

    report = ch05.check_competing_clusters(a_agrees_twice, verbose=False)
    assert "group A agrees at parent 1 as well" in hint_of(report, "its own parent")


def test_competing_clusters_where_b_joins_a_at_parent_0_is_named():
    def b_joins_a():
        u_hat = ch05.reference_competing_clusters().clone()
        u_hat[0, 4:, 0] = torch.tensor([1.0, 0.0], dtype=torch.float64)
        return u_hat

    report = ch05.check_competing_clusters(b_joins_a, verbose=False)
    assert "group B's predictions for parent 0 agree with the other group's" in hint_of(
        report, "its own parent"
    )


def test_competing_clusters_must_have_unit_predictions():
    report = ch05.check_competing_clusters(
        lambda: 0.3 * ch05.reference_competing_clusters(), verbose=False
    )
    assert report.failures == ["every prediction has length 1"]


# --- Exercise 5.4: a child that routes to the wrong parent ------------------------------------
def test_wrong_parent_short_vote_gets_the_dot_product_hint():
    report = ch05.check_wrong_parent(
        lambda others: torch.tensor([1.0, 0.0]), verbose=False
    )
    assert "not a cosine" in hint_of(report, "coupled more to parent 1")


def test_wrong_parent_vote_along_the_cluster_is_refused():
    report = ch05.check_wrong_parent(
        lambda others: torch.tensor([0.0, 3.0]), verbose=False
    )
    assert report.failures == [
        "points at least 60 degrees away from parent 1's cluster"
    ]


@pytest.mark.parametrize(
    "degrees, length, misrouted",
    [
        (60, 1.0, False),
        (60, 2.0, True),
        (90, 2.0, False),
        (90, 3.0, True),
        (180, 3.0, False),
        (180, 8.0, True),
    ],
)
def test_wrong_parent_needs_a_longer_vote_the_further_it_points_away(
    degrees, length, misrouted
):
    angle = math.radians(90 + degrees)  # measured from parent 1's cluster (0, 1)
    vote = torch.tensor([length * math.cos(angle), length * math.sin(angle)])
    assert (
        ch05.check_wrong_parent(lambda others: vote, verbose=False).passed == misrouted
    )


def test_wrong_parent_others_are_two_unit_clusters():
    others = ch05.wrong_parent_predictions()
    torch.testing.assert_close(
        others.norm(dim=-1), torch.ones(1, 8, 2, dtype=torch.float64)
    )
    torch.testing.assert_close(
        others[0, :4, 1].sum(0), torch.zeros(2, dtype=torch.float64), atol=1e-12, rtol=0
    )
    torch.testing.assert_close(
        others[0, 4:, 0].sum(0), torch.zeros(2, dtype=torch.float64), atol=1e-12, rtol=0
    )


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
