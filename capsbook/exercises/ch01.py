"""Checks for the exercises of chapter 1 (convolutional networks in one chapter).

Each ``check_*`` takes the reader's function, runs it against what PyTorch
computes (layer shapes, ``nn.Conv2d``'s parameters, gradients, ``F.max_pool2d``),
prints what passed and what did not, and returns a
:class:`~capsbook.exercises.report.CheckReport`.  The ``reference_*``
functions are the solutions (the tests run every check on them).
"""

from __future__ import annotations

import numbers

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import report as report_module
from .report import CheckReport, check, guarded


def _as_number(value):
    """``(number, is_whole_type)`` for an answer: an int, a NumPy integer, or an array or tensor of one element.

    ``number`` is ``None`` when the answer is not a single number at all.
    """
    if isinstance(value, bool):
        return None, False
    if isinstance(value, numbers.Integral):
        return int(value), True
    if isinstance(value, numbers.Real):
        return float(value), False
    if isinstance(value, np.ndarray) and value.size == 1 and value.dtype.kind in "iuf":
        return (
            (int(value.item()), True)
            if value.dtype.kind in "iu"
            else (float(value.item()), False)
        )
    if (
        isinstance(value, torch.Tensor)
        and value.numel() == 1
        and value.dtype != torch.bool
        and not value.is_complex()
    ):
        return (
            (float(value.item()), False)
            if value.is_floating_point()
            else (int(value.item()), True)
        )
    return None, False


def _is_answer_problem(err: Exception) -> bool:
    """True for the exceptions by which the guard reports the answer as a whole (not attempted, too slow, None)."""
    return isinstance(err, getattr(report_module, "AnswerError", ()))


# --- Exercise 1.1: the parameters of a convolution --------------------------------------------------


def reference_conv_parameter_count(
    in_channels: int, out_channels: int, kernel_size: int, bias: bool = True
) -> int:
    """The weights and biases of nn.Conv2d(in_channels, out_channels, kernel_size)."""
    weights = kernel_size * kernel_size * in_channels * out_channels
    return weights + (out_channels if bias else 0)


@guarded
def check_conv_parameter_count(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise 1.1: ``fn(in_channels, out_channels, kernel_size, bias=True)`` counts a convolution's parameters.

    Checked against the parameters of ``nn.Conv2d`` (built on the ``meta``
    device, so that even a large layer costs no memory).
    """
    cases = [
        (1, 8, 5, True),
        (3, 64, 5, True),
        (16, 32, 3, True),
        (2, 4, 7, False),
        (64, 128, 1, True),
    ]
    with check(
        "Exercise 1.1: the parameters of a convolution", verbose=verbose
    ) as report:
        for c_in, c_out, k, bias in cases:
            layer = nn.Conv2d(c_in, c_out, k, bias=bias, device="meta")
            actual = sum(p.numel() for p in layer.parameters())
            what = f"{c_in} -> {c_out} channels, {k}x{k}" + (
                "" if bias else ", bias=False"
            )
            with report.attempt(f"counts {what}"):
                got, _ = _as_number(fn(c_in, c_out, k, bias))
                weights = k * k * c_in * c_out
                if got == k * k * c_out + (c_out if bias else 0) and c_in > 1:
                    hint = f"each filter spans all {c_in} input channels: k x k x C_in weights per filter"
                elif bias and got == weights:
                    hint = "add one bias per filter (per output channel)"
                elif not bias and got == weights + c_out:
                    hint = "with bias=False there are no biases: weights only"
                elif got == k * c_in * c_out + (c_out if bias else 0) and k > 1:
                    hint = "a k x k kernel has k * k weights per input channel, not k"
                else:
                    hint = (
                        f"you gave {got!r}; count k x k x C_in weights for each of the C_out filters, "
                        "plus one bias per filter when bias=True"
                    )
                report.expect(got == actual, f"{what}: {actual:,} parameters", hint)
    return report


# --- Exercise 1.2: the size of a feature map, with dilation ---------------------------------------


def reference_feature_map_size(
    size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1
) -> int:
    """The length of a convolution's output along one axis, dilation included."""
    span = dilation * (kernel - 1) + 1  # the input pixels one kernel covers
    return (size + 2 * padding - span) // stride + 1


@guarded
def check_feature_map_size(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise 1.2: ``fn(size, kernel, stride, padding, dilation)`` gives the output length of a convolution.

    Checked against the shape that ``F.conv2d`` actually produces, for
    settings without dilation and with it.  An answer may be an ``int``, a
    NumPy integer or an array or tensor of one integer.
    """
    plain = [
        (28, 5, 1, 0),
        (28, 5, 1, 2),
        (28, 9, 2, 0),
        (20, 9, 2, 0),
        (7, 3, 2, 1),
        (32, 3, 3, 1),
        (5, 5, 1, 0),
        (224, 7, 2, 3),
    ]
    dilated = [(28, 3, 1, 0, 2), (28, 3, 1, 4, 4), (20, 3, 2, 1, 3), (15, 5, 1, 2, 2)]
    cases = [(*c, 1) for c in plain] + dilated
    with check(
        "Exercise 1.2: the size of a feature map, with dilation", verbose=verbose
    ) as report:
        wrong, ignores_dilation, times_dilation, floats, signature = [], 0, 0, 0, False
        for size, kernel, stride, padding, dilation in cases:
            actual = F.conv2d(
                torch.zeros(1, 1, size, size),
                torch.zeros(1, 1, kernel, kernel),
                stride=stride,
                padding=padding,
                dilation=dilation,
            ).shape[-1]
            setting = f"size={size}, kernel={kernel}, stride={stride}, padding={padding}, dilation={dilation}"
            try:
                got, whole = _as_number(fn(size, kernel, stride, padding, dilation))
            except TypeError as err:
                if _is_answer_problem(err):
                    raise
                wrong.append(f"{setting}: raised {err!r}")
                signature = signature or "argument" in str(err)
                continue
            except Exception as err:  # noqa: BLE001 - the reader's code may raise anything
                if _is_answer_problem(err):
                    raise
                wrong.append(f"{setting}: raised {err!r}")
                continue
            floats += got is not None and not whole
            if got != actual:
                wrong.append(f"{setting}: PyTorch gives {actual}, you gave {got!r}")
                if dilation > 1:
                    ignores_dilation += (
                        got == (size + 2 * padding - kernel) // stride + 1
                    )
                    times_dilation += (
                        got == (size + 2 * padding - dilation * kernel) // stride + 1
                    )
        hint = ""
        if wrong:
            if signature:
                advice = "the function takes five arguments: size, kernel, stride, padding and dilation (last)"
            elif ignores_dilation:
                advice = (
                    "with dilation d the kernel's k taps are d pixels apart, so it spans d (k - 1) + 1 pixels: "
                    "use that in place of k"
                )
            elif times_dilation:
                advice = "a dilated kernel spans d (k - 1) + 1 pixels, not d k: the last tap needs no gap after it"
            else:
                advice = (
                    "padding adds p pixels on *both* sides, the division by the stride rounds down (use //), "
                    "and the first position counts too (+ 1)"
                )
            hint = f"{wrong[0]}. {advice}"
        report.expect(
            not wrong,
            f"agrees with F.conv2d on {len(cases)} settings "
            f"({len(cases) - len(wrong)} of {len(cases)} right)",
            hint,
        )
        report.expect(
            not floats,
            "returns whole numbers (an int, a NumPy integer or a one-element integer array)",
            "a feature map has a whole number of positions: use // rather than / (and no float())",
        )
    return report


# --- Exercise 1.3: the receptive field --------------------------------------------------------------


def reference_receptive_field(layers) -> int:
    """How many input pixels, along one side, a unit after layers sees.

    layers: [(kernel, stride), ...], from the input up.
    """
    size, jump = 1, 1  # jump: input pixels between neighbouring units of a layer
    for kernel, stride in layers:
        size += (kernel - 1) * jump
        jump *= stride
    return size


def _measured_field(layers) -> int:
    """Measure the receptive field of a stack of convolutions by back-propagation (no formula)."""
    torch.manual_seed(0)
    convs = [nn.Conv2d(1, 1, kernel, stride, bias=False) for kernel, stride in layers]
    for conv in (
        convs
    ):  # positive weights: no path cancels another, one probe finds the whole field
        nn.init.uniform_(conv.weight, 0.5, 1.0)
    net = nn.Sequential(*convs)
    size = 2 * reference_receptive_field(layers) + 8 * int(
        np.prod([s for _, s in layers])
    )
    x = torch.rand(1, 1, size, size).requires_grad_(True)
    out = net(x)
    out[0, 0, out.shape[-2] // 2, out.shape[-1] // 2].backward()
    return int((x.grad[0, 0].abs().sum(0) > 0).sum())


@guarded
def check_receptive_field(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise 1.3: ``fn(layers)`` returns the receptive field, in pixels, of one unit after ``layers``.

    ``layers`` is a list of ``(kernel, stride)`` pairs, convolutions and poolings
    alike.  Checked against receptive fields measured by back-propagating from
    one output unit of the stack to its input.
    """
    with (
        torch.random.fork_rng()
    ):  # the measurement seeds torch; leave the reader's random state alone
        cases = [
            (layers, _measured_field(layers))
            for layers in (
                [(3, 1)],
                [(3, 1), (3, 1), (3, 1)],
                [(5, 1), (2, 2), (5, 1), (2, 2)],
                [(3, 2), (3, 2), (3, 2)],
                [(7, 2), (3, 2), (3, 1)],
            )
        ]
    with check(
        "Exercise 1.3: the receptive field of a stack of layers", verbose=verbose
    ) as report:
        for layers, actual in cases:
            with report.attempt(f"runs on {layers}"):
                got, _ = _as_number(fn([tuple(layer) for layer in layers]))
                kernels = [k for k, _ in layers]
                strides_before = np.cumprod([1] + [s for _, s in layers][:-1])
                strides_through = np.cumprod([s for _, s in layers])
                if got == 1 + sum(k - 1 for k in kernels) and actual != got:
                    hint = (
                        "you left out the strides: after a layer of stride s, one step of the next layer "
                        "moves s pixels, so multiply each (k - 1) by the product of the strides before it"
                    )
                elif (
                    got
                    == 1
                    + int(sum((k - 1) * j for k, j in zip(kernels, strides_through)))
                    and actual != got
                ):
                    hint = "only the strides of the layers *before* a layer count, not its own"
                elif got == sum(kernels) or got == int(
                    sum(k * j for k, j in zip(kernels, strides_before))
                ):
                    hint = "each layer adds k - 1 (its first position is already in the field), not k"
                else:
                    hint = f"you gave {got!r}; r = 1 + sum over layers of (k - 1) x (product of the earlier strides)"
                report.expect(got == actual, f"{layers}: {actual} pixels", hint)
    return report


# --- Exercise 1.4: overlapping max pooling ----------------------------------------------------------


def reference_overlapping_max_pool(
    x: torch.Tensor, k: int, stride: int
) -> torch.Tensor:
    """The maximum of each k x k window of x (H, W), windows stride pixels apart."""
    windows = x.unfold(0, k, stride).unfold(1, k, stride)  # (rows, cols, k, k)
    return windows.amax(dim=(-2, -1))


@guarded
def check_overlapping_max_pool(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise 1.4: ``fn(x, k, stride)`` max-pools ``x (H, W)`` over ``k x k`` windows ``stride`` apart.

    The windows overlap when ``stride < k`` (AlexNet's 3x3 windows with
    stride 2); checked against ``F.max_pool2d(x, k, stride)``.
    """
    gen = torch.Generator().manual_seed(4)
    cases = [
        (torch.randn(7, 7, generator=gen), 3, 2),
        (torch.randn(9, 8, generator=gen), 3, 2),
        (torch.randn(6, 6, generator=gen), 2, 2),
        (torch.randn(5, 9, generator=gen), 3, 1),
    ]
    with check("Exercise 1.4: overlapping max pooling", verbose=verbose) as report:
        for x, k, stride in cases:
            expected = F.max_pool2d(x[None, None], k, stride)[0, 0]
            what = f"{tuple(x.shape)}, k={k}, stride={stride}"
            with report.attempt(f"runs on {what}"):
                out = torch.as_tensor(fn(x.clone(), k, stride)).float()
                if out.shape != expected.shape:
                    disjoint = (x.shape[0] // k, x.shape[1] // k)
                    hint = (
                        f"got {tuple(out.shape)}, the shape of windows that do not overlap: move each window "
                        f"by the stride ({stride}), not by its size ({k})"
                        if tuple(out.shape) == disjoint and stride != k
                        else f"got {tuple(out.shape)}: (H - k) // stride + 1 windows down, (W - k) // stride + 1 across"
                    )
                    report.expect(
                        False, f"shape {tuple(expected.shape)} for {what}", hint
                    )
                    continue
                average = F.avg_pool2d(x[None, None], k, stride)[0, 0]
                hint = (
                    "that is average pooling: keep the largest value of each window"
                    if torch.allclose(out, average, atol=1e-5)
                    else f"window (i, j) covers rows i*{stride} to i*{stride}+{k - 1} and the same columns; "
                    "x.unfold(0, k, stride).unfold(1, k, stride) gives all of them at once"
                )
                report.expect(
                    torch.allclose(out, expected, atol=1e-6),
                    f"same numbers as F.max_pool2d for {what}",
                    hint,
                )
    return report


__all__ = [
    "check_conv_parameter_count",
    "check_feature_map_size",
    "check_overlapping_max_pool",
    "check_receptive_field",
    "reference_conv_parameter_count",
    "reference_feature_map_size",
    "reference_overlapping_max_pool",
    "reference_receptive_field",
]
