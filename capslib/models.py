"""CapsNet, built from the paper's defaults (:mod:`capslib.capsnet_config`; the CNNs it is compared with: :mod:`capslib.cnns`).

Sabour, Frosst & Hinton (2017), "Dynamic Routing Between Capsules", Section 4
(architecture, Figures 1-2), Section 5 (baseline) and Section 6 (MultiMNIST).

>>> model = CapsNet()                       # the paper's 28x28 MNIST network
>>> count_parameters(model)                 # capslib.nn.count_parameters
8215568
>>> out = model(torch.rand(2, 1, 28, 28))
>>> out.lengths.shape, out.poses.shape, out.reconstructions.shape
(torch.Size([2, 10]), torch.Size([2, 10, 16]), torch.Size([2, 1, 28, 28]))
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import torch
from torch import Tensor, nn

from . import functional as cf
from .capsnet_config import OFFICIAL_MARGIN_FACTOR, CapsNetConfig
from .checks import require_shape
from .kernels import fused_conv
from .nn import CapsuleDecoder, PrimaryCapsules, RoutingCapsules

__all__ = [
    "BaselineCNN",
    "CapsNet",
    "CapsNetConfig",
    "CapsNetLoss",
    "CapsNetOutput",
    "PooledCNN",
    "capsnet_loss",
]


# ----------------------------------------------------------------------------
# CapsNet
# ----------------------------------------------------------------------------
def _hooked(*modules: nn.Module) -> bool:
    """Whether forward hooks watch any of ``modules`` (the fast path calls no module, so it would miss them)."""
    from torch.nn.modules import module as module_lib

    if getattr(module_lib, "_global_forward_hooks", None) or getattr(
        module_lib, "_global_forward_pre_hooks", None
    ):
        return True
    return any(m._forward_hooks or m._forward_pre_hooks for m in modules)


class CapsNetOutput(NamedTuple):
    """What :class:`CapsNet` returns.

    * ``lengths``: ``(batch, num_classes)``: class capsule lengths, in [0, 1);
    * ``poses``: ``(batch, num_classes, digit_dim)``: the class capsules ``v_j``;
    * ``reconstructions``: ``(batch, C, H, W)``, or ``None`` without a decoder;
    * ``couplings``: ``(batch, num_primary_caps, num_classes)`` when asked, else ``None``.
    """

    lengths: Tensor
    poses: Tensor
    reconstructions: Tensor | None
    couplings: Tensor | None


class CapsNetLoss(NamedTuple):
    """``total = margin + reconstruction`` (scalars); ``reconstruction`` is 0 without a decoder."""

    total: Tensor
    margin: Tensor
    reconstruction: Tensor


def capsnet_loss(
    output: CapsNetOutput,
    images: Tensor,
    targets: Tensor,
    config: CapsNetConfig | None = None,
) -> CapsNetLoss:
    """The paper's training loss: margin loss (Eq. 4) + scaled reconstruction loss (Section 4.1).

    Args:
        output: what :class:`CapsNet` returned for ``images``.
        images: ``(batch, C, H, W)`` floating: what the decoder must reproduce.  When ``output`` holds
            one reconstruction per digit (``mask_each``, MultiMNIST), ``(batch, k, C, H, W)``: each
            digit's own image, and the reconstruction term is the sum over the ``k`` digits of
            ``reconstruction_scale`` times each one's sum of squared errors (averaged over the batch),
            as the paper trains MultiMNIST.
        targets: class indices ``(batch,)`` or multi-hot ``(batch, num_classes)``.
        config: supplies ``m_plus``, ``m_minus``, ``lambda_``, ``reconstruction_scale`` and
            ``loss_scale`` (default: the paper's).
    """
    config = config or CapsNetConfig()
    margin = cf.margin_loss(
        output.lengths,
        targets,
        m_plus=config.m_plus,
        m_minus=config.m_minus,
        lambda_=config.lambda_,
    )
    if config.loss_scale == "official":
        margin = margin * OFFICIAL_MARGIN_FACTOR
    if output.reconstructions is None:
        reconstruction = margin.new_zeros(())
    elif output.reconstructions.dim() == images.dim() + 1:
        # one reconstruction per digit (MultiMNIST): images are then the digits, (batch, k, C, H, W)
        k = output.reconstructions.shape[1]
        if images.shape[:2] != output.reconstructions.shape[:2]:
            raise ValueError(
                f"capsnet_loss: {k} reconstructions per image need {k} target images per image "
                f"(batch, {k}, C, H, W), got images of shape {tuple(images.shape)}"
            )
        reconstruction = (
            cf.reconstruction_loss(
                output.reconstructions.flatten(0, 1),
                images.flatten(0, 1),
                scale=config.reconstruction_scale,
            )
            * k
        )
    else:
        reconstruction = cf.reconstruction_loss(
            output.reconstructions, images, scale=config.reconstruction_scale
        )
    return CapsNetLoss(margin + reconstruction, margin, reconstruction)


class CapsNet(nn.Module):
    """The CapsNet of Sabour, Frosst & Hinton (2017), Figure 1 (+ the decoder of Figure 2).

    conv1 (ReLU) -> :class:`~capslib.nn.PrimaryCapsules` -> :class:`~capslib.nn.RoutingCapsules`
    (routing by agreement) -> class capsule lengths; the
    :class:`~capslib.nn.CapsuleDecoder` reconstructs the input from the
    masked class capsules.  With the paper's configuration: 8,215,568
    parameters (6,804,224 without the decoder).

    Args:
        config: a :class:`CapsNetConfig` (default: the paper's).
        **overrides: fields of the configuration to change, e.g.
            ``CapsNet(routing_iterations=1, use_decoder=False)``.

    ``forward(images, targets=None, return_couplings=False, mask_with=None)``:
    ``images`` ``(batch, in_channels, input_size, input_size)`` floating;
    ``targets`` (class indices or multi-hot) choose the capsule the decoder
    sees in training mode; in eval mode it sees the longest capsule, unless
    ``mask_with`` says which.  ``mask_each`` ``(batch, k)`` class indices runs
    the decoder once per column, each time on that one capsule (MultiMNIST:
    each digit reconstructed from its own capsule), and ``reconstructions`` is
    then ``(batch, k, C, H, W)``.  Returns a :class:`CapsNetOutput`.
    """

    def __init__(self, config: CapsNetConfig | None = None, **overrides):
        super().__init__()
        if config is None:
            config = CapsNetConfig()
        if not isinstance(config, CapsNetConfig):
            raise TypeError(
                f"CapsNet: expected a CapsNetConfig, got {type(config).__name__}"
            )
        if overrides:
            fields = {f.name for f in dataclasses.fields(CapsNetConfig)}
            unknown = sorted(set(overrides) - fields)
            if unknown:
                raise TypeError(
                    f"CapsNet: unknown configuration field(s) {unknown}; expected some of {sorted(fields)}"
                )
            config = dataclasses.replace(config, **overrides)
        self.config = config
        c = config
        self.conv1 = nn.Conv2d(c.in_channels, c.conv_channels, c.conv_kernel)
        self.primary_caps = PrimaryCapsules(
            c.conv_channels,
            c.primary_types,
            c.primary_dim,
            c.primary_kernel,
            c.primary_stride,
        )
        self.digit_caps = RoutingCapsules(
            c.num_primary_caps,
            c.primary_dim,
            c.num_classes,
            c.digit_dim,
            iterations=c.routing_iterations,
            detach_intermediate=c.detach_intermediate,
            weight_std=c.routing_weight_std,
        )
        self.decoder = (
            CapsuleDecoder(c.num_classes, c.digit_dim, c.decoder_hidden, c.image_shape)
            if c.use_decoder
            else None
        )
        if c.init == "official":
            self._official_init()

    def _official_init(self) -> None:
        """The official implementation's initialisation (see :class:`CapsNetConfig`, ``init``)."""
        with torch.no_grad():
            for conv, std in ((self.conv1, 0.05), (self.primary_caps.conv, 0.1)):
                nn.init.trunc_normal_(conv.weight, std=std, a=-2 * std, b=2 * std)
                conv.bias.fill_(0.1)
        self.primary_caps.preactivation_scale = 1.0 / self.config.primary_types

    def _check_images(self, images) -> None:
        require_shape(
            images,
            "CapsNet",
            "images",
            ("batch", *self.config.image_shape),
            floating=True,
            fix="set input_size / in_channels in CapsNetConfig for other sizes",
            dtype_fix="convert it with images.float() / 255 (values in [0, 1])",
        )

    def forward(
        self,
        images: Tensor,
        targets: Tensor | None = None,
        return_couplings: bool = False,
        mask_with: Tensor | None = None,
        mask_each: Tensor | None = None,
    ) -> CapsNetOutput:
        self._check_images(images)
        u = self.primary_capsules(images)  # (batch, 1152, 8)
        routed = self.digit_caps(u, return_couplings=return_couplings)
        poses, couplings = (
            routed if return_couplings else (routed, None)
        )  # (batch, 10, 16)
        lengths = cf.capsule_length(poses, dim=-1)  # (batch, 10)
        reconstructions = None
        if self.decoder is not None and mask_each is not None:
            require_shape(
                mask_each,
                "CapsNet",
                "mask_each",
                (len(images), "k"),
                fix="mask_each holds k class indices per image, one reconstruction each",
            )
            reconstructions = torch.stack(
                [
                    self.decoder(poses, mask_with=mask_each[:, d])
                    for d in range(mask_each.shape[1])
                ],
                dim=1,
            )  # (batch, k, C, H, W)
        elif self.decoder is not None:
            reconstructions = self.decoder(poses, targets=targets, mask_with=mask_with)
        return CapsNetOutput(lengths, poses, reconstructions, couplings)

    def loss(
        self, output: CapsNetOutput, images: Tensor, targets: Tensor
    ) -> CapsNetLoss:
        """``(total, margin, reconstruction)`` with this model's configuration; see :func:`capsnet_loss`."""
        return capsnet_loss(output, images, targets, self.config)

    @torch.no_grad()
    def predict(self, images: Tensor) -> Tensor:
        """Class indices ``(batch,)``: the longest class capsule (no decoder run)."""
        self._check_images(images)
        return cf.capsule_length(
            self.digit_caps(self.primary_capsules(images)), dim=-1
        ).argmax(dim=1)

    def primary_capsules(self, images: Tensor) -> Tensor:
        """conv1 (ReLU) then PrimaryCaps: ``(batch, C, H, W)`` -> ``u`` ``(batch, num_primary_caps, primary_dim)``.

        On a CPU in float32/float64 (outside autocast), or under CPU autocast to bfloat16, both
        convolutions run as matrix multiplies on channels-last maps (:mod:`capslib.kernels.fused_conv`);
        elsewhere, with ``model.fast = False``, or when
        forward hooks watch these layers (e.g. :func:`capsbook.layer_table.layer_table`), as ``nn.Conv2d``.
        The values and gradients are the same (in bfloat16, to its rounding).
        """
        if (
            self.fast
            and fused_conv.applies(images, self.conv1.weight)
            and not _hooked(self.conv1, self.primary_caps, self.primary_caps.conv)
        ):
            features = torch.relu(
                fused_conv.conv2d_channels_last(
                    images.permute(0, 2, 3, 1), self.conv1.weight, self.conv1.bias
                )
            )  # (batch, 20, 20, 256)
            return self.primary_caps.forward_channels_last(features)
        return self.primary_caps(
            torch.relu(self.conv1(images))
        )  # (batch, 256, 20, 20) -> (batch, 1152, 8)

    @property
    def fast(self) -> bool:
        """Whether the CPU fast paths run (:mod:`capslib.kernels.fused_conv`, :mod:`capslib.kernels.fused_routing`); default True.

        Set ``model.fast = False`` to run the reference layers (``nn.Conv2d``, ``einsum`` and autograd
        through :func:`capslib.functional.dynamic_routing`), e.g. to compare them.
        """
        return self.digit_caps.fused

    @fast.setter
    def fast(self, enabled: bool) -> None:
        self.digit_caps.fused = bool(enabled)


# The CNNs CapsNet is compared with live in capslib.cnns; importable from here too.
from .cnns import BaselineCNN, PooledCNN  # noqa: E402
