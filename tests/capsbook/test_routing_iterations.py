"""The committed routing-iterations measurement (chapter 7) against the shipped model."""

from __future__ import annotations

from capsbook.routing_iterations import (
    RESULT,
    errors_by_iterations,
    read_result,
)
from capslib import pretrained


def test_the_file_holds_all_test_digits_with_its_provenance():
    record = read_result()
    assert record["digits"] == 10_000
    assert record["model"] == "mnist-capsnet"
    assert record["model_sha256"] == pretrained.info("mnist-capsnet")["sha256"]
    assert sorted(record["errors"]) == [1, 2, 3, 5]
    for k, wrong in record["wrong"].items():
        assert record["errors"][k] == len(wrong) == len(set(wrong))
        assert wrong == sorted(wrong) and all(0 <= i < 10_000 for i in wrong)
    for field in ("commit", "device", "torch", "date", "wall_seconds", "command"):
        assert record["provenance"][field]
    assert "measure_routing_iterations.py" in record["provenance"]["command"]


def test_the_file_and_the_shipped_model_agree_on_the_first_digits():
    record = read_result(RESULT)
    model = pretrained.load("mnist-capsnet", "cpu").model
    live = errors_by_iterations(model, (1, 3, 5), limit=300)
    for k, wrong in live.items():
        assert wrong == [i for i in record["wrong"][k] if i < 300], k
    assert model.digit_caps.iterations == 3  # restored after the sweep
