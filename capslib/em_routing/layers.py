"""The matrix-capsule layers and network of Hinton, Sabour & Frosst (2018), Figure 1.

:class:`PrimaryMatrixCapsules`, :class:`ConvMatrixCapsules`,
:class:`ClassMatrixCapsules` (with coordinate addition), and
:class:`MatrixCapsNet` with its :class:`MatrixCapsNetConfig`; the routing between
the layers is :func:`capslib.em_routing.routing.em_routing`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from capslib.em_routing.routing import (
    POSE_DIM,
    POSE_SIZE,
    EMRoutingResult,
    _check_iterations,
    _checked_temperatures,
    _describe,
    em_routing,
    inverse_temperature_schedule,
)
from capslib.nn import count_parameters


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
        return (
            f"MatrixCapsNet({asdict(self.config)}) with "
            f"{count_parameters(self):,} parameters"
        )
