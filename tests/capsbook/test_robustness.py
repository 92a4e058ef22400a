"""Chapter 10's rules (capsbook.robustness): hand-computed cases, and the committed runs in results/."""

import json
import math
from pathlib import Path

import pytest
import torch

from capsbook.paired import difference_standard_error, paired_difference
from capsbook.robustness import (
    AFFINE_FLOOR,
    MULTIMNIST_CNN_COMMAND,
    affine_verdict,
    closer_own_rate,
    late_improvement,
    multimnist_verdict,
    provenance_table,
    run_state,
    segmentation_verdict,
    template_reconstructions,
    train_command,
    trained_verdicts,
    training_state,
)
from capsbook.runs import load_run

RESULTS = Path(__file__).resolve().parents[2] / "results"


def _run(test, val, n=10_000):
    return {"test_accuracy": test, "best_val_accuracy": val, "test_size": n}


def test_the_paper_numbers_hold_at_the_paper_operating_point():
    verdict = affine_verdict(_run(0.79, 0.9923), _run(0.66, 0.9922))
    assert verdict.verdict == "held (one run each)"
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


def test_multimnist_rule_without_a_cnn_names_the_command():
    alone = multimnist_verdict(_run(0.8066, None), None)
    assert alone.verdict == "not measured yet"
    assert "80.66%" in alone.measured and MULTIMNIST_CNN_COMMAND in alone.measured
    assert "--model pooled-cnn --config small --dataset multimnist --epochs 15" in (
        MULTIMNIST_CNN_COMMAND
    )
    assert MULTIMNIST_CNN_COMMAND.endswith("--out results/multimnist-cnn")


def test_multimnist_rule_by_hand():
    # 2 SE of 0.80 against 0.79 on 10,000 each: 2 sqrt(0.16/1e4 + 0.1659/1e4) = 1.14 points
    held = multimnist_verdict(_run(0.90, None), _run(0.80, None))
    assert held.verdict == "held (one run each)" and "one run each" in held.measured
    assert multimnist_verdict(_run(0.80, None), _run(0.90, None)).verdict == (
        "did not hold (one run each)"
    )
    assert multimnist_verdict(_run(0.80, None), _run(0.79, None)).verdict.startswith(
        "not shown"
    )
    assert multimnist_verdict(_run(0.80, None), _run(0.785, None)).verdict.startswith(
        "held"
    )
    big = dict(_run(0.90, None), parameters=4_700_000)
    small = dict(_run(0.80, None), parameters=4_600_000)
    assert multimnist_verdict(big, small).verdict.startswith("not tested (sizes")
    longer = dict(_run(0.80, None), config={"epochs": 30, "seed": 0})
    shorter = dict(_run(0.90, None), config={"epochs": 15, "seed": 0})
    assert multimnist_verdict(longer, shorter).verdict == (
        "not decided (training differs: epochs 30 / 15)"
    )


def test_a_different_number_format_is_a_different_training():
    """--dtype auto resolves per machine: the summaries' dtype decides, not the flag."""
    config = {"epochs": 15, "seed": 0, "dtype": "auto"}
    f32 = dict(_run(0.8066, None), config=config, dtype="float32")
    bf16 = dict(_run(0.7942, None), config=config, dtype="bfloat16")
    # 1.24 points ahead, beyond 2 SE (1.13), but not the same training
    verdict = multimnist_verdict(f32, bf16)
    assert verdict.verdict == "not decided (training differs: dtype float32 / bfloat16)"
    assert "difference +1.24%, 2 SE 1.13%" in verdict.measured
    assert multimnist_verdict(f32, dict(bf16, dtype="float32")).verdict.startswith(
        "held"
    )
    # the affine pair too, where the epochs may differ (each stops at its target)
    caps = dict(_run(0.79, 0.9923), config=dict(config, epochs=9), dtype="float32")
    cnn = dict(_run(0.66, 0.9922), config=dict(config, epochs=4), dtype="bfloat16")
    assert affine_verdict(caps, cnn).verdict == (
        "not decided (training differs: dtype float32 / bfloat16)"
    )
    assert affine_verdict(caps, dict(cnn, dtype="float32")).verdict.startswith("held")


def test_pairing_removes_the_shared_noise():
    # two scorers that agree on 90 of 100 examples and differ on 10 (all in a's favour)
    a = torch.cat([torch.ones(50), torch.zeros(40), torch.ones(10)])
    b = torch.cat([torch.ones(50), torch.zeros(40), torch.zeros(10)])
    paired = paired_difference(a, b)[1]
    unpaired = difference_standard_error(0.6, 100, 0.5, 100)
    assert paired < unpaired / 2
    assert segmentation_verdict(a, b).verdict == "held"  # +10 points, paired 2 SE 6.0
    assert segmentation_verdict(b, a).verdict.startswith("did not hold")


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


def test_segmentation_rule_uses_the_image_as_its_unit():
    capsnet = torch.tensor([1.0, 1.0, 0.5, 1.0, 1.0, 0.5])  # per image, k = 2
    templates = torch.tensor([1.0, 0.5, 0.5, 1.0, 0.5, 0.5])
    verdict = segmentation_verdict(capsnet, templates)
    # d = 0, .5, 0, 0, .5, 0: mean 1/6, SE = std(d) / sqrt(6)
    se = torch.tensor([0, 0.5, 0, 0, 0.5, 0]).std().item() / math.sqrt(6)
    assert f"paired 2 SE {2 * se:.1%}" in verdict.measured
    assert "in 6 pairs" in verdict.measured
    assert verdict.verdict.startswith("not shown")  # 16.7 points < 2 SE 21.1
    per_image = closer_own_rate(
        torch.zeros(3, 2, 1, 2, 2), torch.zeros(3, 2, 1, 2, 2), per_image=True
    )
    assert per_image.shape == (3,)


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


def _write_run(folder: Path, name: str, summary: dict, accuracies=(0.9, 0.95)):
    run = folder / name
    run.mkdir(parents=True)
    (run / "summary.json").write_text(json.dumps(summary))
    (run / "metrics.jsonl").write_text(
        "".join(
            json.dumps({"kind": "epoch", "epoch": i + 1, "val_accuracy": a}) + "\n"
            for i, a in enumerate(accuracies)
        )
    )


def _summary_for(model, test, val, **extra):
    config = {"mode": "full", "device": "cpu", "batch_size": 128, "lr": 0.001}
    config |= {"lr_decay": 0.9, "lr_decay_steps": 430, "validation_size": 5000}
    config |= {"seed": 0, "progress": False, "dtype": "auto", "model": model}
    config |= {"config": "small", "dataset": "multimnist", "epochs": 15}
    config |= {"out": "results/multimnist-" + ("cnn" if "cnn" in model else model)}
    return {
        "test_accuracy": test,
        "best_val_accuracy": val,
        "test_size": 10_000,
        "parameters": 4_653_072,
        "wall_time_s": 5_222.0,
        "device_name": "CPU Test",
        "dtype": "float32",
        "git_commit": "0123456789abcdef-dirty",
        "config": config,
        **extra,
    }


def test_trained_verdicts_not_measured(tmp_path):
    """An empty results folder: the affine row and the MultiMNIST row say "not measured yet",
    and the MultiMNIST CapsNet's number is the one shipped with its weights."""
    affine, multimnist = trained_verdicts(tmp_path)
    assert affine[2] == "not measured yet"
    assert "results/affine-capsnet and results/affine-cnn missing" in affine[1]
    assert "bash scripts/train_shipped_models.sh affine" in affine[1]
    assert multimnist[2] == "not measured yet"
    assert MULTIMNIST_CNN_COMMAND in multimnist[1]
    from capslib import pretrained

    shipped = pretrained.info("multimnist-capsnet")["summary"]["test_accuracy"]
    assert f"CapsNet both right {shipped:.2%}" in multimnist[1]


def test_trained_verdicts_measured(tmp_path):
    """Fake summaries for every run: each row's numbers are its summaries', its verdict the rule's."""
    _write_run(tmp_path, "multimnist-capsnet", _summary_for("capsnet", 0.8066, 0.808))
    _write_run(tmp_path, "multimnist-cnn", _summary_for("pooled-cnn", 0.7000, 0.71))
    _write_run(tmp_path, "affine-capsnet", _run(0.79, 0.9923))
    _write_run(tmp_path, "affine-cnn", _run(0.66, 0.9922))
    affine, multimnist = trained_verdicts(tmp_path)
    assert affine[1:] == (
        "affine test: CapsNet 79.00%, CNN 66.00% (difference +13.00%, 2 SE 1.25%), "
        "at shifted validation 99.23% and 99.22%",
        "held (one run each)",
    )
    assert multimnist[2] == "held (one run each)"
    assert "CapsNet 80.66%, CNN 70.00% of 10,000 test pairs" in multimnist[1]
    # the CNN ahead by 10 points: the rule can fail
    (tmp_path / "multimnist-cnn" / "summary.json").write_text(
        json.dumps(_summary_for("pooled-cnn", 0.9066, 0.91))
    )
    assert trained_verdicts(tmp_path)[1][2] == "did not hold (one run each)"
    # an affine pair below the floor
    (tmp_path / "affine-cnn" / "summary.json").write_text(json.dumps(_run(0.66, 0.975)))
    assert trained_verdicts(tmp_path)[0][2].startswith(
        "not tested at the paper's operating point"
    )


def test_provenance_table_and_command(tmp_path):
    _write_run(
        tmp_path,
        "multimnist-cnn",
        _summary_for("pooled-cnn", 0.70, 0.71),
        accuracies=(0.5, 0.6, 0.7),
    )
    run = load_run("multimnist-cnn", tmp_path)
    assert train_command(run.summary) == MULTIMNIST_CNN_COMMAND.replace(
        "--lr 1e-3", "--lr 0.001"
    )
    table = provenance_table({"multimnist-cnn": run, "affine-cnn": None})
    row = table.splitlines()[2]
    assert row.startswith("| multimnist-cnn | 3 epochs, best epoch 3; still rising")
    assert "(budget 15) | 87 min | CPU Test, float32 | 0123456789 (uncommitted" in row
    assert "| affine-cnn | not made yet |" in table
    assert f"- multimnist-cnn: `{train_command(run.summary)}`" in table


def test_run_state():
    rising = [{"val_accuracy": a} for a in (0.95, 0.96)]
    assert run_state(rising) == (
        "2 epochs, best epoch 2; still rising at the end (+1.00 points in the last "
        "epoch; too few epochs to test a trend)"
    )
    flat = [{"val_accuracy": a} for a in (0.95, 0.96, 0.9595)]
    assert run_state(flat).startswith("3 epochs, best epoch 2; flat or falling")
    # from 4 epochs on, late_improvement with windows of epochs // 2 (at most 5)
    long = [{"val_accuracy": a} for a in (0.5, 0.6, 0.7, 0.8, 0.9, 0.91, 0.92)]
    assert run_state(long) == (
        f"7 epochs, best epoch 7; {late_improvement(long, window=3)}"
    )
    assert run_state([]) == "no epoch recorded"


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


def test_training_state_says_one_epoch_in_the_singular():
    assert training_state([{"val_accuracy": 0.9}]).startswith("1 epoch, best epoch 1")


def test_the_multimnist_row_compares_the_capsnet_run_trained_like_the_cnn(tmp_path):
    """The shipped CapsNet trained in float32, the CNN in bf16: the rule is "not decided"; once
    the same CapsNet is trained in bf16 (results/multimnist-capsnet-bf16), that run is compared,
    and the row names it; a bf16 run trained differently otherwise is not chosen."""
    from capsbook.robustness import multimnist_compared_run

    _write_run(tmp_path, "multimnist-capsnet", _summary_for("capsnet", 0.8066, 0.808))
    cnn = _summary_for("pooled-cnn", 0.7942, 0.803, dtype="bfloat16")
    _write_run(tmp_path, "multimnist-cnn", cnn)
    assert multimnist_compared_run(tmp_path)[0] == "multimnist-capsnet"
    row = trained_verdicts(tmp_path)[1]
    assert row[2] == "not decided (training differs: dtype float32 / bfloat16)"
    assert row[1].endswith("CapsNet run results/multimnist-capsnet")
    bf16 = _summary_for("capsnet", 0.8100, 0.81, dtype="bfloat16")
    _write_run(tmp_path, "multimnist-capsnet-bf16", bf16)
    name, run = multimnist_compared_run(tmp_path)
    assert name == "multimnist-capsnet-bf16" and run.summary["test_accuracy"] == 0.81
    row = trained_verdicts(tmp_path)[1]
    assert "CapsNet 81.00%, CNN 79.42% of 10,000 test pairs" in row[1]
    assert row[1].endswith("CapsNet run results/multimnist-capsnet-bf16")
    # 1.58 points against 2 SE = 2 * sqrt(.81 * .19 / 1e4 + .7942 * .2058 / 1e4) = 1.13: held
    assert row[2] == "held (one run each)"
    bf16["config"] = {
        **bf16["config"],
        "epochs": 10,
    }  # trained for fewer epochs: not chosen
    (tmp_path / "multimnist-capsnet-bf16" / "summary.json").write_text(json.dumps(bf16))
    assert multimnist_compared_run(tmp_path)[0] == "multimnist-capsnet"
