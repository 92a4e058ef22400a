"""Exercise checks of chapters 3-5: typical wrong answers fail with the expected failure named.
(Every check's reference solution and unfinished stub: tests/test_exercise_checks.py.)"""
import pytest
import torch

from capslib import pitfalls
from capslib import toy_capsules as toy
from capslib.exercises import ch03, ch04, ch05


# --- typical wrong answers -------------------------------------------------------------------
def test_presence_sum_of_squares_fails():
    report = ch03.check_capsule_presence(lambda v: (v * v).sum(-1), verbose=False)
    assert report.failed_on("lengths 1.0, 0.0, 0.3")


def test_presence_over_wrong_axis_fails():
    report = ch03.check_capsule_presence(lambda v: v.norm(dim=1), verbose=False)
    assert report.failed_on("returns shape (batch, capsules)")


def test_part_to_whole_wrong_order_fails_once_the_face_moves():
    report = ch03.check_part_to_whole(lambda part, transform: transform @ part, verbose=False)
    assert not report.failed_on("(0.0, 0.0, 1.0, 0.0)")        # at the identity face the order does not matter
    assert report.failed_on("every part predicts the face's pose (0.4, -0.3, 1.5, 0.8)")


def test_agreement_on_positions_only_fails_the_rotation_case():
    def positions_only(predictions):
        xy = predictions[:, :2, 2]
        return float(((xy - xy.mean(0)) ** 2).sum(-1).mean().sqrt())

    report = ch03.check_agreement_spread(positions_only, verbose=False)
    assert report.failures == ["counts a rotated prediction at the right place as disagreement"]


def test_agreement_against_first_prediction_fails_the_order_case():
    def from_first(predictions):
        vectors = toy.pose_vector(predictions)
        return float((vectors - vectors[0]).norm(dim=-1).mean())

    report = ch03.check_agreement_spread(from_first, verbose=False)
    assert report.failed_on("does not depend on the order")


def test_squash_without_eps_fails_only_at_zero():
    report = ch04.check_squash(pitfalls.squash_without_eps, verbose=False)
    assert report.failures == ["a zero vector gives a zero vector, not NaN"]


def test_squash_with_wrong_length_formula_fails_hand_values():
    def wrong(s, dim=-1):
        norm = torch.sqrt((s * s).sum(dim=dim, keepdim=True) + 1e-8)
        return norm / (1 + norm) * s / norm                  # |s| / (1 + |s|) instead of |s|^2 / (1 + |s|^2)

    report = ch04.check_squash(wrong, verbose=False)
    assert report.failed_on("hand values")
    assert report.failed_on("equals capslib.functional.squash")


def test_squash_ignoring_dim_fails_the_dim_case():
    report = ch04.check_squash(lambda s, dim=-1: ch04.reference_squash(s, dim=-1), verbose=False)
    assert report.failures == ["squashes along dim=1 when asked"]


def test_slope_of_the_wrong_function_fails():
    report = ch04.check_squash_slope(lambda r: 1 / (1 + r) ** 2, verbose=False)   # slope of r / (1 + r)
    assert report.failed_on("matches autograd")
    assert report.failed_on("slope 0 at r = 0")


def test_naive_length_has_nan_gradient_at_zero():
    report = ch04.check_safe_length(lambda v: torch.sqrt((v * v).sum(-1)), verbose=False)
    assert report.failures == ["the gradient at a zero vector is finite (no NaN)"]


def test_prediction_vectors_from_the_mean_input_fail():
    # every input capsule's matrix applied to the average input capsule instead of to its own
    report = ch05.check_prediction_vectors(lambda u, W: torch.einsum("ijdk,bk->bijd", W, u.mean(1)), verbose=False)
    assert report.failed_on("u_hat[b, i, j] = W[i, j] @ u[b, i]")


def test_prediction_vectors_shared_matrix_fails():
    report = ch05.check_prediction_vectors(lambda u, W: torch.einsum("jdk,bik->bijd", W[0], u), verbose=False)
    assert report.failed_on("all entries right")


def test_routing_update_summed_over_batch_fails():
    def shared(b, u_hat, v):
        return b + (u_hat * v.unsqueeze(1)).sum(dim=-1).sum(dim=0, keepdim=True)

    report = ch05.check_routing_update(shared, verbose=False)
    assert report.failed_on("every example updated with its own agreement")


def test_routing_update_that_replaces_b_fails():
    report = ch05.check_routing_update(lambda b, u_hat, v: (u_hat * v.unsqueeze(1)).sum(dim=-1), verbose=False)
    assert report.failed_on("by hand")


def test_routing_with_softmax_over_the_wrong_axis_fails():
    report = ch05.check_routing(lambda u_hat, iterations: pitfalls.routing_softmax_wrong_axis(u_hat, iterations),
                                verbose=False)
    assert report.failed_on("with 1 iteration(s)")
    assert report.failed_on("with 3 iteration(s)")


def test_routing_with_shared_logits_fails_the_batch_case():
    report = ch05.check_routing(lambda u_hat, iterations: pitfalls.routing_shared_logits(u_hat, iterations),
                                verbose=False)
    assert not report.failed_on("with 1 iteration(s)")          # uniform couplings: identical at first
    assert report.failed_on("with 2 iteration(s)")
    assert report.failed_on("alone and in a batch")


def test_routing_without_skipping_the_last_update_still_passes():
    # updating b after the last iteration changes nothing that is returned: a correct variant
    def update_every_time(u_hat, iterations):
        b = torch.zeros(u_hat.shape[:3], dtype=u_hat.dtype)
        for _ in range(iterations):
            v = ch04.reference_squash((torch.softmax(b, 2).unsqueeze(-1) * u_hat).sum(1))
            b = b + (u_hat * v.unsqueeze(1)).sum(-1)
        return v

    assert ch05.check_routing(update_every_time, verbose=False).passed
