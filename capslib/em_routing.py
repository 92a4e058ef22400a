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
its schedule; :func:`inverse_temperature_schedule` rises linearly from
``first`` to ``last`` (defaults 1e-3 to 1e-2, the range public re-implementations
found to train, e.g. yl-1993/Matrix-Capsules-EM-PyTorch).

Layers on top of the function: :class:`PrimaryMatrixCapsules`,
:class:`ConvMatrixCapsules` (a KxK window of child capsules routes to the
parents at one position; as in most public implementations each window is
routed on its own, so a child that falls in two windows is normalised within
each window separately, a simplification of the paper), :class:`ClassMatrixCapsules`
(weights shared across positions, with the paper's *coordinate addition*) and
the network :class:`MatrixCapsNet` (ReLU conv -> primary caps -> conv caps 1 ->
conv caps 2 -> class caps), trained with the :func:`spread_loss`.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import NamedTuple, Sequence

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
    M-step used (before it was multiplied by the child activations).
    """

    poses: torch.Tensor
    activations: torch.Tensor
    assignments: torch.Tensor


# ----------------------------------------------------------------------------
# The routing procedure
# ----------------------------------------------------------------------------

def inverse_temperature_schedule(iterations: int, first: float = 1e-3, last: float = 1e-2) -> list[float]:
    """The inverse temperature ``lambda`` of each routing iteration, rising linearly.

    One iteration uses ``last``.  ``[first, ..., last]`` otherwise.
    """
    _check_iterations(iterations, "inverse_temperature_schedule")
    if not (first > 0 and last > 0):
        raise ValueError(f"inverse_temperature_schedule: expected positive first and last, got {first} and {last}")
    if iterations == 1:
        return [float(last)]
    return [float(first + (last - first) * t / (iterations - 1)) for t in range(iterations)]


def m_step(assignments: torch.Tensor, activations: torch.Tensor, votes: torch.Tensor,
           beta_u: torch.Tensor | float, beta_a: torch.Tensor | float, inverse_temperature: float,
           eps: float = 1e-8) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The M-step of Procedure 1: fit a Gaussian per parent and compute its activation.

    ``assignments``: ``(batch, in_caps, out_caps)``; ``activations``: ``(batch, in_caps)``
    (the children's); ``votes``: ``(batch, in_caps, out_caps, pose_dim)``.
    Returns ``mu`` and ``sigma_sq`` ``(batch, out_caps, pose_dim)`` and the
    parents' activations ``(batch, out_caps)``.
    """
    weights = assignments * activations.unsqueeze(-1)                     # R_ij <- R_ij a_i
    total = weights.sum(dim=1)                                            # sum_i R_ij: (batch, out_caps)
    share = (weights / (total.unsqueeze(1) + eps)).unsqueeze(-1)          # (batch, in, out, 1)
    mu = (share * votes).sum(dim=1)                                       # (batch, out, pose_dim)
    sigma_sq = (share * (votes - mu.unsqueeze(1)) ** 2).sum(dim=1) + eps  # (batch, out, pose_dim)
    log_sigma = 0.5 * torch.log(sigma_sq)
    beta_u = torch.as_tensor(beta_u, dtype=votes.dtype, device=votes.device)
    beta_a = torch.as_tensor(beta_a, dtype=votes.dtype, device=votes.device)
    cost = (beta_u.unsqueeze(-1) + log_sigma) * total.unsqueeze(-1)      # cost_j^h
    parent_activations = torch.sigmoid(inverse_temperature * (beta_a - cost.sum(dim=-1)))
    return mu, sigma_sq, parent_activations


def e_step(mu: torch.Tensor, sigma_sq: torch.Tensor, parent_activations: torch.Tensor,
           votes: torch.Tensor) -> torch.Tensor:
    """The E-step of Procedure 1: ``R_ij = a_j p_j(V_ij) / sum_k a_k p_k(V_ik)``.

    ``mu``, ``sigma_sq``: ``(batch, out_caps, pose_dim)``; ``parent_activations``:
    ``(batch, out_caps)``; ``votes``: ``(batch, in_caps, out_caps, pose_dim)``.
    Returns the assignments ``(batch, in_caps, out_caps)``, computed in log space
    (the densities of 16-dimensional Gaussians under- and overflow easily).
    """
    diff_sq = (votes - mu.unsqueeze(1)) ** 2                                         # (b, in, out, h)
    log_p = -0.5 * (diff_sq / sigma_sq.unsqueeze(1) + torch.log(sigma_sq).unsqueeze(1) + LOG_2PI).sum(-1)
    log_a = torch.log(parent_activations.clamp_min(torch.finfo(votes.dtype).tiny)).unsqueeze(1)
    return torch.softmax(log_a + log_p, dim=2)


def em_routing(votes: torch.Tensor, activations: torch.Tensor, beta_u: torch.Tensor | float,
               beta_a: torch.Tensor | float, iterations: int = 3,
               inverse_temperatures: Sequence[float] | None = None, eps: float = 1e-8) -> EMRoutingResult:
    """EM routing between child and parent matrix capsules (Hinton et al. 2018, Procedure 1).

    ``votes``: ``(batch, in_caps, out_caps, pose_dim)`` with ``V_ij = M_i W_ij``
    flattened (``pose_dim`` = 16 for 4x4 poses; any size works);
    ``activations``: ``(batch, in_caps)`` the children's activations in [0, 1];
    ``beta_u``, ``beta_a``: scalars or ``(out_caps,)`` learned costs;
    ``inverse_temperatures``: one ``lambda`` per iteration (default
    :func:`inverse_temperature_schedule`).

    ``R`` starts uniform (``1 / out_caps``); each iteration runs the M-step, and
    every iteration but the last then runs the E-step.  Returns an
    :class:`EMRoutingResult` (parent poses, parent activations, assignments).
    """
    if not isinstance(votes, torch.Tensor) or not votes.is_floating_point():
        raise TypeError(f"em_routing: expected votes as a floating tensor, got {_describe(votes)}")
    if votes.ndim != 4:
        raise ValueError("em_routing: expected votes of shape (batch, in_caps, out_caps, pose_dim), "
                         f"got shape {tuple(votes.shape)}")
    if not isinstance(activations, torch.Tensor) or not activations.is_floating_point():
        raise TypeError(f"em_routing: expected activations as a floating tensor, got {_describe(activations)}")
    if activations.shape != votes.shape[:2]:
        raise ValueError(f"em_routing: expected activations of shape (batch, in_caps) = {tuple(votes.shape[:2])}, "
                         f"got {tuple(activations.shape)}")
    _check_iterations(iterations, "em_routing")
    if inverse_temperatures is None:
        inverse_temperatures = inverse_temperature_schedule(iterations)
    inverse_temperatures = list(inverse_temperatures)
    if len(inverse_temperatures) != iterations:
        raise ValueError(f"em_routing: expected {iterations} inverse temperatures (one per iteration), "
                         f"got {len(inverse_temperatures)}")
    batch, in_caps, out_caps, _ = votes.shape
    assignments = votes.new_full((batch, in_caps, out_caps), 1.0 / out_caps)
    for t, lam in enumerate(inverse_temperatures):
        mu, sigma_sq, parent_activations = m_step(assignments, activations, votes, beta_u, beta_a, lam, eps)
        if t < iterations - 1:
            assignments = e_step(mu, sigma_sq, parent_activations, votes)
    return EMRoutingResult(mu, parent_activations, assignments)


def spread_loss(activations: torch.Tensor, targets: torch.Tensor, margin: float = 0.2) -> torch.Tensor:
    """The paper's spread loss ``L = sum_{i != t} max(0, m - (a_t - a_i))^2``, mean over the batch.

    ``activations``: ``(batch, classes)``; ``targets``: ``(batch,)`` class indices.
    The paper raises ``margin`` from 0.2 to 0.9 during training (:func:`spread_margin`).
    """
    if not isinstance(activations, torch.Tensor) or activations.ndim != 2 or not activations.is_floating_point():
        raise ValueError(f"spread_loss: expected activations as a floating (batch, classes) tensor, "
                         f"got {_describe(activations)}")
    if not isinstance(targets, torch.Tensor) or targets.dtype not in (torch.int64, torch.int32) \
            or targets.shape != activations.shape[:1]:
        raise ValueError(f"spread_loss: expected integer targets of shape ({activations.shape[0]},), "
                         f"got {_describe(targets)}")
    if targets.numel() and (targets.min() < 0 or targets.max() >= activations.shape[1]):
        raise ValueError(f"spread_loss: expected targets in [0, {activations.shape[1] - 1}], "
                         f"got values in [{int(targets.min())}, {int(targets.max())}]")
    target_activation = activations.gather(1, targets.long().unsqueeze(1))   # (batch, 1)
    gaps = F.relu(margin - (target_activation - activations)) ** 2
    others = torch.ones_like(gaps).scatter_(1, targets.long().unsqueeze(1), 0.0)
    return (gaps * others).sum(dim=1).mean()


def spread_margin(step: int, total_steps: int, start: float = 0.2, end: float = 0.9) -> float:
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
        poses = self.pose(features).view(batch, self.types, POSE_DIM, height, width).permute(0, 3, 4, 1, 2)
        activations = torch.sigmoid(self.activation(features)).permute(0, 2, 3, 1)
        return poses.contiguous(), activations.contiguous()


class ConvMatrixCapsules(nn.Module):
    """Convolutional matrix capsules: each KxK window of children routes by EM to ``out_types`` parents.

    Input poses ``(batch, H, W, in_types, 16)`` and activations ``(batch, H, W, in_types)``;
    output poses ``(batch, H', W', out_types, 16)`` and activations ``(batch, H', W', out_types)``
    with ``H' = (H - kernel_size) // stride + 1``.  One 4x4 ``W`` per (kernel offset,
    child type, parent type), shared across positions.
    """

    def __init__(self, in_types: int, out_types: int, kernel_size: int = 3, stride: int = 1,
                 iterations: int = 3, inverse_temperatures: Sequence[float] | None = None):
        super().__init__()
        _check_iterations(iterations, "ConvMatrixCapsules")
        self.in_types, self.out_types = in_types, out_types
        self.kernel_size, self.stride, self.iterations = kernel_size, stride, iterations
        self.inverse_temperatures = inverse_temperatures
        children = kernel_size * kernel_size * in_types
        self.weights = nn.Parameter(_init_transforms(children, out_types))
        self.beta_u = nn.Parameter(torch.zeros(out_types))
        self.beta_a = nn.Parameter(torch.zeros(out_types))

    def forward(self, poses: torch.Tensor, activations: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        batch, height, width, types, _ = poses.shape
        if types != self.in_types:
            raise ValueError(f"ConvMatrixCapsules: expected {self.in_types} input capsule types, got {types}")
        k, s = self.kernel_size, self.stride
        stacked = torch.cat([poses, activations.unsqueeze(-1)], dim=-1)                 # (b, H, W, T, 17)
        stacked = stacked.permute(0, 3, 4, 1, 2).reshape(batch, types * (POSE_DIM + 1), height, width)
        windows = F.unfold(stacked, kernel_size=k, stride=s)                             # (b, T*17*k*k, L)
        out_h, out_w = (height - k) // s + 1, (width - k) // s + 1
        windows = windows.view(batch, types, POSE_DIM + 1, k * k, out_h * out_w)
        windows = windows.permute(0, 4, 3, 1, 2).reshape(batch * out_h * out_w, k * k * types, POSE_DIM + 1)
        child_poses, child_activations = windows[..., :POSE_DIM], windows[..., POSE_DIM]
        votes = _votes(child_poses, self.weights)                                        # (b*L, kkT, out, 16)
        result = em_routing(votes, child_activations, self.beta_u, self.beta_a, self.iterations,
                            self._temperatures())
        out_poses = result.poses.view(batch, out_h, out_w, self.out_types, POSE_DIM)
        out_activations = result.activations.view(batch, out_h, out_w, self.out_types)
        return out_poses, out_activations

    def _temperatures(self):
        return self.inverse_temperatures or inverse_temperature_schedule(self.iterations)


class ClassMatrixCapsules(nn.Module):
    """Class capsules: every child at every position votes for each class, with shared ``W``.

    Input poses ``(batch, H, W, in_types, 16)`` and activations ``(batch, H, W, in_types)``;
    returns an :class:`EMRoutingResult` with poses ``(batch, classes, 16)``.
    With ``coordinate_addition`` the scaled (row, column) of each child's position,
    ``((r + 0.5) / H, (c + 0.5) / W)``, is added to the first two entries of the
    right-hand column of its vote matrix (entries 3 and 7 of the flattened pose).
    """

    def __init__(self, in_types: int, classes: int = 10, iterations: int = 3, coordinate_addition: bool = True,
                 inverse_temperatures: Sequence[float] | None = None):
        super().__init__()
        _check_iterations(iterations, "ClassMatrixCapsules")
        self.in_types, self.classes, self.iterations = in_types, classes, iterations
        self.coordinate_addition = coordinate_addition
        self.inverse_temperatures = inverse_temperatures
        self.weights = nn.Parameter(_init_transforms(in_types, classes))
        self.beta_u = nn.Parameter(torch.zeros(classes))
        self.beta_a = nn.Parameter(torch.zeros(classes))

    def forward(self, poses: torch.Tensor, activations: torch.Tensor) -> EMRoutingResult:
        batch, height, width, types, _ = poses.shape
        if types != self.in_types:
            raise ValueError(f"ClassMatrixCapsules: expected {self.in_types} input capsule types, got {types}")
        votes = _votes(poses.reshape(batch, height * width, types, POSE_DIM), self.weights)  # (b, HW, T, C, 16)
        if self.coordinate_addition:
            votes = votes + coordinate_offsets(height, width, dtype=votes.dtype, device=votes.device)
        votes = votes.reshape(batch, height * width * types, self.classes, POSE_DIM)
        return em_routing(votes, activations.reshape(batch, height * width * types), self.beta_u, self.beta_a,
                          self.iterations, self.inverse_temperatures or inverse_temperature_schedule(self.iterations))


def coordinate_offsets(height: int, width: int, dtype=torch.float32, device=None) -> torch.Tensor:
    """The coordinate-addition term, ``(height * width, 1, 1, 16)``: zeros except entries 3 (row) and 7 (column)."""
    rows = (torch.arange(height, dtype=dtype, device=device) + 0.5) / height
    cols = (torch.arange(width, dtype=dtype, device=device) + 0.5) / width
    offsets = torch.zeros(height, width, POSE_DIM, dtype=dtype, device=device)
    offsets[:, :, 3] = rows.view(-1, 1)
    offsets[:, :, 7] = cols.view(1, -1)
    return offsets.view(height * width, 1, 1, POSE_DIM)


def _votes(child_poses: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """``V_ij = M_i W_ij``: child poses ``(..., children, 16)``, weights ``(children, parents, 4, 4)``
    -> votes ``(..., children, parents, 16)``."""
    m = child_poses.reshape(*child_poses.shape[:-1], 1, POSE_SIZE, POSE_SIZE)
    return torch.matmul(m, weights).flatten(-2)


def _init_transforms(children: int, parents: int) -> torch.Tensor:
    """Identity plus noise: votes start close to the child poses but differ per parent."""
    eye = torch.eye(POSE_SIZE).expand(children, parents, POSE_SIZE, POSE_SIZE)
    return eye + 0.5 * torch.randn(children, parents, POSE_SIZE, POSE_SIZE)


# ----------------------------------------------------------------------------
# The network
# ----------------------------------------------------------------------------

@dataclass(frozen=True)
class MatrixCapsNetConfig:
    """Sizes of :class:`MatrixCapsNet`, named as in the paper (A, B, C, D capsule types).

    ``paper()`` is the paper's smallNORB network (A = B = C = D = 32) applied to
    28x28 inputs; ``small()`` trains on a CPU in quick mode.
    """

    image_size: int = 28
    in_channels: int = 1
    conv_channels: int = 32        # A: ReLU conv1, 5x5, stride 2
    primary_types: int = 32        # B
    conv_caps1_types: int = 32     # C: 3x3, stride 2
    conv_caps2_types: int = 32     # D: 3x3, stride 1
    classes: int = 10
    routing_iterations: int = 3
    coordinate_addition: bool = True

    @classmethod
    def paper(cls, **overrides) -> "MatrixCapsNetConfig":
        return replace(cls(), **overrides)

    @classmethod
    def small(cls, **overrides) -> "MatrixCapsNetConfig":
        """16 convolution channels, 4 capsule types per layer, 2 routing iterations (about 0.2 s of
        one CPU core per training step of 24 images)."""
        return replace(cls(conv_channels=16, primary_types=4, conv_caps1_types=4, conv_caps2_types=4,
                           routing_iterations=2), **overrides)

    def grid_sizes(self) -> tuple[int, int, int]:
        """Side lengths after conv1 (= primary caps), conv caps 1 and conv caps 2."""
        conv1 = (self.image_size - 5) // 2 + 1
        caps1 = (conv1 - 3) // 2 + 1
        caps2 = caps1 - 3 + 1
        return conv1, caps1, caps2


class MatrixCapsNetOutput(NamedTuple):
    """``activations``: ``(batch, classes)``; ``poses``: ``(batch, classes, 4, 4)``."""

    activations: torch.Tensor
    poses: torch.Tensor


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
            raise ValueError(f"MatrixCapsNet: image_size {config.image_size} is too small (need >= 19)")
        self.config = config
        self.conv1 = nn.Conv2d(config.in_channels, config.conv_channels, kernel_size=5, stride=2)
        self.primary = PrimaryMatrixCapsules(config.conv_channels, config.primary_types)
        self.conv_caps1 = ConvMatrixCapsules(config.primary_types, config.conv_caps1_types, 3, 2,
                                             config.routing_iterations)
        self.conv_caps2 = ConvMatrixCapsules(config.conv_caps1_types, config.conv_caps2_types, 3, 1,
                                             config.routing_iterations)
        self.class_caps = ClassMatrixCapsules(config.conv_caps2_types, config.classes, config.routing_iterations,
                                              config.coordinate_addition)

    def forward(self, images: torch.Tensor) -> MatrixCapsNetOutput:
        """``images``: ``(batch, in_channels, image_size, image_size)`` floats."""
        c = self.config
        if not isinstance(images, torch.Tensor) or not images.is_floating_point():
            raise TypeError(f"MatrixCapsNet: expected floating images, got {_describe(images)}")
        expected = (c.in_channels, c.image_size, c.image_size)
        if images.ndim != 4 or tuple(images.shape[1:]) != expected:
            raise ValueError(f"MatrixCapsNet: expected images of shape (batch, {expected[0]}, {expected[1]}, "
                             f"{expected[2]}), got {tuple(images.shape)}")
        features = F.relu(self.conv1(images))
        poses, activations = self.primary(features)
        poses, activations = self.conv_caps1(poses, activations)
        poses, activations = self.conv_caps2(poses, activations)
        result = self.class_caps(poses, activations)
        return MatrixCapsNetOutput(result.activations, result.poses.view(-1, c.classes, POSE_SIZE, POSE_SIZE))

    def describe(self) -> str:
        params = sum(p.numel() for p in self.parameters())
        return f"MatrixCapsNet({asdict(self.config)}) with {params:,} parameters"


# ----------------------------------------------------------------------------

def _check_iterations(iterations, where: str) -> None:
    if isinstance(iterations, bool) or not isinstance(iterations, int):
        raise TypeError(f"{where}: expected an int number of iterations, got {type(iterations).__name__}")
    if iterations < 1:
        raise ValueError(f"{where}: expected iterations >= 1, got {iterations}")


def _describe(value) -> str:
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)} and dtype {value.dtype}"
    return f"{type(value).__name__}"
