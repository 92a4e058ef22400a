"""Exercise checks of chapter 11: typical wrong answers fail on the property they break, with the hint
that names the mistake.  (Every check's reference solution and unfinished stub: tests/capsbook/exercises/test_checks.py.)"""

import torch

from capsbook import pitfalls
from capsbook.exercises import ch11
from capslib import em_routing as em
from capslib import functional as cf


def test_normalised_spread_loss_over_classes_times_m_squared_fails():
    def all_classes(acts, targets, m):
        return em.spread_loss(acts, targets, m) / (acts.shape[1] * m**2)

    report = ch11.check_normalised_spread_loss(all_classes, verbose=False)
    assert report.failed_on(
        "equal activations give 1"
    ) and "the target's own class is not in the sum" in str(report)


def test_normalised_spread_loss_by_nine_fails_on_five_classes_only():
    report = ch11.check_normalised_spread_loss(
        lambda acts, t, m: em.spread_loss(acts, t, m) / (9 * m**2), verbose=False
    )
    assert report.failures and all(
        "5 classes" in f or "m = 0.5" in f or "random" in f for f in report.failures
    )
    assert not report.failed_on("(10 classes, m = 0.2)")


def test_batch_dependence_reference_finds_the_shared_logits_and_the_unseen_bug():
    u_hat = 0.3 * torch.randn(3, 8, 4, 5, dtype=torch.float64)
    assert (
        ch11.reference_batch_dependence(lambda u: cf.dynamic_routing(u, 3), u_hat)
        < 1e-12
    )
    assert (
        ch11.reference_batch_dependence(
            lambda u: pitfalls.routing_shared_logits(u, 3), u_hat
        )
        > 1e-3
    )
    assert (
        ch11.reference_batch_dependence(ch11._routing_normalised_over_the_batch, u_hat)
        > 1e-3
    )


def test_batch_dependence_comparing_the_batch_with_itself_fails():
    report = ch11.check_batch_dependence(
        lambda route, u: float((route(u) - route(u)).abs().max()), verbose=False
    )
    assert report.failed_on("clearly above 0") and not report.failed_on("about 0")
    assert "compare the batch with itself" in str(report)


def test_normalised_activations_without_the_factor_fails_with_its_hint():
    def plain(R, a, V, beta_u, beta_a, lam):
        return em.m_step(R, a, V, beta_u, beta_a, lam, eps=0.0)[2]

    report = ch11.check_normalised_activations(plain, verbose=False)
    assert len(report.failures) == 2 and "without the normalisation" in str(report)


def test_normalised_activations_with_the_factor_upside_down_fails_with_its_hint():
    def upside_down(R, a, V, beta_u, beta_a, lam):
        return ch11._activations_with_cost_factor(
            R, a, V, beta_u, beta_a, lam, 100.0 * V.shape[1] / V.shape[2]
        )

    report = ch11.check_normalised_activations(upside_down, verbose=False)
    assert len(report.failures) == 2 and "upside down" in str(report)
