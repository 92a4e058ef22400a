"""The committed Fashion-MNIST routing-iterations record (the appendix) against the shipped model."""

from __future__ import annotations

from pathlib import Path

import pytest

from capsbook.paired import paired_comparison
from capsbook.routing_iterations import errors_by_iterations, read_result
from capslib import pretrained
from capslib.data import DataNotFoundError

ROOT = Path(__file__).resolve().parents[2]
RECORD = ROOT / "results" / "fashion-routing-iterations.json"
SCRIPT = ROOT / "scripts" / "measure_fashion_routing_iterations.py"


def test_the_record_holds_every_test_image_with_its_provenance():
    record = read_result(RECORD)
    assert record["images"] == 10_000 and record["model"] == "fashion-capsnet"
    assert record["model_sha256"] == pretrained.info("fashion-capsnet")["sha256"]
    assert sorted(record["errors"]) == [1, 3] and record["trained_with_iterations"] == 3
    for k, wrong in record["wrong"].items():
        assert record["errors"][k] == len(wrong) == len(set(wrong))
        assert wrong == sorted(wrong) and all(0 <= i < 10_000 for i in wrong)
    for field in ("commit", "device", "torch", "date", "wall_seconds", "command"):
        assert record["provenance"][field]
    assert SCRIPT.name in record["provenance"]["command"]


def test_the_record_reads_as_the_appendix_says():
    # many answers change between 1 and 3 iterations, in both directions alike
    record = read_result(RECORD)
    only_1, only_3, p = paired_comparison(record["wrong"][1], record["wrong"][3])
    assert only_1 + only_3 > 100 and p >= 0.05
    assert record["errors"][1] - record["errors"][3] == only_1 - only_3


def test_the_record_and_the_shipped_model_agree_on_the_first_images():
    model = pretrained.load("fashion-capsnet", "cpu").model
    try:
        live = errors_by_iterations(
            model, (1, 3), limit=250, batch_size=250, dataset="fashion-mnist"
        )
    except DataNotFoundError:
        pytest.skip("the complete Fashion-MNIST test set is not installed")
    record = read_result(RECORD)
    assert all(i < 250 for wrong in live.values() for i in wrong)  # the limit held
    for k, wrong in live.items():
        assert wrong == [i for i in record["wrong"][k] if i < 250], k
    assert model.digit_caps.iterations == 3  # restored after the sweep
