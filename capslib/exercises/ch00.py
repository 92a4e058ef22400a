"""Checks for the exercises of chapter 0 (setting up: the tools and the data)."""
from __future__ import annotations


import numpy as np
import torch

from .report import CheckReport, check


def check_class_means(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise 0.1: ``fn(images, labels)`` returns the mean image of each class.

    ``images``: ``(n, 1, 28, 28)`` float in [0, 1]; ``labels``: ``(n,)`` int64;
    the answer: ``(10, 28, 28)`` where row ``k`` is the pixel-wise mean of the
    images labelled ``k``.
    """
    gen = torch.Generator().manual_seed(0)
    images = torch.rand(60, 1, 28, 28, generator=gen)
    labels = torch.arange(60) % 10
    labels = labels[torch.randperm(60, generator=gen)]
    images_before = images.clone()
    expected = torch.stack([images[labels == k, 0].mean(0) for k in range(10)])
    with check("Exercise 0.1: the mean image of each digit", verbose=verbose) as report:
        with report.attempt("runs on 60 random images"):
            out = torch.as_tensor(fn(images, labels))
            report.expect(tuple(out.shape) == (10, 28, 28), "returns shape (10, 28, 28)",
                          f"got shape {tuple(out.shape)}; drop the channel axis and keep one image per class")
            if tuple(out.shape) == (10, 28, 28):
                report.expect(torch.allclose(out.float(), expected, atol=1e-5), "each row is the mean of its class",
                              "average over the images whose label is k (a mean over axis 0 of images[labels == k])")
            report.expect(torch.equal(images, images_before), "leaves the input images unchanged",
                          "compute on a copy (avoid in-place operations such as images.mul_)")
    return report


def check_idx_header(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise 0.2: ``fn(raw_bytes)`` parses an IDX header into ``(type_code, shape)``.

    ``raw_bytes`` is the start of an uncompressed IDX file.  The answer for
    MNIST's training images is ``(0x08, (60000, 28, 28))``.
    """
    cases = [
        (bytes([0, 0, 0x08, 3]) + np.array([60000, 28, 28], ">u4").tobytes(), (0x08, (60000, 28, 28))),
        (bytes([0, 0, 0x08, 1]) + np.array([10000], ">u4").tobytes(), (0x08, (10000,))),
        (bytes([0, 0, 0x0D, 2]) + np.array([3, 300], ">u4").tobytes() + b"\x00" * 8, (0x0D, (3, 300))),
    ]
    with check("Exercise 0.2: parse an IDX header", verbose=verbose) as report:
        for raw, (code, shape) in cases:
            with report.attempt(f"parses a header of shape {shape}"):
                got_code, got_shape = fn(raw)
                report.expect(int(got_code) == code, f"type code 0x{code:02x} for shape {shape}",
                              f"got {got_code!r}: the type code is byte 2 (counting from 0)")
                report.expect(tuple(int(s) for s in got_shape) == shape, f"shape {shape}",
                              f"got {tuple(got_shape)}: sizes are big-endian 32-bit integers after the 4-byte magic "
                              "(int.from_bytes(raw[4:8], 'big'))")
    return report


def reference_class_means(images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The reference answer to exercise 0.1 (used by the tests)."""
    return torch.stack([images[labels == k, 0].mean(dim=0) for k in range(10)])


def reference_idx_header(raw: bytes) -> tuple[int, tuple[int, ...]]:
    """The reference answer to exercise 0.2 (used by the tests)."""
    ndim = raw[3]
    return raw[2], tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))


