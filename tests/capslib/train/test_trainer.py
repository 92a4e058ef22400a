"""The trainer: learning-rate schedule, exact resume after a stop or Ctrl-C, metrics, model selection."""

import json
import math

import pytest
import torch

from capslib.train import (
    TrainConfig,
    TrainingInterrupted,
    load_checkpoint,
    plot_metrics,
    read_metrics,
    train,
)
from capslib.train.step import autocast_dtype, make_scheduler


@pytest.fixture(scope="module")
def tiny(tiny_run):
    """This file's tiny run (tests/capslib/conftest.py)."""
    return tiny_run(test_size=128, log_every=1)  # exact comparisons: pin the dtype


def _last_weights(run_dir):
    return load_checkpoint(run_dir / "checkpoints" / "last.pt")["model"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, tiny):
    out = tmp_path_factory.mktemp("runs") / "whole"
    return train(TrainConfig(**tiny, out=str(out)), verbose=False)


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
                assert math.isclose(
                    scheduler.get_last_lr()[0], 1e-3 * 0.96**exponent, rel_tol=1e-9
                )


def test_run_writes_metrics_checkpoints_and_summary(uninterrupted):
    run_dir = uninterrupted.run_dir
    records = read_metrics(run_dir)
    epochs = [r for r in records if r["kind"] == "epoch"]
    steps = [r for r in records if r["kind"] == "step"]
    assert [r["epoch"] for r in epochs] == [1, 2] and len(steps) == 6 == len(
        uninterrupted.step_losses
    )
    assert [r["loss"] for r in steps] == uninterrupted.step_losses
    assert all(0 <= r["val_accuracy"] <= 1 and r["images_per_s"] > 0 for r in epochs)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert (
        summary["steps"] == 6 and summary["epochs"] == 2 and summary["train_size"] == 96
    )
    # The test accuracy is that of the model chosen on validation.
    best = max(epochs, key=lambda r: r["val_accuracy"])
    assert (
        summary["best_val_accuracy"] == best["val_accuracy"]
        and summary["best_val_epoch"] == best["epoch"]
    )
    assert (run_dir / "checkpoints" / "best.pt").is_file() and (
        run_dir / "checkpoints" / "last.prev.pt"
    ).is_file()
    figure = plot_metrics(run_dir)
    assert len(figure.axes) == 2


def test_stop_and_resume_is_bitwise_exact(uninterrupted, tmp_path, tiny):
    """Stopped mid-epoch after 4 of 6 steps, then resumed: same per-step losses and final weights, bit for bit."""
    config = TrainConfig(**tiny, out=str(tmp_path / "resumed"))
    first = train(config, max_steps=4, verbose=False)
    assert first.status == "stopped" and len(first.step_losses) == 4
    assert first.step_losses == uninterrupted.step_losses[:4]
    stopped_wall_time = load_checkpoint(
        tmp_path / "resumed" / "checkpoints" / "last.pt"
    )["wall_time"]
    second = train(config, resume=True, verbose=False)
    assert (
        second.status == "finished" and second.step_losses == uninterrupted.step_losses
    )
    assert (
        second.summary["wall_time_s"] > stopped_wall_time > 0
    )  # the wall time counts both parts
    whole, resumed = (
        _last_weights(uninterrupted.run_dir),
        _last_weights(tmp_path / "resumed"),
    )
    assert all(torch.equal(whole[k], resumed[k]) for k in whole)

    # metrics.jsonl is the same as the uninterrupted run's, apart from timings
    def strip(run_dir):
        return [
            {k: v for k, v in r.items() if "time" not in k and "per_s" not in k}
            for r in read_metrics(run_dir)
        ]

    assert strip(tmp_path / "resumed") == strip(uninterrupted.run_dir)


def test_ctrl_c_saves_a_checkpoint_and_resume_continues_exactly(
    uninterrupted, tmp_path, tiny
):
    config = TrainConfig(**tiny, out=str(tmp_path / "interrupted"))

    def press_ctrl_c(trainer):
        if trainer.step == 2:
            raise KeyboardInterrupt

    with pytest.raises(TrainingInterrupted, match="--resume"):
        train(config, on_step=press_ctrl_c, verbose=False)
    assert (
        load_checkpoint(tmp_path / "interrupted" / "checkpoints" / "last.pt")["step"]
        == 2
    )
    resumed = train(config, resume=True, verbose=False)
    assert resumed.step_losses == uninterrupted.step_losses
    whole, again = (
        _last_weights(uninterrupted.run_dir),
        _last_weights(tmp_path / "interrupted"),
    )
    assert all(torch.equal(whole[k], again[k]) for k in whole)


def test_resume_refuses_a_checkpoint_of_another_run(uninterrupted, tmp_path, tiny):
    import shutil

    shutil.copytree(uninterrupted.run_dir, tmp_path / "copy")
    with pytest.raises(Exception, match="batch_size"):
        train(
            TrainConfig(**{**tiny, "batch_size": 16}, out=str(tmp_path / "copy")),
            resume=True,
            verbose=False,
        )


def test_baseline_and_bf16_autocast_paths_on_cpu(tiny):
    result = train(
        TrainConfig(
            **{
                **tiny,
                "model": "baseline",
                "epochs": 1,
                "dtype": "bfloat16",
                "log_every": 0,
            }
        ),
        verbose=False,
    )
    assert (
        result.summary["dtype"] == "bfloat16" and result.summary["model"] == "baseline"
    )
    assert all(math.isfinite(loss) for loss in result.step_losses)
    assert autocast_dtype("float32", torch.device("cpu")) is None
    assert autocast_dtype("bfloat16", torch.device("cpu")) is torch.bfloat16


def test_config_checks():
    with pytest.raises(ValueError, match="dataset: expected one of"):
        TrainConfig(dataset="cifar").resolved()
    with pytest.raises(ValueError, match="batch_size"):
        TrainConfig(batch_size=0).resolved()
    quick = TrainConfig(mode="quick").resolved()
    full = TrainConfig(mode="full", dataset="mnist").resolved()
    assert (
        quick.config == "small" and full.config == "paper" and full.train_size is None
    )
    assert TrainConfig(mode="quick", dataset="affine").resolved().max_shift == 6


def test_accuracy_counts_single_and_two_digit_labels():
    from capslib.train.metrics import accuracy_counts

    scores = torch.tensor([[0.9, 0.1, 0.8], [0.2, 0.7, 0.6], [0.1, 0.2, 0.3]])
    assert accuracy_counts(scores, torch.tensor([0, 1, 0])) == 2
    # two digits: right when the two longest capsules are exactly the two labels, in any order
    assert accuracy_counts(scores, torch.tensor([[2, 0], [1, 2], [0, 1]])) == 2


@pytest.mark.parametrize(
    "dataset, size, labels_per_image",
    [("affine", 40, 1), ("multimnist", 36, 2), ("fashion-mnist", 28, 1)],
)
def test_every_dataset_loads_on_the_device_with_its_shapes(
    dataset, size, labels_per_image, tiny
):
    from capslib.train.run_data import load_run_data

    config = TrainConfig(
        **{**tiny, "dataset": dataset, "train_size": 64, "test_size": 32}
    ).resolved()
    data = load_run_data(config, torch.device("cpu"), verbose=False)
    for split in (data.train, data.validation, data.test):
        assert split.image_size == size and split.labels_per_image == labels_per_image
    assert len(data.train) == 64 and len(data.validation) == 64 and len(data.test) == 32
    if dataset == "affine":
        assert config.max_shift == 6 and "affine" in data.name
        # training digits are centred on the canvas (the shift comes per epoch); the border is empty
        assert data.train.images[:, :, :6].abs().sum() == 0


def test_multimnist_pairs_are_made_on_demand_fresh_each_epoch_from_uint8_digits(tiny):
    from capslib.train.run_data import load_run_data

    config = TrainConfig(
        **{**tiny, "dataset": "multimnist", "train_size": 64, "test_size": 32}
    ).resolved()
    assert config.max_shift == 0  # no 2-px shift on top of MultiMNIST's own 4-px shifts
    data = load_run_data(config, torch.device("cpu"), verbose=False)
    assert (
        data.train.digits.dtype == torch.uint8
    )  # stored compactly: 784 bytes per digit, no pairs stored
    images, labels, components = next(data.train.batches(16, epoch=0))
    assert (
        images.shape == (16, 1, 36, 36)
        and labels.shape == (16, 2)
        and components.shape == (16, 2, 1, 36, 36)
    )
    assert (labels[:, 0] != labels[:, 1]).all()  # two different classes
    torch.testing.assert_close(
        images, components.sum(1).clamp(max=1)
    )  # the overlay of its two digits
    again, _, _ = next(data.train.batches(16, epoch=0))
    other, _, _ = next(data.train.batches(16, epoch=1))
    assert torch.equal(images, again) and not torch.equal(
        images, other
    )  # fresh pairs per epoch, reproducibly
    v1, v2 = (
        next(data.validation.batches(16, epoch=0))[0],
        next(data.validation.batches(16, epoch=5))[0],
    )
    assert torch.equal(v1, v2)  # evaluation sets are fixed


def test_multimnist_reconstructs_each_digit_from_its_own_capsule(monkeypatch, tiny):
    """The loss decodes each label's capsule alone and compares it with that digit's image (paper, Section 6)."""
    from capslib.models import capsnet_loss
    from capslib.train import Trainer

    trainer = Trainer(
        TrainConfig(
            **{**tiny, "dataset": "multimnist", "train_size": 64, "test_size": 32}
        ),
        verbose=False,
    )
    trainer.setup()
    images, labels, components = next(trainer.data.train.batches(8, epoch=0))
    seen = []
    real_decoder = trainer.model.decoder.forward

    def decoder(poses, targets=None, mask_with=None):
        seen.append(mask_with.clone())
        return real_decoder(poses, targets=targets, mask_with=mask_with)

    monkeypatch.setattr(trainer.model.decoder, "forward", decoder)
    loss, _ = trainer.compute_loss(trainer.model, images, labels, components)
    assert (
        len(seen) == 2
        and torch.equal(seen[0], labels[:, 0])
        and torch.equal(seen[1], labels[:, 1])
    )
    monkeypatch.undo()
    output = trainer.model(images, mask_each=labels)
    by_hand = sum(
        0.0005
        * ((output.reconstructions[:, d] - components[:, d]) ** 2).sum((1, 2, 3)).mean()
        for d in range(2)
    )
    targets = torch.nn.functional.one_hot(labels, 10).sum(1)
    assert capsnet_loss(
        output, components, targets, trainer.model.config
    ).reconstruction.item() == pytest.approx(by_hand.item(), rel=1e-5)


def test_multimnist_trains_with_both_labels(tiny):
    result = train(
        TrainConfig(
            **{
                **tiny,
                "dataset": "multimnist",
                "epochs": 1,
                "train_size": 64,
                "test_size": 32,
                "log_every": 0,
            }
        ),
        verbose=False,
    )
    assert result.summary["dataset"] == "multimnist" and len(result.step_losses) == 2
    assert all(math.isfinite(loss) for loss in result.step_losses)


@pytest.mark.slow
def test_compiled_training_matches_eager_training(tiny):
    """torch.compile (aot_eager on a CPU: the same traced graphs, no C++ compiler) trains the same steps."""
    settings = {**tiny, "epochs": 1, "train_size": 64, "log_every": 0}
    eager = train(TrainConfig(**settings), verbose=False)
    compiled = train(
        TrainConfig(**settings, compile=True, compile_backend="aot_eager"),
        verbose=False,
    )
    assert compiled.summary["compile"] is True and len(compiled.step_losses) == 2
    assert compiled.step_losses == pytest.approx(eager.step_losses, rel=1e-4, abs=1e-6)


def test_mnist_in_quick_mode_uses_the_sample_offline_and_full_mode_refuses(
    monkeypatch, tmp_path, capsys
):
    """Quick mode runs on any machine (the sample, announced); full mode never trains on the sample."""
    import socket

    from capslib.data import DataNotFoundError, sources
    from capslib.train.run_data import load_run_data

    with socket.socket() as s:  # a closed loopback port: "no network" answered at once
        s.bind(("127.0.0.1", 0))
        monkeypatch.setattr(sources, "NETWORK_PROBE", s.getsockname())
    monkeypatch.setenv("CAPSLIB_DATA", str(tmp_path))
    quick = TrainConfig(
        dataset="mnist", mode="quick", train_size=64, validation_size=32, test_size=64
    ).resolved()
    data = load_run_data(quick, torch.device("cpu"))
    assert (
        data.name == "MNIST sample"
        and "5,000-digit training sample" in capsys.readouterr().out
    )
    with pytest.raises(DataNotFoundError, match="CAPSLIB_DATA"):
        load_run_data(
            TrainConfig(dataset="mnist", mode="full").resolved(), torch.device("cpu")
        )


# ----------------------------------------------------------------------------
# resume: what may change, what may not; a crash between the checkpoint's renames
# ----------------------------------------------------------------------------
def _copy_run(run_dir, tmp_path, name="copy"):
    import shutil

    shutil.copytree(run_dir, tmp_path / name)
    return tmp_path / name


def _saved_config(run_dir):
    return json.loads(load_checkpoint(run_dir / "checkpoints" / "last.pt")["config"])


def test_resume_refuses_a_changed_augmentation_naming_both_values_and_the_fix(
    uninterrupted, tmp_path, tiny
):
    from capslib.train import CheckpointError

    run_dir = _copy_run(uninterrupted.run_dir, tmp_path)
    before = (run_dir / "checkpoints" / "last.pt").read_bytes()
    with pytest.raises(CheckpointError) as err:
        train(
            TrainConfig(**{**tiny, "max_shift": 4}, out=str(run_dir)),
            resume=True,
            verbose=False,
        )
    message = str(err.value)
    assert "max_shift (--max-shift): checkpoint 2, requested 4" in message
    assert "checkpoint's settings" in message and "new --out" in message
    assert (
        run_dir / "checkpoints" / "last.pt"
    ).read_bytes() == before  # nothing was touched


@pytest.mark.parametrize(
    "field, value",
    [
        ("max_shift", 0),
        ("train_size", 64),
        ("validation_size", 32),
        ("lr", 3e-3),
        ("lr_decay", 0.5),
        ("lr_decay_steps", 100),
        ("staircase", True),
        ("seed", 1),
        ("batch_size", 16),
        ("model", "baseline"),
        ("config", "small"),
        ("dataset", "fashion-mnist"),
        ("routing_iterations", 2),
        ("reconstruction", False),
    ],
)
def test_resume_refuses_every_setting_that_changes_training(
    uninterrupted, field, value, tiny
):
    from capslib.train import CheckpointError, Trainer

    saved = _saved_config(uninterrupted.run_dir)
    assert saved[field] != value
    trainer = Trainer(
        TrainConfig(**{**tiny, field: value}, out=str(uninterrupted.run_dir)),
        verbose=False,
    )
    with pytest.raises(CheckpointError) as err:
        trainer.check_resumable(
            saved, uninterrupted.run_dir / "checkpoints" / "last.pt"
        )
    assert f"{field} (" in str(err.value)
    assert f"checkpoint {saved[field]!r}, requested {value!r}" in str(err.value)


def test_resume_refuses_another_dtype_than_the_checkpoint_trained_in(
    uninterrupted, tmp_path, tiny
):
    from capslib.train import CheckpointError

    run_dir = _copy_run(uninterrupted.run_dir, tmp_path)
    trained = uninterrupted.summary["dtype"]  # what --dtype auto chose on this machine
    other = "float32" if trained == "bfloat16" else "bfloat16"
    with pytest.raises(
        CheckpointError,
        match=f"trained in {trained}, and --dtype {other} chooses {other}",
    ):
        train(
            TrainConfig(**{**tiny, "dtype": other}, out=str(run_dir)),
            resume=True,
            verbose=False,
        )


def test_every_config_field_is_either_compared_or_allowed_to_change_on_purpose(tiny):
    """A new TrainConfig field is compared on resume unless it is added to RESUMABLE_CHANGES deliberately."""
    import dataclasses

    from capslib.train import Trainer
    from capslib.train.config import RESUMABLE_CHANGES

    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    assert RESUMABLE_CHANGES <= fields
    assert RESUMABLE_CHANGES == {
        "epochs",
        "max_steps",
        "progress",
        "log_every",
        "compile",
        "compile_backend",
        "device",
        "deterministic",
        "eval_batch_size",
        "test_size",
        "mode",
        "out",
        "value_checks",
        "stop_at_val_accuracy",
        "dtype",
    }  # dtype: as chosen, below
    trainer = Trainer(TrainConfig(**tiny), verbose=False)
    saved = dataclasses.asdict(trainer.config)
    trainer.check_resumable(dict(saved), "x")  # the same settings resume
    for name in (
        RESUMABLE_CHANGES
    ):  # the allowed changes resume too (any value: the check does not look)
        trainer.check_resumable({**saved, name: "something else"}, "x")


def test_resume_may_extend_the_run_and_change_how_it_is_shown(
    uninterrupted, tmp_path, tiny
):
    """epochs (extending a finished run), log_every, progress, eval_batch_size and test_size may change."""
    run_dir = _copy_run(uninterrupted.run_dir, tmp_path)
    more = TrainConfig(
        **{
            **tiny,
            "epochs": 3,
            "log_every": 0,
            "progress": False,
            "eval_batch_size": 32,
            "test_size": 64,
            "compile_backend": "aot_eager",
        },
        out=str(run_dir),
    )
    result = train(more, resume=True, verbose=False)
    assert (
        result.status == "finished"
        and result.summary["epochs"] == 3
        and result.summary["steps"] == 9
    )
    assert (
        result.step_losses[:6] == uninterrupted.step_losses
        and len(result.step_losses) == 9
    )
    assert [r["epoch"] for r in read_metrics(run_dir) if r["kind"] == "epoch"] == [
        1,
        2,
        3,
    ]


def test_resume_after_a_crash_between_the_renames_uses_the_previous_checkpoint(
    uninterrupted, tmp_path, capsys, tiny
):
    """The state a crash between save_checkpoint's two os.replace calls leaves: no last.pt, a good last.prev.pt.

    At the end of epoch 2 the run moved the epoch-1 checkpoint to last.prev.pt and died before the new one took
    the name last.pt.  --resume takes last.prev.pt, says so (whatever verbose says), redoes epoch 2, and on a
    CPU ends bitwise where the uninterrupted run ended.
    """
    run_dir = _copy_run(uninterrupted.run_dir, tmp_path)
    checkpoints = run_dir / "checkpoints"
    (checkpoints / "last.pt").unlink()
    (run_dir / "summary.json").unlink()
    (checkpoints / ".last.pt.tmp-999").write_bytes(b"left by the crash")
    assert load_checkpoint(checkpoints / "last.prev.pt")["epoch"] == 1
    result = train(TrainConfig(**tiny, out=str(run_dir)), resume=True, verbose=False)
    err = capsys.readouterr().err
    assert f"Resuming from {checkpoints / 'last.prev.pt'}" in err and "one epoch" in err
    assert str(checkpoints / "last.pt") in err and "missing" in err
    assert (
        result.status == "finished" and result.step_losses == uninterrupted.step_losses
    )
    whole, redone = _last_weights(uninterrupted.run_dir), _last_weights(run_dir)
    assert all(torch.equal(whole[k], redone[k]) for k in whole)
    assert (
        json.loads((run_dir / "summary.json").read_text())["best_val_epoch"]
        == uninterrupted.summary["best_val_epoch"]
    )
    # metrics.jsonl: the redone epoch replaced the first attempt's records instead of being appended twice
    assert [r["epoch"] for r in read_metrics(run_dir) if r["kind"] == "epoch"] == [1, 2]


def test_resume_keeps_the_record_of_a_best_model_newer_than_the_checkpoint(
    uninterrupted, tmp_path, tiny
):
    """best.pt is written just before the epoch's checkpoint; a crash in between leaves it newer than last.pt.

    The resumed run keeps its record (it holds a real evaluated model): the summary must describe the model
    best.pt holds, not an older epoch.
    """
    import shutil

    from capslib.train.checkpoint import save_checkpoint

    run_dir = _copy_run(uninterrupted.run_dir, tmp_path)
    checkpoints = run_dir / "checkpoints"
    shutil.copy(
        checkpoints / "last.prev.pt", checkpoints / "last.pt"
    )  # the epoch-2 checkpoint never got written
    best = torch.load(checkpoints / "best.pt", weights_only=True)
    best.update(
        epoch=2, step=6, val_accuracy=1.0
    )  # a best model of epoch 2 that the redone epoch cannot beat
    save_checkpoint(
        checkpoints / "best.pt", best
    )  # (re-checksummed, as the trainer writes it)
    result = train(TrainConfig(**tiny, out=str(run_dir)), resume=True, verbose=False)
    assert (result.summary["best_val_accuracy"], result.summary["best_val_epoch"]) == (
        1.0,
        2,
    )


# ----------------------------------------------------------------------------
# evaluation: no augmentation, no randomness
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("model", ["capsnet", "baseline"])
def test_evaluation_is_unaugmented_whatever_the_shift_setting_and_rng(model, tiny):
    """Trainer.evaluate on the same weights gives the same loss and accuracy for max_shift 0, 2 or 6 and any RNG
    state, equal to the model run by hand on the unshifted validation images (in eval mode: no dropout)."""
    from capslib.data.device import random_shifts, shift_images
    from capslib.train import Trainer

    results, weights = [], None
    for max_shift, rng_seed in ((0, 1), (2, 2), (6, 3)):
        trainer = Trainer(
            TrainConfig(**{**tiny, "model": model, "max_shift": max_shift}),
            verbose=False,
        )
        trainer.setup()
        if weights is None:
            weights = {k: v.clone() for k, v in trainer.model.state_dict().items()}
        trainer.model.load_state_dict(weights)
        torch.manual_seed(rng_seed)
        results.append(trainer.evaluate(trainer.data.validation))
    assert results[0] == results[1] == results[2]

    validation = trainer.data.validation
    assert (
        len(validation) == tiny["eval_batch_size"]
    )  # one batch: the hand computation sums the same way
    trainer.model.eval()
    with torch.no_grad():
        loss, scores = trainer.compute_loss(
            trainer.model, validation.images, validation.labels
        )
        accuracy = (scores.argmax(1) == validation.labels).double().mean().item()
        assert results[0] == {"loss": loss.double().item(), "accuracy": accuracy}
        # The check has teeth: evaluating shifted images would give another loss.
        shifts = random_shifts(
            len(validation), 2, generator=torch.Generator().manual_seed(0)
        )
        shifted_loss, _ = trainer.compute_loss(
            trainer.model, shift_images(validation.images, shifts, 2), validation.labels
        )
        assert shifted_loss.item() != loss.item()


def _zero_gradient_fraction(tiny, dtype: str) -> float:
    """One step on 8 digits at init: the fraction of DigitCaps weight gradients that are exactly zero."""
    from capslib.train import Trainer

    trainer = Trainer(
        TrainConfig(**{**tiny, "dtype": dtype, "train_size": 64}), verbose=False
    )
    trainer.setup()
    images, labels, _ = next(
        trainer.batches(trainer.data.train, epoch=0, training=True)
    )
    images, labels = images[:8], labels[:8]
    with trainer._autocast():
        loss, _ = trainer.compute_loss(trainer.model, images, labels)
    trainer.optimizer.zero_grad()
    (trainer.scaler.scale(loss) if trainer.scaler is not None else loss).backward()
    grad = trainer.model.digit_caps.weight.grad
    return float((grad == 0).float().mean())


def test_float16_training_scales_the_loss_so_gradients_do_not_flush_to_zero(tiny):
    """Without loss scaling, fp16 autocast flushed a third of the DigitCaps gradients to zero (issue 14)."""
    from capslib.train import Trainer

    fp16 = Trainer(TrainConfig(**{**tiny, "dtype": "float16"}), verbose=False)
    fp16.setup()
    assert fp16.scaler is not None and fp16.scaler.get_scale() > 1
    assert _zero_gradient_fraction(tiny, "float16") == pytest.approx(
        _zero_gradient_fraction(tiny, "float32"), abs=0.01
    )


def test_a_diverging_run_stops_naming_the_step_and_keeps_its_last_good_checkpoint(
    tmp_path,
    tiny,
):
    from capslib.train import TrainingDiverged

    run = tmp_path / "run"
    train(TrainConfig(**{**tiny, "epochs": 1, "out": str(run)}), verbose=False)
    good = (run / "checkpoints" / "last.pt").read_bytes()
    with pytest.raises(
        TrainingDiverged, match=r"diverged at step \d+ .*last good checkpoint"
    ):
        _diverge(tiny, run)
    assert (run / "checkpoints" / "last.pt").read_bytes() == good


def _diverge(tiny, run):
    """Continue the run after making its weights NaN in a step hook: the next steps' losses are NaN."""

    def poison(trainer):
        if trainer.step == trainer.config.max_steps - 3:
            with torch.no_grad():
                trainer.model.digit_caps.weight.fill_(float("nan"))

    return train(
        TrainConfig(**{**tiny, "epochs": 2, "out": str(run), "max_steps": 8}),
        resume=True,
        verbose=False,
        on_step=poison,
    )


@pytest.mark.parametrize(
    "value_checks, expected",
    [
        ("always", [True, True, True]),
        ("epoch-start", [True, False, False]),
        ("off", [False, False, False]),
    ],
)
def test_value_checks_run_when_asked(value_checks, expected, monkeypatch, tiny):
    import capslib.functional as functional

    seen = []
    real = functional._checking_values

    def spy():
        seen.append(functional._value_checks_enabled)
        return real()

    monkeypatch.setattr(functional, "_checking_values", spy)
    steps = []

    def record(trainer):
        steps.append(bool(seen) and seen[-1])
        seen.clear()

    train(
        TrainConfig(
            **{
                **tiny,
                "epochs": 1,
                "value_checks": value_checks,
                "max_steps": 3,
                "train_size": 512,
            }
        ),
        verbose=False,
        on_step=record,
    )
    assert steps == expected


def test_training_stops_at_a_target_validation_accuracy(tmp_path, tiny):
    from capslib.train import read_metrics

    target = 0.2
    result = train(
        TrainConfig(
            **{
                **tiny,
                "epochs": 8,
                "stop_at_val_accuracy": target,
                "out": str(tmp_path / "r"),
            }
        ),
        verbose=False,
    )
    accuracies = [
        r["val_accuracy"] for r in read_metrics(tmp_path / "r") if r["kind"] == "epoch"
    ]
    assert result.summary["reached_target"] is True and accuracies[-1] >= target
    assert all(
        a < target for a in accuracies[:-1]
    )  # it stopped at the first epoch that reached it
    assert result.summary["epochs"] == len(accuracies) < 8
    assert result.summary["best_val_accuracy"] == accuracies[-1]


def test_pooled_cnn_matches_the_capsnet_parameter_count_within_a_few_percent():
    from capslib.builders import build_model
    from capslib.nn import count_parameters

    for size in (28, 40):
        capsnet = build_model(TrainConfig(model="capsnet", config="small"), size)
        cnn = build_model(TrainConfig(model="pooled-cnn", config="small"), size)
        n_caps, n_cnn = (count_parameters(m) for m in (capsnet, cnn))
        assert abs(n_cnn / n_caps - 1) < 0.01
        assert any(isinstance(m, torch.nn.MaxPool2d) for m in cnn.modules())
        assert any(isinstance(m, torch.nn.Dropout) for m in cnn.modules())


@pytest.mark.parametrize(
    "field, value, message",
    [("lr", float("inf"), "finite lr"), ("max_shift", 28, "max-shift")],
)
def test_nonsense_settings_are_refused(field, value, message, tiny):
    with pytest.raises(ValueError, match=message):
        train(TrainConfig(**{**tiny, field: value}), verbose=False)


def test_test_each_epoch_records_the_test_accuracy_without_choosing_on_it(
    tmp_path, tiny
):
    """Each epoch's record holds the test accuracy of that epoch's model (the final one equals a
    fresh evaluation of the last weights); the model is still chosen on validation, and the summary's
    time to accuracy is the first epoch that reached each target."""
    from capslib.train import Trainer, read_metrics, time_to_accuracy

    result = train(
        TrainConfig(
            **{**tiny, "epochs": 3, "test_each_epoch": True, "out": str(tmp_path / "r")}
        ),
        verbose=False,
    )
    epochs = [r for r in read_metrics(tmp_path / "r") if r["kind"] == "epoch"]
    assert [r["epoch"] for r in epochs] == [1, 2, 3]
    for r in epochs:
        assert 0 <= r["test_accuracy"] <= 1 and r["test_loss"] > 0
        assert r["wall_time_s"] >= r["train_time_s"] > 0
    walls = [r["wall_time_s"] for r in epochs]
    assert walls == sorted(walls)
    trainer = Trainer(
        TrainConfig(**{**tiny, "epochs": 3, "out": str(tmp_path / "r")}), verbose=False
    )
    trainer.setup()
    trainer.model.load_state_dict(_last_weights(tmp_path / "r"))
    assert (
        trainer.evaluate(trainer.data.test)["accuracy"] == epochs[-1]["test_accuracy"]
    )
    best = max(epochs, key=lambda r: (r["val_accuracy"], -r["epoch"]))
    assert result.summary["best_val_epoch"] == best["epoch"]  # chosen on validation
    assert result.summary["test_each_epoch"] is True
    times = result.summary["time_to_test_accuracy"]
    assert set(times) == {"0.99", "0.995"}
    lowest = min(r["test_accuracy"] for r in epochs)
    first = time_to_accuracy(epochs, lowest)
    assert first == {
        "target": lowest,
        "epoch": next(r["epoch"] for r in epochs if r["test_accuracy"] >= lowest),
        "test_accuracy": next(
            r["test_accuracy"] for r in epochs if r["test_accuracy"] >= lowest
        ),
        "train_time_s": next(
            r["train_time_s"] for r in epochs if r["test_accuracy"] >= lowest
        ),
        "wall_time_s": next(
            r["wall_time_s"] for r in epochs if r["test_accuracy"] >= lowest
        ),
    }


def test_a_run_without_test_each_epoch_keeps_the_test_set_for_the_end(uninterrupted):
    from capslib.train import read_metrics, time_to_accuracy

    epochs = [r for r in read_metrics(uninterrupted.run_dir) if r["kind"] == "epoch"]
    assert epochs and all("test_accuracy" not in r for r in epochs)
    assert uninterrupted.summary["time_to_test_accuracy"] is None
    with pytest.raises(ValueError, match="--test-each-epoch"):
        time_to_accuracy(epochs, 0.99)
