"""Checks for the exercises of chapter 1 (convolutional networks in one chapter).

Each ``check_*`` takes the reader's function, runs it against values that
PyTorch computes, prints what passed and what did not, and returns a
:class:`~capslib.exercises.report.CheckReport`.  The ``reference_*``
functions are the solutions (the tests run every check on them).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .report import CheckReport, check


def reference_conv2d_by_hand(image: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Valid cross-correlation of ``image (H, W)`` with ``kernel (kh, kw)`` -> ``(H - kh + 1, W - kw + 1)``."""
    kh, kw = kernel.shape
    out = torch.zeros(image.shape[0] - kh + 1, image.shape[1] - kw + 1)
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = (image[i:i + kh, j:j + kw] * kernel).sum()
    return out


def check_conv2d_by_hand(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise 1.1: ``fn(image, kernel)`` slides ``kernel (kh, kw)`` over ``image (H, W)``.

    The answer is what ``F.conv2d`` computes with no padding and stride 1 (a
    cross-correlation: the kernel is *not* flipped), of shape ``(H - kh + 1, W - kw + 1)``.
    """
    gen = torch.Generator().manual_seed(1)
    cases = [(torch.rand(6, 7, generator=gen), torch.randn(3, 3, generator=gen)),
             (torch.rand(8, 5, generator=gen), torch.randn(2, 4, generator=gen))]
    with check("Exercise 1.1: a convolution by hand", verbose=verbose) as report:
        for image, kernel in cases:
            shape = tuple(image.shape[i] - kernel.shape[i] + 1 for i in range(2))
            expected = F.conv2d(image[None, None], kernel[None, None])[0, 0]
            with report.attempt(f"runs on a {tuple(image.shape)} image and a {tuple(kernel.shape)} kernel"):
                out = torch.as_tensor(fn(image.clone(), kernel.clone())).float()
                if report.expect(tuple(out.shape) == shape, f"output shape {shape} for kernel {tuple(kernel.shape)}",
                                 f"got {tuple(out.shape)}: a kernel of size k fits H - k + 1 times along an axis "
                                 "of length H"):
                    flipped = F.conv2d(image[None, None], kernel.flip(0, 1)[None, None])[0, 0]
                    hint = ("you flipped the kernel (the textbook convolution); deep learning's 'convolution' "
                            "multiplies the window by the kernel as it is" if torch.allclose(out, flipped, atol=1e-4)
                            else "each output is sum(image[i:i+kh, j:j+kw] * kernel)")
                    report.expect(torch.allclose(out, expected, atol=1e-4),
                                  f"same numbers as F.conv2d for kernel {tuple(kernel.shape)}", hint)
    return report


def reference_feature_map_size(size: int, kernel: int, stride: int = 1, padding: int = 0) -> int:
    """The output length of a convolution or pooling along one axis: floor((size + 2 padding - kernel) / stride) + 1."""
    return (size + 2 * padding - kernel) // stride + 1


def check_feature_map_size(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise 1.2: ``fn(size, kernel, stride, padding)`` gives the output length of a convolution.

    Checked against the shape that ``F.conv2d`` actually produces for many settings.
    """
    cases = [(28, 5, 1, 0), (28, 5, 1, 2), (28, 9, 2, 0), (20, 9, 2, 0), (7, 3, 2, 1), (32, 3, 3, 1),
             (5, 5, 1, 0), (224, 7, 2, 3)]
    with check("Exercise 1.2: the size of a feature map", verbose=verbose) as report:
        wrong = []
        for size, kernel, stride, padding in cases:
            actual = F.conv2d(torch.zeros(1, 1, size, size), torch.zeros(1, 1, kernel, kernel),
                              stride=stride, padding=padding).shape[-1]
            try:
                got = fn(size, kernel, stride, padding)
            except Exception as err:  # noqa: BLE001 - the reader's code may raise anything
                wrong.append(f"size={size}, kernel={kernel}, stride={stride}, padding={padding}: raised {err!r}")
                continue
            if got != actual:
                wrong.append(f"size={size}, kernel={kernel}, stride={stride}, padding={padding}: "
                             f"PyTorch gives {actual}, you gave {got!r}")
        hint = ""
        if wrong:
            hint = (wrong[0] + ". Padding adds p pixels on *both* sides, the division by the stride rounds down "
                    "(use //), and the first position counts too (+ 1)")
        report.expect(not wrong, f"agrees with F.conv2d on {len(cases)} settings "
                      f"({len(cases) - len(wrong)} of {len(cases)} right)", hint)
        with report.attempt("returns an int"):
            report.expect(isinstance(fn(28, 5, 1, 2), int), "returns an int",
                          "a feature map has a whole number of positions: use // rather than /")
    return report


def reference_dense_parameter_count(height: int, width: int, channels: int, hidden: int) -> int:
    """Weights and biases of a fully connected layer from a ``height x width x channels`` image to ``hidden`` units."""
    return height * width * channels * hidden + hidden


def check_dense_parameter_count(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise 1.3: ``fn(height, width, channels, hidden)`` counts a fully connected layer's parameters.

    Checked against ``nn.Linear`` (weights and biases) for small sizes, and the formula for large ones.
    """
    with check("Exercise 1.3: the parameters of a fully connected layer", verbose=verbose) as report:
        for shape in ((4, 5, 3, 7), (28, 28, 1, 100), (2, 2, 2, 1)):
            layer = torch.nn.Linear(shape[0] * shape[1] * shape[2], shape[3])
            actual = sum(p.numel() for p in layer.parameters())
            with report.attempt(f"counts {shape[0]}x{shape[1]}x{shape[2]} -> {shape[3]} units"):
                got = fn(*shape)
                no_bias = got == actual - shape[3]
                report.expect(got == actual, f"{shape[0]}x{shape[1]}x{shape[2]} -> {shape[3]} units: {actual:,}",
                              f"you gave {got!r}" + ("; add one bias per hidden unit" if no_bias else
                                                     "; every input value connects to every hidden unit"))
        with report.attempt("counts a 720x960x3 photo -> 1,000 units"):
            big = reference_dense_parameter_count(720, 960, 3, 1000)
            report.expect(fn(720, 960, 3, 1000) == big, f"720x960x3 -> 1,000 units: {big:,}",
                          "use exact integer arithmetic (no floats)")
    return report


def reference_max_pool_by_hand(x: torch.Tensor, k: int = 2) -> torch.Tensor:
    """Non-overlapping ``k x k`` max pooling of ``x (H, W)`` -> ``(H // k, W // k)`` (a ragged edge is dropped)."""
    h, w = x.shape[0] // k, x.shape[1] // k
    return x[:h * k, :w * k].reshape(h, k, w, k).amax(dim=(1, 3))


def check_max_pool_by_hand(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise 1.4: ``fn(x, k)`` max-pools ``x (H, W)`` over non-overlapping ``k x k`` windows, like ``F.max_pool2d``."""
    gen = torch.Generator().manual_seed(4)
    cases = [(torch.randn(4, 6, generator=gen), 2), (torch.randn(9, 7, generator=gen), 3),
             (torch.randn(5, 5, generator=gen), 2)]
    with check("Exercise 1.4: max pooling by hand", verbose=verbose) as report:
        for x, k in cases:
            expected = F.max_pool2d(x[None, None], k)[0, 0]
            with report.attempt(f"runs on a {tuple(x.shape)} input with k={k}"):
                out = torch.as_tensor(fn(x.clone(), k)).float()
                if report.expect(out.shape == expected.shape, f"shape {tuple(expected.shape)} for {tuple(x.shape)}, k={k}",
                                 f"got {tuple(out.shape)}: H // k windows down, W // k across (drop a ragged edge)"):
                    average = F.avg_pool2d(x[None, None], k)[0, 0]
                    hint = ("that is average pooling: keep the largest value of each window"
                            if torch.allclose(out, average, atol=1e-5) else
                            "window (i, j) covers rows i*k to i*k+k-1 and columns j*k to j*k+k-1")
                    report.expect(torch.allclose(out, expected, atol=1e-6),
                                  f"same numbers as F.max_pool2d for {tuple(x.shape)}, k={k}", hint)
    return report


__all__ = ["check_conv2d_by_hand", "check_dense_parameter_count", "check_feature_map_size", "check_max_pool_by_hand",
           "reference_conv2d_by_hand", "reference_dense_parameter_count", "reference_feature_map_size",
           "reference_max_pool_by_hand"]
