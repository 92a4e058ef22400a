"""Checks for the exercises of chapter 11 (beyond dynamic routing).

Each exercise carries an idea of the chapter somewhere new: the
smallest inverse temperature at which an M-step's activations leave 0.5 (11.1), the gallery's batch test to
any routing function, including one the reader has not seen (11.2), and
IBM's cost normalisation to the M-step of this book (11.3).
"""

from __future__ import annotations

import torch

from capsbook import pitfalls
from capslib import em_routing as em
from capslib import functional as cf

from .report import CheckReport, check, guarded

__all__ = [
    "check_lambda_for_spread",
    "check_batch_dependence",
    "check_normalised_activations",
    "reference_lambda_for_spread",
    "reference_batch_dependence",
    "reference_normalised_activations",
]


# ---------------------------------------------------------------------------------------------
# Exercise 11.1: the smallest lambda at which an M-step's activations leave 0.5
# ---------------------------------------------------------------------------------------------
def reference_lambda_for_spread(
    costs: torch.Tensor, beta_a: float = 0.0, spread: float = 0.05
) -> float:
    """The smallest lambda > 0 at which some activation
    logistic(lambda (beta_a - cost_j)) is ``spread`` away from 0.5:
    logit(0.5 + spread) over the largest |beta_a - cost_j|."""
    largest = float((beta_a - costs).abs().max())
    return float(torch.logit(torch.tensor(0.5 + spread, dtype=torch.float64))) / largest


@guarded
def check_lambda_for_spread(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise 11.1: ``fn(costs, beta_a, spread)`` -> the smallest lambda > 0 at which an M-step's
    activations ``logistic(lambda (beta_a - cost_j))`` are no longer all within ``spread`` of 0.5,
    for costs ``(parents,)`` summed over the pose entries."""
    cases = [
        ("the toy's sizes", torch.tensor([3.2, -1.4], dtype=torch.float64), 0.0, 0.05),
        (
            "a layer's sizes",
            torch.tensor([-900.0, -350.0, 120.0], dtype=torch.float64),
            0.0,
            0.05,
        ),
        ("beta_a = 2", torch.tensor([1.0, 2.5, 3.0], dtype=torch.float64), 2.0, 0.05),
        ("spread 0.4", torch.tensor([0.7, -0.2], dtype=torch.float64), 0.0, 0.4),
    ]
    with check(
        "Exercise 11.1: the lambda at which activations leave 0.5", verbose=verbose
    ) as report:
        for name, costs, beta_a, spread in cases:
            with report.attempt(name):
                got = float(fn(costs.clone(), beta_a, spread))
                expected = reference_lambda_for_spread(costs, beta_a, spread)
                largest = float((beta_a - costs).abs().max())
                smallest = float((beta_a - costs).abs().min())
                hint = f"got {got:.6g}"
                if got < 0:
                    hint += "; lambda is positive: use the size |beta_a - cost_j|, not its sign"
                elif abs(got - 4 * spread / largest) < 1e-9 * abs(expected) + 1e-12:
                    hint += (
                        "; 4 * spread / |beta_a - cost| linearises the logistic at 0.5: solve "
                        "logistic(x) = 0.5 + spread exactly, x = log((0.5 + spread) / (0.5 - spread))"
                    )
                elif abs(got - expected * largest / smallest) < 1e-9 * abs(
                    expected * largest / smallest
                ):
                    hint += "; the first activation to leave is the parent with the LARGEST |beta_a - cost|"
                elif (
                    beta_a
                    and abs(
                        got
                        - float(torch.logit(torch.tensor(0.5 + spread)))
                        / float(costs.abs().max())
                    )
                    < 1e-6
                ):
                    hint += "; the logit is lambda (beta_a - cost): beta_a shifts every cost"
                activations = torch.sigmoid(expected * (beta_a - costs))
                report.expect(
                    abs(got - expected) <= 1e-6 * expected,
                    f"{name}: lambda = {expected:.6g} (largest |a - 0.5| then {spread}; "
                    f"activations {', '.join(f'{a:.3f}' for a in activations.tolist())})",
                    hint,
                )
    return report


# ---------------------------------------------------------------------------------------------
# Exercise 11.2: does a routing depend on the rest of the batch?
# ---------------------------------------------------------------------------------------------
def reference_batch_dependence(route, u_hat: torch.Tensor) -> float:
    """The largest change of any output when each example is routed alone."""
    with torch.no_grad():
        together = route(u_hat)
        alone = torch.cat([route(u_hat[b : b + 1]) for b in range(u_hat.shape[0])])
    return float((together - alone).abs().max())


def _routing_normalised_over_the_batch(
    u_hat: torch.Tensor, iterations: int = 3
) -> torch.Tensor:
    """A routing the chapter did not show: correct, except that ``s_j`` is divided by its mean length
    over the batch before the squash (a "batch normalisation" of the parents)."""
    b = u_hat.new_zeros(u_hat.shape[:3])
    for iteration in range(iterations):
        c = torch.softmax(b, dim=2)
        s = (c.unsqueeze(-1) * u_hat).sum(dim=1)
        s = s / s.norm(dim=-1, keepdim=True).mean(dim=0, keepdim=True)
        v = cf.squash(s)
        if iteration < iterations - 1:
            b = b + (u_hat * v.unsqueeze(1)).sum(dim=-1)
    return v


@guarded
def check_batch_dependence(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise 11.2: ``fn(route, u_hat)`` -> the largest absolute change of any output value when each
    example of ``u_hat`` ``(batch, in_caps, out_caps, dim)`` is routed alone rather than with the others.

    ``route`` maps ``u_hat`` to ``v`` ``(batch, out_caps, dim)``.  The check
    runs the answer on the correct routing (0), on the gallery's shared logits
    (clearly not 0) and on a routing it does not show you.
    """
    u_hat = 0.3 * torch.randn(
        4, 12, 5, 6, generator=torch.Generator().manual_seed(112), dtype=torch.float64
    )
    cases = [
        (
            "capslib.functional.dynamic_routing",
            lambda u: cf.dynamic_routing(u, 3),
            "about 0",
        ),
        (
            "pitfalls.routing_shared_logits",
            lambda u: pitfalls.routing_shared_logits(u, 3),
            "clearly above 0",
        ),
        (
            "a routing you have not seen",
            _routing_normalised_over_the_batch,
            "clearly above 0",
        ),
    ]
    with check(
        "Exercise 11.2: does a routing depend on its batch?", verbose=verbose
    ) as report:
        for name, route, verdict in cases:
            with report.attempt(name):
                expected = reference_batch_dependence(route, u_hat)
                got = float(fn(route, u_hat.clone()))
                hint = (
                    f"got {got:.3g}, expected {expected:.3g}: route the whole batch once, then each example "
                    "alone (u_hat[b:b+1], which keeps the batch axis), and take the largest absolute difference"
                )
                if got == 0.0 and expected > 0:
                    hint += " -- did you compare the batch with itself?"
                report.expect(
                    abs(got - expected) <= 1e-9 + 1e-6 * expected,
                    f"{name}: {verdict}",
                    hint,
                )
    return report


# ---------------------------------------------------------------------------------------------
# Exercise 11.3: IBM's normalised cost in the M-step
# ---------------------------------------------------------------------------------------------
def _activations_with_cost_factor(
    R, a, V, beta_u, beta_a, inverse_temperature, factor: float
) -> torch.Tensor:
    """The M-step's activations with sum_i R_ij a_i multiplied by ``factor`` in the cost.

    Scaling ``a`` scales that sum and leaves the means and variances alone (they use
    the shares ``R_ij a_i / sum_i R_ij a_i``), so this is the reference with ``a`` scaled.
    """
    own = 100.0 * V.shape[2] / V.shape[1]
    return reference_normalised_activations(
        R, a * (factor / own), V, beta_u, beta_a, inverse_temperature
    )


def reference_normalised_activations(
    R, a, V, beta_u, beta_a, inverse_temperature
) -> torch.Tensor:
    """The M-step's parent activations (batch, out), with sum_i R_ij a_i in the
    cost multiplied by 100 * out_caps / in_caps (Gritzman 2019)."""
    w = R * a.unsqueeze(-1)  # R_ij a_i: (batch, in, out)
    total = w.sum(dim=1)  # sum_i R_ij a_i: (batch, out)
    share = (w / total.unsqueeze(1)).unsqueeze(-1)
    mu = (share * V).sum(dim=1)
    sigma_sq = (share * (V - mu.unsqueeze(1)) ** 2).sum(dim=1)
    factor = 100 * V.shape[2] / V.shape[1]  # 100 x parents / children
    weight = (factor * total).unsqueeze(-1)  # (batch, out, 1)
    cost = (beta_u.unsqueeze(-1) + 0.5 * sigma_sq.log()) * weight
    return torch.sigmoid(inverse_temperature * (beta_a - cost.sum(dim=-1)))


@guarded
def check_normalised_activations(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise 11.3: ``fn(R, a, V, beta_u, beta_a, inverse_temperature)`` -> the parents' activations
    ``(batch, out)`` of an M-step whose cost uses ``sum_i R_ij * 100 * out_caps / in_caps``.

    ``R``: ``(batch, in, out)``; ``a``: ``(batch, in)``; ``V``: ``(batch, in, out, h)``;
    ``beta_u``, ``beta_a``: ``(out,)``.  Cases shaped like this book's small
    network: a convolutional layer (36 children, 4 parents) and its class
    layer (36 children, 10 parents).
    """
    gen = torch.Generator().manual_seed(113)
    with check("Exercise 11.3: IBM's normalised cost", verbose=verbose) as report:
        for name, (children, parents) in [
            ("a convolutional layer", (36, 4)),
            ("the class layer", (36, 10)),
        ]:
            with report.attempt(f"{name}: {children} children, {parents} parents"):
                V = 0.5 * torch.randn(
                    2, children, parents, 16, generator=gen, dtype=torch.float64
                )
                a = (
                    torch.rand(2, children, generator=gen, dtype=torch.float64) * 0.9
                    + 0.05
                )
                raw = torch.rand(
                    2, children, parents, generator=gen, dtype=torch.float64
                )
                R = raw / raw.sum(-1, keepdim=True)
                beta_u = 0.1 * torch.randn(parents, generator=gen, dtype=torch.float64)
                beta_a = torch.randn(parents, generator=gen, dtype=torch.float64)
                lam = 0.005
                expected = reference_normalised_activations(
                    R, a, V, beta_u, beta_a, lam
                )
                got = torch.as_tensor(
                    fn(
                        R.clone(),
                        a.clone(),
                        V.clone(),
                        beta_u.clone(),
                        beta_a.clone(),
                        lam,
                    )
                ).double()
                if not report.expect(
                    tuple(got.shape) == (2, parents),
                    f"{name}: activations (batch, out)",
                    f"got {tuple(got.shape)}",
                ):
                    continue
                hint = "multiply sum_i R_ij a_i by 100 * out_caps / in_caps in the cost only (not in mu or sigma)"
                _, _, plain = em.m_step(R, a, V, beta_u, beta_a, lam, eps=0.0)
                inverted = _activations_with_cost_factor(
                    R, a, V, beta_u, beta_a, lam, 100.0 * children / parents
                )
                if torch.allclose(got, plain, atol=1e-9):
                    hint += " -- this is the paper's M-step, without the normalisation"
                elif torch.allclose(got, inverted, atol=1e-9):
                    hint += " -- the factor is upside down: 100 * out / in, the parents over the children"
                report.expect(
                    torch.allclose(got, expected, atol=1e-9),
                    f"{name}: the normalised activations",
                    hint,
                )
    return report
