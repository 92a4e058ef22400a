"""Checks for the exercises of chapter 7 (the full CapsNet).

The answers are compared with the real :class:`capslib.models.CapsNet` and
:class:`capslib.nn.PrimaryCapsules`: shapes from a forward pass, parameter
counts from the modules, the capsule layout from the tested reshape.

Exercise 7.2 predicts what grows when the network sees larger images
(:func:`check_size_growth`); `check_capsnet_parameters`, the total count from a
configuration, is its warm-up, kept for readers who want the simpler step.
Exercise 7.3 applies the layout to a channels-last tensor, the layout of
Keras and TensorFlow code (:func:`check_primary_capsules_channels_last`);
`check_primary_capsule_layout` checks the channels-first version that
the chapter draws.
"""

from __future__ import annotations

import dataclasses

import torch

from capsbook.layer_table import count_parameters
from capslib.models import CapsNet, CapsNetConfig
from capslib.nn import PrimaryCapsules

from .report import CheckReport, check, guarded


def _unfinished(report: CheckReport) -> bool:
    """The last attempt raised NotImplementedError: the answer is still the stub, so stop there."""
    return bool(report.results) and "NotImplementedError" in report.results[-1][2]


__all__ = [
    "GROWTH_KEYS",
    "check_conv_output_size",
    "check_capsnet_parameters",
    "check_size_growth",
    "check_primary_capsule_layout",
    "check_primary_capsules_channels_last",
    "reference_conv_output_size",
    "reference_capsnet_parameters",
    "reference_primary_capsule_layout",
    "reference_primary_capsules_channels_last",
    "reference_size_growth",
]


@guarded
def check_conv_output_size(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise 7.1: ``fn(size, kernel, stride)`` is the side of a 'valid' (unpadded) convolution's output.

    28x28 through conv1 (9x9, stride 1) gives 20; 20 through the primary
    capsules' 9x9 stride-2 convolution gives 6.
    """
    cases = [
        (28, 9, 1),
        (20, 9, 2),
        (36, 9, 1),
        (28, 9, 2),
        (40, 9, 1),
        (32, 9, 2),
        (5, 5, 1),
        (7, 3, 3),
    ]
    with check(
        "Exercise 7.1: the output size of a convolution", verbose=verbose
    ) as report:
        for size, kernel, stride in cases:
            expected = torch.nn.Conv2d(1, 1, kernel, stride=stride)(
                torch.zeros(1, 1, size, size)
            ).shape[-1]
            with report.attempt(f"size={size}, kernel={kernel}, stride={stride}"):
                got = fn(size, kernel, stride)
                hint = f"got {got!r}"
                if got == (size - kernel) // stride:
                    hint += ": one short, count the first position too (+ 1)"
                elif got == size - kernel + 1 and stride > 1:
                    hint += ": the stride divides the number of steps, (size - kernel) // stride"
                report.expect(
                    got == expected,
                    f"size={size}, kernel={kernel}, stride={stride} gives {expected}",
                    hint,
                )
            if _unfinished(report):
                break
    return report


@guarded
def check_capsnet_parameters(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise 7.2: ``fn(config)`` counts CapsNet's parameters from a :class:`CapsNetConfig`, by formula.

    Compared with the parameters of ``CapsNet(config)`` for the paper's
    network, the small one, one without decoder and one for 40x40 inputs.
    """
    configs = {
        "the paper's network": CapsNetConfig.paper(),
        "the paper's network without decoder": CapsNetConfig.paper(use_decoder=False),
        "the small network": CapsNetConfig.small(),
        "the small network on 40x40 inputs": CapsNetConfig.small(input_size=40),
    }
    with check(
        "Exercise 7.2: CapsNet's parameter count by formula", verbose=verbose
    ) as report:
        for name, config in configs.items():
            with torch.device(
                "meta"
            ):  # count without allocating or initialising the weights
                expected = count_parameters(CapsNet(config))
            with report.attempt(name):
                got = fn(config)
                hint = f"got {got!r}"
                if isinstance(got, int) and got != expected:
                    hint += f" (off by {got - expected:+,})"
                    shared_weights_gap = (
                        config.primary_types
                        * config.num_classes
                        * config.primary_dim
                        * config.digit_dim
                        * (config.primary_grid**2 - 1)
                    )
                    if expected - got == shared_weights_gap:
                        hint += ": each of the primary capsules at every position has its own W_ij, not one per type"
                    else:
                        hint += ": remember the biases (conv1, primary capsules, decoder layers); W_ij has none"
                report.expect(
                    got == expected, f"{name} has {expected:,} parameters", hint
                )
            if _unfinished(report):
                break
    return report


#: What Exercise 7.2's answer reports: four layers' parameters and routing's numbers per image.
GROWTH_KEYS = ("conv1", "primary_caps", "digit_caps", "decoder", "predictions")


def _growth_hints(got: dict, expected: dict, config: CapsNetConfig) -> list[str]:
    """The mistakes a wrong answer to Exercise 7.2 shows, one hint each."""
    c = config
    hints = []
    at_28 = _measured_growth(dataclasses.replace(c, input_size=28))
    for name in ("conv1", "primary_caps"):
        if got.get(name) != expected[name]:
            hints.append(
                f"{name}: got {got.get(name)!r}; a convolution's weights do not depend "
                "on the image size: kernel area x inputs x outputs, plus one bias each"
            )
    digit = got.get("digit_caps")
    if digit != expected["digit_caps"]:
        if c.input_size != 28 and digit == at_28["digit_caps"]:
            hints.append(
                "digit_caps: that is the 28x28 count; the primary grid grows with the "
                f"input ({c.input_size} -> conv1 -> primary: {c.primary_grid}x"
                f"{c.primary_grid}), and every primary capsule has its own W_ij"
            )
        elif digit == c.primary_types * c.num_classes * c.primary_dim * c.digit_dim:
            hints.append(
                "digit_caps: one W_ij per capsule type is a convolution's sharing; "
                "the paper gives each primary capsule at every position its own"
            )
        else:
            hints.append(
                f"digit_caps: got {digit!r}; one 16x8 W_ij per (primary capsule, "
                "class) pair, no bias"
            )
    decoder = got.get("decoder")
    if decoder != expected["decoder"]:
        if c.input_size != 28 and decoder == at_28["decoder"]:
            hints.append(
                "decoder: that is the 28x28 decoder; it redraws the whole "
                f"{c.input_size}x{c.input_size} image, so its last layer grows"
            )
        else:
            hints.append(
                f"decoder: got {decoder!r}; three fully connected layers with biases, "
                "from num_classes x digit_dim to input_size**2"
            )
    predictions = got.get("predictions")
    if predictions != expected["predictions"]:
        vectors = c.num_primary_caps * c.num_classes
        if c.input_size != 28 and predictions == at_28["predictions"]:
            hints.append(
                "predictions: that is the 28x28 count; more primary capsules, "
                "more prediction vectors"
            )
        elif predictions == vectors:
            hints.append(
                "predictions: that counts prediction vectors; count their numbers "
                f"(each has {c.digit_dim})"
            )
        elif predictions == expected["digit_caps"]:
            hints.append(
                "predictions: that is W_ij's size; the product W_ij u_i has "
                f"{c.digit_dim} numbers, not {c.digit_dim} x {c.primary_dim}"
            )
        else:
            hints.append(
                f"predictions: got {predictions!r}; one {c.digit_dim}D u_hat per "
                "(primary capsule, class) pair, per image"
            )
    return hints


@guarded
def check_size_growth(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise 7.2: ``fn(config)`` predicts what grows when CapsNet sees larger images.

    The answer is a dict with the keys of :data:`GROWTH_KEYS`: the parameters of
    ``conv1``, ``primary_caps``, ``digit_caps`` and ``decoder``, and
    ``predictions``, the numbers in the prediction vectors ``u_hat`` that
    routing computes and reweights for one image (``(primary, classes, 16)``).
    Compared with the real model and a forward pass of its DigitCaps, for the
    paper's network on 28x28, 36x36 (MultiMNIST) and 40x40 inputs and for the
    small network on 36x36.
    """
    configs = {
        "the paper's network, 28x28": CapsNetConfig.paper(),
        "the paper's network, 36x36 (MultiMNIST)": CapsNetConfig.paper(input_size=36),
        "the paper's network, 40x40": CapsNetConfig.paper(input_size=40),
        "the small network, 36x36": CapsNetConfig.small(input_size=36),
    }
    with check("Exercise 7.2: what grows with the input", verbose=verbose) as report:
        for name, config in configs.items():
            expected = _measured_growth(config)
            with report.attempt(name):
                got = fn(config)
                if not isinstance(got, dict):
                    report.expect(
                        False,
                        f"{name}: a dict with keys {', '.join(GROWTH_KEYS)}",
                        f"got {type(got).__name__}",
                    )
                    continue
                missing = [key for key in GROWTH_KEYS if key not in got]
                if missing:
                    report.expect(
                        False,
                        f"{name}: a dict with keys {', '.join(GROWTH_KEYS)}",
                        f"missing {', '.join(missing)}",
                    )
                    continue
                got = {key: got[key] for key in GROWTH_KEYS}
                hints = _growth_hints(got, expected, config)
                report.expect(
                    got == expected,
                    f"{name}: "
                    + ", ".join(f"{key} {value:,}" for key, value in expected.items()),
                    "; ".join(hints) or f"got {got!r}",
                )
            if _unfinished(report):
                break
    return report


def _measured_growth(config: CapsNetConfig) -> dict[str, int]:
    """Exercise 7.2's answer measured on the model: parameters per layer, u_hat's size."""
    with torch.device("meta"):  # no weights allocated
        model = CapsNet(config)
        counts = {
            name: count_parameters(getattr(model, name)) for name in GROWTH_KEYS[:4]
        }
        u = torch.zeros(1, config.num_primary_caps, config.primary_dim)
        counts["predictions"] = model.digit_caps.predictions(u)[0].numel()  # u_hat
    return counts


@guarded
def check_primary_capsule_layout(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise 7.3: ``fn(conv_out, capsule_dim)`` cuts the primary convolution's output into capsules.

    ``conv_out``: ``(batch, types * capsule_dim, h, w)``; the answer:
    ``(batch, types * h * w, capsule_dim)`` where each vector holds the
    ``capsule_dim`` channels of one capsule type at one position (type-major
    order, as :class:`capslib.nn.PrimaryCapsules`), before the squash.
    """
    gen = torch.Generator().manual_seed(73)
    conv_out = torch.randn(2, 4 * 8, 3, 3, generator=gen)
    reference = PrimaryCapsules(
        in_channels=1, capsule_types=4, capsule_dim=8, kernel_size=1
    )
    expected = reference.capsules_from_channels(conv_out)
    # capsule number (type * h + y) * w + x holds channels type*8 ... type*8+7 at (y, x)
    type_, y, x = 2, 1, 0
    one_capsule = conv_out[0, type_ * 8 : (type_ + 1) * 8, y, x]
    with check("Exercise 7.3: the primary capsules' layout", verbose=verbose) as report:
        with report.attempt("runs on a (2, 32, 3, 3) convolution output"):
            out = torch.as_tensor(fn(conv_out, 8))
            report.expect(
                tuple(out.shape) == (2, 36, 8),
                "returns (batch, 4 types x 3 x 3 positions, 8)",
                f"got shape {tuple(out.shape)}",
            )
            if tuple(out.shape) == (2, 36, 8):
                index = (type_ * 3 + y) * 3 + x
                same_position = torch.allclose(out[0, index], one_capsule)
                report.expect(
                    same_position,
                    "capsule (type 2, y=1, x=0) holds the 8 channels of type 2 at (1, 0)",
                    "a capsule is 8 CHANNELS at one position; conv_out.view(batch, -1, 8) groups 8 "
                    "neighbouring POSITIONS of one channel instead: view as (batch, types, 8, h, w) "
                    "and move the 8 to the end",
                )
                report.expect(
                    torch.allclose(out, expected),
                    "every capsule in the type-major order of PrimaryCapsules",
                    "order the capsules by type, then row, then column: permute to (batch, types, h, w, 8)",
                )
    return report


def _same_rows(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Whether ``a`` and ``b`` (n, d) hold the same rows, in any order."""
    distances = torch.cdist(
        a, b, compute_mode="donot_use_mm_for_euclid_dist"
    )  # exact zeros for equal rows
    return bool(
        (distances.min(dim=1).values < 1e-5).all()
        and (distances.min(dim=0).values < 1e-5).all()
    )


@guarded
def check_primary_capsules_channels_last(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise 7.3: ``fn(conv_out, capsule_dim)`` cuts a CHANNELS-LAST convolution output into capsules.

    ``conv_out``: ``(batch, h, w, types * capsule_dim)``, as Keras and TensorFlow store a feature
    map; the answer: ``(batch, types * h * w, capsule_dim)`` in capslib's type-major order (capsule
    ``(type * h + y) * w + x`` holds the ``capsule_dim`` channels of ``type`` at ``(y, x)``), so
    that it equals :class:`capslib.nn.PrimaryCapsules` on the same map stored channels first.
    Tried on two shapes, one with a non-square grid (where swapping ``h`` and ``w`` shows).
    """
    gen = torch.Generator().manual_seed(74)
    cases = [((2, 3, 3, 4 * 8), 8), ((1, 2, 5, 3 * 4), 4)]
    reference = {}
    for shape, dim in cases:
        conv_out = torch.randn(*shape, generator=gen)
        first = conv_out.permute(
            0, 3, 1, 2
        ).contiguous()  # the same map, channels first
        layer = PrimaryCapsules(
            in_channels=1, capsule_types=shape[3] // dim, capsule_dim=dim, kernel_size=1
        )
        reference[shape] = (conv_out, layer.capsules_from_channels(first))
    with check(
        "Exercise 7.3: capsules from a channels-last map", verbose=verbose
    ) as report:
        for (shape, dim), (conv_out, expected) in zip(cases, reference.values()):
            batch, h, w, channels = shape
            types = channels // dim
            with report.attempt(
                f"a channels-last map of shape {shape}, capsules of {dim}"
            ):
                out = torch.as_tensor(fn(conv_out.clone(), dim))
                wanted = (batch, types * h * w, dim)
                report.expect(
                    tuple(out.shape) == wanted,
                    f"returns {wanted}",
                    f"got shape {tuple(out.shape)}",
                )
                if tuple(out.shape) != wanted:
                    continue
                keras_order = conv_out.reshape(
                    batch, -1, dim
                )  # Keras's Reshape((-1, dim)): right vectors
                same_vectors = _same_rows(
                    out.reshape(-1, dim).float(), expected.reshape(-1, dim)
                )
                hint = f"got {tuple(out.shape)} with other values"
                if torch.allclose(out, keras_order):
                    hint = (
                        "each vector is one capsule, but in Keras's position-major order (position, then "
                        "type); capslib numbers them type first: view as (batch, h, w, types, dim) and move "
                        "types before h and w"
                    )
                elif same_vectors:
                    hint = "the right vectors in the wrong order: type first, then row, then column"
                report.expect(
                    torch.allclose(out, expected),
                    "every capsule holds the channels of one type at one position, in type-major order",
                    hint,
                )
            if _unfinished(report):
                break
    return report


# -- reference answers (used by the tests and shown in the hidden solutions) ---
def reference_conv_output_size(size: int, kernel: int, stride: int) -> int:
    """The side of a convolution's output, without padding."""
    return (size - kernel) // stride + 1  # the kernel fits at 0, s, 2s, ...


def reference_capsnet_parameters(config: CapsNetConfig) -> int:
    """The parameters of CapsNet(config), counted from the configuration alone."""
    c = config
    conv1 = c.in_channels * c.conv_channels * c.conv_kernel**2 + c.conv_channels
    primary_channels = c.primary_types * c.primary_dim
    primary = c.conv_channels * primary_channels * c.primary_kernel**2
    primary += primary_channels  # the biases
    # one W_ij (digit_dim x primary_dim) per pair of capsules, no bias
    digit = c.num_primary_caps * c.num_classes * c.primary_dim * c.digit_dim
    decoder = 0
    if c.use_decoder:
        sizes = [
            c.num_classes * c.digit_dim,
            *c.decoder_hidden,
            c.in_channels * c.input_size**2,
        ]
        layers = zip(sizes[:-1], sizes[1:])
        decoder = sum(n_in * n_out + n_out for n_in, n_out in layers)
    return conv1 + primary + digit + decoder


def reference_primary_capsule_layout(
    conv_out: torch.Tensor, capsule_dim: int
) -> torch.Tensor:
    batch, channels, h, w = conv_out.shape
    types = channels // capsule_dim
    grouped = conv_out.view(batch, types, capsule_dim, h, w).permute(0, 1, 3, 4, 2)
    return grouped.reshape(batch, types * h * w, capsule_dim)


def reference_primary_capsules_channels_last(
    conv_out: torch.Tensor, capsule_dim: int
) -> torch.Tensor:
    """(batch, h, w, types * capsule_dim) -> (batch, types * h * w, capsule_dim),
    the capsules type first, as capslib stores them."""
    batch, h, w, channels = conv_out.shape
    types = channels // capsule_dim
    grouped = conv_out.view(batch, h, w, types, capsule_dim)
    grouped = grouped.permute(0, 3, 1, 2, 4)  # (batch, types, h, w, capsule_dim)
    return grouped.reshape(batch, types * h * w, capsule_dim)


def reference_size_growth(config: CapsNetConfig) -> dict[str, int]:
    """What CapsNet(config) holds and routes: parameters per layer, and the numbers in
    one image's prediction vectors u_hat."""
    c = config
    side = (c.input_size - c.conv_kernel) // 1 + 1  # conv1, stride 1
    grid = (side - c.primary_kernel) // c.primary_stride + 1  # the primary grid
    primary_caps = c.primary_types * grid * grid  # each with its own W_ij
    channels = c.primary_types * c.primary_dim
    decoder_sizes = [c.num_classes * c.digit_dim, *c.decoder_hidden]
    decoder_sizes.append(c.in_channels * c.input_size**2)  # redraws the whole image
    return {
        # weights shared over the image: independent of its size
        "conv1": c.in_channels * c.conv_channels * c.conv_kernel**2 + c.conv_channels,
        "primary_caps": c.conv_channels * channels * c.primary_kernel**2 + channels,
        # one 16x8 W_ij per (primary capsule, class), no bias
        "digit_caps": primary_caps * c.num_classes * c.digit_dim * c.primary_dim,
        "decoder": sum(
            n_in * n_out + n_out
            for n_in, n_out in zip(decoder_sizes[:-1], decoder_sizes[1:])
        ),
        # u_hat: (primary capsules, classes, digit_dim) per image
        "predictions": primary_caps * c.num_classes * c.digit_dim,
    }
