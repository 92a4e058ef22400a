"""Exercise checks of chapters 9-11: the reference solution passes, a typical wrong answer fails
with the expected failure named, and an unfinished stub is reported (not raised)."""
import pytest
import torch

import capslib.exercises as exercises
from capslib import em_routing as em
from capslib.exercises import ch09, ch10, ch11


def _stub(*args, **kwargs):
    raise NotImplementedError("your code here")


def _failed(report, fragment):
    return any(fragment in what for what in report.failures)


CHECKS = [
    (ch09.check_perturb_dimension, ch09.reference_perturb_dimension),
    (ch09.check_class_coupling_map, ch09.reference_class_coupling_map),
    (ch09.check_primary_receptive_field, ch09.reference_primary_receptive_field),
    (ch10.check_place_on_canvas, ch10.reference_place_on_canvas),
    (ch10.check_pair_accuracy, ch10.reference_pair_accuracy),
    (ch10.check_face_rate, ch10.reference_face_rate),
    (ch11.check_em_m_step, ch11.reference_em_m_step),
    (ch11.check_em_e_step, ch11.reference_em_e_step),
    (ch11.check_spread_loss, ch11.reference_spread_loss),
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


@pytest.mark.parametrize("name", [fn.__name__ for fn, _ in CHECKS])
def test_checks_are_reachable_from_the_package(name):
    assert getattr(exercises, name).__module__.startswith("capslib.exercises.ch")


# --- typical wrong answers, each failing on the property it breaks --------------------------

def test_perturbation_that_replaces_instead_of_adding_fails():
    def replaces(pose, dim, offsets):
        out = pose.expand(len(offsets), pose.shape[0]).clone()
        out[:, dim] = offsets
        return out
    report = ch09.check_perturb_dimension(replaces, verbose=False)
    assert _failed(report, "plus the offset") and not _failed(report, "other 15")


def test_position_major_coupling_map_fails_with_layout_hint():
    def position_major(couplings, classes, types, grid):
        chosen = couplings.gather(2, classes.view(-1, 1, 1).expand(-1, couplings.shape[1], 1)).squeeze(2)
        return chosen.view(-1, grid, grid, types).mean(-1)
    report = ch09.check_class_coupling_map(position_major, verbose=False)
    assert _failed(report, "type-major")
    assert "position-major" in str(report)


def test_receptive_field_without_conv1_fails():
    report = ch09.check_primary_receptive_field(lambda y, x: (2 * y, 2 * x, 2 * y + 8, 2 * x + 8), verbose=False)
    assert _failed(report, "17 pixels") and "conv1" in str(report)


def test_placing_at_the_corner_fails():
    def corner(image, dy, dx, canvas=40):
        out = torch.zeros(1, canvas, canvas)
        out[:, max(dy, 0):max(dy, 0) + 28, max(dx, 0):max(dx, 0) + 28] = image
        return out
    report = ch10.check_place_on_canvas(corner, verbose=False)
    assert _failed(report, "centres the digit")


def test_ordered_pair_comparison_fails():
    def ordered(lengths, labels):
        return float((lengths.topk(2, dim=1).indices == labels).all(1).float().mean())
    report = ch10.check_pair_accuracy(ordered, verbose=False)
    assert _failed(report, "2 of the 4")


def test_counting_the_wrong_class_fails():
    report = ch10.check_face_rate(lambda lengths: float((lengths.argmax(1) == 0).float().mean()), verbose=False)
    assert _failed(report, "class 1") and "class 0" in str(report)


def test_m_step_without_input_activations_fails():
    def unweighted(R, a, V):
        w = R / R.sum(1, keepdim=True)
        mu = (w.unsqueeze(-1) * V).sum(1)
        return mu, (w.unsqueeze(-1) * (V - mu.unsqueeze(1)) ** 2).sum(1)
    report = ch11.check_em_m_step(unweighted, verbose=False)
    assert _failed(report, "R_ij a_i") and "left out a_i" in str(report)


def test_e_step_normalised_over_inputs_fails():
    def over_inputs(mu, sigma_sq, a_out, V):
        return em.e_step(mu, sigma_sq, a_out, V).transpose(1, 2).softmax(-1).transpose(1, 2)
    report = ch11.check_em_e_step(over_inputs, verbose=False)
    assert _failed(report, "sum to 1 over the parents")


def test_e_step_without_parent_activations_fails():
    report = ch11.check_em_e_step(lambda mu, s, a, V: em.e_step(mu, s, torch.ones_like(a), V), verbose=False)
    assert _failed(report, "a_j p_j") and "left out a_j" in str(report)


def test_spread_loss_over_all_classes_fails():
    def all_classes(acts, targets, m):
        a_t = acts.gather(1, targets.view(-1, 1))
        return (torch.relu(m - (a_t - acts)) ** 2).sum(1).mean()
    report = ch11.check_spread_loss(all_classes, verbose=False)
    assert not report.passed and "target's own term" in str(report)
