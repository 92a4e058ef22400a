"""The arithmetic of convolutional layers (chapter 1): sizes, parameter counts, receptive fields.

Three numbers decide what a stack of convolutions and poolings can do:

* :func:`feature_map_size`: how many positions a layer's output has along
  one axis, ``floor((n + 2p - d(k - 1) - 1) / s) + 1``;
* :func:`conv_parameter_count`: how many weights a convolution has,
  ``k_h k_w C_in C_out`` plus ``C_out`` biases (each filter spans every input
  channel; nothing depends on the image size);
* :func:`receptive_field`: how many input pixels one output unit can see,
  ``r_l = r_{l-1} + (k_l - 1) j_{l-1}`` with the jump ``j_l = j_{l-1} s_l``
  (the product of the strides so far).

:func:`measured_receptive_field` measures the last one without the formula:
it back-propagates from one output unit to the input, so it works on any
module (a trained network, max pooling included) and checks the formula.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch


def _whole(value, name: str, where: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(
            f"{where}: expected {name} >= {minimum} (an int), got {value!r}"
        )
    return value


def feature_map_size(
    size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1
) -> int:
    """The output length along one axis of a convolution or pooling layer, as PyTorch computes it.

    ``size`` input positions, a ``kernel`` of that many taps spaced ``dilation``
    apart (so it spans ``dilation * (kernel - 1) + 1`` pixels), ``padding``
    zeros on *both* sides, moved ``stride`` pixels at a time::

        floor((size + 2 padding - dilation (kernel - 1) - 1) / stride) + 1

    Raises ``ValueError`` when the kernel does not fit even once.
    """
    where = "feature_map_size"
    size, kernel = _whole(size, "size", where, 1), _whole(kernel, "kernel", where, 1)
    stride, dilation = (
        _whole(stride, "stride", where, 1),
        _whole(dilation, "dilation", where, 1),
    )
    padding = _whole(padding, "padding", where, 0)
    span = dilation * (kernel - 1) + 1
    if size + 2 * padding < span:
        raise ValueError(
            f"{where}: a kernel spanning {span} pixels does not fit in {size} + 2 x {padding} padding"
        )
    return (size + 2 * padding - span) // stride + 1


def conv_parameter_count(
    in_channels: int,
    out_channels: int,
    kernel_size: int | tuple[int, int],
    bias: bool = True,
) -> int:
    """Weights (and biases) of ``nn.Conv2d(in_channels, out_channels, kernel_size, bias=bias)``.

    Each of the ``out_channels`` filters is a ``k_h x k_w x in_channels`` block
    of weights plus one bias: ``k_h k_w C_in C_out + C_out``.  Stride, padding
    and the image size do not enter: the same weights are used at every position.
    """
    where = "conv_parameter_count"
    kh, kw = (
        (kernel_size, kernel_size)
        if isinstance(kernel_size, int)
        else tuple(kernel_size)
    )
    kh, kw = _whole(kh, "kernel height", where, 1), _whole(kw, "kernel width", where, 1)
    c_in, c_out = (
        _whole(in_channels, "in_channels", where, 1),
        _whole(out_channels, "out_channels", where, 1),
    )
    return kh * kw * c_in * c_out + (c_out if bias else 0)


def receptive_field_and_jump(layers: Sequence[tuple[int, int]]) -> tuple[int, int]:
    """``(r, j)`` after ``layers``: the side ``r`` of what one unit sees, and the jump ``j``, the
    distance in input pixels between neighbouring units (the product of the strides).

    ``layers``: ``[(kernel, stride), ...]`` in order, convolutions and poolings
    alike (padding does not change the size of the field, only where it sits).
    Each layer widens the field by ``kernel - 1`` of its *input* positions, and
    one input position of layer ``l`` is ``j = s_1 s_2 ... s_{l-1}`` pixels apart::

        r = 1 + sum_l (k_l - 1) * prod_{m < l} s_m

    >>> receptive_field_and_jump([(9, 1), (9, 2)])   # CapsNet: Conv1, PrimaryCaps
    (17, 2)
    """
    size, jump = 1, 1
    for index, layer in enumerate(layers):
        if len(layer) != 2:
            raise ValueError(
                f"receptive_field: expected (kernel, stride) pairs, got {layer!r} at position {index}"
            )
        kernel = _whole(layer[0], "kernel", "receptive_field", 1)
        stride = _whole(layer[1], "stride", "receptive_field", 1)
        size += (kernel - 1) * jump
        jump *= stride
    return size, jump


def receptive_field(layers: Sequence[tuple[int, int]]) -> int:
    """The side, in input pixels, of what one unit after ``layers`` can see.

    ``layers``: ``[(kernel, stride), ...]`` in order, convolutions and poolings
    alike; the formula is :func:`receptive_field_and_jump`'s.

    >>> receptive_field([(5, 1), (2, 2), (5, 1), (2, 2)])   # SmallCNN: conv, pool, conv, pool
    16
    >>> receptive_field([(9, 1), (9, 2)])                   # CapsNet: Conv1, PrimaryCaps
    17
    """
    return receptive_field_and_jump(layers)[0]


def measured_receptive_field(
    fn: Callable[[torch.Tensor], torch.Tensor],
    input_shape: tuple[int, ...],
    unit: tuple[int, int],
    *,
    n_probes: int = 64,
    seed: int = 0,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """The input pixels that reach output ``unit = (row, col)`` of ``fn``, found by back-propagation.

    ``fn`` maps ``(n, *input_shape)`` (``input_shape = (channels, h, w)``) to
    ``(n, channels', h', w')``; the gradient of the sum over channels at
    ``unit`` is taken with respect to ``n_probes`` random positive inputs,
    and a pixel belongs to the field if any probe's gradient is non-zero there
    (several probes, because max pooling and ReLU pass the gradient along only
    some of the paths for any one input).  Returns a boolean ``(h, w)`` mask;
    for a stack of layers it is the square of :func:`receptive_field`
    (cut by the image's border).  ``device``: where ``fn`` computes (its
    parameters' device; default the CPU); the mask is returned on the CPU.
    """
    generator = torch.Generator().manual_seed(seed)
    x = (
        torch.rand(n_probes, *input_shape, generator=generator)
        .to(device or "cpu")
        .requires_grad_(True)
    )
    out = fn(x)
    if out.ndim != 4:
        raise ValueError(
            f"measured_receptive_field: expected fn to return (n, channels, h, w), got {tuple(out.shape)}"
        )
    row, col = unit
    out[:, :, row, col].sum().backward()
    return (x.grad.abs().sum(dim=(0, 1)) > 0).cpu()


def mask_extent(mask: torch.Tensor) -> tuple[int, int, int, int]:
    """``(top, left, height, width)`` of the smallest box holding the ``True`` pixels of ``mask (h, w)``."""
    rows, cols = mask.any(1).nonzero().flatten(), mask.any(0).nonzero().flatten()
    if len(rows) == 0:
        raise ValueError("mask_extent: the mask has no True pixel")
    return (
        int(rows[0]),
        int(cols[0]),
        int(rows[-1] - rows[0] + 1),
        int(cols[-1] - cols[0] + 1),
    )


__all__ = [
    "conv_parameter_count",
    "feature_map_size",
    "mask_extent",
    "measured_receptive_field",
    "receptive_field",
    "receptive_field_and_jump",
]
