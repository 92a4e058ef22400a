"""Checks for the exercises of chapter 11 (beyond dynamic routing)."""
from __future__ import annotations

import torch

from capslib import em_routing as em

from .report import CheckReport, check

__all__ = [
    "check_em_m_step",
    "check_em_e_step",
    "check_spread_loss",
    "reference_em_m_step",
    "reference_em_e_step",
    "reference_spread_loss",
]


def _case(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    votes = torch.randn(2, 5, 3, 4, generator=g, dtype=torch.float64)
    activations = torch.rand(2, 5, generator=g, dtype=torch.float64) * 0.9 + 0.05
    raw = torch.rand(2, 5, 3, generator=g, dtype=torch.float64)
    return votes, activations, raw / raw.sum(-1, keepdim=True)


# ---------------------------------------------------------------------------------------------
# Exercise 11.1: the M-step's Gaussian
# ---------------------------------------------------------------------------------------------
def reference_em_m_step(R: torch.Tensor, a: torch.Tensor, V: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``R``: ``(batch, in, out)``, ``a``: ``(batch, in)``, ``V``: ``(batch, in, out, h)`` -> ``mu``, ``sigma_sq``
    ``(batch, out, h)``: the mean and variance of the votes weighted by ``R_ij a_i``."""
    mu, sigma_sq, _ = em.m_step(R, a, V, 0.0, 0.0, 1.0, eps=0.0)
    return mu, sigma_sq


def check_em_m_step(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise 11.1: ``fn(R, a, V)`` -> ``(mu, sigma_sq)`` of the M-step (Hinton et al. 2018, Procedure 1)."""
    V, a, R = _case(0)
    mu, sigma_sq = reference_em_m_step(R, a, V)
    with check("Exercise 11.1: the M-step", verbose=verbose) as report:
        with report.attempt("runs on R (2, 5, 3), a (2, 5), V (2, 5, 3, 4)"):
            got_mu, got_var = (torch.as_tensor(t).double() for t in fn(R.clone(), a.clone(), V.clone()))
            if not report.expect(tuple(got_mu.shape) == (2, 3, 4) and tuple(got_var.shape) == (2, 3, 4),
                                 "mu and sigma_sq are (batch, out, h)",
                                 f"got {tuple(got_mu.shape)} and {tuple(got_var.shape)}; sum over the input capsules"):
                return report
            unweighted = (R.unsqueeze(-1) * V).sum(1) / R.sum(1).unsqueeze(-1)
            report.expect(torch.allclose(got_mu, mu, atol=1e-9), "mu: votes averaged with weights R_ij a_i",
                          "multiply R by the input activations a_i first (R_ij <- R_ij a_i), then normalise"
                          + (" -- you left out a_i" if torch.allclose(got_mu, unweighted, atol=1e-9) else ""))
            report.expect(torch.allclose(got_var, sigma_sq, atol=1e-9),
                          "sigma_sq: the same weighted average of (V - mu)^2",
                          "use the same normalised weights as for mu, per pose entry h")
    return report


# ---------------------------------------------------------------------------------------------
# Exercise 11.2: the E-step's assignments
# ---------------------------------------------------------------------------------------------
def reference_em_e_step(mu, sigma_sq, a_out, V) -> torch.Tensor:
    """``R_ij = a_j p_j(V_ij) / sum_k a_k p_k(V_ik)`` with ``p_j`` the Gaussian of parent ``j``: ``(batch, in, out)``."""
    return em.e_step(mu, sigma_sq, a_out, V)


def check_em_e_step(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise 11.2: ``fn(mu, sigma_sq, a_out, V)`` -> the new assignments ``R`` ``(batch, in, out)``."""
    V, a, R = _case(1)
    mu, sigma_sq, _ = em.m_step(R, a, V, 0.0, 0.0, 1.0, eps=0.0)
    a_out = torch.tensor([[0.9, 0.2, 0.5], [0.1, 0.6, 0.8]], dtype=torch.float64)
    expected = reference_em_e_step(mu, sigma_sq, a_out, V)
    with check("Exercise 11.2: the E-step", verbose=verbose) as report:
        with report.attempt("runs on mu, sigma_sq (2, 3, 4), a_out (2, 3), V (2, 5, 3, 4)"):
            got = torch.as_tensor(fn(mu.clone(), sigma_sq.clone(), a_out.clone(), V.clone())).double()
            if not report.expect(tuple(got.shape) == (2, 5, 3), "returns R (batch, in, out)", f"got {tuple(got.shape)}"):
                return report
            report.expect(torch.allclose(got.sum(-1), torch.ones(2, 5, dtype=torch.float64), atol=1e-9),
                          "each input capsule's assignments sum to 1 over the parents",
                          "normalise over the parents (the last axis), not over the input capsules")
            without_a = em.e_step(mu, sigma_sq, torch.ones_like(a_out), V)
            report.expect(torch.allclose(got, expected, atol=1e-9),
                          "R_ij is proportional to a_j p_j(V_ij)",
                          "weight each parent's density by its activation a_j"
                          + (" -- you left out a_j" if torch.allclose(got, without_a, atol=1e-9) else "")
                          + "; compute log densities and a softmax to stay finite")
    return report


# ---------------------------------------------------------------------------------------------
# Exercise 11.3: the spread loss
# ---------------------------------------------------------------------------------------------
def reference_spread_loss(activations: torch.Tensor, targets: torch.Tensor, margin: float) -> torch.Tensor:
    """``sum_{i != t} max(0, m - (a_t - a_i))^2``, mean over the batch."""
    return em.spread_loss(activations, targets, margin)


def check_spread_loss(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise 11.3: ``fn(activations, targets, margin)`` -> the spread loss (a scalar)."""
    activations = torch.tensor([[0.8, 0.5, 0.9], [0.1, 0.9, 0.2]], dtype=torch.float64)
    targets = torch.tensor([0, 1])
    with check("Exercise 11.3: the spread loss", verbose=verbose) as report:
        with report.attempt("runs on 2 examples, 3 classes, margin 0.4"):
            got = float(fn(activations.clone(), targets.clone(), 0.4))
            expected = float(reference_spread_loss(activations, targets, 0.4))   # (0.01 + 0.25 + 0) / 2 = 0.13
            with_target = expected + 0.4 ** 2 * 2 / 2
            report.expect(abs(got - expected) < 1e-9, f"the loss is {expected:.2f} (mean of 0.26 and 0)",
                          f"got {got}; leave out the target class from the sum"
                          + (" -- you summed over all classes, the target's own term is m^2" if
                             abs(got - with_target) < 1e-9 else "")
                          + "; square the hinge max(0, m - (a_t - a_i)) and average over the batch")
    return report
