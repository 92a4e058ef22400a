"""Exercise checks of chapters 9-11: typical wrong answers fail with the expected failure named.
(Every check's reference solution and unfinished stub: tests/test_exercise_checks.py.)"""
import pytest
import torch

from capslib import em_routing as em
from capslib.exercises import ch09, ch10, ch11


# --- typical wrong answers, each failing on the property it breaks --------------------------

def test_perturbation_that_replaces_instead_of_adding_fails():
    def replaces(pose, dim, offsets):
        out = pose.expand(len(offsets), pose.shape[0]).clone()
        out[:, dim] = offsets
        return out
    report = ch09.check_perturb_dimension(replaces, verbose=False)
    assert report.failed_on("plus the offset") and not report.failed_on("other 15")


def test_position_major_coupling_map_fails_with_layout_hint():
    def position_major(couplings, classes, types, grid):
        chosen = couplings.gather(2, classes.view(-1, 1, 1).expand(-1, couplings.shape[1], 1)).squeeze(2)
        return chosen.view(-1, grid, grid, types).mean(-1)
    report = ch09.check_class_coupling_map(position_major, verbose=False)
    assert report.failed_on("type-major")
    assert "position-major" in str(report)


def test_receptive_field_without_conv1_fails():
    report = ch09.check_primary_receptive_field(lambda y, x: (2 * y, 2 * x, 2 * y + 8, 2 * x + 8), verbose=False)
    assert report.failed_on("17 pixels") and "conv1" in str(report)


def test_placing_at_the_corner_fails():
    def corner(image, dy, dx, canvas=40):
        out = torch.zeros(1, canvas, canvas)
        out[:, max(dy, 0):max(dy, 0) + 28, max(dx, 0):max(dx, 0) + 28] = image
        return out
    report = ch10.check_place_on_canvas(corner, verbose=False)
    assert report.failed_on("centres the digit")


def test_ordered_pair_comparison_fails():
    def ordered(lengths, labels):
        return float((lengths.topk(2, dim=1).indices == labels).all(1).float().mean())
    report = ch10.check_pair_accuracy(ordered, verbose=False)
    assert report.failed_on("2 of the 4")


def test_counting_the_wrong_class_fails():
    report = ch10.check_face_rate(lambda lengths: float((lengths.argmax(1) == 0).float().mean()), verbose=False)
    assert report.failed_on("class 1") and "class 0" in str(report)


def test_m_step_without_input_activations_fails():
    def unweighted(R, a, V):
        w = R / R.sum(1, keepdim=True)
        mu = (w.unsqueeze(-1) * V).sum(1)
        return mu, (w.unsqueeze(-1) * (V - mu.unsqueeze(1)) ** 2).sum(1)
    report = ch11.check_em_m_step(unweighted, verbose=False)
    assert report.failed_on("R_ij a_i") and "left out a_i" in str(report)


def test_e_step_normalised_over_inputs_fails():
    def over_inputs(mu, sigma_sq, a_out, V):
        return em.e_step(mu, sigma_sq, a_out, V).transpose(1, 2).softmax(-1).transpose(1, 2)
    report = ch11.check_em_e_step(over_inputs, verbose=False)
    assert report.failed_on("sum to 1 over the parents")


def test_e_step_without_parent_activations_fails():
    report = ch11.check_em_e_step(lambda mu, s, a, V: em.e_step(mu, s, torch.ones_like(a), V), verbose=False)
    assert report.failed_on("a_j p_j") and "left out a_j" in str(report)


def test_spread_loss_over_all_classes_fails():
    def all_classes(acts, targets, m):
        a_t = acts.gather(1, targets.view(-1, 1))
        return (torch.relu(m - (a_t - acts)) ** 2).sum(1).mean()
    report = ch11.check_spread_loss(all_classes, verbose=False)
    assert not report.passed and "target's own term" in str(report)
