"""Chapter 10's rules (capsbook.robustness): hand-computed cases, and the committed runs in results/."""

import json
import math
from pathlib import Path

import pytest
import torch

from capsbook.robustness import (
    AFFINE_FLOOR,
    affine_verdict,
    closer_own_rate,
    difference_standard_error,
    late_improvement,
    multimnist_verdict,
    segmentation_verdict,
    template_reconstructions,
    training_state,
)

RESULTS = Path(__file__).resolve().parents[2] / "results"


def _run(test, val, n=10_000):
    return {"test_accuracy": test, "best_val_accuracy": val, "test_size": n}


def test_difference_standard_error_by_hand():
    # sqrt(0.79 * 0.21 / 10000 + 0.66 * 0.34 / 10000) = sqrt(1.659e-5 + 2.244e-5)
    assert difference_standard_error(0.79, 10_000, 0.66, 10_000) == pytest.approx(
        math.sqrt(3.903e-5)
    )


def test_the_paper_numbers_hold_at_the_paper_operating_point():
    verdict = affine_verdict(_run(0.79, 0.9923), _run(0.66, 0.9922))
    assert verdict.verdict == "held"
    assert "CapsNet 79.00%, CNN 66.00%" in verdict.measured


@pytest.mark.parametrize(
    "caps, cnn, expected",
    [
        (
            _run(0.80, 0.973),
            _run(0.70, 0.975),
            "not tested at the paper's operating point",
        ),
        (
            _run(0.80, 0.995),
            _run(0.70, 0.990 - 1e-9),
            "not tested at the paper's operating point",
        ),
        (_run(0.72, 0.991), _run(0.75, 0.992), "did not hold"),
        (_run(0.750, 0.991), _run(0.745, 0.992), "not shown"),
    ],
)
def test_affine_rule(caps, cnn, expected):
    assert affine_verdict(caps, cnn).verdict.startswith(expected)
    assert AFFINE_FLOOR == 0.99


def test_multimnist_rule_needs_a_cnn():
    alone = multimnist_verdict(_run(0.8066, None), None)
    assert alone.verdict.startswith("not tested against a CNN")
    assert "80.66%" in alone.measured
    assert multimnist_verdict(_run(0.90, None), _run(0.80, None)).verdict == "held"
    assert (
        multimnist_verdict(_run(0.80, None), _run(0.90, None)).verdict == "did not hold"
    )


def test_templates_by_hand():
    class_means = torch.zeros(2, 1, 3, 3)
    class_means[1, 0, 1, 1] = 1.0  # a dot at the template's centre
    components = torch.zeros(1, 2, 1, 6, 6)
    components[0, 0, 0, 1, 4] = 1.0  # class 1 at (1, 4)
    components[0, 1, 0, 4, 1] = 1.0  # class 1 at (4, 1)
    labels = torch.tensor([[1, 1]])
    recon = template_reconstructions(components, labels, class_means)
    assert torch.equal(
        recon, components
    )  # each template dot lands on its component's ink
    assert closer_own_rate(recon, components) == 1.0
    assert closer_own_rate(recon.flip(1), components) == 0.0


def test_segmentation_rule():
    assert segmentation_verdict(0.964, 0.942, 20_000).verdict == "held"
    assert segmentation_verdict(0.943, 0.942, 20_000).verdict.startswith("not shown")


def test_training_state():
    assert training_state([{"val_accuracy": a} for a in (0.95, 0.96, 0.97)]).endswith(
        "still rising"
    )
    assert "flat" in training_state([{"val_accuracy": a} for a in (0.95, 0.97, 0.969)])


def test_late_improvement_by_hand():
    # the window before: 0.90, 0.92, 0.90, 0.92 (mean 0.91); the last: 0.95, 0.97, ... (mean 0.96)
    records = [
        {"kind": "epoch", "val_accuracy": a} for a in (0.5, 0.90, 0.92, 0.90, 0.92)
    ]
    records += [{"kind": "step", "loss": 1.0}]  # not an epoch: ignored
    records += [{"kind": "epoch", "val_accuracy": a} for a in (0.95, 0.97, 0.95, 0.97)]
    result = late_improvement(records, window=4)
    variance = 4 * 0.01**2 / 3  # each window: deviations of +-0.01, unbiased
    assert result.gain == pytest.approx(0.05)
    assert result.two_se == pytest.approx(2 * math.sqrt(2 * variance / 4))
    assert result.still_improving and str(result).startswith("still improving: last 4")
    flat = [
        {"val_accuracy": a} for a in (0.90, 0.92, 0.90, 0.92, 0.91, 0.93, 0.90, 0.91)
    ]
    assert not late_improvement(flat, window=4).still_improving
    with pytest.raises(ValueError, match="needs at least 10 epochs"):
        late_improvement(flat)


def _summary(name):
    path = RESULTS / name / "summary.json"
    return json.loads(path.read_text()) if path.is_file() else None


def test_the_committed_runs_give_the_verdicts_chapter_10_prints():
    """The rules applied to results/: the numbers in each verdict line are the summaries' own."""
    caps, cnn = _summary("affine-capsnet"), _summary("affine-cnn")
    if caps is None or cnn is None:
        pytest.skip("the affine runs are not in results/")
    verdict = affine_verdict(caps, cnn)
    assert f"CapsNet {caps['test_accuracy']:.2%}" in verdict.measured
    assert f"CNN {cnn['test_accuracy']:.2%}" in verdict.measured
    below = min(caps["best_val_accuracy"], cnn["best_val_accuracy"]) < AFFINE_FLOOR
    assert verdict.verdict.startswith("not tested at the paper's") == below
    multi = _summary("multimnist-capsnet")
    assert (
        f"{multi['test_accuracy']:.2%}"
        in multimnist_verdict(multi, _summary("multimnist-cnn")).measured
    )


def test_training_state_says_one_epoch_in_the_singular():
    assert training_state([{"val_accuracy": 0.9}]).startswith("1 epoch, best epoch 1")
