"""Training runs that never mix, never lose an epoch, and fail in one clear line (issue 13).

``T`` in the issue is ``python -m capslib.train --config tiny --train-size 256 --epochs 1 --no-progress``; these
tests use the same tiny network on the bundled sample, in-process where they can and as a subprocess where a
real signal or a real exit code is the point.
"""

import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from capslib.train import TrainConfig, Trainer, TrainingInterrupted, read_metrics, train
from capslib.train.checkpoint import CheckpointError, save_checkpoint
from capslib.train.run_folder import RunFolderError, RunLock


@pytest.fixture(scope="module")
def tiny(tiny_run):
    """This file's tiny run (tests/capslib/conftest.py)."""
    return tiny_run(dtype="auto")


def run(tiny, out, **fields):
    return train(TrainConfig(**{**tiny, "out": str(out), **fields}), verbose=False)


# ----------------------------------------------------------------------------
# one run per folder, locked, never mixed
# ----------------------------------------------------------------------------
def test_a_folder_holding_a_run_is_refused_unless_resumed_or_overwritten(
    tmp_path, tiny
):
    """The issue's reproduction: a second run in R used to wipe R's metrics and mix its best model into R."""
    first = run(tiny, tmp_path / "R")
    with pytest.raises(
        RunFolderError, match=r"already holds a run .*--resume.*--overwrite"
    ):
        run(tiny, tmp_path / "R", seed=5, max_steps=3)
    assert read_metrics(tmp_path / "R")  # the first run's metrics are untouched
    again = train(
        TrainConfig(**{**tiny, "out": str(tmp_path / "R"), "seed": 5, "max_steps": 3}),
        overwrite=True,
        verbose=False,
    )
    assert again.status == "stopped"
    resumed = train(
        TrainConfig(**{**tiny, "out": str(tmp_path / "R"), "seed": 5}),
        resume=True,
        verbose=False,
    )
    clean = run(tiny, tmp_path / "clean", seed=5)
    # the resumed run reports its own best model: exactly what a clean run with seed 5 gives, not the old one's
    assert resumed.summary["test_accuracy"] == clean.summary["test_accuracy"]
    assert resumed.summary["best_val_epoch"] == clean.summary["best_val_epoch"]
    assert resumed.summary["run_id"] != first.summary["run_id"]


@pytest.mark.parametrize("same_run", [True, False])
def test_only_a_best_model_of_the_same_run_is_adopted(tmp_path, same_run, tiny):
    """A best.pt newer than last.pt is adopted on resume only if it carries this run's id (not by steps alone)."""
    out = tmp_path / "R"
    run(tiny, out, max_steps=3)  # one epoch: last.pt and best.pt of epoch 1
    best_path = out / "checkpoints" / "best.pt"
    best = torch.load(best_path, weights_only=True)
    best.update(val_accuracy=1.0, step=100, epoch=2)  # newer and unbeatable
    if not same_run:
        best["run_id"] = "someone-else"
    save_checkpoint(best_path, {k: v for k, v in best.items() if k != "checksum"})
    resume = TrainConfig(**{**tiny, "out": str(out), "epochs": 1})
    if same_run:
        assert (
            train(resume, resume=True, verbose=False).summary["best_val_accuracy"]
            == 1.0
        )
    else:
        with pytest.raises(CheckpointError, match="belongs to another run"):
            train(resume, resume=True, verbose=False)


def test_a_second_run_on_a_locked_folder_is_refused_with_the_holders_pid(
    tmp_path, tiny
):
    folder = tmp_path / "R"
    folder.mkdir()
    lock = RunLock(folder).acquire()
    try:
        with pytest.raises(
            RunFolderError,
            match=f"another run is writing this folder \\(pid {os.getpid()}",
        ):
            run(tiny, folder)
    finally:
        lock.release()
    run(tiny, folder)  # free again once the holder let go


def test_a_stale_lock_of_a_dead_process_is_taken_over_with_a_note(
    tmp_path, capsys, tiny
):
    folder = tmp_path / "R"
    folder.mkdir()
    (folder / ".lock").write_text(
        "pid 999999 on some-host"
    )  # left behind: nobody holds its flock
    run(tiny, folder)
    assert (
        "no longer running (pid 999999 on some-host); taking it over"
        in capsys.readouterr().err
    )
    assert (
        folder / ".lock"
    ).read_text() == ""  # released (emptied, not deleted) at the end


def test_the_second_process_on_one_folder_is_refused_while_the_first_trains(tmp_path):
    """Two real processes: the second one's error names the first one's PID."""
    out = tmp_path / "R"
    first = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "capslib.train",
            *CLI,
            "--epochs",
            "50",
            "--out",
            str(out),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    try:
        deadline = time.time() + 120
        while not (out / ".lock").exists() or "pid" not in (out / ".lock").read_text():
            assert time.time() < deadline and first.poll() is None
            time.sleep(0.2)
        second = subprocess.run(
            [
                sys.executable,
                "-m",
                "capslib.train",
                *CLI,
                "--out",
                str(out),
                "--resume",
            ],
            capture_output=True,
            text=True,
            env=ENV,
            timeout=120,
        )
        assert second.returncode == 2
        assert f"pid {first.pid}" in second.stderr and "Traceback" not in second.stderr
    finally:
        first.kill()
        first.wait()


# ----------------------------------------------------------------------------
# resume checks the data, and --max-steps counts right
# ----------------------------------------------------------------------------
def test_resume_on_other_data_is_refused(tmp_path, monkeypatch, tiny):
    """Started on a 'complete' MNIST (here: 3,000 real digits written as IDX), resumed without it: refused."""
    from capslib.data.idx import write_idx
    from capslib.data.sources import load_mnist

    complete = tmp_path / "data" / "mnist"
    complete.mkdir(parents=True)
    for split, n in (("train", 3000), ("test", 1000)):
        sample = load_mnist(split, source="sample", verbose=False)
        images = (sample.images[:n, 0] * 255).round().to(torch.uint8).numpy()
        write_idx(
            complete / f"{'train' if split == 'train' else 't10k'}-images-idx3-ubyte",
            images,
        )
        write_idx(
            complete / f"{'train' if split == 'train' else 't10k'}-labels-idx1-ubyte",
            sample.labels[:n].to(torch.uint8).numpy(),
        )
    monkeypatch.setenv("CAPSLIB_DATA", str(tmp_path / "data"))
    settings = {**tiny, "dataset": "mnist", "out": str(tmp_path / "R"), "max_steps": 2}
    train(TrainConfig(**settings), verbose=False)
    monkeypatch.setenv("CAPSLIB_DATA", str(tmp_path / "nothing-here"))
    monkeypatch.setattr("capslib.data.sources.network_available", lambda *a, **k: False)
    with pytest.raises(CheckpointError, match=r"trained on other data .*CAPSLIB_DATA"):
        train(
            TrainConfig(**{**settings, "max_steps": None}), resume=True, verbose=False
        )


def test_resume_with_the_same_max_steps_takes_no_further_step(tmp_path, tiny):
    out = tmp_path / "R"
    assert run(tiny, out, max_steps=10, train_size=512).summary["step"] == 10
    for _ in range(2):  # it used to stop at 11, then 12
        again = train(
            TrainConfig(
                **{**tiny, "out": str(out), "max_steps": 10, "train_size": 512}
            ),
            resume=True,
            verbose=False,
        )
        assert again.summary["step"] == 10


# ----------------------------------------------------------------------------
# interrupts: never lose an epoch
# ----------------------------------------------------------------------------
def test_ctrl_c_during_validation_keeps_the_epoch(tmp_path, monkeypatch, tiny):
    reference = run(tiny, tmp_path / "clean")
    out = tmp_path / "R"
    real = Trainer.evaluate
    calls = []

    def evaluate_then_interrupt(self, dataset):
        calls.append(dataset.split)
        if len(calls) == 1:
            raise KeyboardInterrupt
        return real(self, dataset)

    monkeypatch.setattr(Trainer, "evaluate", evaluate_then_interrupt)
    with pytest.raises(TrainingInterrupted, match="checkpoint written"):
        run(tiny, out)
    steps_per_epoch = 96 // 32
    saved = torch.load(out / "checkpoints" / "last.pt", weights_only=True)
    assert (
        saved["step"] == steps_per_epoch and saved["epoch"] == 0
    )  # the epoch's training is kept
    monkeypatch.setattr(Trainer, "evaluate", real)
    resumed = train(
        TrainConfig(**{**tiny, "out": str(out)}), resume=True, verbose=False
    )
    assert resumed.step_losses == reference.step_losses  # nothing lost, nothing redone
    assert resumed.summary["test_accuracy"] == reference.summary["test_accuracy"]


def test_ctrl_c_during_a_checkpoint_write_finishes_the_write_then_stops(
    tmp_path, monkeypatch, tiny
):
    out = tmp_path / "R"
    real_save = torch.save
    state = {"n": 0}

    def save_with_a_signal(obj, handle):
        state["n"] += 1
        if state["n"] == 2:  # the first epoch's checkpoint (after best.pt)
            os.kill(os.getpid(), signal.SIGINT)
        real_save(obj, handle)

    monkeypatch.setattr(torch, "save", save_with_a_signal)
    with pytest.raises(TrainingInterrupted):
        run(tiny, out)
    monkeypatch.setattr(torch, "save", real_save)
    saved = torch.load(out / "checkpoints" / "last.pt", weights_only=True)
    assert saved["epoch"] == 1  # the write completed: the epoch is in it
    assert (
        train(
            TrainConfig(**{**tiny, "out": str(out)}), resume=True, verbose=False
        ).status
        == "finished"
    )


CLI = [
    "--config",
    "tiny",
    "--dataset",
    "mnist-sample",
    "--train-size",
    "256",
    "--validation-size",
    "64",
    "--test-size",
    "64",
    "--batch-size",
    "32",
    "--device",
    "cpu",
    "--no-progress",
]
ENV = {
    **os.environ,
    "CAPSLIB_MODE": "quick",
    "CAPSLIB_DATA": "/nonexistent-so-the-sample-is-used",
}


def test_sigterm_saves_the_last_completed_step_like_ctrl_c(tmp_path):
    out = tmp_path / "R"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "capslib.train",
            *CLI,
            "--epochs",
            "50",
            "--log-every",
            "1",
            "--out",
            str(out),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    deadline = time.time() + 120
    while not (out / "metrics.jsonl").exists() or len(read_metrics(out)) < 3:
        assert time.time() < deadline and process.poll() is None
        time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert (
        "interrupted at epoch" in err
        and "checkpoint written to" in err
        and "Traceback" not in err
    )
    saved = torch.load(out / "checkpoints" / "last.pt", weights_only=True)
    assert saved["step"] >= 3 and len(saved["step_losses"]) == saved["step"]


def test_an_interrupt_without_out_says_no_checkpoint_was_written(monkeypatch, tiny):
    def interrupt(trainer):
        raise KeyboardInterrupt

    with pytest.raises(
        TrainingInterrupted,
        match=r"no checkpoint was written \(no --out folder was given\)",
    ):
        train(TrainConfig(**tiny), verbose=False, on_step=interrupt)


# ----------------------------------------------------------------------------
# errors that are one clear line
# ----------------------------------------------------------------------------
def _main(args, capsys):
    from capslib.train.__main__ import main

    code = main([*CLI, *args])
    err = capsys.readouterr().err
    return code, err


def test_out_that_is_a_file_or_under_a_file_is_one_line(tmp_path, capsys):
    afile = tmp_path / "README.md"
    afile.write_text("not a folder")
    for out in (afile, afile / "run"):
        code, err = _main(["--out", str(out)], capsys)
        assert code == 2 and "is a file, not a folder" in err and err.count("\n") == 1


def test_an_unwritable_folder_fails_before_any_data_is_loaded(
    tmp_path, capsys, monkeypatch
):
    import pathlib

    loaded = []
    monkeypatch.setattr(
        "capslib.train.setup.load_run_data", lambda *a, **k: loaded.append(1)
    )
    real_write = pathlib.Path.write_bytes

    def refuse(self, data):
        if "checkpoints" in str(self):
            raise PermissionError(13, "Permission denied")
        return real_write(self, data)

    monkeypatch.setattr(pathlib.Path, "write_bytes", refuse)
    code, err = _main(["--out", str(tmp_path / "R")], capsys)
    assert code == 2 and "cannot write there (Permission denied)" in err and not loaded


@pytest.mark.parametrize(
    "device, message",
    [
        ("gpu", "expected cpu, cuda or cuda:N, got 'gpu'"),
        ("cuda", "no CUDA GPU is available"),
    ],
)
def test_bad_devices_are_one_line(device, message, capsys):
    if device == "cuda" and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    code, err = _main(["--device", device], capsys)
    assert code == 2 and message in err and "Traceback" not in err


def test_full_mode_without_data_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CAPSLIB_DATA", str(tmp_path))
    monkeypatch.setattr("capslib.data.sources.network_available", lambda *a, **k: False)
    code, err = _main(["--mode", "full", "--dataset", "mnist"], capsys)
    assert (
        code == 2 and err.startswith("error: load_mnist:") and "complete MNIST" in err
    )
    assert "CAPSLIB_DATA" in err and err.count("\n") == 1 and "Traceback" not in err


def test_best_model_copied_over_last_pt_is_one_line(tmp_path, capsys, tiny):
    out = tmp_path / "R"
    run(tiny, out)
    checkpoints = out / "checkpoints"
    (checkpoints / "last.pt").write_bytes((checkpoints / "best.pt").read_bytes())
    code, err = _main(["--out", str(out), "--resume"], capsys)
    assert code == 2 and "not a capslib training checkpoint (missing optimizer" in err


def test_a_corrupt_best_model_at_the_end_of_a_run_is_one_line(
    tmp_path, capsys, monkeypatch
):
    """best.pt damaged after it was written (a disk error, say): the end of the run says so in one line."""
    real = Trainer._save_best

    def save_then_damage(self):
        real(self)
        (self.run_dir / "checkpoints" / "best.pt").write_bytes(b"\x80\x02garbage")

    monkeypatch.setattr(Trainer, "_save_best", save_then_damage)
    code, err = _main(["--epochs", "1", "--out", str(tmp_path / "R")], capsys)
    assert (
        code == 2 and "best model" in err and "best.pt is corrupt or unreadable" in err
    )
    assert err.count("\n") == 1


def test_garbled_bytes_in_last_pt_are_found_at_resume(tmp_path, capsys, tiny):
    out = tmp_path / "R"
    run(tiny, out, max_steps=2)
    path = out / "checkpoints" / "last.pt"
    state = torch.load(path, weights_only=True)
    state["model"]["conv1.weight"] += 1e-3  # a changed weight, the old checksum kept
    torch.save(state, path)
    code, err = _main(["--out", str(out), "--resume"], capsys)
    assert code == 2 and "damaged: its content does not match the checksum" in err


def test_train_config_as_a_size_name_means_the_model_size(tiny):
    result = train(
        config="tiny",
        **{k: v for k, v in tiny.items() if k != "config"},
        max_steps=1,
        verbose=False,
    )
    assert result.status == "stopped"
    with pytest.raises(ValueError, match="expected a TrainConfig or a model size"):
        train(config="huge", verbose=False)
    with pytest.raises(TypeError, match="unknown setting"):
        train(config="tiny", learning_rate=0.1, verbose=False)
