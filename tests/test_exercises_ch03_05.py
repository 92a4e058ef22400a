"""Exercise checks of chapters 3-5: the reference solution passes, a typical wrong answer fails
with the expected failure named, and an unfinished stub is reported (not raised)."""
import pytest
import torch

import capslib.exercises as exercises
from capslib import pitfalls
from capslib import toy_capsules as toy
from capslib.exercises import ch03, ch04, ch05


def _stub(*args, **kwargs):
    raise NotImplementedError("your code here")


def _failed(report, fragment):
    return any(fragment in what for what in report.failures)


CHECKS = [
    (ch03.check_capsule_presence, ch03.reference_capsule_presence),
    (ch03.check_part_to_whole, ch03.reference_part_to_whole),
    (ch03.check_agreement_spread, ch03.reference_agreement_spread),
    (ch04.check_squash, ch04.reference_squash),
    (ch04.check_squash_slope, ch04.reference_squash_slope),
    (ch04.check_safe_length, ch04.reference_safe_length),
    (ch05.check_prediction_vectors, ch05.reference_prediction_vectors),
    (ch05.check_routing_update, ch05.reference_routing_update),
    (ch05.check_routing, ch05.reference_routing),
]


@pytest.mark.parametrize("check_fn, solution", CHECKS, ids=lambda x: getattr(x, "__name__", ""))
def test_reference_solution_passes(check_fn, solution, capsys):
    report = check_fn(solution)
    assert report.passed, report
    assert "Well done" in capsys.readouterr().out


@pytest.mark.parametrize("check_fn, solution", CHECKS, ids=lambda x: getattr(x, "__name__", ""))
def test_unfinished_stub_is_reported_not_raised(check_fn, solution):
    report = check_fn(_stub, verbose=False)
    assert not report.passed
    assert any("NotImplementedError" in hint for _, ok, hint in report.results if not ok)


@pytest.mark.parametrize("check_fn", [c for c, _ in CHECKS], ids=lambda c: c.__name__)
def test_checks_are_reachable_from_the_package(check_fn):
    assert getattr(exercises, check_fn.__name__) is check_fn


# --- typical wrong answers -------------------------------------------------------------------
def test_presence_sum_of_squares_fails():
    report = ch03.check_capsule_presence(lambda v: (v * v).sum(-1), verbose=False)
    assert _failed(report, "lengths 1.0, 0.0, 0.3")


def test_presence_over_wrong_axis_fails():
    report = ch03.check_capsule_presence(lambda v: v.norm(dim=1), verbose=False)
    assert _failed(report, "returns shape (batch, capsules)")


def test_part_to_whole_wrong_order_fails_once_the_face_moves():
    report = ch03.check_part_to_whole(lambda part, transform: transform @ part, verbose=False)
    assert not _failed(report, "(0.0, 0.0, 1.0, 0.0)")        # at the identity face the order does not matter
    assert _failed(report, "every part predicts the face's pose (0.4, -0.3, 1.5, 0.8)")


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
    assert _failed(report, "does not depend on the order")


def test_squash_without_eps_fails_only_at_zero():
    report = ch04.check_squash(pitfalls.squash_without_eps, verbose=False)
    assert report.failures == ["a zero vector gives a zero vector, not NaN"]


def test_squash_with_wrong_length_formula_fails_hand_values():
    def wrong(s, dim=-1):
        norm = torch.sqrt((s * s).sum(dim=dim, keepdim=True) + 1e-8)
        return norm / (1 + norm) * s / norm                  # |s| / (1 + |s|) instead of |s|^2 / (1 + |s|^2)

    report = ch04.check_squash(wrong, verbose=False)
    assert _failed(report, "hand values")
    assert _failed(report, "equals capslib.functional.squash")


def test_squash_ignoring_dim_fails_the_dim_case():
    report = ch04.check_squash(lambda s, dim=-1: ch04.reference_squash(s, dim=-1), verbose=False)
    assert report.failures == ["squashes along dim=1 when asked"]


def test_slope_of_the_wrong_function_fails():
    report = ch04.check_squash_slope(lambda r: 1 / (1 + r) ** 2, verbose=False)   # slope of r / (1 + r)
    assert _failed(report, "matches autograd")
    assert _failed(report, "slope 0 at r = 0")


def test_naive_length_has_nan_gradient_at_zero():
    report = ch04.check_safe_length(lambda v: torch.sqrt((v * v).sum(-1)), verbose=False)
    assert report.failures == ["the gradient at a zero vector is finite (no NaN)"]


def test_prediction_vectors_from_the_mean_input_fail():
    # every input capsule's matrix applied to the average input capsule instead of to its own
    report = ch05.check_prediction_vectors(lambda u, W: torch.einsum("ijdk,bk->bijd", W, u.mean(1)), verbose=False)
    assert _failed(report, "u_hat[b, i, j] = W[i, j] @ u[b, i]")


def test_prediction_vectors_shared_matrix_fails():
    report = ch05.check_prediction_vectors(lambda u, W: torch.einsum("jdk,bik->bijd", W[0], u), verbose=False)
    assert _failed(report, "all entries right")


def test_routing_update_summed_over_batch_fails():
    def shared(b, u_hat, v):
        return b + (u_hat * v.unsqueeze(1)).sum(dim=-1).sum(dim=0, keepdim=True)

    report = ch05.check_routing_update(shared, verbose=False)
    assert _failed(report, "every example updated with its own agreement")


def test_routing_update_that_replaces_b_fails():
    report = ch05.check_routing_update(lambda b, u_hat, v: (u_hat * v.unsqueeze(1)).sum(dim=-1), verbose=False)
    assert _failed(report, "by hand")


def test_routing_with_softmax_over_the_wrong_axis_fails():
    report = ch05.check_routing(lambda u_hat, iterations: pitfalls.routing_softmax_wrong_axis(u_hat, iterations),
                                verbose=False)
    assert _failed(report, "with 1 iteration(s)")
    assert _failed(report, "with 3 iteration(s)")


def test_routing_with_shared_logits_fails_the_batch_case():
    report = ch05.check_routing(lambda u_hat, iterations: pitfalls.routing_shared_logits(u_hat, iterations),
                                verbose=False)
    assert not _failed(report, "with 1 iteration(s)")          # uniform couplings: identical at first
    assert _failed(report, "with 2 iteration(s)")
    assert _failed(report, "alone and in a batch")


def test_routing_without_skipping_the_last_update_still_passes():
    # updating b after the last iteration changes nothing that is returned: a correct variant
    def update_every_time(u_hat, iterations):
        b = torch.zeros(u_hat.shape[:3], dtype=u_hat.dtype)
        for _ in range(iterations):
            v = ch04.reference_squash((torch.softmax(b, 2).unsqueeze(-1) * u_hat).sum(1))
            b = b + (u_hat * v.unsqueeze(1)).sum(-1)
        return v

    assert ch05.check_routing(update_every_time, verbose=False).passed
