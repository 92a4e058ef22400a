r"""CapsNet's two convolutions as matrix multiplies on a CPU (im2col), channels last.

The PrimaryCaps convolution (9x9, stride 2, 256 -> 256 channels on a 20x20
map) is 94% of the paper CapsNet's FLOPs.  On a CPU, PyTorch's convolution
(oneDNN) ran its forward pass at about 70% of the speed of one large matrix
multiply of the same FLOPs, and its backward pass (the gradients of the input
and of the weights) at about 45%: together more than half of a training step.

A convolution *is* one matrix multiply once every input patch is laid out as
a row ("im2col"): with the feature map stored channels last, ``(batch,
height, width, channels)``, the patch of output position ``(y, x)`` is the
``k x k x channels`` block starting at ``(stride*y, stride*x)``, a strided
view of the map; copying those views into a ``(batch * out_h * out_w, k * k
* channels)`` matrix ``cols`` takes a few percent of the time, and then

* forward:  ``out = cols @ W``                       (``W``: ``(k*k*channels, out_channels)``)
* backward: ``dW = dout^T @ cols``, and ``dcols = dout @ W^T``, computed a
  block of kernel rows at a time and added back onto the map, every patch
  row onto its pixel, with one ``index_add_`` per block (col2im).

Each is a single large GEMM, which the CPU's BLAS runs near its peak.  The
values and gradients are those of :func:`torch.nn.functional.conv2d` (to
floating-point rounding; ``tests/capslib/kernels/test_fused_conv.py`` compares them in
float64).  The price is memory: ``cols`` is kept for the backward pass (for
the paper's PrimaryCaps at batch 100, 300 MB in float32).

**bfloat16.**  Under CPU autocast to bfloat16 (``--dtype auto`` on a CPU with
native bf16) the same three matrix multiplies run in bfloat16, as autocast
runs a convolution: the input, weight and bias are cast to bfloat16 (the
weight's gradient flows back to the float32 parameter through that cast), the
GEMMs accumulate in float32 inside the BLAS and round their results to
bfloat16, and col2im adds the patch rows onto the map in float32 before one
rounding to bfloat16.  oneDNN's bfloat16 convolution, which autocast would
otherwise call, spent three times as long in its backward pass (twice the
FLOPs) as in its forward pass in a profile of the paper CapsNet's training step
on an AMD EPYC with AVX512_BF16 (``python -m capslib.bench --profile``, 2026-12-07),
and layout copies around it took another sixth of the step; ``cols`` also
halves, to 150 MB.

:class:`capslib.models.CapsNet` uses this on a CPU in float32/float64 outside
autocast, and in bfloat16 under CPU autocast to bfloat16, never inside
``torch.compile``; on a GPU (cuDNN), under float16 autocast and when compiled
it uses ``nn.Conv2d``.  The parameters are the ``nn.Conv2d`` modules' own, so
checkpoints do not depend on which path ran.
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor

from ..checks import require_shape
from ..functional import autocast_enabled, compiling

__all__ = ["conv2d_channels_last", "applies"]

#: The dtypes this path computes outside autocast.
DTYPES = (torch.float32, torch.float64)
#: The autocast dtype this path computes under CPU autocast (float16 is left to nn.Conv2d).
AUTOCAST_DTYPE = torch.bfloat16
#: Kernel rows per block of the input gradient: for PrimaryCaps at batch 100, a (3600 x 6912) block,
#: large enough for the matrix multiply to run near its peak, small enough (100 MB) to be reused.
KERNEL_ROWS_PER_BLOCK = 3


def _cpu_autocast_dtype() -> torch.dtype | None:
    """The dtype of CPU autocast when it is on here, else ``None``."""
    if not autocast_enabled("cpu"):
        return None
    try:
        return torch.get_autocast_dtype("cpu")
    except AttributeError:  # torch < 2.4
        return torch.get_autocast_cpu_dtype()


def applies(x: Tensor, weight: Tensor) -> bool:
    """Whether :func:`conv2d_channels_last` should compute a convolution of ``x`` (else ``nn.Conv2d``).

    On a CPU, outside ``torch.compile``: float32/float64 outside autocast (``x`` and ``weight`` of one
    dtype), or float32/bfloat16 tensors under autocast to bfloat16.
    """
    if x.device.type != "cpu" or compiling():
        return False
    amp = _cpu_autocast_dtype()
    if amp is None:
        return x.dtype in DTYPES and x.dtype == weight.dtype
    low_or_single = (torch.float32, AUTOCAST_DTYPE)
    return (
        amp == AUTOCAST_DTYPE
        and x.dtype in low_or_single
        and weight.dtype in low_or_single
    )


def _patches(x: Tensor, kernel: int, stride: int, out_h: int, out_w: int) -> Tensor:
    """``(batch, out_h, out_w, kernel, kernel, channels)``: the strided view of every input patch (no copy)."""
    batch, height, width, channels = x.shape
    sb, sh, sw, sc = x.stride()
    return x.as_strided(
        (batch, out_h, out_w, kernel, kernel, channels),
        (sb, stride * sh, stride * sw, sh, sw, sc),
    )


@functools.lru_cache(maxsize=64)
def _patch_positions(
    batch: int,
    height: int,
    width: int,
    kernel: int,
    stride: int,
    ky0: int,
    ky1: int,
    device: torch.device,
) -> Tensor:
    """For kernel rows ``ky0:ky1``: the flat pixel index ``(b * height + y) * width + x`` of every row of
    ``cols[:, ky0 * k * channels : ky1 * k * channels]`` viewed as ``(-1, channels)``, in that order."""
    out_h, out_w = (height - kernel) // stride + 1, (width - kernel) // stride + 1
    b = torch.arange(batch, device=device).view(-1, 1, 1, 1, 1)
    y = stride * torch.arange(out_h, device=device).view(1, -1, 1, 1, 1) + torch.arange(
        ky0, ky1, device=device
    ).view(1, 1, 1, -1, 1)
    x = stride * torch.arange(out_w, device=device).view(1, 1, -1, 1, 1) + torch.arange(
        kernel, device=device
    ).view(1, 1, 1, 1, -1)
    return ((b * height + y) * width + x).reshape(-1)


class _Conv2dChannelsLast(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor | None, stride: int):
        batch, height, width, channels = x.shape
        out_channels, _, kernel, _ = weight.shape
        out_h, out_w = (height - kernel) // stride + 1, (width - kernel) // stride + 1
        cols = _patches(x, kernel, stride, out_h, out_w).reshape(
            batch * out_h * out_w, kernel * kernel * channels
        )
        # (out_channels, k*k*channels): a view when the weight is stored channels last (PrimaryCapsules does)
        w_rows = weight.permute(0, 2, 3, 1).reshape(
            out_channels, kernel * kernel * channels
        )
        out = (
            torch.addmm(bias, cols, w_rows.t())
            if bias is not None
            else cols @ w_rows.t()
        )
        ctx.save_for_backward(cols, w_rows)
        ctx.shapes = (x.shape, weight.shape, stride, out_h, out_w, bias is not None)
        return out.view(batch, out_h, out_w, out_channels)

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        cols, w_rows = ctx.saved_tensors
        x_shape, w_shape, stride, out_h, out_w, has_bias = ctx.shapes
        batch, height, width, channels = x_shape
        out_channels, _, kernel, _ = w_shape
        grad2 = grad_out.reshape(batch * out_h * out_w, out_channels)
        grad_x = grad_weight = grad_bias = None
        if ctx.needs_input_grad[
            1
        ]:  # (out, k, k, in) in memory: the channels-last layout of (out, in, k, k)
            grad_weight = (
                (grad2.t() @ cols)
                .view(out_channels, kernel, kernel, channels)
                .permute(0, 3, 1, 2)
            )
        if has_bias and ctx.needs_input_grad[2]:
            grad_bias = grad2.sum(0)
        if ctx.needs_input_grad[0]:
            # bfloat16: the patch rows are added in float32, rounded once at the end
            wide = torch.float32 if grad2.dtype == AUTOCAST_DTYPE else grad2.dtype
            grad_x = grad2.new_zeros(batch * height * width, channels, dtype=wide)
            row = kernel * channels  # one kernel row's columns of cols
            for ky0 in range(
                0, kernel, KERNEL_ROWS_PER_BLOCK
            ):  # col2im, a few kernel rows at a time
                ky1 = min(ky0 + KERNEL_ROWS_PER_BLOCK, kernel)
                grad_cols = (
                    grad2 @ w_rows[:, ky0 * row : ky1 * row]
                )  # (batch*out_h*out_w, rows * k * channels)
                where = _patch_positions(
                    batch, height, width, kernel, stride, ky0, ky1, grad2.device
                )
                grad_x.index_add_(
                    0, where, grad_cols.view(-1, channels).to(wide)
                )  # each patch row back onto its pixel
            grad_x = grad_x.view(x_shape).to(grad2.dtype)
        return grad_x, grad_weight, grad_bias, None


def conv2d_channels_last(
    x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: int = 1
) -> Tensor:
    """A valid (unpadded) convolution of a channels-last map, as one matrix multiply.

    Under CPU autocast to bfloat16, ``x``, ``weight`` and ``bias`` are cast to bfloat16 and the result
    is bfloat16 (as autocast computes ``conv2d``).

    Args:
        x: ``(batch, height, width, in_channels)``, float32 or float64 (bfloat16 under autocast), on a CPU.
        weight: ``(out_channels, in_channels, k, k)`` (an ``nn.Conv2d`` weight).
        bias: ``(out_channels,)`` or ``None``.
        stride: the stride in both directions.

    Returns:
        ``(batch, out_h, out_w, out_channels)`` with ``out_h = (height - k) // stride + 1``:
        ``conv2d(x.permute(0, 3, 1, 2), weight, bias, stride).permute(0, 2, 3, 1)``.
    """
    fn = "conv2d_channels_last"
    require_shape(weight, fn, "weight", ("out_channels", "in_channels", "k", "k"))
    require_shape(x, fn, "x", ("batch", "height", "width", weight.shape[1]))
    if min(x.shape[1:3]) < weight.shape[2]:
        raise ValueError(
            f"conv2d_channels_last: the input {tuple(x.shape[1:3])} is smaller than the kernel "
            f"{weight.shape[2]}x{weight.shape[2]}"
        )
    if _cpu_autocast_dtype() == AUTOCAST_DTYPE and x.device.type == "cpu":
        low = AUTOCAST_DTYPE
        x, weight = x.to(low), weight.to(low)
        bias = bias.to(low) if bias is not None else None
        with torch.autocast(
            "cpu", enabled=False
        ):  # the casts are done: nothing for autocast to redo
            return _Conv2dChannelsLast.apply(x.contiguous(), weight, bias, int(stride))
    return _Conv2dChannelsLast.apply(x.contiguous(), weight, bias, int(stride))
