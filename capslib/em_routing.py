"""Matrix capsules with EM routing (Hinton, Sabour & Frosst, ICLR 2018), small and exact.

A matrix capsule holds a 4x4 *pose matrix* ``M`` and an *activation* ``a`` in
(0, 1) (a logistic unit, not a vector length as in Sabour et al. 2017).  Child
capsule ``i`` votes for the pose of parent ``j`` with ``V_ij = M_i W_ij``
(``W_ij`` a learned 4x4 viewpoint-invariant transformation).  Routing fits, for
every parent, an axis-aligned Gaussian to the votes of the children assigned to
it (the paper's Procedure 1):

* **M-step** (per parent ``j``): ``R_ij <- R_ij a_i``;
  ``mu_j^h = sum_i R_ij V_ij^h / sum_i R_ij``;
  ``(sigma_j^h)^2 = sum_i R_ij (V_ij^h - mu_j^h)^2 / sum_i R_ij``;
  ``cost_j^h = (beta_u + log sigma_j^h) sum_i R_ij``;
  ``a_j = logistic(lambda (beta_a - sum_h cost_j^h))``.
* **E-step** (per child ``i``): ``p_j = N(V_ij; mu_j, sigma_j^2)`` (a product
  over the 16 pose entries) and ``R_ij = a_j p_j / sum_k a_k p_k``: each child's
  assignment probabilities sum to 1 over the parents.

``beta_u`` and ``beta_a`` are learned per parent capsule type; ``lambda`` is an
inverse temperature raised at every iteration.  The paper gives no values for
it; :func:`inverse_temperature_schedule` is the schedule the authors gave on
OpenReview, ``lambda_t = 0.01 (1 - 0.95^(t+1))`` (as in IBM's implementation,
Gritzman 2019; yl-1993/Matrix-Capsules-EM-PyTorch keeps ``lambda = 1e-3``
fixed).  A cost is a sum over the children assigned to a parent, so the right
``lambda`` depends on the layer's size: :meth:`MatrixCapsNetConfig.small`
raises it for a network with 8 times fewer class-capsule children.  With the
paper's sizes and a ``lambda`` rising to 1e-2 (capslib's first choice) the class
capsules start saturated; :class:`MatrixCapsNetConfig` says what was measured.

Layers on top of the function: :class:`PrimaryMatrixCapsules`,
:class:`ConvMatrixCapsules` (a KxK window of child capsules routes to the
parents at one position; as in yl-1993's implementation each window is routed
on its own, so a child that falls in two windows is normalised within each
window separately, a simplification of the paper that IBM's implementation
avoids by normalising each child over every parent it reaches), :class:`ClassMatrixCapsules`
(weights shared across positions, with the paper's *coordinate addition*) and
the network :class:`MatrixCapsNet` (ReLU conv -> primary caps -> conv caps 1 ->
conv caps 2 -> class caps), trained with the :func:`spread_loss`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "ClassMatrixCapsules",
    "ConvMatrixCapsules",
    "EMRoutingResult",
    "MatrixCapsNet",
    "MatrixCapsNetConfig",
    "MatrixCapsNetOutput",
    "PrimaryMatrixCapsules",
    "e_step",
    "em_routing",
    "inverse_temperature_schedule",
    "m_step",
    "spread_loss",
    "spread_margin",
]

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


def spread_loss(
    activations: torch.Tensor, targets: torch.Tensor, margin: float = 0.2
) -> torch.Tensor:
    """The paper's spread loss ``L = sum_{i != t} max(0, m - (a_t - a_i))^2``, mean over the batch.

    ``activations``: ``(batch, classes)``; ``targets``: ``(batch,)`` class indices.
    The paper raises ``margin`` from 0.2 to 0.9 during training (:func:`spread_margin`).
    """
    if (
        not isinstance(activations, torch.Tensor)
        or activations.ndim != 2
        or not activations.is_floating_point()
    ):
        raise ValueError(
            f"spread_loss: expected activations as a floating (batch, classes) tensor, "
            f"got {_describe(activations)}"
        )
    if (
        not isinstance(targets, torch.Tensor)
        or targets.dtype not in (torch.int64, torch.int32)
        or targets.shape != activations.shape[:1]
    ):
        raise ValueError(
            f"spread_loss: expected integer targets of shape ({activations.shape[0]},), "
            f"got {_describe(targets)}"
        )
    if targets.numel() and (targets.min() < 0 or targets.max() >= activations.shape[1]):
        raise ValueError(
            f"spread_loss: expected targets in [0, {activations.shape[1] - 1}], "
            f"got values in [{int(targets.min())}, {int(targets.max())}]"
        )
    target_activation = activations.gather(1, targets.long().unsqueeze(1))  # (batch, 1)
    gaps = F.relu(margin - (target_activation - activations)) ** 2
    others = torch.ones_like(gaps).scatter_(1, targets.long().unsqueeze(1), 0.0)
    return (gaps * others).sum(dim=1).mean()


def spread_margin(
    step: int, total_steps: int, start: float = 0.2, end: float = 0.9
) -> float:
    """The spread loss margin at ``step``: linear from ``start`` to ``end`` over ``total_steps``."""
    if total_steps <= 0:
        raise ValueError(f"spread_margin: expected total_steps > 0, got {total_steps}")
    fraction = min(max(step / total_steps, 0.0), 1.0)
    return start + (end - start) * fraction


# ----------------------------------------------------------------------------
# Layers
# ----------------------------------------------------------------------------


class PrimaryMatrixCapsules(nn.Module):
    """A 1x1 convolution that turns features into ``types`` matrix capsules per position.

    Input ``(batch, in_channels, H, W)``; output poses ``(batch, H, W, types, 16)``
    and activations ``(batch, H, W, types)`` (logistic).
    """

    def __init__(self, in_channels: int, types: int):
        super().__init__()
        self.types = types
        self.pose = nn.Conv2d(in_channels, types * POSE_DIM, kernel_size=1)
        self.activation = nn.Conv2d(in_channels, types, kernel_size=1)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        batch, _, height, width = features.shape
        # channels are grouped per capsule type: (types, 16) at each position, never across positions
        poses = (
            self.pose(features)
            .view(batch, self.types, POSE_DIM, height, width)
            .permute(0, 3, 4, 1, 2)
        )
        activations = torch.sigmoid(self.activation(features)).permute(0, 2, 3, 1)
        return poses.contiguous(), activations.contiguous()


class ConvMatrixCapsules(nn.Module):
    """Convolutional matrix capsules: each KxK window of children routes by EM to ``out_types`` parents.

    Input poses ``(batch, H, W, in_types, 16)`` and activations ``(batch, H, W, in_types)``;
    output poses ``(batch, H', W', out_types, 16)`` and activations ``(batch, H', W', out_types)``
    with ``H' = (H - kernel_size) // stride + 1``.  One 4x4 ``W`` per (kernel offset,
    child type, parent type), shared across positions.  ``transform_init``: see
    :class:`MatrixCapsNetConfig`.
    """

    def __init__(
        self,
        in_types: int,
        out_types: int,
        kernel_size: int = 3,
        stride: int = 1,
        iterations: int = 3,
        inverse_temperatures: Sequence[float] | None = None,
        transform_init: str = "normal",
    ):
        super().__init__()
        _check_iterations(iterations, "ConvMatrixCapsules")
        self.in_types, self.out_types = in_types, out_types
        self.kernel_size, self.stride, self.iterations = kernel_size, stride, iterations
        self.inverse_temperatures = _checked_temperatures(
            inverse_temperatures, iterations, "ConvMatrixCapsules"
        )
        children = kernel_size * kernel_size * in_types
        self.weights = nn.Parameter(
            _init_transforms(children, out_types, transform_init)
        )
        self.beta_u = nn.Parameter(torch.zeros(out_types))
        self.beta_a = nn.Parameter(torch.zeros(out_types))

    def forward(
        self, poses: torch.Tensor, activations: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        batch, height, width, types, _ = poses.shape
        if types != self.in_types:
            raise ValueError(
                f"ConvMatrixCapsules: expected {self.in_types} input capsule types, got {types}"
            )
        k, s = self.kernel_size, self.stride
        stacked = torch.cat(
            [poses, activations.unsqueeze(-1)], dim=-1
        )  # (b, H, W, T, 17)
        stacked = stacked.permute(0, 3, 4, 1, 2).reshape(
            batch, types * (POSE_DIM + 1), height, width
        )
        windows = F.unfold(stacked, kernel_size=k, stride=s)  # (b, T*17*k*k, L)
        out_h, out_w = (height - k) // s + 1, (width - k) // s + 1
        windows = windows.view(batch, types, POSE_DIM + 1, k * k, out_h * out_w)
        windows = windows.permute(0, 4, 3, 1, 2).reshape(
            batch * out_h * out_w, 1, k * k * types, POSE_DIM + 1
        )
        child_poses, child_activations = (
            windows[..., :POSE_DIM],
            windows[..., 0, :, POSE_DIM],
        )
        votes = _votes(child_poses, self.weights).squeeze(2)  # (b*L, out, kkT, 16)
        result = em_routing(
            votes.transpose(1, 2),
            child_activations,
            self.beta_u,
            self.beta_a,
            self.iterations,
            self.inverse_temperatures,
        )
        out_poses = result.poses.view(batch, out_h, out_w, self.out_types, POSE_DIM)
        out_activations = result.activations.view(batch, out_h, out_w, self.out_types)
        return out_poses, out_activations


class ClassMatrixCapsules(nn.Module):
    """Class capsules: every child at every position votes for each class, with shared ``W``.

    Input poses ``(batch, H, W, in_types, 16)`` and activations ``(batch, H, W, in_types)``;
    returns an :class:`EMRoutingResult` with poses ``(batch, classes, 16)``.
    With ``coordinate_addition`` the scaled (row, column) of each child's position,
    ``((r + 0.5) / H, (c + 0.5) / W)``, is added to the first two entries of the
    right-hand column of its vote matrix (entries 3 and 7 of the flattened pose).
    """

    def __init__(
        self,
        in_types: int,
        classes: int = 10,
        iterations: int = 3,
        coordinate_addition: bool = True,
        inverse_temperatures: Sequence[float] | None = None,
        transform_init: str = "normal",
    ):
        super().__init__()
        _check_iterations(iterations, "ClassMatrixCapsules")
        self.in_types, self.classes, self.iterations = in_types, classes, iterations
        self.coordinate_addition = coordinate_addition
        self.inverse_temperatures = _checked_temperatures(
            inverse_temperatures, iterations, "ClassMatrixCapsules"
        )
        self.weights = nn.Parameter(_init_transforms(in_types, classes, transform_init))
        self.beta_u = nn.Parameter(torch.zeros(classes))
        self.beta_a = nn.Parameter(torch.zeros(classes))

    def forward(
        self, poses: torch.Tensor, activations: torch.Tensor
    ) -> EMRoutingResult:
        batch, height, width, types, _ = poses.shape
        if types != self.in_types:
            raise ValueError(
                f"ClassMatrixCapsules: expected {self.in_types} input capsule types, got {types}"
            )
        votes = _votes(
            poses.reshape(batch, height * width, types, POSE_DIM), self.weights
        )  # (b, C, HW, T, 16)
        if self.coordinate_addition:
            offsets = coordinate_offsets(
                height, width, dtype=votes.dtype, device=votes.device
            )
            votes = votes + offsets.view(height * width, 1, POSE_DIM)
        votes = votes.reshape(batch, self.classes, height * width * types, POSE_DIM)
        return em_routing(
            votes.transpose(1, 2),
            activations.reshape(batch, height * width * types),
            self.beta_u,
            self.beta_a,
            self.iterations,
            self.inverse_temperatures,
        )


def coordinate_offsets(
    height: int, width: int, dtype=torch.float32, device=None
) -> torch.Tensor:
    """The coordinate-addition term, ``(height * width, 1, 1, 16)``: zeros except entries 3 (row) and 7 (column)."""
    rows = (torch.arange(height, dtype=dtype, device=device) + 0.5) / height
    cols = (torch.arange(width, dtype=dtype, device=device) + 0.5) / width
    offsets = torch.zeros(height, width, POSE_DIM, dtype=dtype, device=device)
    offsets[:, :, 3] = rows.view(-1, 1)
    offsets[:, :, 7] = cols.view(1, -1)
    return offsets.view(height * width, 1, 1, POSE_DIM)


def _votes(child_poses: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """``V_ij = M_i W_ij``, parents first.

    ``child_poses``: ``(n, positions, children, 16)``; ``weights``: ``(children, parents, 4, 4)``, the
    same at every position.  Returns ``(n, parents, positions, children, 16)``.  One matrix product per
    child type, ``(n * positions * 4, 4) @ (4, parents * 4)``, instead of ``n * positions * children *
    parents`` products of 4x4 matrices: the same numbers, several times faster on a CPU.
    """
    n, positions, children, _ = child_poses.shape
    parents = weights.shape[1]
    m = child_poses.reshape(n * positions, children, POSE_SIZE, POSE_SIZE).transpose(
        0, 1
    )  # (i, n*p, 4, 4)
    m = m.reshape(children, n * positions * POSE_SIZE, POSE_SIZE)  # rows (n, p, row)
    w = weights.permute(0, 2, 1, 3).reshape(
        children, POSE_SIZE, parents * POSE_SIZE
    )  # (i, k, (j, col))
    v = torch.bmm(m, w).view(children, n, positions, POSE_SIZE, parents, POSE_SIZE)
    return v.permute(1, 4, 2, 0, 3, 5).reshape(
        n, parents, positions, children, POSE_DIM
    )


TRANSFORM_INITS = ("normal", "identity")


def _init_transforms(children: int, parents: int, init: str = "normal") -> torch.Tensor:
    """The initial ``W_ij``, ``(children, parents, 4, 4)``.

    ``"normal"``: a truncated normal (mean 0, std 1, cut at 2 std): the authors say they used
    TensorFlow's ``truncated_normal_initializer`` (OpenReview), and IBM's implementation draws its
    ``W`` that way with std 1; ``"identity"``: the identity plus N(0, 0.5^2) noise, capslib's first
    choice, kept to reproduce the saturated start described in :class:`MatrixCapsNetConfig`.
    """
    if init == "normal":
        return nn.init.trunc_normal_(
            torch.empty(children, parents, POSE_SIZE, POSE_SIZE), std=1.0, a=-2.0, b=2.0
        )
    if init == "identity":
        eye = torch.eye(POSE_SIZE).expand(children, parents, POSE_SIZE, POSE_SIZE)
        return eye + 0.5 * torch.randn(children, parents, POSE_SIZE, POSE_SIZE)
    raise ValueError(f"transform_init: expected one of {TRANSFORM_INITS}, got {init!r}")


# ----------------------------------------------------------------------------
# The network
# ----------------------------------------------------------------------------


@dataclass(frozen=True)
class MatrixCapsNetConfig:
    """Sizes of :class:`MatrixCapsNet`, named as in the paper (A, B, C, D capsule types).

    ``paper()`` is the paper's smallNORB network (A = B = C = D = 32) applied to
    28x28 inputs; ``small()`` trains on a CPU in quick mode.

    Not in the paper, and so chosen here: ``inverse_temperatures`` (one ``lambda``
    per routing iteration; ``None`` is the authors' OpenReview schedule,
    :func:`inverse_temperature_schedule`, rising to ``final_lambda``) and ``transform_init``, the initial
    ``W_ij`` (``"normal"``: truncated normal, std 1; ``"identity"``: identity plus
    noise).  With the paper's sizes, the earlier choices of capslib (``lambda``
    rising linearly from 1e-3 to 1e-2, ``"identity"``) start saturated: the
    class-layer logits are near 20 and every class activation is 1.0 to four
    decimals, so the spread loss has almost no gradient.
    """

    image_size: int = 28
    in_channels: int = 1
    conv_channels: int = 32  # A: ReLU conv1, 5x5, stride 2
    primary_types: int = 32  # B
    conv_caps1_types: int = 32  # C: 3x3, stride 2
    conv_caps2_types: int = 32  # D: 3x3, stride 1
    classes: int = 10
    routing_iterations: int = 3
    coordinate_addition: bool = True
    inverse_temperatures: tuple[float, ...] | None = (
        None  # None: the authors' schedule up to final_lambda
    )
    final_lambda: float = 0.01
    transform_init: str = "normal"

    def __post_init__(self) -> None:
        if self.transform_init not in TRANSFORM_INITS:
            raise ValueError(
                f"MatrixCapsNetConfig: expected transform_init in {TRANSFORM_INITS}, "
                f"got {self.transform_init!r}"
            )
        if not self.final_lambda > 0:
            raise ValueError(
                f"MatrixCapsNetConfig: expected final_lambda > 0, got {self.final_lambda}"
            )
        _checked_temperatures(
            self.inverse_temperatures, self.routing_iterations, "MatrixCapsNetConfig"
        )

    def temperatures(self) -> list[float]:
        """The ``lambda`` of each routing iteration: ``inverse_temperatures``, or the authors' schedule
        rising to ``final_lambda``."""
        if self.inverse_temperatures is not None:
            return list(self.inverse_temperatures)
        return inverse_temperature_schedule(
            self.routing_iterations, final=self.final_lambda
        )

    @classmethod
    def paper(cls, **overrides) -> MatrixCapsNetConfig:
        return replace(cls(), **overrides)

    @classmethod
    def small(cls, **overrides) -> MatrixCapsNetConfig:
        """16 convolution channels, 4 capsule types per layer, 2 routing iterations (about 0.1 s of
        one CPU core per training step of 24 images).

        ``lambda`` is the authors' schedule with ``final_lambda = 0.08`` instead of 0.01.  A parent's cost is a
        sum over the children assigned to it, and this network's class capsules have 36 children
        (3 x 3 positions x 4 types) where the paper's have 288: with the authors' ``lambda`` its class
        logits start 8 times smaller (near 0.1, every activation about 0.5), and it learns slowly.
        Eight times the ``lambda`` gives them the start the paper-sized network has.
        """
        return replace(
            cls(
                conv_channels=16,
                primary_types=4,
                conv_caps1_types=4,
                conv_caps2_types=4,
                routing_iterations=2,
                final_lambda=0.08,
            ),
            **overrides,
        )

    def grid_sizes(self) -> tuple[int, int, int]:
        """Side lengths after conv1 (= primary caps), conv caps 1 and conv caps 2."""
        conv1 = (self.image_size - 5) // 2 + 1
        caps1 = (conv1 - 3) // 2 + 1
        caps2 = caps1 - 3 + 1
        return conv1, caps1, caps2


class MatrixCapsNetOutput(NamedTuple):
    """``activations``: ``(batch, classes)``; ``poses``: ``(batch, classes, 4, 4)``; ``logits``:
    ``(batch, classes)``, the class layer's ``lambda (beta_a - sum_h cost)`` (``activations`` is their
    sigmoid; a logit above about 10 means a saturated class capsule)."""

    activations: torch.Tensor
    poses: torch.Tensor
    logits: torch.Tensor


class MatrixCapsNet(nn.Module):
    """The network of Hinton et al. (2018), Figure 1: ReLU conv1 -> PrimaryCaps -> ConvCaps1 -> ConvCaps2 -> Class caps.

    >>> net = MatrixCapsNet(MatrixCapsNetConfig.small())
    >>> net(torch.rand(2, 1, 28, 28)).activations.shape
    torch.Size([2, 10])
    """

    def __init__(self, config: MatrixCapsNetConfig | None = None, **overrides):
        super().__init__()
        config = replace(config or MatrixCapsNetConfig.paper(), **overrides)
        conv1, caps1, caps2 = config.grid_sizes()
        if caps2 < 1:
            raise ValueError(
                f"MatrixCapsNet: image_size {config.image_size} is too small (need >= 19)"
            )
        self.config = config
        self.conv1 = nn.Conv2d(
            config.in_channels, config.conv_channels, kernel_size=5, stride=2
        )
        self.primary = PrimaryMatrixCapsules(config.conv_channels, config.primary_types)
        routing = dict(
            iterations=config.routing_iterations,
            inverse_temperatures=config.temperatures(),
            transform_init=config.transform_init,
        )
        self.conv_caps1 = ConvMatrixCapsules(
            config.primary_types, config.conv_caps1_types, 3, 2, **routing
        )
        self.conv_caps2 = ConvMatrixCapsules(
            config.conv_caps1_types, config.conv_caps2_types, 3, 1, **routing
        )
        self.class_caps = ClassMatrixCapsules(
            config.conv_caps2_types,
            config.classes,
            coordinate_addition=config.coordinate_addition,
            **routing,
        )

    def forward(self, images: torch.Tensor) -> MatrixCapsNetOutput:
        """``images``: ``(batch, in_channels, image_size, image_size)`` floats."""
        c = self.config
        if not isinstance(images, torch.Tensor) or not images.is_floating_point():
            raise TypeError(
                f"MatrixCapsNet: expected floating images, got {_describe(images)}"
            )
        expected = (c.in_channels, c.image_size, c.image_size)
        if images.ndim != 4 or tuple(images.shape[1:]) != expected:
            raise ValueError(
                f"MatrixCapsNet: expected images of shape (batch, {expected[0]}, {expected[1]}, "
                f"{expected[2]}), got {tuple(images.shape)}"
            )
        features = F.relu(self.conv1(images))
        poses, activations = self.primary(features)
        poses, activations = self.conv_caps1(poses, activations)
        poses, activations = self.conv_caps2(poses, activations)
        result = self.class_caps(poses, activations)
        return MatrixCapsNetOutput(
            result.activations,
            result.poses.view(-1, c.classes, POSE_SIZE, POSE_SIZE),
            result.logits,
        )

    def describe(self) -> str:
        params = sum(p.numel() for p in self.parameters())
        return f"MatrixCapsNet({asdict(self.config)}) with {params:,} parameters"


# ----------------------------------------------------------------------------


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
