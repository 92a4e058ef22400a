"""Chapter 10's verdict table against the summaries in results/.

The table's rows for the trained runs are ``capsbook.robustness.trained_verdicts()`` as they are
(the notebook computes them once and shows them); these tests fail when those rows and the
summaries committed in results/ disagree: a number that is not the summary's, or a verdict that
the chapter's rules, recomputed here by hand, would not give.
"""

import json
import math
from pathlib import Path

import nbformat

from capsbook.robustness import trained_verdicts

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "results"
NOTEBOOK = ROOT / "notebooks" / "10_robustness.ipynb"


def _code() -> str:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    return "\n".join(c.source for c in nb.cells if c.cell_type == "code")


def _summary(name):
    path = RESULTS / name / "summary.json"
    return json.loads(path.read_text()) if path.is_file() else None


def _by_hand(p1, p2, n1, n2):
    """The three-way rule: beyond +-2 unpaired standard errors, or within."""
    two_se = 2 * math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
    if p1 - p2 > two_se:
        return "held"
    if p2 - p1 > two_se:
        return "did not hold"
    return "not shown"


def test_the_table_shows_the_trained_rows_as_computed():
    code = _code()
    assert "trained = trained_verdicts()" in code
    assert "verdicts = trained + [" in code
    # no second computation of those verdicts, and one number for the MultiMNIST model
    assert "affine_verdict(" not in code and "multimnist_verdict(" not in code
    assert "test_accuracy_float16" not in code


def test_the_affine_row_agrees_with_results():
    (claim, measured, verdict), _ = trained_verdicts(RESULTS)
    caps, cnn = _summary("affine-capsnet"), _summary("affine-cnn")
    if caps is None or cnn is None:
        assert verdict == "not measured yet"
        return
    assert f"CapsNet {caps['test_accuracy']:.2%}, CNN {cnn['test_accuracy']:.2%}" in (
        measured
    )
    validation = caps["best_val_accuracy"], cnn["best_val_accuracy"]
    assert f"at shifted validation {validation[0]:.2%} and {validation[1]:.2%}" in (
        measured
    )
    if min(validation) < 0.99:
        assert verdict.startswith("not tested at the paper's operating point")
    elif abs(validation[0] - validation[1]) > 0.01:
        assert verdict.startswith("not tested")
    else:
        expected = _by_hand(
            caps["test_accuracy"],
            cnn["test_accuracy"],
            caps["test_size"],
            cnn["test_size"],
        )
        assert verdict.startswith(expected)


def test_the_multimnist_row_agrees_with_results():
    _, (claim, measured, verdict) = trained_verdicts(RESULTS)
    caps, cnn = _summary("multimnist-capsnet"), _summary("multimnist-cnn")
    assert caps is not None, "results/multimnist-capsnet is the shipped model's run"
    assert f"{caps['test_accuracy']:.2%}" in measured
    if cnn is None:
        assert verdict == "not measured yet"
        assert "python -m capslib.train" in measured
        assert "--model pooled-cnn --config small --dataset multimnist --epochs 15" in (
            measured
        )
        assert "--out results/multimnist-cnn" in measured
        return
    assert f"CapsNet {caps['test_accuracy']:.2%}, CNN {cnn['test_accuracy']:.2%}" in (
        measured
    )
    if abs(caps["parameters"] - cnn["parameters"]) > 0.01 * caps["parameters"]:
        assert verdict.startswith("not tested (sizes")
    elif any(
        caps["config"][key] != cnn["config"][key]
        for key in ("dataset", "epochs", "batch_size", "lr", "lr_decay", "seed")
    ):
        assert verdict.startswith("not tested (training differs")
    else:
        expected = _by_hand(
            caps["test_accuracy"],
            cnn["test_accuracy"],
            caps["test_size"],
            cnn["test_size"],
        )
        assert verdict.startswith(expected)
