"""Exercise checks of chapter 5: typical wrong answers fail on the property they break, with the hint
that names the mistake.  (Every check's reference solution and unfinished stub: tests/capsbook/exercises/test_checks.py.)"""

import math

import pytest
import torch
from check_reports import hint_of

import capslib.functional as cf
from capsbook.exercises import ch05


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


def test_route_with_the_papers_update_is_dynamic_routing():
    u_hat = 0.5 * torch.randn(2, 12, 3, 4, generator=torch.Generator().manual_seed(0))
    for iterations in (1, 3, 5):
        v, c = ch05.route_with_update(u_hat, ch05.dot_update, iterations)
        v_ref, c_ref = cf.dynamic_routing(u_hat, iterations, return_couplings=True)
        torch.testing.assert_close(v, v_ref, atol=1e-6, rtol=0)
        torch.testing.assert_close(c, c_ref, atol=1e-6, rtol=0)


def test_route_with_the_cosine_update_against_hand_computation():
    # two children, two parents: iteration 1 couples 1/2 each, so v_j is the
    # squash of half the sum; iteration 2 couples softmax_j(cos(u_hat_ij, v_j))
    u_hat = torch.tensor(
        [[[[1.0, 0.0], [0.0, 2.0]], [[3.0, 3.0], [0.0, -1.0]]]], dtype=torch.float64
    )  # (1, 2 children, 2 parents, 2)
    _, c = ch05.route_with_update(u_hat, ch05.reference_cosine_update, 2)
    v = cf.squash(0.5 * u_hat.sum(dim=1))  # (1, 2, 2)
    cosine = torch.nn.functional.cosine_similarity(u_hat, v.unsqueeze(1), dim=-1)
    torch.testing.assert_close(c, torch.softmax(cosine, dim=2))
    # parent 1's output points along (0, 1): child 0 agrees (cos 1), child 1 not (-1)
    assert cosine[0, 0, 1] == pytest.approx(1.0) and cosine[0, 1, 1] == pytest.approx(
        -1.0
    )


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
