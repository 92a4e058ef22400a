"""Reproducibility: two CPU runs with the same seed give bitwise-identical metrics."""

import pytest
import torch

from capslib.train import TrainConfig, read_metrics, train


@pytest.fixture(scope="module")
def tiny(tiny_run):
    """This file's tiny run (tests/capslib/conftest.py)."""
    return tiny_run(epochs=1, log_every=1, dtype="auto")


def _without_timings(records):
    return [
        {k: v for k, v in r.items() if "time" not in k and "per_s" not in k}
        for r in records
    ]


def test_same_seed_same_metrics_bitwise_and_another_seed_differs(tmp_path, tiny):
    runs = [
        train(
            TrainConfig(**tiny, seed=seed, out=str(tmp_path / f"run{i}")), verbose=False
        )
        for i, seed in enumerate((7, 7, 8))
    ]
    first, second, other = (
        _without_timings(read_metrics(tmp_path / f"run{i}")) for i in range(3)
    )
    assert first == second  # floats compared exactly, through their JSON text
    assert runs[0].step_losses == runs[1].step_losses
    assert runs[0].summary["test_accuracy"] == runs[1].summary["test_accuracy"]
    assert all(
        torch.equal(a, b)
        for a, b in zip(
            runs[0].model.state_dict().values(), runs[1].model.state_dict().values()
        )
    )
    assert first != other and runs[0].step_losses != runs[2].step_losses
