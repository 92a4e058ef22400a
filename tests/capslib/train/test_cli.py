"""``python -m capslib.train`` end to end on the MNIST sample in quick mode, and its errors."""

import json
import os
import subprocess
import sys

import pytest

from capslib.train import validate_summary

ARGS = [
    "--config",
    "tiny",
    "--dataset",
    "mnist-sample",
    "--epochs",
    "2",
    "--batch-size",
    "32",
    "--train-size",
    "64",
    "--validation-size",
    "64",
    "--test-size",
    "128",
    "--device",
    "cpu",
    "--no-progress",
]


def _cli(*args, timeout=120):
    env = {
        **os.environ,
        "CAPSLIB_MODE": "quick",
        "CAPSLIB_DATA": "/nonexistent-so-the-sample-is-used",
    }
    return subprocess.run(
        [sys.executable, "-m", "capslib.train", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "quick"
    done = _cli(*ARGS, "--out", str(out))
    assert done.returncode == 0, done.stderr
    return out, done


@pytest.mark.slow
def test_cli_end_to_end_writes_a_valid_summary(cli_run):
    out, done = cli_run
    summary = validate_summary(json.loads((out / "summary.json").read_text()))
    assert summary["mode"] == "quick" and summary["dataset"] == "mnist-sample"
    assert (
        summary["train_size"],
        summary["validation_size"],
        summary["test_size"],
    ) == (64, 64, 128)
    from capslib.precision import choose_dtype

    assert summary["steps"] == 4 and summary["epochs"] == 2
    assert (summary["dtype"], summary["dtype_reason"]) == (
        choose_dtype("auto", "cpu").name,
        choose_dtype("auto", "cpu").reason,
    )  # --dtype auto
    assert summary["device_name"].startswith("CPU") and summary["torch_version"]
    assert summary["git_commit"] == "unknown" or len(summary["git_commit"]) >= 40
    assert (
        "mode=quick | data=MNIST sample: 64 train / 64 validation / 128 test | device=CPU"
        in done.stdout
    )
    assert (out / "metrics.jsonl").is_file() and (
        out / "checkpoints" / "last.pt"
    ).is_file()


def test_cli_resume_with_a_missing_or_corrupt_checkpoint(
    cli_run, tmp_path, capsys, monkeypatch
):
    from capslib.train.__main__ import main

    monkeypatch.setenv("CAPSLIB_MODE", "quick")
    assert main([*ARGS, "--out", str(tmp_path / "never-trained"), "--resume"]) == 2
    err = capsys.readouterr().err
    assert "no checkpoint at" in err and "without --resume" in err
    out, _ = cli_run
    last = out / "checkpoints" / "last.pt"
    previous = out / "checkpoints" / "last.prev.pt"
    kept = previous.read_bytes()
    last.write_bytes(b"not a checkpoint")
    assert main([*ARGS, "--out", str(out), "--resume"]) == 2
    err = capsys.readouterr().err
    assert str(last) in err and "corrupt" in err and "last.prev.pt" in err
    assert previous.read_bytes() == kept and last.read_bytes() == b"not a checkpoint"


def test_validate_summary_names_every_problem():
    good = {
        "status": "finished",
        "describe": "x",
        "git_commit": "unknown",
        "torch_version": "2",
        "device_name": "CPU",
        "mode": "quick",
        "dataset": "mnist",
        "data": "d",
        "train_size": 1,
        "validation_size": 1,
        "test_size": 1,
        "model": "capsnet",
        "epochs": 1,
        "steps": 1,
        "batch_size": 1,
        "dtype": "float32",
        "compile": False,
        "wall_time_s": 1.0,
        "images_per_s": 2.0,
        "best_val_accuracy": 0.5,
        "best_val_epoch": 1,
        "test_accuracy": 0.5,
        "config": {},
    }
    assert validate_summary(dict(good)) == good
    bad = {**good, "test_accuracy": 99.2, "mode": "fast", "compile": "no"}
    del bad["git_commit"]
    with pytest.raises(ValueError) as err:
        validate_summary(bad)
    assert "missing 'git_commit'" in str(
        err.value
    ) and "'compile': expected bool" in str(err.value)
    with pytest.raises(ValueError, match=r"'test_accuracy': expected a fraction"):
        validate_summary({**good, "test_accuracy": 99.2})
    with pytest.raises(ValueError, match="expected quick or full"):
        validate_summary({**good, "mode": "fast"})


# -- --schedule: a named schedule instead of flags to remember -----------------------


def test_the_shipped_schedule_fills_the_flags_not_given():
    from capslib.train.__main__ import config_from_args, parse_args
    from capslib.train.config import SCHEDULES

    plain = config_from_args(parse_args(["--dataset", "mnist"]))
    shipped = config_from_args(
        parse_args(["--dataset", "mnist", "--schedule", "shipped"])
    )
    for field, value in SCHEDULES["shipped"].items():
        assert getattr(shipped, field) == value, field
    # without it, the trainer's (official) schedule: 0.96 per 2,000 steps
    assert (plain.lr_decay, plain.lr_decay_steps) == (0.96, 2000)
    assert plain.validation_size is None  # the mode's default


def test_a_flag_given_overrides_the_schedule_in_either_order():
    from capslib.train.__main__ import config_from_args, parse_args

    for argv in (
        ["--schedule", "shipped", "--lr-decay", "0.5", "--seed", "3"],
        ["--lr-decay", "0.5", "--seed", "3", "--schedule", "shipped"],
    ):
        config = config_from_args(parse_args(argv))
        assert (config.lr_decay, config.seed) == (0.5, 3)
        assert config.lr_decay_steps == 430 and config.batch_size == 128


def test_an_unknown_schedule_is_refused_naming_the_choices(capsys):
    from capslib.train.__main__ import parse_args

    with pytest.raises(SystemExit):
        parse_args(["--schedule", "paper"])
    assert "shipped" in capsys.readouterr().err
