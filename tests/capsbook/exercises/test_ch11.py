"""Exercise checks of chapter 11: typical wrong answers fail on the property they break, with the hint
that names the mistake.  (Every check's reference solution and unfinished stub: tests/capsbook/exercises/test_checks.py.)"""

import math

import torch

from capsbook import pitfalls
from capsbook.exercises import ch11
from capslib import em_routing as em
from capslib import functional as cf


def test_lambda_for_spread_reference_against_hand_computation():
    # costs 3 and -1, beta_a 0: the largest |beta_a - cost| is 3, logit(0.55) = log(0.55/0.45)
    lam = ch11.reference_lambda_for_spread(torch.tensor([3.0, -1.0]), 0.0, 0.05)
    assert abs(lam - math.log(0.55 / 0.45) / 3) < 1e-12
    # at that lambda the first parent's activation is exactly 0.45, the other within 0.05
    acts = torch.sigmoid(lam * -torch.tensor([3.0, -1.0], dtype=torch.float64))
    assert abs(acts[0].item() - 0.45) < 1e-12 and abs(acts[1].item() - 0.5) < 0.05


def test_lambda_for_spread_linearised_logistic_fails_with_its_hint():
    def linear(costs, beta_a, spread):
        return 4 * spread / float((beta_a - costs).abs().max())

    report = ch11.check_lambda_for_spread(linear, verbose=False)
    assert report.failures and "linearises the logistic" in str(report)


def test_lambda_for_spread_smallest_cost_fails_with_its_hint():
    def smallest(costs, beta_a, spread):
        x = math.log((0.5 + spread) / (0.5 - spread))
        return x / float((beta_a - costs).abs().min())

    report = ch11.check_lambda_for_spread(smallest, verbose=False)
    assert report.failures and "LARGEST" in str(report)


def test_lambda_for_spread_ignoring_beta_a_fails_on_that_case_only():
    def no_beta(costs, beta_a, spread):
        return math.log((0.5 + spread) / (0.5 - spread)) / float(costs.abs().max())

    report = ch11.check_lambda_for_spread(no_beta, verbose=False)
    assert report.failed_on("beta_a = 2") and not report.failed_on("the toy's sizes")
    assert "beta_a shifts every cost" in str(report)


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
