"""Counted FLOPs per image for CapsNet and the baseline CNN, layer by layer.

A throughput in images/s means little until it is set beside the work each
image costs.  This module counts that work analytically, from the layer sizes,
as multiply-accumulates (MACs; 1 MAC = 2 FLOPs), the convention of
``torch.utils.flop_counter`` and of GPU peak figures:

* convolution: ``out_h * out_w * out_channels * k * k * in_channels`` MACs;
* fully connected: ``in_features * out_features``;
* CapsNet's predictions :math:`\\hat u_{j|i} = W_{ij} u_i` (Eq. 2):
  ``in_caps * out_caps * out_dim * in_dim``;
* routing (Procedure 1), per iteration: the weighted sum
  :math:`s_j = \\sum_i c_{ij} \\hat u_{j|i}` (``in_caps * out_caps * out_dim``)
  and, in all but the last iteration, the agreement
  :math:`\\hat u_{j|i} \\cdot v_j` (the same count).

Biases, activations, softmax, squash and the losses are left out: they are
elementwise, a fraction of a percent of the total.  For the paper's CapsNet
on 28x28 MNIST the forward pass is about 0.4 GFLOP per image, 95% of it in the
primary capsules' convolution.  A training step costs about 3 times the
forward pass (the backward pass computes two products per forward product);
:func:`flops_per_image` says which it reports.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .models import BaselineCNN, CapsNet


@dataclass(frozen=True)
class LayerCount:
    """One layer's multiply-accumulates per image and how they were counted."""

    name: str
    macs: int
    formula: str

    @property
    def flops(self) -> int:
        return 2 * self.macs


def conv_macs(
    out_size: int,
    out_channels: int,
    kernel: int,
    in_channels: int,
    *,
    out_width: int | None = None,
) -> int:
    """MACs of a 2-D convolution per image (square kernel, no groups)."""
    return (
        out_size
        * (out_width or out_size)
        * out_channels
        * kernel
        * kernel
        * in_channels
    )


def capsnet_layer_counts(config) -> list[LayerCount]:
    """Per-layer MACs of one image through a CapsNet with ``config`` (a :class:`capslib.models.CapsNetConfig`)."""
    c = config
    side, grid = c.conv_output_size, c.primary_grid
    primary_channels = c.primary_types * c.primary_dim
    in_caps, out_caps, out_dim = c.num_primary_caps, c.num_classes, c.digit_dim
    counts = [
        LayerCount(
            "conv1",
            conv_macs(side, c.conv_channels, c.conv_kernel, c.in_channels),
            f"{side}*{side}*{c.conv_channels}*{c.conv_kernel}*{c.conv_kernel}*{c.in_channels}",
        ),
        LayerCount(
            "primary_caps",
            conv_macs(grid, primary_channels, c.primary_kernel, c.conv_channels),
            f"{grid}*{grid}*{primary_channels}*{c.primary_kernel}*{c.primary_kernel}*{c.conv_channels}",
        ),
        LayerCount(
            "u_hat",
            in_caps * out_caps * out_dim * c.primary_dim,
            f"{in_caps}*{out_caps}*{out_dim}*{c.primary_dim}",
        ),
        LayerCount(
            "routing",
            (2 * c.routing_iterations - 1) * in_caps * out_caps * out_dim,
            f"(2*{c.routing_iterations}-1)*{in_caps}*{out_caps}*{out_dim}",
        ),
    ]
    if c.use_decoder:
        sizes = [
            out_caps * out_dim,
            *c.decoder_hidden,
            c.in_channels * c.input_size * c.input_size,
        ]
        macs = sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
        counts.append(
            LayerCount(
                "decoder",
                macs,
                " + ".join(f"{a}*{b}" for a, b in zip(sizes[:-1], sizes[1:])),
            )
        )
    return counts


def module_layer_counts(
    model: nn.Module, input_shape: tuple[int, ...]
) -> list[LayerCount]:
    """Per-layer MACs of the ``nn.Conv2d`` and ``nn.Linear`` layers of ``model`` for one image.

    The output sizes come from one forward pass on zeros of ``(1, *input_shape)``.
    Used for the baseline CNN (and any plain convolutional network).
    """
    counts: list[LayerCount] = []
    hooks = []

    def hook(name):
        def record(module, inputs, output):
            if isinstance(module, nn.Conv2d):
                if module.groups != 1:
                    raise ValueError(f"{name}: grouped convolutions are not counted")
                kh, kw = module.kernel_size
                oh, ow = output.shape[-2:]
                macs = oh * ow * module.out_channels * kh * kw * module.in_channels
                counts.append(
                    LayerCount(
                        name,
                        macs,
                        f"{oh}*{ow}*{module.out_channels}*{kh}*{kw}*{module.in_channels}",
                    )
                )
            else:
                counts.append(
                    LayerCount(
                        name,
                        module.in_features * module.out_features,
                        f"{module.in_features}*{module.out_features}",
                    )
                )

        return record

    for name, module in model.named_modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            hooks.append(module.register_forward_hook(hook(name)))
    was_training = model.training
    try:
        model.eval()
        parameter = next(model.parameters())
        with torch.no_grad():
            model(
                torch.zeros(
                    1, *input_shape, device=parameter.device, dtype=parameter.dtype
                )
            )
    finally:
        model.train(was_training)
        for handle in hooks:
            handle.remove()
    return counts


def layer_counts(model: nn.Module) -> list[LayerCount]:
    """Per-layer MACs per image of a :class:`~capslib.models.CapsNet` or :class:`~capslib.models.BaselineCNN`."""
    if isinstance(model, CapsNet):
        return capsnet_layer_counts(model.config)
    if isinstance(model, BaselineCNN):
        return module_layer_counts(
            model, (model.in_channels, model.input_size, model.input_size)
        )
    raise TypeError(
        f"layer_counts: expected a CapsNet or BaselineCNN, got {type(model).__name__}"
    )


def flops_per_image(model: nn.Module, *, training: bool = False) -> int:
    """FLOPs (2 x MACs) of one image: the forward pass, or with ``training=True`` forward + backward (3x)."""
    forward = sum(count.flops for count in layer_counts(model))
    return 3 * forward if training else forward


def measured_flops_per_image(
    model: nn.Module, input_shape: tuple[int, ...], *, batch: int = 2
) -> int:
    """The forward FLOPs per image that ``torch.utils.flop_counter.FlopCounterMode`` counts (a cross-check).

    It counts matrix products and convolutions (2 FLOPs per MAC) as they
    actually run, so it should agree with :func:`flops_per_image`.
    """
    from torch.utils.flop_counter import FlopCounterMode

    parameter = next(model.parameters())
    images = torch.rand(
        batch, *input_shape, device=parameter.device, dtype=parameter.dtype
    )
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(images)
    finally:
        model.train(was_training)
    return counter.get_total_flops() // batch


def flops_table(model: nn.Module) -> str:
    """A text table of the per-layer counts (MACs, GFLOPs, share of the total)."""
    counts = layer_counts(model)
    total = sum(c.macs for c in counts)
    lines = [f"{'layer':<14}{'MACs/image':>16}{'GFLOP/image':>13}{'share':>8}  formula"]
    for c in counts:
        lines.append(
            f"{c.name:<14}{c.macs:>16,}{c.flops / 1e9:>13.4f}{100 * c.macs / total:>7.1f}%  {c.formula}"
        )
    lines.append(
        f"{'total':<14}{total:>16,}{2 * total / 1e9:>13.4f}{100.0:>7.1f}%  (forward; training ~3x)"
    )
    return "\n".join(lines)
