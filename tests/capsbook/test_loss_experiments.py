"""Chapter 6's loss experiment: the measurements against hand computations, and the script end to end."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import capslib.functional as cf
from capsbook import loss_experiments as lx
from capslib.models import CapsNet, CapsNetConfig
from capslib.train import TrainConfig, Trainer

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "measure_reconstruction_losses.py"


def tiny_capsnet(**overrides):
    torch.manual_seed(0)
    return CapsNet(
        CapsNetConfig.small(
            conv_channels=16, primary_types=4, decoder_hidden=(32, 64), **overrides
        )
    )


# ------------------------------------------------------------------ the trainers


def test_the_mean_trainer_adds_the_margin_and_0_0005_times_the_mean_squared_error():
    model = tiny_capsnet()
    trainer = lx.trainer_for("mean", TrainConfig(config="tiny", device="cpu"))
    assert isinstance(trainer, lx.MeanReconstructionTrainer)
    trainer.model = model  # what setup() would build; compute_loss needs only this
    images = torch.rand(3, 1, 28, 28)
    labels = torch.tensor([1, 4, 7])
    loss, scores = trainer.compute_loss(model, images, labels)
    output = model(images, targets=labels)
    margin = cf.margin_loss(output.lengths, labels)
    by_hand = margin + 0.0005 * ((output.reconstructions - images) ** 2).mean()
    assert loss.item() == pytest.approx(by_hand.item(), rel=1e-6)
    assert torch.allclose(scores, output.lengths)
    with pytest.raises(ValueError, match="one digit per image"):
        trainer.compute_loss(model, images, torch.zeros(3, 2, dtype=torch.long))


def test_trainer_for_each_variant():
    config = TrainConfig(config="tiny", device="cpu", reconstruction=False)
    assert type(lx.trainer_for("sum", config)) is Trainer
    assert lx.trainer_for("sum", config).config.reconstruction  # sum: a decoder
    assert not lx.trainer_for("none", config).config.reconstruction
    with pytest.raises(ValueError, match="variant"):
        lx.trainer_for("median", config)
    with pytest.raises(ValueError, match="CapsNet"):
        lx.trainer_for("sum", TrainConfig(model="baseline", device="cpu"))


# ------------------------------------------------------------------ reconstructions


def test_squared_errors_per_picture_and_against_one_picture():
    images = torch.tensor([[[0.0, 1.0]], [[1.0, 1.0]]])  # (2, 1, 2)
    pictures = torch.tensor([[[0.5, 0.5]], [[1.0, 0.0]]])
    assert lx.squared_errors(pictures, images).tolist() == [0.5, 1.0]
    mean_picture = torch.tensor([[0.5, 1.0]])  # one picture for every image
    assert lx.squared_errors(mean_picture, images).tolist() == [0.25, 0.25]


def test_class_mean_digits_by_hand():
    images = torch.tensor([[0.0, 2.0], [2.0, 4.0], [1.0, 1.0]])
    means = lx.class_mean_digits(images, torch.tensor([0, 0, 1]), classes=2)
    assert means.tolist() == [[1.0, 3.0], [1.0, 1.0]]
    with pytest.raises(ValueError, match="no training image of class"):
        lx.class_mean_digits(images, torch.tensor([0, 0, 0]), classes=2)


def test_floor_test_bounds_the_paired_error_by_the_two_spreads():
    floor = torch.tensor([40.0, 44.0, 36.0, 40.0])  # mean 40, sd sqrt(32 / 3)
    result = lx.floor_test(30.0, 2.0, floor)
    bound = ((32 / 3) ** 0.5 + 2.0) / 2  # (sd_floor + sd_error) / sqrt(4)
    assert result["floor"] == pytest.approx(40.0)
    assert result["fraction_of_floor"] == pytest.approx(0.75)
    assert result["below"] == pytest.approx(10.0)
    assert result["se_bound"] == pytest.approx(bound)
    assert result["learned"]  # 30 < 0.8 x 40 and 10 > 2 x 2.63
    assert not lx.floor_test(33.0, 2.0, floor)["learned"]  # 33 > 32: above 80%
    assert not lx.floor_test(41.0, 2.0, floor)["learned"]  # worse than the floor
    # the bound is never below the paired standard error it stands in for
    g = torch.Generator().manual_seed(0)
    floor, error = torch.rand(50, generator=g), torch.rand(50, generator=g)
    paired_se = lx.paired_difference(floor, error)[1]
    assert (
        lx.floor_test(error.mean().item(), error.std().item(), floor)["se_bound"]
        >= paired_se
    )


def test_the_reconstruction_rule():
    assert lx.reconstructs(30.0, 50.0, 0.2)  # 60% of the baseline, 20 below: 100 se
    assert not lx.reconstructs(45.0, 50.0, 0.2)  # above 80% of the baseline
    assert not lx.reconstructs(30.0, 50.0, 11.0)  # 20 below, but within 2 x 11


def test_ruled_sign_weighs_the_sample_noise_and_the_replicate():
    assert lx.T1_95 == pytest.approx(12.706, abs=1e-3)  # Student's t, 1 dof, 97.5%
    assert lx.ruled_sign(1.0, 0.4) == 1 and lx.ruled_sign(-1.0, 0.4) == -1
    assert lx.ruled_sign(0.7, 0.4) == 0  # within 2 se
    assert lx.ruled_sign(1.0, 0.01, replicate_gap=0.1) == 0  # 10 x the gap < 12.7 x
    assert lx.ruled_sign(1.3, 0.01, replicate_gap=-0.1) == 1  # 13 x the gap
    assert lx.ruled_sign(1.0, 0.6, replicate_gap=0.0) == 0  # 2 se still counts


def test_pictures_encode_as_bytes_and_back():
    pictures = torch.tensor([[[[0.0, 1.0], [0.5, 2.0]]]])  # 2.0 is clipped to 1
    encoded = lx.encode_pictures(pictures)
    assert encoded == ["00ff80ff"]
    back = lx.decode_pictures(encoded, shape=(1, 2, 2))
    assert torch.allclose(back, pictures.clamp(0, 1), atol=0.5 / 255)


# ------------------------------------------------------------------ the probe


def test_appearance_of_a_horizontal_bar():
    image = torch.zeros(1, 1, 5, 5)
    image[0, 0, 2, 1:4] = 1.0  # three pixels in a row: columns 1, 2, 3
    ink, width, height, slant = lx.appearance(image)[0].tolist()
    assert ink == 3.0
    assert width == pytest.approx(2 * math.sqrt(2 / 3))  # twice the column sd
    assert height == 0.0 and slant == 0.0
    with pytest.raises(ValueError, match="grey"):
        lx.appearance(torch.zeros(1, 3, 5, 5))


def test_probe_features_keep_the_labels_capsule_and_the_class():
    poses = torch.arange(2 * 10 * 16, dtype=torch.float32).view(2, 10, 16)
    labels = torch.tensor([3, 0])
    features = lx.probe_features(poses, labels)
    assert features.shape == (2, 170)
    capsules = features[:, :160].view(2, 10, 16)
    assert torch.equal(capsules[0, 3], poses[0, 3]) and capsules[0].abs().sum() == (
        poses[0, 3].abs().sum()
    )
    assert features[1, 160:].tolist() == [1.0] + [0.0] * 9


def test_probe_appearance_reads_a_pose_that_holds_the_ink():
    torch.manual_seed(0)
    images = torch.rand(200, 1, 6, 6) * torch.rand(200, 1, 1, 1)  # varied ink
    labels = torch.randint(0, 10, (200,))
    ink = lx.appearance(images)[:, 0]
    holds_ink = torch.zeros(200, 10, 16)
    holds_ink[torch.arange(200), labels, 0] = ink.float()  # the label's capsule
    r2 = lx.probe_appearance(
        {"holds": holds_ink, "noise": torch.randn(200, 10, 16)},
        images,
        labels,
        splits=3,
    )
    assert set(r2) == {"the class alone", "holds", "noise"}
    assert all(v.shape == (3, 4) for v in r2.values())
    assert r2["holds"][:, 0].min() > 0.8 > r2["noise"][:, 0].max()


def test_probe_gain_is_the_mean_difference_and_its_spread_over_halvings():
    a = torch.tensor([[0.5, 0.7], [0.6, 0.8]])  # per halving, means 0.6 and 0.7
    gain, spread = lx.probe_gain(a, torch.zeros(2, 2))
    assert gain == pytest.approx(0.65)
    assert spread == pytest.approx(math.sqrt(0.005))  # sd of 0.6 and 0.7


# ------------------------------------------------------------------ the optimiser


def test_relative_change_of_the_decoder_only():
    initial = {"decoder.w": torch.tensor([3.0, 4.0]), "conv.w": torch.ones(2)}
    final = {"decoder.w": torch.tensor([3.0, 9.0]), "conv.w": torch.zeros(2)}
    total, each = lx.relative_change(initial, final)
    assert total == pytest.approx(1.0) and each == {"decoder.w": pytest.approx(1.0)}
    initial["decoder.b"], final["decoder.b"] = torch.tensor([0.0, 5.0]), torch.zeros(2)
    total, each = lx.relative_change(initial, final)  # |(0,5,0,-5)| / |(3,4,0,5)|
    assert total == pytest.approx(math.sqrt(50) / math.sqrt(50))
    assert each["decoder.b"] == pytest.approx(1.0)
    with pytest.raises(ValueError):
        lx.relative_change({"conv.w": torch.ones(1)}, {"conv.w": torch.ones(1)})


def test_adam_below_eps_from_the_bias_corrected_second_moment():
    decoder = torch.nn.Parameter(torch.zeros(4))
    shared = torch.nn.Parameter(torch.zeros(3))
    optimizer = torch.optim.Adam([decoder, shared], lr=1e-3)
    gradient = torch.tensor([1e-3, 1e-9, 0.0, 2e-8])  # constant: v_hat = g^2
    for _ in range(5):
        decoder.grad, shared.grad = gradient.clone(), torch.full((3,), 1e-12)
        optimizer.step()
    found = lx.adam_below_eps(optimizer.state_dict(), ["decoder.w", "conv.w"])
    assert found["below_eps"] == pytest.approx(2 / 4)  # 1e-9 and 0; not conv's
    assert found["zero"] == pytest.approx(1 / 4)
    assert found["median_sqrt_v"] == pytest.approx(1e-9, rel=1e-3)  # lower median
    with pytest.raises(ValueError):
        lx.adam_below_eps(optimizer.state_dict(), ["conv.a", "conv.b"])


def test_gradient_shares_differ_by_the_number_of_pixels():
    model = tiny_capsnet()
    images, labels = torch.rand(4, 1, 28, 28), torch.tensor([0, 1, 2, 3])
    shares = lx.gradient_shares(model, images, labels)
    assert shares["sum"] / shares["mean"] == pytest.approx(784, rel=1e-4)
    shared = [p for n, p in model.named_parameters() if not n.startswith("decoder.")]
    out = model(images, mask_with=labels)
    by_hand = torch.autograd.grad(
        cf.margin_loss(out.lengths, labels), shared, allow_unused=True
    )
    norm = torch.cat([g.flatten() for g in by_hand if g is not None]).norm().item()
    assert shares["margin_norm"] == pytest.approx(norm, rel=1e-5)


def test_mean_versus_none_gradient_is_the_mean_share_in_float32():
    model = tiny_capsnet()
    images, labels = torch.rand(4, 1, 28, 28), torch.tensor([0, 1, 2, 3])
    fp32 = lx.mean_versus_none_gradient(model, images, labels)
    # the mean adds a gradient about 1e-8 of the margin's here; float32 keeps a
    # nonzero difference, of the order of its own rounding (~1e-7), far below 1e-5
    assert lx.gradient_shares(model, images, labels)["mean"] < 1e-6
    assert 0 < fp32 < 1e-5
    bf16 = lx.mean_versus_none_gradient(model, images, labels, torch.bfloat16)
    assert bf16 >= 0


# ------------------------------------------------------------------ the record's verdicts


def small_record(**changes) -> dict:
    """A measurement record with hand-picked numbers (the fields assess() reads)."""
    record = {
        "runs": {
            "sum": {"wrong": [1, 2, 3]},
            "mean": {"wrong": [1, 2, 3, 4]},
            "none": {"wrong": [2, 5, 6, 7]},
        },
        "reconstruction": {
            "errors": {
                "mean training digit": 50.0,
                "sum": 30.0,
                "mean": 35.0,
                "replicate": 30.2,
            },
            "below_baseline_se": {"sum": 0.1, "mean": 0.1, "replicate": 0.1},
            "mean_minus_sum": {"difference": 5.0, "se": 0.05},
        },
        "probe": {
            "r2": {
                "the class alone": [[0.3, 0.3], [0.3, 0.3]],
                "sum": [[0.6, 0.8], [0.7, 0.9]],
                "mean": [[0.5, 0.7], [0.6, 0.8]],
                "none": [[0.5, 0.7], [0.6, 0.8]],
                "replicate": [[0.6, 0.8], [0.7, 0.86]],
            }
        },
        "decoder": {
            "movement": {
                "sum": {"total": 0.3, "per_tensor": {"a": 0.2, "b": 0.4}},
                "mean": {"total": 0.2, "per_tensor": {"a": 0.2, "b": 0.1}},
                "replicate": {"total": 0.3, "per_tensor": {"a": 0.2, "b": 0.4}},
            }
        },
    }
    record.update(changes)
    return record


def test_assess_applies_the_rules_to_the_numbers():
    verdicts = lx.assess(small_record())
    assert verdicts["learned"] == {"sum": True, "mean": True, "replicate": True}
    rec = verdicts["reconstruction"]
    # 5.0 > 12.7 x 0.2 = 2.54 and > 2 x 0.05: the mean reconstructs worse
    assert rec["replicate_gap"] == pytest.approx(0.2) and rec["sign"] == 1
    probe = verdicts["probe"]["sum - none"]
    # gain 0.1 in each halving; the replicate's R2 is 0.01 lower: 12.7 x 0.01 > 0.1
    assert probe["gain"] == pytest.approx(0.1) and probe["spread"] == pytest.approx(0)
    assert probe["replicate_gap"] == pytest.approx(-0.01) and probe["sign"] == 0
    assert verdicts["probe"]["mean - none"]["gain"] == pytest.approx(0)
    moved = verdicts["movement"]
    assert moved["ratio"] == pytest.approx(1.5) and moved["compensated"]
    assert moved["per_tensor"] == (pytest.approx(1.0), pytest.approx(4.0))
    assert moved["replicate_ratio"] == pytest.approx(1.0) and moved["sign"] == 1
    assert verdicts["accuracy"]["sum vs mean"] == (0, 1, 1.0)
    assert verdicts["accuracy"]["sum vs none"][:2] == (2, 3)


def test_assess_without_a_replicate_weighs_the_sample_noise_alone():
    record = small_record()
    del record["reconstruction"]["errors"]["replicate"]
    del record["reconstruction"]["below_baseline_se"]["replicate"]
    del record["probe"]["r2"]["replicate"]
    del record["decoder"]["movement"]["replicate"]
    verdicts = lx.assess(record)
    assert verdicts["reconstruction"]["replicate_gap"] is None
    assert verdicts["reconstruction"]["sign"] == 1
    assert verdicts["probe"]["sum - none"]["sign"] == 1  # 0.1 > 2 x 0
    assert verdicts["movement"]["sign"] is None


def test_a_missing_measurement_reads_as_none_and_names_the_command(tmp_path):
    assert lx.read_result(tmp_path / "absent.json") is None
    message = lx.missing_message(tmp_path / "absent.json")
    assert "scripts/measure_reconstruction_losses.py" in message
    assert str(tmp_path) not in message  # no machine path
    (tmp_path / "r.json").write_text('{"a": 1}\n', encoding="utf-8")
    assert lx.read_result(tmp_path / "r.json") == {"a": 1}


# ------------------------------------------------------------------ the script, end to end

TINY = [
    "--dataset", "mnist-sample", "--config", "tiny", "--epochs", "1",
    "--train-size", "64", "--validation-size", "32", "--test-size", "100",
    "--batch-size", "32", "--dtype", "float32", "--splits", "3",
    "--gradient-digits", "32", "--pictures", "4",
]  # fmt: skip


def run_script(tmp_path, *extra):
    return subprocess.run(
        [sys.executable, str(SCRIPT), *TINY, "--results", str(tmp_path), *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.mark.slow
def test_the_script_resumes_trains_four_runs_and_writes_the_record(tmp_path):
    out = tmp_path / "record.json"
    stopped = run_script(tmp_path, "--out", str(out), "--max-steps", "1")
    assert stopped.returncode == 3, stopped.stdout + stopped.stderr
    assert "run the same command again" in stopped.stdout and not out.exists()
    assert (tmp_path / "losses-sum" / "checkpoints" / "last.pt").is_file()

    done = run_script(tmp_path, "--out", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "losses-sum (resuming)" in done.stdout
    text = out.read_text(encoding="utf-8")
    assert str(tmp_path) not in text  # no machine path in the record
    record = json.loads(text)

    assert record["test_digits"] == 100 and record["epochs"] == 1
    assert set(record["runs"]) == {"sum", "mean", "none", "replicate"}
    for key, run in record["runs"].items():
        assert run["epochs"] == 1 and run["steps"] == 2, key  # 64 digits, batch 32
        assert run["test_errors"] == len(run["wrong"]) == len(set(run["wrong"]))
        assert all(0 <= i < 100 for i in run["wrong"])
        assert run["test_accuracy"] == (100 - run["test_errors"]) / 100
        assert run["test_accuracy"] == pytest.approx(run["test_accuracy_summary"])
    assert record["runs"]["replicate"]["seed"] == 1
    assert record["runs"]["replicate"]["run"] == "losses-sum-seed1"

    # the mean run trained with a weaker reconstruction term than the sum run
    def train_loss(name):
        lines = (tmp_path / name / "metrics.jsonl").read_text().splitlines()
        return [json.loads(x) for x in lines if '"epoch"' in x][-1]["train_loss"]

    sum_loss, mean_loss = train_loss("losses-sum"), train_loss("losses-mean")
    assert sum_loss - mean_loss > abs(mean_loss - train_loss("losses-none"))

    rec = record["reconstruction"]
    decoders = {"sum", "mean", "replicate"}
    assert set(rec["errors"]) == decoders | {"mean training digit"}
    assert set(rec["below_baseline_se"]) == decoders
    assert all(0 <= f <= 1 for f in rec["better_than_baseline"].values())
    # the baseline, by hand: the mean of the run's training split on the test digits
    from capslib.train.run_data import load_run_data

    config = TrainConfig(
        mode="full", dataset="mnist-sample", config="tiny", train_size=64,
        validation_size=32, test_size=100, seed=0, device="cpu",
    ).resolved()  # fmt: skip
    data = load_run_data(config, torch.device("cpu"), verbose=False)
    mean_digit = data.train.images.double().mean(0)
    by_hand = (mean_digit - data.test.images.double()).square().sum((1, 2, 3)).mean()
    assert rec["errors"]["mean training digit"] == pytest.approx(by_hand.item())
    pictures = rec["pictures"]
    assert pictures["indices"] == [0, 1, 2, 3]
    assert lx.decode_pictures(pictures["sum"]).shape == (4, 1, 28, 28)
    assert lx.decode_pictures([pictures["mean training digit"]]).shape == (1, 1, 28, 28)

    r2 = record["probe"]["r2"]
    assert set(r2) == {"the class alone", "sum", "mean", "none", "replicate"}
    assert all(torch.tensor(v).shape == (3, 4) for v in r2.values())
    assert all(torch.tensor(v).max() <= 1 for v in r2.values())

    movement = record["decoder"]["movement"]
    assert set(movement) == decoders  # "none" has no decoder
    for found in record["decoder"]["adam"].values():
        assert 0 <= found["zero"] <= found["below_eps"] <= 1
    for shares in record["shared_gradient"]["shares"].values():
        assert shares["sum"] / shares["mean"] == pytest.approx(784, rel=1e-3)

    provenance = record["provenance"]
    for field in ("commit", "device", "torch", "dtype", "date", "command"):
        assert provenance[field], field
    assert provenance["dtype"] == "float32" and provenance["epochs"] == 1
    assert provenance["wall_seconds"] > 0
    assert provenance["command"].startswith(lx.COMMAND)
    assert set(lx.assess(record)) == {
        "learned",
        "reconstruction",
        "probe",
        "movement",
        "accuracy",
    }

    # a second call trains nothing and measures the same networks again
    again = run_script(tmp_path, "--out", str(tmp_path / "again.json"))
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.count("finished already") == 4
    second = json.loads((tmp_path / "again.json").read_text(encoding="utf-8"))
    assert second["reconstruction"]["errors"] == pytest.approx(rec["errors"])
    assert second["runs"]["sum"]["wrong"] == record["runs"]["sum"]["wrong"]
