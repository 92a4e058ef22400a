"""Fixtures of capslib's tests: the settings of a tiny training run, kept once.

A tiny run is the tiny CapsNet on a few dozen digits of the bundled MNIST
sample, on the CPU, in float32 (exact comparisons pin the dtype): seconds per
run.  A test file that needs other sizes asks for them as overrides, e.g.
``tiny_run(epochs=1, test_size=200)``; what it gets is a plain dict for
:class:`capslib.train.TrainConfig`.
"""

from __future__ import annotations

import pytest

TINY_RUN = dict(
    model="capsnet",
    config="tiny",
    dataset="mnist-sample",
    epochs=2,
    batch_size=32,
    train_size=96,
    validation_size=64,
    test_size=64,
    mode="quick",
    device="cpu",
    progress=False,
    eval_batch_size=64,
    dtype="float32",
)


def tiny_settings(**overrides) -> dict:
    """The tiny run's settings with ``overrides`` (each must name a setting it has or TrainConfig's)."""
    from capslib.train import TrainConfig

    unknown = set(overrides) - set(TrainConfig.__dataclass_fields__)
    if unknown:
        raise TypeError(f"tiny_run: not TrainConfig settings: {sorted(unknown)}")
    return {**TINY_RUN, **overrides}


@pytest.fixture(scope="session")
def tiny_run():
    """The factory :func:`tiny_settings`: ``tiny_run(**overrides) -> dict``."""
    return tiny_settings
