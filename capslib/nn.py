"""Capsule layers with parameters, built on :mod:`capslib.functional`.

Sabour, Frosst & Hinton (2017), "Dynamic Routing Between Capsules", Section 4
and Figures 1-2.

* :class:`PrimaryCapsules`: a convolution whose output channels are cut into
  capsule vectors, then squashed (the paper's PrimaryCaps layer);
* :class:`RoutingCapsules`: a weight matrix :math:`W_{ij}` per pair of input
  and output capsules, then routing by agreement (the paper's DigitCaps);
* :class:`CapsuleDecoder`: masks the output capsules and reconstructs the
  image with three fully connected layers (Figure 2).

:func:`count_parameters` counts the parameters of any module (or of a list of
parameters): the one count the library and the book use.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from . import functional as cf
from .checks import _describe, require_shape
from .kernels.fused_conv import conv2d_channels_last
from .kernels.fused_routing import fused_routing_capsules

__all__ = ["CapsuleDecoder", "PrimaryCapsules", "RoutingCapsules", "count_parameters"]


def count_parameters(parameters, *, trainable_only: bool = False) -> int:
    """The number of scalar parameters of a module (its sub-modules' included), or of a list of them.

    ``parameters``: a ``torch.nn.Module`` (a parameter shared between its
    sub-modules is counted once) or a list or tuple of parameter tensors.
    ``trainable_only``: count only those with ``requires_grad``.

    >>> count_parameters(nn.Conv2d(1, 256, 9))   # 9 x 9 x 1 x 256 weights + 256 biases
    20992
    """
    if isinstance(parameters, nn.Module):
        parameters = list(parameters.parameters())
    elif not isinstance(parameters, (list, tuple)) or not all(
        isinstance(p, Tensor) for p in parameters
    ):
        raise TypeError(
            "count_parameters: expected a torch.nn.Module or a list of parameters, "
            f"got {type(parameters).__name__}"
        )
    return sum(p.numel() for p in parameters if p.requires_grad or not trainable_only)


def _positive_int(value, name: str, owner: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(
            f"{owner}: expected {name} to be a positive int, got {value!r}"
        )
    return value


def _fused_applies(u, weight: Tensor) -> bool:
    """Whether :func:`~capslib.kernels.fused_routing.fused_routing_capsules` computes this layer (else the reference).

    On a CPU outside ``torch.compile``: float32/float64 ``u`` and ``weight`` of one dtype outside autocast;
    under CPU autocast, float32 or bfloat16 ``u`` and a float32 ``weight`` (routed in float32).
    """
    if not (
        isinstance(u, Tensor)
        and u.dim() == 3
        and u.device.type == "cpu" == weight.device.type
        and not cf.compiling()
    ):
        return False
    if cf.autocast_enabled("cpu"):
        return (
            u.dtype in (torch.float32, torch.bfloat16) and weight.dtype == torch.float32
        )
    return u.dtype == weight.dtype and u.dtype in (torch.float32, torch.float64)


class PrimaryCapsules(nn.Module):
    r"""Convolutional capsules: ``capsule_types`` maps of ``capsule_dim``-D vectors, squashed.

    The paper's PrimaryCaps: a 9x9 convolution with stride 2 and 32 x 8 = 256
    output channels over a 20x20x256 input gives a 6x6 grid of 32 capsule
    types, i.e. 6 x 6 x 32 = 1152 capsules of 8 dimensions.  There is no ReLU:
    the squash (Eq. 1) is the non-linearity.

    **Channel layout (type-major).**  Output channel ``type * capsule_dim + k``
    is component ``k`` of the capsule of type ``type``.  The convolution
    output ``(batch, types * dim, h, w)`` is viewed as ``(batch, types, dim,
    h, w)``, permuted to ``(batch, types, h, w, dim)`` and flattened to
    ``(batch, types * h * w, dim)``: each capsule vector holds the
    ``capsule_dim`` channels of *one* type at *one* position, and capsule
    number ``(type * h + y) * w + x`` sits at position ``(y, x)``.  (Viewing
    the output directly as ``(batch, -1, dim)`` -- a common bug -- would
    instead group ``dim`` neighbouring *positions* of one channel.)

    Args:
        in_channels: channels of the input feature map (paper: 256).
        capsule_types: number of capsule types (paper: 32).
        capsule_dim: dimension of each capsule (paper: 8).
        kernel_size, stride: of the convolution (paper: 9 and 2).

    Shapes:
        ``x``: ``(batch, in_channels, H, W)`` -> ``u``: ``(batch, capsule_types * h * w, capsule_dim)``
        with ``h = (H - kernel_size) // stride + 1`` (no padding), same for ``w``.
    """

    def __init__(
        self,
        in_channels: int = 256,
        capsule_types: int = 32,
        capsule_dim: int = 8,
        kernel_size: int = 9,
        stride: int = 2,
    ):
        super().__init__()
        owner = "PrimaryCapsules"
        self.in_channels = _positive_int(in_channels, "in_channels", owner)
        self.capsule_types = _positive_int(capsule_types, "capsule_types", owner)
        self.capsule_dim = _positive_int(capsule_dim, "capsule_dim", owner)
        self.kernel_size = _positive_int(kernel_size, "kernel_size", owner)
        self.stride = _positive_int(stride, "stride", owner)
        self.conv = nn.Conv2d(
            in_channels, capsule_types * capsule_dim, kernel_size, stride=stride
        )
        #: multiplies the pre-activations before the squash: 1 as in the paper; 1 / capsule_types in the
        #: official implementation, whose PrimaryCaps is a one-iteration routing over the types
        #: (``CapsNetConfig(init="official")`` sets it)
        self.preactivation_scale = 1.0
        # Stored channels last, (out, k, k, in) in memory: the matrix that capslib.kernels.fused_conv multiplies by,
        # with no copy (values, state_dict and nn.Conv2d's results are the same in either layout).
        self.conv.weight.data = self.conv.weight.data.contiguous(
            memory_format=torch.channels_last
        )

    def grid_size(self, input_size: int) -> int:
        """Side of the capsule grid for a square input of side ``input_size``."""
        return (input_size - self.kernel_size) // self.stride + 1

    def num_capsules(self, input_size: int) -> int:
        """Number of capsules for a square input of side ``input_size`` (1152 for the paper's 20)."""
        return self.capsule_types * self.grid_size(input_size) ** 2

    def capsules_from_channels(self, conv_out: Tensor) -> Tensor:
        """Cut a convolution output into capsule vectors (type-major layout) -- before the squash.

        ``conv_out``: ``(batch, capsule_types * capsule_dim, h, w)`` ->
        ``(batch, capsule_types * h * w, capsule_dim)``.
        """
        batch, channels, h, w = conv_out.shape
        if channels != self.capsule_types * self.capsule_dim:
            raise ValueError(
                f"PrimaryCapsules: expected {self.capsule_types * self.capsule_dim} channels "
                f"(capsule_types x capsule_dim), got {channels}"
            )
        grouped = conv_out.reshape(batch, self.capsule_types, self.capsule_dim, h, w)
        grouped = grouped.permute(0, 1, 3, 4, 2)  # (batch, types, h, w, dim)
        return grouped.reshape(batch, self.capsule_types * h * w, self.capsule_dim)

    def forward(self, x: Tensor) -> Tensor:
        shape = ("batch", self.in_channels, "H", "W")
        require_shape(x, "PrimaryCapsules", "input", shape, floating=True)
        if min(x.shape[-2:]) < self.kernel_size:
            raise ValueError(
                f"PrimaryCapsules: expected an input at least {self.kernel_size}x{self.kernel_size} "
                f"(the kernel size), got {_describe(x)}"
            )
        return cf.squash(
            self._scaled(self.capsules_from_channels(self.conv(x))), dim=-1
        )

    def forward_channels_last(self, x: Tensor) -> Tensor:
        """The same as :meth:`forward` for a channels-last map ``(batch, H, W, in_channels)`` on a CPU.

        The convolution is :func:`capslib.kernels.fused_conv.conv2d_channels_last` (one matrix multiply),
        then the same type-major capsule layout: ``(batch, capsule_types * h * w, capsule_dim)``.
        """
        shape = ("batch", "H", "W", self.in_channels)
        require_shape(x, "PrimaryCapsules", "channels-last input", shape, floating=True)
        out = conv2d_channels_last(
            x, self.conv.weight, self.conv.bias, self.stride
        )  # (batch, h, w, types * dim)
        batch, h, w, _ = out.shape
        grouped = out.view(batch, h, w, self.capsule_types, self.capsule_dim).permute(
            0, 3, 1, 2, 4
        )
        return cf.squash(
            self._scaled(
                grouped.reshape(batch, self.capsule_types * h * w, self.capsule_dim)
            ),
            dim=-1,
        )

    def _scaled(self, s: Tensor) -> Tensor:
        return s if self.preactivation_scale == 1.0 else self.preactivation_scale * s

    def extra_repr(self) -> str:
        return f"capsule_types={self.capsule_types}, capsule_dim={self.capsule_dim}"


class RoutingCapsules(nn.Module):
    r"""Fully connected capsules with routing by agreement (the paper's DigitCaps).

    Each input capsule :math:`u_i` predicts each output capsule through its own
    matrix, :math:`\hat u_{j|i} = W_{ij} u_i` (Eq. 2), and
    :func:`capslib.functional.dynamic_routing` combines the predictions
    (Procedure 1).  As in the paper there is no bias, so the paper's DigitCaps
    holds 1152 x 10 x 16 x 8 = 1,474,560 weights and CapsNet 8,215,568
    parameters (the paper prints 8.2M).  (The official implementation, Sabour's
    ``research/capsules`` code, adds a bias to ``s_j``; the paper does not.)

    Initialisation: as the official implementation (``variables.weight_variable``
    there): a normal distribution truncated at two standard deviations, std
    ``weight_std=0.1``.  Many PyTorch ports use std 0.01 instead; on a
    28x28 digit that starts the class capsules about 100 times shorter
    (squash makes short vectors quadratically shorter).

    Args:
        in_caps, in_dim: number and dimension of the input capsules (paper: 1152, 8).
        out_caps, out_dim: number and dimension of the output capsules (paper: 10, 16).
        iterations: routing iterations (paper: 3).
        detach_intermediate: see :func:`capslib.functional.dynamic_routing`.
        weight_std: standard deviation of the initial weights.

    Computation: on a CPU in float32/float64 outside autocast the forward pass is
    :func:`capslib.kernels.fused_routing.fused_routing_capsules` (the same values and
    gradients, several times faster on a CPU); under CPU autocast it is the same
    function in float32 (the predictions and routing of float32 training, on the
    bfloat16 capsules cast up, instead of bfloat16 predictions: no less precise than
    the reference under autocast, and it keeps no bfloat16 copy); otherwise, or with
    ``layer.fused = False``, it is :meth:`predictions` followed by
    :func:`capslib.functional.dynamic_routing`, the reference.

    Shapes:
        ``u``: ``(batch, in_caps, in_dim)`` -> ``v``: ``(batch, out_caps, out_dim)``
        [and couplings ``c``: ``(batch, in_caps, out_caps)``].
    """

    def __init__(
        self,
        in_caps: int,
        in_dim: int,
        out_caps: int,
        out_dim: int,
        iterations: int = 3,
        detach_intermediate: bool = False,
        weight_std: float = 0.1,
    ):
        super().__init__()
        owner = "RoutingCapsules"
        self.in_caps = _positive_int(in_caps, "in_caps", owner)
        self.in_dim = _positive_int(in_dim, "in_dim", owner)
        self.out_caps = _positive_int(out_caps, "out_caps", owner)
        self.out_dim = _positive_int(out_dim, "out_dim", owner)
        self.iterations = _positive_int(iterations, "iterations", owner)
        self.detach_intermediate = bool(detach_intermediate)
        if not (
            isinstance(weight_std, (int, float))
            and weight_std > 0
            and math.isfinite(weight_std)
        ):
            raise ValueError(
                f"{owner}: expected weight_std to be a positive number, got {weight_std!r}"
            )
        self.weight_std = float(weight_std)
        self.fused = True
        # W: (in_caps, out_caps, out_dim, in_dim), one out_dim x in_dim matrix per pair (i, j)
        self.weight = nn.Parameter(torch.empty(in_caps, out_caps, out_dim, in_dim))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        std = self.weight_std
        nn.init.trunc_normal_(self.weight, mean=0.0, std=std, a=-2 * std, b=2 * std)

    def predictions(self, u: Tensor) -> Tensor:
        r"""The predictions :math:`\hat u_{j|i} = W_{ij} u_i` (Eq. 2).

        ``u``: ``(batch, in_caps, in_dim)`` -> ``u_hat``: ``(batch, in_caps, out_caps, out_dim)``.
        """
        self._check_input(u)
        return torch.einsum("ijdk,bik->bijd", self.weight, u)

    def _check_input(self, u) -> None:
        shape = ("batch", self.in_caps, self.in_dim)
        require_shape(u, "RoutingCapsules", "input capsules", shape, floating=True)

    def forward(self, u: Tensor, return_couplings: bool = False):
        if self.fused and _fused_applies(u, self.weight):
            self._check_input(u)
            if cf.autocast_enabled(
                "cpu"
            ):  # routed in float32, as float32 training routes
                with torch.autocast("cpu", enabled=False):
                    v, c = fused_routing_capsules(
                        u.float(),
                        self.weight,
                        self.iterations,
                        self.detach_intermediate,
                    )
            else:
                v, c = fused_routing_capsules(
                    u, self.weight, self.iterations, self.detach_intermediate
                )
            return (v, c) if return_couplings else v
        u_hat = self.predictions(u)
        return cf.dynamic_routing(
            u_hat,
            iterations=self.iterations,
            return_couplings=return_couplings,
            detach_intermediate=self.detach_intermediate,
        )

    def extra_repr(self) -> str:
        return (
            f"in_caps={self.in_caps}, in_dim={self.in_dim}, out_caps={self.out_caps}, "
            f"out_dim={self.out_dim}, iterations={self.iterations}"
        )


class CapsuleDecoder(nn.Module):
    r"""Reconstruct the input from the class capsules (Figure 2 of the paper).

    All capsules but one are masked to zero -- the true class during training,
    the longest capsule (the prediction) otherwise, or the classes given in
    ``mask_with`` -- and the masked poses go through fully connected layers
    (paper: 512 and 1024 ReLU units) and a sigmoid output with one unit per pixel.

    Args:
        in_caps: number of class capsules (paper: 10).
        caps_dim: their dimension (paper: 16).
        hidden: sizes of the hidden layers (paper: (512, 1024)).
        out_shape: the image shape ``(C, H, W)`` (paper: (1, 28, 28)).

    Shapes:
        ``poses``: ``(batch, in_caps, caps_dim)`` -> ``(batch, C, H, W)`` in (0, 1).
        ``targets`` / ``mask_with``: class indices ``(batch,)`` or a multi-hot
        mask ``(batch, in_caps)`` (MultiMNIST: several capsules kept at once).
    """

    def __init__(
        self,
        in_caps: int = 10,
        caps_dim: int = 16,
        hidden: Sequence[int] = (512, 1024),
        out_shape: Sequence[int] = (1, 28, 28),
    ):
        super().__init__()
        owner = "CapsuleDecoder"
        self.in_caps = _positive_int(in_caps, "in_caps", owner)
        self.caps_dim = _positive_int(caps_dim, "caps_dim", owner)
        self.hidden = tuple(_positive_int(h, "each hidden size", owner) for h in hidden)
        self.out_shape = tuple(
            _positive_int(s, "each out_shape entry", owner) for s in out_shape
        )
        sizes = [in_caps * caps_dim, *self.hidden]
        layers: list[nn.Module] = []
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(n_in, n_out), nn.ReLU(inplace=True)]
        layers += [nn.Linear(sizes[-1], math.prod(self.out_shape)), nn.Sigmoid()]
        self.layers = nn.Sequential(*layers)

    def mask(
        self,
        poses: Tensor,
        targets: Tensor | None = None,
        mask_with: Tensor | None = None,
    ) -> Tensor:
        """The masked poses ``(batch, in_caps, caps_dim)``: zero except for the kept capsules.

        Kept: ``mask_with`` if given; else ``targets`` in training mode; else
        the longest capsule.
        """
        chosen = (
            mask_with if mask_with is not None else (targets if self.training else None)
        )
        if chosen is None:
            chosen = cf.capsule_length(poses.detach(), dim=-1).argmax(dim=1)
        if not isinstance(chosen, Tensor):
            raise TypeError(
                f"CapsuleDecoder: expected the mask as a tensor, got {type(chosen).__name__}"
            )
        batch = poses.shape[0]
        if chosen.dim() == 1:
            if chosen.is_floating_point() or chosen.dtype == torch.bool:
                raise TypeError(
                    f"CapsuleDecoder: expected class indices of an integer dtype, got {_describe(chosen)}"
                )
            if chosen.shape[0] != batch:
                raise ValueError(
                    f"CapsuleDecoder: expected {batch} class indices, got {_describe(chosen)}"
                )
            if (
                cf._checking_values()
                and chosen.numel()
                and (int(chosen.min()) < 0 or int(chosen.max()) >= self.in_caps)
            ):
                raise ValueError(
                    f"CapsuleDecoder: expected class labels in the range [0, {self.in_caps}), got "
                    f"labels from {int(chosen.min())} to {int(chosen.max())}"
                )
            keep = torch.nn.functional.one_hot(chosen.long(), self.in_caps)
        elif chosen.dim() == 2 and tuple(chosen.shape) == (batch, self.in_caps):
            keep = chosen
        else:
            raise ValueError(
                f"CapsuleDecoder: expected the mask as class indices ({batch},) or multi-hot "
                f"({batch}, {self.in_caps}), got {_describe(chosen)}"
            )
        return poses * keep.to(device=poses.device, dtype=poses.dtype).unsqueeze(-1)

    def forward(
        self,
        poses: Tensor,
        targets: Tensor | None = None,
        mask_with: Tensor | None = None,
    ) -> Tensor:
        shape = ("batch", self.in_caps, self.caps_dim)
        require_shape(poses, "CapsuleDecoder", "poses", shape, floating=True)
        masked = self.mask(poses, targets=targets, mask_with=mask_with)
        pixels = self.layers(masked.flatten(1))
        return pixels.view(poses.shape[0], *self.out_shape)
