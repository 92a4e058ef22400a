"""The trainer: learning-rate schedule, exact resume after a stop or Ctrl-C, metrics, model selection."""
import json
import math

import pytest
import torch

from capslib.train import TrainConfig, TrainingInterrupted, load_checkpoint, plot_metrics, read_metrics, train
from capslib.train.trainer import autocast_dtype, make_scheduler

TINY = dict(model="capsnet", config="tiny", dataset="mnist-sample", epochs=2, batch_size=32, train_size=96,
            validation_size=64, test_size=128, mode="quick", device="cpu", log_every=1, progress=False,
            eval_batch_size=64)


def _last_weights(run_dir):
    return load_checkpoint(run_dir / "checkpoints" / "last.pt")["model"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "whole"
    return train(TrainConfig(**TINY, out=str(out)), verbose=False)


def test_official_learning_rate_schedule():
    """lr = 1e-3 * 0.96 ** (step / 2000), smooth (tf.train.exponential_decay without staircase)."""
    param = torch.nn.Parameter(torch.zeros(1))
    for staircase in (False, True):
        optimizer = torch.optim.Adam([param], lr=1e-3)
        scheduler = make_scheduler(optimizer, TrainConfig(staircase=staircase))
        for step in range(1, 4001):
            optimizer.step()
            scheduler.step()
            if step in (1000, 2000, 3000, 4000):
                exponent = step / 2000 if not staircase else step // 2000
                assert math.isclose(scheduler.get_last_lr()[0], 1e-3 * 0.96 ** exponent, rel_tol=1e-9)


def test_run_writes_metrics_checkpoints_and_summary(uninterrupted):
    run_dir = uninterrupted.run_dir
    records = read_metrics(run_dir)
    epochs = [r for r in records if r["kind"] == "epoch"]
    steps = [r for r in records if r["kind"] == "step"]
    assert [r["epoch"] for r in epochs] == [1, 2] and len(steps) == 6 == len(uninterrupted.step_losses)
    assert [r["loss"] for r in steps] == uninterrupted.step_losses
    assert all(0 <= r["val_accuracy"] <= 1 and r["images_per_s"] > 0 for r in epochs)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["steps"] == 6 and summary["epochs"] == 2 and summary["train_size"] == 96
    # The test accuracy is that of the model chosen on validation.
    best = max(epochs, key=lambda r: r["val_accuracy"])
    assert summary["best_val_accuracy"] == best["val_accuracy"] and summary["best_val_epoch"] == best["epoch"]
    assert (run_dir / "checkpoints" / "best.pt").is_file() and (run_dir / "checkpoints" / "last.prev.pt").is_file()
    figure = plot_metrics(run_dir)
    assert len(figure.axes) == 2


def test_stop_and_resume_is_bitwise_exact(uninterrupted, tmp_path):
    """Stopped mid-epoch after 4 of 6 steps, then resumed: same per-step losses and final weights, bit for bit."""
    config = TrainConfig(**TINY, out=str(tmp_path / "resumed"))
    first = train(config, max_steps=4, verbose=False)
    assert first.status == "stopped" and len(first.step_losses) == 4
    assert first.step_losses == uninterrupted.step_losses[:4]
    stopped_wall_time = load_checkpoint(tmp_path / "resumed" / "checkpoints" / "last.pt")["wall_time"]
    second = train(config, resume=True, verbose=False)
    assert second.status == "finished" and second.step_losses == uninterrupted.step_losses
    assert second.summary["wall_time_s"] > stopped_wall_time > 0  # the wall time counts both parts
    whole, resumed = _last_weights(uninterrupted.run_dir), _last_weights(tmp_path / "resumed")
    assert all(torch.equal(whole[k], resumed[k]) for k in whole)
    # metrics.jsonl is the same as the uninterrupted run's, apart from timings
    def strip(run_dir):
        return [{k: v for k, v in r.items() if "time" not in k and "per_s" not in k} for r in read_metrics(run_dir)]
    assert strip(tmp_path / "resumed") == strip(uninterrupted.run_dir)


def test_ctrl_c_saves_a_checkpoint_and_resume_continues_exactly(uninterrupted, tmp_path):
    config = TrainConfig(**TINY, out=str(tmp_path / "interrupted"))

    def press_ctrl_c(trainer):
        if trainer.step == 2:
            raise KeyboardInterrupt
    with pytest.raises(TrainingInterrupted, match="--resume"):
        train(config, on_step=press_ctrl_c, verbose=False)
    assert load_checkpoint(tmp_path / "interrupted" / "checkpoints" / "last.pt")["step"] == 2
    resumed = train(config, resume=True, verbose=False)
    assert resumed.step_losses == uninterrupted.step_losses
    whole, again = _last_weights(uninterrupted.run_dir), _last_weights(tmp_path / "interrupted")
    assert all(torch.equal(whole[k], again[k]) for k in whole)


def test_resume_refuses_a_checkpoint_of_another_run(uninterrupted, tmp_path):
    import shutil
    shutil.copytree(uninterrupted.run_dir, tmp_path / "copy")
    with pytest.raises(Exception, match="batch_size"):
        train(TrainConfig(**{**TINY, "batch_size": 16}, out=str(tmp_path / "copy")), resume=True, verbose=False)


def test_baseline_and_bf16_autocast_paths_on_cpu():
    result = train(TrainConfig(**{**TINY, "model": "baseline", "epochs": 1, "dtype": "bfloat16", "log_every": 0}),
                   verbose=False)
    assert result.summary["dtype"] == "bfloat16" and result.summary["model"] == "baseline"
    assert all(math.isfinite(loss) for loss in result.step_losses)
    assert autocast_dtype("auto", torch.device("cpu")) is None  # bf16 is opt-in on a CPU
    assert autocast_dtype("float32", torch.device("cpu")) is None


def test_config_checks():
    with pytest.raises(ValueError, match="dataset: expected one of"):
        TrainConfig(dataset="cifar").resolved()
    with pytest.raises(ValueError, match="batch_size"):
        TrainConfig(batch_size=0).resolved()
    quick = TrainConfig(mode="quick").resolved()
    full = TrainConfig(mode="full", dataset="mnist").resolved()
    assert quick.config == "small" and full.config == "paper" and full.train_size is None
    assert TrainConfig(mode="quick", dataset="affine").resolved().max_shift == 6


def test_accuracy_counts_single_and_two_digit_labels():
    from capslib.train.metrics import accuracy_counts
    scores = torch.tensor([[0.9, 0.1, 0.8], [0.2, 0.7, 0.6], [0.1, 0.2, 0.3]])
    assert accuracy_counts(scores, torch.tensor([0, 1, 0])) == 2
    # two digits: right when the two longest capsules are exactly the two labels, in any order
    assert accuracy_counts(scores, torch.tensor([[2, 0], [1, 2], [0, 1]])) == 2


@pytest.mark.parametrize("dataset, size, labels_per_image", [("affine", 40, 1), ("multimnist", 36, 2),
                                                             ("fashion-mnist", 28, 1)])
def test_every_dataset_loads_on_the_device_with_its_shapes(dataset, size, labels_per_image):
    from capslib.train.trainer import load_run_data
    config = TrainConfig(**{**TINY, "dataset": dataset, "train_size": 64, "test_size": 32}).resolved()
    data = load_run_data(config, torch.device("cpu"), verbose=False)
    for split in (data.train, data.validation, data.test):
        assert split.images.shape[1:] == (1, size, size) and split.labels_per_image == labels_per_image
    assert len(data.train) == 64 and len(data.validation) == 64 and len(data.test) == 32
    if dataset == "affine":
        assert config.max_shift == 6 and "affine" in data.name
        # training digits are centred on the canvas (the shift comes per epoch); the border is empty
        assert data.train.images[:, :, :6].abs().sum() == 0


def test_multimnist_trains_with_both_labels():
    result = train(TrainConfig(**{**TINY, "dataset": "multimnist", "epochs": 1, "train_size": 64, "test_size": 32,
                                  "log_every": 0}), verbose=False)
    assert result.summary["dataset"] == "multimnist" and len(result.step_losses) == 2
    assert all(math.isfinite(loss) for loss in result.step_losses)


@pytest.mark.slow
def test_compiled_training_matches_eager_training():
    """torch.compile (aot_eager on a CPU: the same traced graphs, no C++ compiler) trains the same steps."""
    settings = {**TINY, "epochs": 1, "train_size": 64, "log_every": 0}
    eager = train(TrainConfig(**settings), verbose=False)
    compiled = train(TrainConfig(**settings, compile=True, compile_backend="aot_eager"), verbose=False)
    assert compiled.summary["compile"] is True and len(compiled.step_losses) == 2
    assert compiled.step_losses == pytest.approx(eager.step_losses, rel=1e-4, abs=1e-6)


def test_mnist_in_quick_mode_uses_the_sample_offline_and_full_mode_refuses(monkeypatch, tmp_path, capsys):
    """Quick mode runs on any machine (the sample, announced); full mode never trains on the sample."""
    import socket

    from capslib.data import DataNotFoundError, sources
    from capslib.train.trainer import load_run_data

    with socket.socket() as s:  # a closed loopback port: "no network" answered at once
        s.bind(("127.0.0.1", 0))
        monkeypatch.setattr(sources, "NETWORK_PROBE", s.getsockname())
    monkeypatch.setenv("CAPSLIB_DATA", str(tmp_path))
    quick = TrainConfig(dataset="mnist", mode="quick", train_size=64, validation_size=32, test_size=64).resolved()
    data = load_run_data(quick, torch.device("cpu"))
    assert data.name == "MNIST sample" and "5,000-digit training sample" in capsys.readouterr().out
    with pytest.raises(DataNotFoundError, match="CAPSLIB_DATA"):
        load_run_data(TrainConfig(dataset="mnist", mode="full").resolved(), torch.device("cpu"))
