"""CapsNet's hyper-parameters: the paper's defaults, in one dataclass.

Sabour, Frosst & Hinton (2017), "Dynamic Routing Between Capsules", Section 4
(architecture) and Section 6 (MultiMNIST).  :meth:`CapsNetConfig.paper` is the
paper's network, :meth:`CapsNetConfig.small` the course's CPU-sized one;
:class:`capslib.models.CapsNet` builds either (importable from there too).

>>> CapsNetConfig.paper().routing_iterations
3
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["INITS", "LOSS_SCALES", "OFFICIAL_MARGIN_FACTOR", "CapsNetConfig"]


#: ``CapsNetConfig.loss_scale``: the paper's margin term, or the official implementation's (the paper's / 20).
LOSS_SCALES = ("paper", "official")
#: ``CapsNetConfig.init``: PyTorch's default initialisation, or the official implementation's.
INITS = ("pytorch", "official")
OFFICIAL_MARGIN_FACTOR = (
    0.05  # 0.5 (both terms halved) / 10 (averaged over the classes too)
)


@dataclass(frozen=True)
class CapsNetConfig:
    """Every hyper-parameter of CapsNet, named as in the paper, with the paper's values.

    ``CapsNetConfig()`` and :meth:`paper` are the paper's MNIST network;
    :meth:`small` trains on a CPU in minutes.  Change a field with
    ``dataclasses.replace(config, routing_iterations=1)`` or
    ``CapsNet(routing_iterations=1)``.

    Architecture (Section 4): ``conv_channels`` ReLU units with
    ``conv_kernel`` x ``conv_kernel`` kernels (stride 1); PrimaryCaps with
    ``primary_types`` types of ``primary_dim``-D capsules (kernel
    ``primary_kernel``, stride ``primary_stride``); ``num_classes`` DigitCaps
    of ``digit_dim`` dimensions with ``routing_iterations`` iterations; a
    decoder with ``decoder_hidden`` ReLU layers.  Input: ``in_channels`` x
    ``input_size`` x ``input_size`` (28 for MNIST, 36 for MultiMNIST, 40 for
    the affNIST test).

    Loss (Eq. 4 and Section 4.1): ``m_plus``, ``m_minus``, ``lambda_``,
    ``reconstruction_scale``.

    Additions, not in the paper: ``detach_intermediate`` (stop the gradient
    through routing's early iterations) and ``routing_weight_std`` (the
    official implementation's initial std of the DigitCaps weights).

    Where the paper and the official implementation (Sabour's
    ``research/capsules``) differ, the paper is the default and the official
    code's choice is one switch away:

    * ``loss_scale``: ``"paper"`` (Eq. 4 summed over the classes, averaged over
      the batch) or ``"official"``: the official ``_margin_loss`` returns
      ``0.5 * present + 0.25 * absent`` averaged over batch *and* classes, i.e.
      the paper's margin term divided by 20.  The reconstruction term stays
      ``0.0005 * SSE``, so its weight relative to the margin term is 0.01 in
      the paper's units instead of 0.0005.
    * ``init``: ``"pytorch"`` (PyTorch's default initialisation of the
      convolutions and the decoder; DigitCaps as the official code) or
      ``"official"``: truncated normals (conv1 std 0.05, the PrimaryCaps
      convolution std 0.1), biases 0.1, and PrimaryCaps pre-activations
      divided by the number of capsule types, as the official code's
      one-iteration routing over 32 types does (so its PrimaryCaps weights
      move ~32 times less per Adam step).  The decoder keeps PyTorch's default.

    Parameter count: 8,215,568 with the paper's configuration (6,804,224
    without the decoder).  The paper prints only "8.2M" and "6.8M"; the
    official implementation has 8,215,728, 160 more (a bias on each DigitCaps
    pre-activation, which capslib, like the paper's description, omits).
    """

    conv_channels: int = 256
    conv_kernel: int = 9
    primary_types: int = 32
    primary_dim: int = 8
    primary_kernel: int = 9
    primary_stride: int = 2
    digit_dim: int = 16
    num_classes: int = 10
    routing_iterations: int = 3
    decoder_hidden: tuple[int, ...] = (512, 1024)
    use_decoder: bool = True
    input_size: int = 28
    in_channels: int = 1
    m_plus: float = 0.9
    m_minus: float = 0.1
    lambda_: float = 0.5
    reconstruction_scale: float = 0.0005
    detach_intermediate: bool = False
    routing_weight_std: float = 0.1
    loss_scale: str = "paper"
    init: str = "pytorch"

    @classmethod
    def paper(cls, **overrides) -> CapsNetConfig:
        """The paper's MNIST CapsNet (8,215,568 parameters; the paper prints 8.2M); ``overrides`` change fields."""
        return cls(**overrides)

    @classmethod
    def small(cls, **overrides) -> CapsNetConfig:
        """A CapsNet that trains on a CPU in minutes: same structure, fewer channels.

        64 conv channels, 16 primary capsule types of 8D (576 primary capsules
        on 28x28 inputs), 10 digit capsules of 16D, 3 routing iterations, the
        paper's decoder: 2,817,552 parameters (1,411,344 of them in the decoder).

        Measured while writing it (2 shared, heavily loaded CPU cores, torch
        2.15): forward + backward on a batch of 64 took 1.9-2.5 s (the paper
        network: 6-8 s); one epoch over the bundled 5,000-digit MNIST sample
        (batch 32, Adam 1e-3, no augmentation) reached 95.8% on the 10,000
        test digits, two epochs at batch 64 reached 93.9% on the first 2,000.
        """
        values = dict(conv_channels=64, primary_types=16)
        values.update(overrides)
        return cls(**values)

    # -- derived sizes -------------------------------------------------------
    @property
    def conv_output_size(self) -> int:
        """Side of conv1's output (20 for the paper's 28x28 input)."""
        return self.input_size - self.conv_kernel + 1

    @property
    def primary_grid(self) -> int:
        """Side of the primary capsule grid (6 for 28x28, 10 for 36x36, 12 for 40x40)."""
        return (self.conv_output_size - self.primary_kernel) // self.primary_stride + 1

    @property
    def num_primary_caps(self) -> int:
        """Number of primary capsules (1152 for 28x28, 3200 for 36x36, 4608 for 40x40)."""
        return self.primary_types * self.primary_grid**2

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return (self.in_channels, self.input_size, self.input_size)

    # -- validation ----------------------------------------------------------
    def __post_init__(self) -> None:
        positive = [
            "conv_channels",
            "conv_kernel",
            "primary_types",
            "primary_dim",
            "primary_kernel",
            "primary_stride",
            "digit_dim",
            "num_classes",
            "routing_iterations",
            "input_size",
            "in_channels",
        ]
        for name in positive:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(
                    f"CapsNetConfig.{name}: expected a positive int, got {value!r}"
                )
        hidden = self.decoder_hidden
        if isinstance(hidden, list):
            hidden = tuple(hidden)
            object.__setattr__(self, "decoder_hidden", hidden)
        if not isinstance(hidden, tuple) or not all(
            isinstance(h, int) and not isinstance(h, bool) and h >= 1 for h in hidden
        ):
            raise ValueError(
                f"CapsNetConfig.decoder_hidden: expected a tuple of positive ints, got {hidden!r}"
            )
        if not isinstance(self.use_decoder, bool):
            raise ValueError(
                f"CapsNetConfig.use_decoder: expected a bool, got {self.use_decoder!r}"
            )
        if not isinstance(self.detach_intermediate, bool):
            raise ValueError(
                f"CapsNetConfig.detach_intermediate: expected a bool, got {self.detach_intermediate!r}"
            )
        for name in (
            "m_plus",
            "m_minus",
            "lambda_",
            "reconstruction_scale",
            "routing_weight_std",
        ):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not math.isfinite(value)
            ):
                raise ValueError(
                    f"CapsNetConfig.{name}: expected a finite number, got {value!r}"
                )
        if not 0 <= self.m_minus < self.m_plus <= 1:
            raise ValueError(
                f"CapsNetConfig.m_plus/m_minus: expected 0 <= m_minus < m_plus <= 1, "
                f"got m_minus={self.m_minus} and m_plus={self.m_plus}"
            )
        if self.lambda_ < 0:
            raise ValueError(
                f"CapsNetConfig.lambda_: expected a number >= 0, got {self.lambda_}"
            )
        if self.reconstruction_scale < 0:
            raise ValueError(
                f"CapsNetConfig.reconstruction_scale: expected a number >= 0, got {self.reconstruction_scale}"
            )
        if self.loss_scale not in LOSS_SCALES:
            raise ValueError(
                f"CapsNetConfig.loss_scale: expected one of {', '.join(LOSS_SCALES)}, "
                f"got {self.loss_scale!r}"
            )
        if self.init not in INITS:
            raise ValueError(
                f"CapsNetConfig.init: expected one of {', '.join(INITS)}, got {self.init!r}"
            )
        if self.routing_weight_std <= 0:
            raise ValueError(
                f"CapsNetConfig.routing_weight_std: expected a positive number, got {self.routing_weight_std}"
            )
        if self.conv_output_size < self.primary_kernel:
            raise ValueError(
                f"CapsNetConfig.input_size: {self.input_size} is too small for conv_kernel="
                f"{self.conv_kernel} then primary_kernel={self.primary_kernel} (expected input_size >= "
                f"{self.conv_kernel + self.primary_kernel - 1})"
            )
