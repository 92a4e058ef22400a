"""EM routing itself (Hinton, Sabour & Frosst 2018, Procedure 1) and its margin schedule.

The spread loss is :func:`capslib.functional.spread_loss`, beside the other losses.

The M-step fits a Gaussian per parent to the votes of the children assigned to it
and computes the parent's activation from its cost; the E-step reassigns each child
to the parents whose Gaussians explain its vote (see :mod:`capslib.em_routing`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import torch

POSE_SIZE = 4  # pose matrices are 4x4
POSE_DIM = POSE_SIZE * POSE_SIZE
LOG_2PI = math.log(2 * math.pi)


class EMRoutingResult(NamedTuple):
    """What :func:`em_routing` returns.

    ``poses``: ``(batch, out_caps, pose_dim)`` the parents' means ``mu``;
    ``activations``: ``(batch, out_caps)``;
    ``assignments``: ``(batch, in_caps, out_caps)`` the ``R`` that the last
    M-step used (before it was multiplied by the child activations);
    ``logits``: ``(batch, out_caps)`` what the last M-step passed to the
    logistic, ``lambda (beta_a - sum_h cost_j^h)`` (``activations`` is its
    sigmoid): a logit of 10 is an activation of 0.99995, where the logistic's
    gradient has all but vanished.
    """

    poses: torch.Tensor
    activations: torch.Tensor
    assignments: torch.Tensor
    logits: torch.Tensor


# ----------------------------------------------------------------------------
# The routing procedure
# ----------------------------------------------------------------------------


def inverse_temperature_schedule(
    iterations: int, final: float = 0.01, rate: float = 0.95
) -> list[float]:
    """The inverse temperature ``lambda`` of each routing iteration: ``final * (1 - rate ** (t + 1))``.

    The paper says only that ``lambda`` rises with the iterations.  The authors
    gave this formula in the OpenReview discussion of the paper ("``lambda =
    final_lambda * (1 - tf.pow(0.95, i + 1))`` where i is the routing
    iteration; final_lambda is set to 0.01"), and IBM's implementation (Gritzman
    2019) uses it.  Three iterations: ``[5e-4, 9.75e-4, 1.43e-3]``.  (The
    PyTorch re-implementation yl-1993/Matrix-Capsules-EM-PyTorch keeps
    ``lambda`` fixed at 1e-3 instead.)
    """
    _check_iterations(iterations, "inverse_temperature_schedule")
    if not final > 0:
        raise ValueError(
            f"inverse_temperature_schedule: expected final > 0, got {final}"
        )
    if not 0 < rate < 1:
        raise ValueError(
            f"inverse_temperature_schedule: expected 0 < rate < 1, got {rate}"
        )
    return [float(final * (1 - rate ** (t + 1))) for t in range(iterations)]


# The work happens in a (batch, out_caps, in_caps, pose_dim) layout ("parents first"): every sum
# over the children is then one batched matrix product, and the squared residuals (V - mu)^2, the
# one large temporary, are computed once per iteration and used by both the M-step (the variance)
# and the E-step that follows it (the densities).  m_step and e_step below are the same steps in
# the (batch, in_caps, out_caps, pose_dim) layout of the paper's notation.


def _m_step_parents_first(
    assignments_t, activations, votes_t, beta_u, beta_a, inverse_temperature, eps
):
    """``assignments_t``: ``(b, out, in)``; ``activations``: ``(b, in)``; ``votes_t``: ``(b, out, in, h)``.

    Returns ``mu``, ``sigma_sq`` ``(b, out, h)``, activations and logits ``(b, out)`` and the squared
    residuals ``(b, out, in, h)``.
    """
    weights = assignments_t * activations.unsqueeze(1)  # R_ij <- R_ij a_i
    total = weights.sum(dim=-1)  # sum_i R_ij: (b, out)
    share = (weights / (total.unsqueeze(-1) + eps)).unsqueeze(2)  # (b, out, 1, in)
    mu = torch.matmul(share, votes_t).squeeze(2)  # (b, out, h)
    residuals_sq = (votes_t - mu.unsqueeze(2)).square()  # (V_ij^h - mu_j^h)^2
    sigma_sq = torch.matmul(share, residuals_sq).squeeze(2) + eps  # (b, out, h)
    beta_u = torch.as_tensor(beta_u, dtype=votes_t.dtype, device=votes_t.device)
    beta_a = torch.as_tensor(beta_a, dtype=votes_t.dtype, device=votes_t.device)
    cost = (beta_u.unsqueeze(-1) + 0.5 * torch.log(sigma_sq)) * total.unsqueeze(
        -1
    )  # cost_j^h
    logits = inverse_temperature * (beta_a - cost.sum(dim=-1))
    return mu, sigma_sq, torch.sigmoid(logits), logits, residuals_sq


def _e_step_parents_first(residuals_sq, sigma_sq, parent_activations):
    """``residuals_sq``: ``(b, out, in, h)``; ``sigma_sq``: ``(b, out, h)``; returns ``R``: ``(b, out, in)``."""
    # log p_ij = -1/2 sum_h [(V - mu)^2 / sigma^2 + log sigma^2 + log 2 pi]; the sum over h is a matrix product
    mahalanobis = torch.matmul(
        residuals_sq, sigma_sq.reciprocal().unsqueeze(-1)
    ).squeeze(-1)  # (b, out, in)
    log_normaliser = (
        torch.log(sigma_sq).sum(dim=-1) + sigma_sq.shape[-1] * LOG_2PI
    )  # (b, out)
    log_p = -0.5 * (mahalanobis + log_normaliser.unsqueeze(-1))
    log_a = torch.log(
        parent_activations.clamp_min(torch.finfo(sigma_sq.dtype).tiny)
    ).unsqueeze(-1)
    return torch.softmax(log_a + log_p, dim=1)  # normalised over the parents


def m_step(
    assignments: torch.Tensor,
    activations: torch.Tensor,
    votes: torch.Tensor,
    beta_u: torch.Tensor | float,
    beta_a: torch.Tensor | float,
    inverse_temperature: float,
    eps: float = 1e-8,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The M-step of Procedure 1: fit a Gaussian per parent and compute its activation.

    ``assignments``: ``(batch, in_caps, out_caps)``; ``activations``: ``(batch, in_caps)``
    (the children's); ``votes``: ``(batch, in_caps, out_caps, pose_dim)``.
    Returns ``mu`` and ``sigma_sq`` ``(batch, out_caps, pose_dim)`` and the
    parents' activations ``(batch, out_caps)``:

    ``R_ij <- R_ij a_i``; ``mu_j = sum_i R_ij V_ij / sum_i R_ij``;
    ``sigma_j^2 = sum_i R_ij (V_ij - mu_j)^2 / sum_i R_ij`` (+ ``eps``);
    ``cost_j^h = (beta_u + log sigma_j^h) sum_i R_ij``;
    ``a_j = logistic(lambda (beta_a - sum_h cost_j^h))``.
    """
    mu, sigma_sq, parent_activations, _, _ = _m_step_parents_first(
        assignments.transpose(1, 2),
        activations,
        votes.transpose(1, 2),
        beta_u,
        beta_a,
        inverse_temperature,
        eps,
    )
    return mu, sigma_sq, parent_activations


def e_step(
    mu: torch.Tensor,
    sigma_sq: torch.Tensor,
    parent_activations: torch.Tensor,
    votes: torch.Tensor,
) -> torch.Tensor:
    """The E-step of Procedure 1: ``R_ij = a_j p_j(V_ij) / sum_k a_k p_k(V_ik)``.

    ``mu``, ``sigma_sq``: ``(batch, out_caps, pose_dim)``; ``parent_activations``:
    ``(batch, out_caps)``; ``votes``: ``(batch, in_caps, out_caps, pose_dim)``.
    Returns the assignments ``(batch, in_caps, out_caps)``, computed in log space
    (the densities of 16-dimensional Gaussians under- and overflow easily).
    """
    residuals_sq = (votes.transpose(1, 2) - mu.unsqueeze(2)).square()  # (b, out, in, h)
    return _e_step_parents_first(residuals_sq, sigma_sq, parent_activations).transpose(
        1, 2
    )


def em_routing(
    votes: torch.Tensor,
    activations: torch.Tensor,
    beta_u: torch.Tensor | float,
    beta_a: torch.Tensor | float,
    iterations: int = 3,
    inverse_temperatures: Sequence[float] | None = None,
    eps: float = 1e-8,
) -> EMRoutingResult:
    """EM routing between child and parent matrix capsules (Hinton et al. 2018, Procedure 1).

    ``votes``: ``(batch, in_caps, out_caps, pose_dim)`` with ``V_ij = M_i W_ij``
    flattened (``pose_dim`` = 16 for 4x4 poses; any size works);
    ``activations``: ``(batch, in_caps)`` the children's activations in [0, 1];
    ``beta_u``, ``beta_a``: scalars or ``(out_caps,)`` learned costs;
    ``inverse_temperatures``: one ``lambda`` per iteration (default
    :func:`inverse_temperature_schedule`, the authors' schedule).

    ``R`` starts uniform (``1 / out_caps``); each iteration runs the M-step, and
    every iteration but the last then runs the E-step.  Returns an
    :class:`EMRoutingResult` (parent poses, activations, assignments, logits).
    """
    if not isinstance(votes, torch.Tensor) or not votes.is_floating_point():
        raise TypeError(
            f"em_routing: expected votes as a floating tensor, got {_describe(votes)}"
        )
    if votes.ndim != 4:
        raise ValueError(
            "em_routing: expected votes of shape (batch, in_caps, out_caps, pose_dim), "
            f"got shape {tuple(votes.shape)}"
        )
    if not isinstance(activations, torch.Tensor) or not activations.is_floating_point():
        raise TypeError(
            f"em_routing: expected activations as a floating tensor, got {_describe(activations)}"
        )
    if activations.shape != votes.shape[:2]:
        raise ValueError(
            f"em_routing: expected activations of shape (batch, in_caps) = {tuple(votes.shape[:2])}, "
            f"got {tuple(activations.shape)}"
        )
    _check_iterations(iterations, "em_routing")
    if inverse_temperatures is None:
        inverse_temperatures = inverse_temperature_schedule(iterations)
    inverse_temperatures = list(inverse_temperatures)
    if len(inverse_temperatures) != iterations:
        raise ValueError(
            f"em_routing: expected {iterations} inverse temperatures (one per iteration), "
            f"got {len(inverse_temperatures)}"
        )
    batch, in_caps, out_caps, _ = votes.shape
    votes_t = votes.transpose(
        1, 2
    ).contiguous()  # no copy when the layer built the votes parents first
    assignments_t = votes.new_full((batch, out_caps, in_caps), 1.0 / out_caps)
    for t, lam in enumerate(inverse_temperatures):
        mu, sigma_sq, parent_activations, logits, residuals_sq = _m_step_parents_first(
            assignments_t, activations, votes_t, beta_u, beta_a, lam, eps
        )
        if t < iterations - 1:
            assignments_t = _e_step_parents_first(
                residuals_sq, sigma_sq, parent_activations
            )
    return EMRoutingResult(
        mu, parent_activations, assignments_t.transpose(1, 2), logits
    )


def spread_margin(
    step: int, total_steps: int, start: float = 0.2, end: float = 0.9
) -> float:
    """The spread loss margin at ``step``: linear from ``start`` to ``end`` over ``total_steps``."""
    if total_steps <= 0:
        raise ValueError(f"spread_margin: expected total_steps > 0, got {total_steps}")
    fraction = min(max(step / total_steps, 0.0), 1.0)
    return start + (end - start) * fraction


def _checked_temperatures(
    inverse_temperatures, iterations: int, where: str
) -> list[float]:
    """One ``lambda`` per iteration: the given ones, or the authors' schedule."""
    if inverse_temperatures is None:
        return inverse_temperature_schedule(iterations)
    values = [float(t) for t in inverse_temperatures]
    if len(values) != iterations or not all(t > 0 for t in values):
        raise ValueError(
            f"{where}: expected {iterations} positive inverse temperatures (one per iteration), "
            f"got {list(inverse_temperatures)}"
        )
    return values


def _check_iterations(iterations, where: str) -> None:
    if isinstance(iterations, bool) or not isinstance(iterations, int):
        raise TypeError(
            f"{where}: expected an int number of iterations, got {type(iterations).__name__}"
        )
    if iterations < 1:
        raise ValueError(f"{where}: expected iterations >= 1, got {iterations}")


def _describe(value) -> str:
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)} and dtype {value.dtype}"
    return f"{type(value).__name__}"
