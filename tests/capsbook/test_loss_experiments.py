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


def test_floor_record_keeps_the_class_means_and_their_error_by_hand():
    # class 0: (0, 2) and (2, 4) -> (1, 3); class 1: (1, 1); pictures of 1 x 1 x 2
    train = torch.tensor([[0.0, 2.0], [2.0, 4.0], [1.0, 1.0]]).view(3, 1, 1, 2)
    test = torch.tensor([[1.0, 1.0], [0.0, 0.0]]).view(2, 1, 1, 2)
    floor = lx.floor_record(
        train,
        torch.tensor([0, 0, 1]),
        test,
        torch.tensor([0, 1]),
        training="three",
        classes=2,
    )
    assert floor["class_mean_digits"] == [[1.0, 3.0], [1.0, 1.0]]
    assert floor["class_counts"] == [2, 1] and floor["training_digits"] == 3
    # errors: (1,1) against (1,3): 0 + 4 = 4; (0,0) against (1,1): 2. mean 3, sd sqrt 2
    assert floor["error"] == pytest.approx(3) and floor["sd"] == pytest.approx(2**0.5)
    assert floor["shape"] == [1, 1, 2] and floor["training"] == "three"
    digits, counts = lx.recorded_floor({"reconstruction": {"floor": floor}})
    assert digits.shape == (2, 1, 1, 2) and counts.tolist() == [2.0, 1.0]
    by_hand = lx.class_mean_digits(train, torch.tensor([0, 0, 1]), classes=2)
    assert torch.equal(digits, by_hand)
    assert lx.recorded_floor({"reconstruction": {}}) is None


def test_floor_record_rounds_each_pixel_to_its_decimals():
    train = torch.tensor([[1 / 3, 0.0], [0.0, 0.0]]).view(2, 1, 1, 2)
    floor = lx.floor_record(
        train, torch.tensor([0, 1]), train, torch.tensor([0, 1]), training="", classes=2
    )
    third = train[0, 0, 0, 0].item()  # 1/3 in float32
    assert floor["class_mean_digits"][0][0] == round(third, lx.FLOOR_DECIMALS)
    assert floor["error"] == pytest.approx(0, abs=1e-15)


def test_the_floor_module_writes_each_class_mean_digit_on_one_line():
    from capsbook.loss_experiments.floor import dumps

    floor = {"class_mean_digits": [[0.5, 1.0], [0.25, 0.0]], "error": 3.0}
    text = dumps({"reconstruction": {"errors": {"x": 1.0}, "floor": floor}})
    assert "[0.5, 1.0]" in text and "[0.25, 0.0]" in text and "@" not in text
    assert json.loads(text)["reconstruction"]["floor"] == floor


def test_the_recorded_floor_is_the_one_the_chapter_reads():
    record = lx.read_result()
    if record is None or "floor" not in record["reconstruction"]:
        pytest.skip("no record with a floor")
    floor = record["reconstruction"]["floor"]
    digits, counts = lx.recorded_floor(record)
    assert counts.sum() == floor["training_digits"] == 55_000
    # the mean digit of all classes, from the class means, is the record's baseline
    mean_digit = (counts[:, None, None, None] * digits).sum(0) / counts.sum()
    assert digits.min() >= 0 and digits.max() <= 1 and mean_digit.shape == (1, 28, 28)
    assert floor["error"] < record["reconstruction"]["errors"]["mean training digit"]


def test_floor_test_bounds_the_paired_error_by_the_two_spreads():
    floor = torch.tensor([40.0, 44.0, 36.0, 40.0])  # mean 40, sd sqrt(32 / 3)
    result = lx.floor_test(30.0, 2.0, floor)
    bound = ((32 / 3) ** 0.5 + 2.0) / 2  # (sd_floor + sd_error) / sqrt(4)
    assert result["floor"] == pytest.approx(40.0)
    assert result["fraction_of_floor"] == pytest.approx(0.75)
    assert result["below"] == pytest.approx(10.0)
    assert result["se_bound"] == pytest.approx(bound)
    assert result["learned"]  # 10 > 2 x 2.63
    assert lx.floor_test(34.0, 2.0, floor)["learned"]  # 6 > 5.27: no fraction asked
    assert not lx.floor_test(35.0, 2.0, floor)["learned"]  # 5 < 5.27: within 2 SE
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
    assert lx.reconstructs(30.0, 50.0, 0.2)  # 20 below: 100 se
    assert lx.reconstructs(30.0, 50.0, 4.0) and not lx.reconstructs(30.0, 50.0, 4.0, 5)
    assert lx.reconstructs(45.0, 50.0, 0.2)  # 90% of the baseline, 5 > 2 x 0.2
    assert not lx.reconstructs(30.0, 50.0, 11.0)  # 20 below, but within 2 x 11
    assert not lx.reconstructs(51.0, 50.0, 0.0)  # above the baseline


def test_arm_floor_test_adds_the_seed_spread_to_the_digits_bound():
    floor = torch.tensor([38.0, 42.0])  # mean 40, sd 2 * sqrt(2)
    result = lx.arm_floor_test([24.0, 25.0, 26.0], [2.0, 2.0, 2.0], floor)
    digits_bound = (2 * math.sqrt(2) + 2.0) / math.sqrt(2)
    seed_se = 1.0 / math.sqrt(3)  # the errors' sd is 1
    assert result["se_bound"] == pytest.approx(math.hypot(digits_bound, seed_se))
    assert result["fraction_of_floor"] == pytest.approx(25 / 40)
    # t for 2 degrees of freedom, by hand: t / sqrt(t^2 + 2) = 0.95
    t2 = 0.95 * math.sqrt(2 / (1 - 0.95**2))
    assert result["critical"] == pytest.approx(t2)  # 4.303
    assert result["learned"] and result["verdict"] == "learned"  # 15 > 4.303 x 3.46
    near = lx.arm_floor_test([30.0, 31.0, 32.0], [2.0] * 3, floor)  # 9 < 14.9
    assert near["learned"] is False and near["verdict"] == "not learned"
    # 9 below the floor counted with twice the standard error, not with t
    assert lx.reconstructs(31.0, 40.0, near["se_bound"])
    two = lx.arm_floor_test([30.0, 31.0], [2.0, 2.0], floor)
    assert two["learned"] is None and two["verdict"] == "not decided (2 seeds)"


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


def small_record() -> dict:
    """A record with hand-picked numbers, three seeds per arm (the fields assess reads)."""

    def runs(**by_arm):  # {arm: [value of seed 0, 1, 2]} -> {run key: value}
        return {
            (arm if seed == 0 else f"{arm}-seed{seed}"): value
            for arm, values in by_arm.items()
            for seed, value in enumerate(values)
        }

    wrong = runs(sum=[120, 125, 130], mean=[128, 129, 142], none=[130, 133, 142])
    keys = list(wrong)
    errors = runs(sum=[30.0, 31.0, 32.0], mean=[35.0, 37.0, 36.0])
    r2 = runs(sum=[0.60, 0.62, 0.64], mean=[0.58, 0.61, 0.64], none=[0.59, 0.62, 0.62])
    moved = runs(
        sum=[0.1 * math.exp(x) for x in (0.0, 0.1, 0.2)],
        mean=[0.1 * math.exp(x) for x in (-1.0, -0.8, -0.9)],
    )
    return {
        "runs": {
            k: {
                "variant": k.split("-")[0],
                "seed": int(k[-1]) if "-" in k else 0,
                "test_errors": wrong[k],
            }
            for k in keys
        },  # fmt: skip
        "reconstruction": {
            "errors": {"mean training digit": 50.0} | errors,
            "below_baseline_se": {k: 0.1 for k in errors},
        },
        "probe": {"r2": {k: [[v, v], [v, v]] for k, v in r2.items()}},
        "decoder": {
            "movement": {k: {"total": v} for k, v in moved.items()},
            "adam": {k: {"below_eps": 0.5} for k in moved},
        },
        "shared_gradient": {
            "shares": {k: {"sum": 0.04, "mean": 0.04 / 784} for k in moved}
        },
    }


def test_assess_compares_the_arms_seed_by_seed():
    verdicts = lx.assess(small_record())
    assert verdicts["seeds"] == {"sum": 3, "mean": 3, "none": 3}
    rec = verdicts["reconstruction"]  # mean - sum per seed: 5, 6, 4; sd 1
    assert rec["differences"] == pytest.approx([5, 6, 4])
    assert rec["difference"] == pytest.approx(5)
    assert rec["se"] == pytest.approx(1 / math.sqrt(3))
    assert rec["sign"] == 1 and rec["verdict"] == "higher"  # 5 > 4.30 x 0.577
    assert verdicts["learned"] == {"sum": True, "mean": True}  # 31, 36 far below 50
    probe = verdicts["probe"]["sum - none"]  # 0.01, 0, 0.02: mean 0.01, se 0.0058
    assert probe["difference"] == pytest.approx(0.01)
    assert probe["se"] == pytest.approx(0.01 / math.sqrt(3)) and probe["sign"] == 0
    assert probe["verdict"] == "not shown"  # t = 1.73 < 4.30
    moved = verdicts["movement"]  # log(sum) - log(mean): 1.0, 0.9, 1.1; sd 0.1
    se = 0.1 / math.sqrt(3)
    assert moved["ratio"] == pytest.approx(math.e) and moved["sign"] == 1
    assert moved["se"] == pytest.approx(se)
    low, high = moved["ratio_range"]
    t2 = 0.95 * math.sqrt(2 / (1 - 0.95**2))  # t for 2 degrees of freedom: 4.303
    assert low == pytest.approx(math.exp(1 - t2 * se)) and high < 28
    assert high == pytest.approx(math.exp(1 + t2 * se))
    assert moved["below_line"] is True
    accuracy = verdicts["accuracy"]
    sum_none = accuracy["sum vs none"]  # -10, -8, -12: sd 2, se 1.15
    assert sum_none["difference"] == pytest.approx(-10)
    assert sum_none["se"] == pytest.approx(2 / math.sqrt(3))
    assert sum_none["sign"] == -1  # t = -8.66, beyond 4.30
    sum_mean = accuracy["sum vs mean"]  # -8, -4, -12: sd 4, se 2.31; t = -3.46
    assert sum_mean["se"] == pytest.approx(4 / math.sqrt(3))
    assert sum_mean["sign"] == 0  # beyond 2 se, within 4.30 se: p = 0.074
    assert sum_mean["p"] == pytest.approx(1 - math.sqrt(12 / 14))
    mean_none = accuracy["mean vs none"]  # -2, -4, 0: sd 2; t = -1.73: not shown
    assert mean_none["difference"] == pytest.approx(-2) and mean_none["sign"] == 0
    summary = verdicts["summary"]["reconstruction_error"]["sum"]
    assert summary["mean"] == pytest.approx(31) and summary["n"] == 3
    assert summary["se"] == pytest.approx(1 / math.sqrt(3))


def test_assess_with_fewer_than_three_seeds_in_an_arm_decides_nothing_about_it():
    record = small_record()
    for section in (
        record["runs"],
        record["reconstruction"]["errors"],
        record["probe"]["r2"],
        record["decoder"]["movement"],
    ):
        del section["sum-seed2"]  # fmt: skip
    verdicts = lx.assess(record)
    assert verdicts["seeds"]["sum"] == 2 and verdicts["learned"]["sum"] is None
    assert verdicts["reconstruction"]["sign"] is None
    assert verdicts["reconstruction"]["verdict"] == "not decided (2 seeds)"
    assert verdicts["probe"]["sum - none"]["verdict"] == "not decided (2 seeds)"
    assert verdicts["probe"]["mean - none"]["verdict"] == "not shown"  # 3 seeds each
    assert verdicts["movement"]["below_line"] is None
    assert verdicts["accuracy"]["sum vs none"]["sign"] is None


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
def test_the_script_resumes_trains_each_arm_per_seed_and_writes_the_record(tmp_path):
    out = tmp_path / "record.json"
    seeds = ("--seeds", "0,2")
    stopped = run_script(tmp_path, "--out", str(out), "--max-steps", "1", *seeds)
    assert stopped.returncode == 3, stopped.stdout + stopped.stderr
    assert "run the same command again" in stopped.stdout and not out.exists()
    assert (tmp_path / "losses-sum" / "checkpoints" / "last.pt").is_file()

    done = run_script(tmp_path, "--out", str(out), *seeds)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "losses-sum (resuming)" in done.stdout
    text = out.read_text(encoding="utf-8")
    assert str(tmp_path) not in text  # no machine path in the record
    record = json.loads(text)

    assert record["test_digits"] == 100 and record["epochs"] == 1
    keys = {"sum", "mean", "none", "sum-seed2", "mean-seed2", "none-seed2"}
    assert set(record["runs"]) == keys and record["seeds"] == [0, 2]
    for key, run in record["runs"].items():
        assert run["epochs"] == 1 and run["steps"] == 2, key  # 64 digits, batch 32
        assert run["test_errors"] == len(run["wrong"]) == len(set(run["wrong"]))
        assert all(0 <= i < 100 for i in run["wrong"])
        assert run["test_accuracy"] == (100 - run["test_errors"]) / 100
        assert run["test_accuracy"] == pytest.approx(run["test_accuracy_summary"])
    assert record["runs"]["mean-seed2"]["seed"] == 2
    assert record["runs"]["mean-seed2"]["run"] == "losses-mean-seed2"
    arms = record["arms"]["test_errors"]  # per arm: the mean over seeds and its SE
    for arm in ("sum", "mean", "none"):
        values = [record["runs"][k]["test_errors"] for k in (arm, f"{arm}-seed2")]
        assert arms[arm]["values"] == values and arms[arm]["n"] == 2
        assert arms[arm]["mean"] == pytest.approx(sum(values) / 2)
        assert arms[arm]["se"] == pytest.approx(abs(values[0] - values[1]) / 2)

    # the mean run trained with a weaker reconstruction term than the sum run
    def train_loss(name):
        lines = (tmp_path / name / "metrics.jsonl").read_text().splitlines()
        return [json.loads(x) for x in lines if '"epoch"' in x][-1]["train_loss"]

    sum_loss, mean_loss = train_loss("losses-sum"), train_loss("losses-mean")
    assert sum_loss - mean_loss > abs(mean_loss - train_loss("losses-none"))

    rec = record["reconstruction"]
    decoders = {"sum", "mean", "sum-seed2", "mean-seed2"}
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
    assert set(r2) == {"the class alone"} | keys
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
    verdicts = lx.assess(record)  # two seeds per arm: nothing decided
    assert verdicts["reconstruction"]["verdict"] == "not decided (2 seeds)"
    assert verdicts["probe"]["sum - none"]["verdict"] == "not decided (2 seeds)"

    # a second call trains nothing and measures the same networks again
    again = run_script(tmp_path, "--out", str(tmp_path / "again.json"), *seeds)
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.count("finished already") == 6
    second = json.loads((tmp_path / "again.json").read_text(encoding="utf-8"))
    assert second["reconstruction"]["errors"] == pytest.approx(rec["errors"])
    assert second["runs"]["sum"]["wrong"] == record["runs"]["sum"]["wrong"]
