"""Checks for the exercises of chapter 5 (routing by agreement)."""
from __future__ import annotations

import torch

from capslib import functional as F

from .report import CheckReport, check

__all__ = [
    "check_prediction_vectors",
    "check_routing_update",
    "check_routing",
    "reference_prediction_vectors",
    "reference_routing_update",
    "reference_routing",
]


def _random(*shape, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


# ---------------------------------------------------------------------------------------------
# Exercise 5.1: the prediction vectors u_hat (Eq. 2)
# ---------------------------------------------------------------------------------------------
def reference_prediction_vectors(u: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
    """``u``: ``(batch, in_caps, in_dim)``, ``W``: ``(in_caps, out_caps, out_dim, in_dim)`` ->
    ``u_hat``: ``(batch, in_caps, out_caps, out_dim)`` with ``u_hat[b, i, j] = W[i, j] @ u[b, i]``."""
    return torch.einsum("ijdk,bik->bijd", W, u)


def check_prediction_vectors(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise 5.1: ``fn(u, W)`` returns the predictions :math:`\\hat u_{j|i} = W_{ij} u_i` (Eq. 2).

    ``u``: ``(batch, in_caps, in_dim)``; ``W``: ``(in_caps, out_caps, out_dim,
    in_dim)``; the answer: ``(batch, in_caps, out_caps, out_dim)``.
    """
    u, W = _random(2, 5, 8, seed=0), _random(5, 3, 16, 8, seed=1)
    with check("Exercise 5.1: prediction vectors u_hat = W u", verbose=verbose) as report:
        with report.attempt("runs on u (2, 5, 8) and W (5, 3, 16, 8)"):
            out = torch.as_tensor(fn(u.clone(), W.clone())).double()
            if not report.expect(tuple(out.shape) == (2, 5, 3, 16), "returns (batch, in_caps, out_caps, out_dim)",
                                 f"got {tuple(out.shape)}, expected (2, 5, 3, 16)"):
                return report
            report.expect(torch.allclose(out[1, 2, 0], W[2, 0] @ u[1, 2], atol=1e-8),
                          "u_hat[b, i, j] = W[i, j] @ u[b, i] (checked at b=1, i=2, j=0)",
                          "each input capsule i has its own matrix for each output j: W[i, j], "
                          "not W[j, i] and not one matrix shared by all i")
            report.expect(torch.allclose(out, reference_prediction_vectors(u, W), atol=1e-8),
                          "all entries right", "try torch.einsum('ijdk,bik->bijd', W, u)")
    return report


# ---------------------------------------------------------------------------------------------
# Exercise 5.2: one update of the routing logits
# ---------------------------------------------------------------------------------------------
def reference_routing_update(b: torch.Tensor, u_hat: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Line 7 of Procedure 1: ``b_ij + u_hat_j|i . v_j``, per example.

    ``b``: ``(batch, in_caps, out_caps)``; ``u_hat``: ``(batch, in_caps,
    out_caps, out_dim)``; ``v``: ``(batch, out_caps, out_dim)``.
    """
    return b + (u_hat * v.unsqueeze(1)).sum(dim=-1)


def check_routing_update(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise 5.2: ``fn(b, u_hat, v)`` returns the updated logits ``b_ij + u_hat_j|i . v_j``.

    Shapes: ``b`` ``(batch, in_caps, out_caps)``, ``u_hat`` ``(batch, in_caps,
    out_caps, out_dim)``, ``v`` ``(batch, out_caps, out_dim)``; the answer is
    shaped like ``b``, computed for each example on its own.
    """
    b, u_hat, v = _random(3, 4, 2, seed=2), _random(3, 4, 2, 5, seed=3), _random(3, 2, 5, seed=4)
    expected = reference_routing_update(b, u_hat, v)
    with check("Exercise 5.2: the agreement update of the logits", verbose=verbose) as report:
        with report.attempt("runs on b (3, 4, 2), u_hat (3, 4, 2, 5), v (3, 2, 5)"):
            out = torch.as_tensor(fn(b.clone(), u_hat.clone(), v.clone())).double()
            if not report.expect(out.shape == b.shape, "returns a tensor shaped like b (batch, in_caps, out_caps)",
                                 f"got {tuple(out.shape)}; the dot product sums over out_dim only"):
                return report
            hand = float(b[0, 1, 1] + u_hat[0, 1, 1] @ v[0, 1])
            report.expect(abs(float(out[0, 1, 1]) - hand) < 1e-8, "b[0,1,1] + u_hat[0,1,1] . v[0,1] (by hand)",
                          "add the agreement to the old logits (don't replace them), and pair u_hat_j|i "
                          "with v_j of the same output capsule j")
            report.expect(torch.allclose(out, expected, atol=1e-8), "every example updated with its own agreement",
                          "don't sum or average over the batch: b has one set of logits per example")
            moved = torch.as_tensor(fn(b.clone(), u_hat.clone(), v.clone() * 2)).double()
            report.expect(torch.allclose(moved - b, 2 * (expected - b), atol=1e-8),
                          "the update is linear in v", "the agreement is a plain dot product (no softmax, no squash)")
    return report


# ---------------------------------------------------------------------------------------------
# Exercise 5.3: the whole of Procedure 1
# ---------------------------------------------------------------------------------------------
def reference_routing(u_hat: torch.Tensor, iterations: int = 3) -> torch.Tensor:
    """Procedure 1: ``u_hat`` ``(batch, in_caps, out_caps, out_dim)`` -> ``v`` ``(batch, out_caps, out_dim)``."""
    b = torch.zeros(u_hat.shape[:3], dtype=u_hat.dtype)
    for iteration in range(iterations):
        c = torch.softmax(b, dim=2)                         # each input's couplings sum to 1 over outputs
        s = (c.unsqueeze(-1) * u_hat).sum(dim=1)            # s_j = sum_i c_ij u_hat_j|i
        v = F.squash(s)                                     # v_j = squash(s_j)
        if iteration < iterations - 1:
            b = b + (u_hat * v.unsqueeze(1)).sum(dim=-1)    # b_ij += u_hat_j|i . v_j
    return v


def check_routing(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise 5.3: ``fn(u_hat, iterations)`` is routing by agreement (Procedure 1), returning ``v``.

    Compared with :func:`capslib.functional.dynamic_routing` for 1, 2 and 3
    iterations, and for one example routed alone and inside a batch.
    """
    u_hat = _random(4, 6, 3, 5, seed=5)
    with check("Exercise 5.3: routing by agreement", verbose=verbose) as report:
        for iterations in (1, 2, 3):
            with report.attempt(f"runs with iterations={iterations}"):
                out = torch.as_tensor(fn(u_hat.clone(), iterations)).double()
                if not report.expect(tuple(out.shape) == (4, 3, 5), f"returns v (batch, out_caps, out_dim) "
                                     f"with iterations={iterations}", f"got {tuple(out.shape)}, expected (4, 3, 5)"):
                    return report
                hint = {1: "with b = 0 the couplings are 1/out_caps, so v_j = squash(sum_i u_hat_j|i / out_caps): "
                           "apply the softmax over the output capsules (dim=2), sum over the inputs (dim=1)",
                        2: "update b after every iteration but the last: b += u_hat . v (sum over out_dim)",
                        3: "start b at zero, softmax over dim=2, s = sum over dim=1, then squash"}[iterations]
                report.expect(torch.allclose(out, F.dynamic_routing(u_hat, iterations), atol=1e-6),
                              f"equals capslib.functional.dynamic_routing with {iterations} iteration(s)", hint)
        with report.attempt("routes each example independently"):
            alone = torch.as_tensor(fn(u_hat[:1].clone(), 3)).double()
            in_batch = torch.as_tensor(fn(u_hat.clone(), 3)).double()[:1]
            report.expect(torch.allclose(alone, in_batch, atol=1e-6), "an example gives the same v alone and in a batch",
                          "keep one set of logits b per example (shape (batch, in_caps, out_caps))")
    return report
