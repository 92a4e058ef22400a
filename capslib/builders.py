"""The networks a training run names, built with the paper's defaults: the model factory of the trainer and the benchmark.

``build_model(config, image_size)`` turns a run's settings (``model``:
``capsnet``, ``baseline`` or ``pooled-cnn``; ``config``: ``paper``, ``small``
or ``tiny``) into the network; :func:`matched_pooled_cnn` sizes a max-pooling
CNN to a CapsNet's parameter count (the paper's "similar number of parameters").
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from .cnns import BaselineCNN, PooledCNN
from .models import CapsNet, CapsNetConfig
from .nn import count_parameters


def build_model(config, image_size: int) -> torch.nn.Module:
    """The model ``config`` asks for, for ``image_size`` x ``image_size`` inputs.

    ``config``: a :class:`~capslib.train.TrainConfig` (or anything with its ``model``,
    ``config``, ``reconstruction``, ``loss_scale``, ``init`` and ``routing_iterations``).
    """
    if config.model == "baseline":
        if config.config == "paper":
            return BaselineCNN(input_size=image_size)
        sizes = dict(small=((32, 32, 16), (128, 64)), tiny=((8, 8, 4), (32, 16)))[
            config.config
        ]
        return BaselineCNN(
            input_size=image_size, conv_channels=sizes[0], hidden=sizes[1]
        )
    if config.model == "pooled-cnn":
        capsnet = build_model(dataclasses.replace(config, model="capsnet"), image_size)
        return matched_pooled_cnn(image_size, count_parameters(capsnet), config.config)
    overrides: dict[str, Any] = dict(
        input_size=image_size,
        use_decoder=config.reconstruction,
        loss_scale=config.loss_scale,
        init=config.init,
    )
    if config.routing_iterations is not None:
        overrides["routing_iterations"] = config.routing_iterations
    if config.config == "paper":
        caps_config = CapsNetConfig.paper(**overrides)
    elif config.config == "small":
        caps_config = CapsNetConfig.small(**overrides)
    else:
        caps_config = CapsNetConfig.small(
            conv_channels=16, primary_types=4, decoder_hidden=(32, 64), **overrides
        )
    return CapsNet(caps_config)


#: PooledCNN convolution channels per TrainConfig.config (the hidden layer is then sized to match a CapsNet).
POOLED_CNN_CHANNELS = {"paper": (128, 256), "small": (64, 128), "tiny": (8, 16)}


def matched_pooled_cnn(image_size: int, target_parameters: int, size: str = "small"):
    """A :class:`~capslib.models.PooledCNN` whose parameter count is as close as one hidden layer allows
    to ``target_parameters`` (the CapsNet it is compared with): the paper's "similar number of parameters"."""
    channels = POOLED_CNN_CHANNELS[size]
    probe = PooledCNN(image_size, conv_channels=channels, hidden=(1,))
    fixed = count_parameters(probe)  # everything but the hidden units
    flat = probe.classifier[2].in_features  # Flatten, Dropout, Linear(flat, 1)
    per_unit = flat + 1 + 10  # its weights, bias, output weights
    hidden = max(1, round((target_parameters - fixed + per_unit) / per_unit))
    return PooledCNN(image_size, conv_channels=channels, hidden=(hidden,))
