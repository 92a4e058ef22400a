"""Faults that used to get through the trainer (issue 24): each test reproduces one case of the issue.

``RF`` in the issue is a tiny CapsNet on the bundled sample; these tests use the same network,
in-process, with a signal sent to this very process where an interrupt is the point.
"""

import json
import os
import signal
import socket

import numpy as np
import pytest
import torch

import capslib.data.sources as sources
from capslib.data import write_idx
from capslib.train import (
    CheckpointError,
    TrainConfig,
    Trainer,
    TrainingInterrupted,
    read_metrics,
    train,
)
from capslib.train.checkpoint import load_checkpoint, save_checkpoint
from capslib.train.metrics import MetricsWriter
from capslib.train.run_data import data_fingerprint, load_run_data
from capslib.train.run_folder import RunFolderError, RunLock

fcntl = pytest.importorskip("fcntl")


@pytest.fixture(scope="module")
def tiny(tiny_run):
    """This file's tiny run (tests/capslib/conftest.py)."""
    return tiny_run()


def config(tiny, out=None, **fields):
    return TrainConfig(**{**tiny, "out": None if out is None else str(out), **fields})


def interrupt_at_step(monkeypatch, step, then=None):
    """Send SIGINT to this process in the middle of training step ``step`` (1-based)."""
    original, calls = Trainer.train_step, []

    def train_step(self, *args):
        calls.append(1)
        if len(calls) == step:
            os.kill(
                os.getpid(), signal.SIGINT
            )  # held by the trainer until the step is whole
            if then is not None:
                then()
        return original(self, *args)

    monkeypatch.setattr(Trainer, "train_step", train_step)


# ----------------------------------------------------------------------------
# silent wrong results
# ----------------------------------------------------------------------------
def test_the_summary_tests_the_model_it_names_when_best_pt_is_gone(
    tmp_path, capsys, tiny
):
    """Case 1: with best.pt deleted (as the damaged-best.pt error advises), the final model is
    tested, and the summary says so instead of naming the best epoch."""
    out = tmp_path / "R"
    train(config(tiny, out), verbose=False)
    last = out / "checkpoints" / "last.pt"
    state = load_checkpoint(last)
    final_weights = state["model"]
    state["best"] = {
        "val_accuracy": 0.99,
        "epoch": 1,
    }  # as if epoch 1 had been the best
    del state["checksum"]
    save_checkpoint(last, state)
    (out / "checkpoints" / "best.pt").unlink()
    resumed = train(config(tiny, out), resume=True)
    summary = resumed.summary
    assert summary["best_val_epoch"] == 1
    assert (summary["tested_model"], summary["tested_epoch"]) == ("final", 2)
    # the final weights are what was tested: the same accuracy as the first run's final model
    trainer = Trainer(config(tiny), verbose=False)
    trainer.setup()
    trainer.model.load_state_dict(final_weights)
    assert summary["test_accuracy"] == trainer.evaluate(trainer.data.test)["accuracy"]
    captured = capsys.readouterr()
    assert "model of epoch 2, the final model" in captured.out
    assert "the best model (epoch 1) is gone" in captured.err
    on_disk = json.loads((out / "summary.json").read_text())
    assert on_disk["tested_model"] == "final"


def test_an_interrupted_step_keeps_its_metrics_record(tmp_path, monkeypatch, tiny):
    """Case 3: SIGINT during a step with log_every=1 used to lose that step's record for good."""
    out = tmp_path / "R"
    interrupt_at_step(monkeypatch, 4)
    with pytest.raises(TrainingInterrupted):
        train(config(tiny, out, log_every=1), verbose=False)
    monkeypatch.undo()
    train(config(tiny, out, log_every=1), resume=True, verbose=False)
    steps = [r["step"] for r in read_metrics(out) if r["kind"] == "step"]
    assert steps == [1, 2, 3, 4, 5, 6], (
        "one record per step, as an uninterrupted run writes"
    )


def test_the_data_fingerprint_covers_every_image(tiny):
    """Case 4: the fingerprint used to hash every 97th image only."""
    data = load_run_data(config(tiny).resolved(), torch.device("cpu"), verbose=False)
    before = data_fingerprint(data)
    data.train.images[1] = 1 - data.train.images[1]  # one image inverted, not a 97th
    after = data_fingerprint(data)
    assert before["sha256"] != after["sha256"] and before["images"] == "all"


def test_a_checkpoint_from_before_the_full_fingerprint_still_resumes(tmp_path, tiny):
    """Older checkpoints hashed every 97th image: they are compared alike, not refused."""
    trainer = Trainer(config(tiny), verbose=False)
    trainer.setup()
    old = data_fingerprint(trainer.data, every=97)
    assert "images" not in old
    trainer.check_same_data(old, tmp_path / "last.pt")  # accepted
    old["sha256"] = "0" * 64
    with pytest.raises(CheckpointError, match="trained on other data"):
        trainer.check_same_data(old, tmp_path / "last.pt")


def test_a_released_lock_cannot_be_held_twice(tmp_path):
    """Case 5: release used to unlink the lock file, so a run that had opened it just before
    and a run that created it anew both held "the" lock."""
    folder = tmp_path / "R"
    folder.mkdir()
    first = RunLock(folder).acquire()
    racer = open(folder / ".lock", "a+")  # opened before the release, locked after it
    first.release()
    try:
        fcntl.flock(racer.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(RunFolderError, match="another run is writing this folder"):
            RunLock(folder).acquire()
    finally:
        racer.close()
    assert (folder / ".lock").read_text() == "", (
        "a clean release leaves an empty lock file"
    )
    RunLock(folder).acquire().release()


def test_shrinking_epochs_on_a_finished_run_is_refused(tmp_path, tiny):
    """Case 6: --epochs 1 --resume on a finished 2-epoch run wrote epochs 2 beside config.epochs 1."""
    out = tmp_path / "R"
    train(config(tiny, out), verbose=False)
    summary = (out / "summary.json").read_text()
    with pytest.raises(
        CheckpointError, match=r"already trained 2 epochs.*--epochs 2 or more"
    ):
        train(config(tiny, out, epochs=1), resume=True, verbose=False)
    assert (out / "summary.json").read_text() == summary


def test_each_split_names_its_source_when_they_differ(tmp_path, monkeypatch, tiny):
    """Case 7: with only Fashion-MNIST's training files, the test set is the sample's, and the
    run's description and summary say so."""
    folder = tmp_path / "data" / "fashion-mnist"
    rng = np.random.default_rng(0)
    write_idx(
        folder / "train-images-idx3-ubyte.gz",
        rng.integers(0, 256, (300, 28, 28), dtype=np.uint8),
    )
    write_idx(
        folder / "train-labels-idx1-ubyte.gz", np.arange(300, dtype=np.uint8) % 10
    )
    monkeypatch.setattr(sources, "FASHION_SYSTEM_DIR", tmp_path / "no-system-package")
    with socket.socket() as s:  # a closed port: "no network", at once
        s.bind(("127.0.0.1", 0))
        monkeypatch.setattr(sources, "NETWORK_PROBE", s.getsockname())
    monkeypatch.setenv("CAPSLIB_DATA", str(tmp_path / "data"))
    settings = config(
        tiny, dataset="fashion-mnist", train_size=200, validation_size=50, test_size=40
    )
    data = load_run_data(settings.resolved(), torch.device("cpu"), verbose=False)
    assert data.name == "Fashion-MNIST" and data.test_name == "Fashion-MNIST sample"
    assert data.describe() == (
        "Fashion-MNIST: 200 train / 50 validation; Fashion-MNIST sample: 40 test"
    )
    result = train(settings, verbose=False)
    assert result.summary["test_data"] == "Fashion-MNIST sample"
    assert "Fashion-MNIST sample: 40 test" in result.summary["data"]


# ----------------------------------------------------------------------------
# lost work and raw tracebacks
# ----------------------------------------------------------------------------
def test_truncating_the_metrics_is_atomic(tmp_path, monkeypatch):
    """Case 11: a crash while --resume rewrote metrics.jsonl used to lose its records."""
    path = tmp_path / "metrics.jsonl"
    text = "".join(json.dumps({"kind": "epoch", "step": s}) + "\n" for s in (3, 6, 9))
    path.write_text(text)

    def crash(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(OSError):
        MetricsWriter(path).truncate_after(6)
    assert path.read_text() == text, "the old file stands until the new one is whole"
    assert list(tmp_path.iterdir()) == [path], "no temporary file left"
    monkeypatch.undo()
    MetricsWriter(path).truncate_after(6)
    assert [r["step"] for r in read_metrics(path)] == [3, 6]


def test_records_that_are_not_records_do_not_crash_a_resume(tmp_path):
    """Case 14: valid JSON that is not a record ([1, 2], a step that is not a number)."""
    path = tmp_path / "metrics.jsonl"
    path.write_text(
        '{"kind": "epoch", "step": 3}\n[1, 2]\n{"kind": "step", "step": "x"}\n"text"\n'
        '{"kind": "epoch", "step": 6}\n'
    )
    assert [r["step"] for r in read_metrics(path)] == [3, 6]
    MetricsWriter(path).truncate_after(3)
    assert path.read_text() == '{"kind": "epoch", "step": 3}\n'


def test_a_second_ctrl_c_while_the_interrupt_is_saved_still_ends_in_one_line(
    tmp_path, monkeypatch, tiny
):
    """Case 12: the second Ctrl-C used to escape as a 41-line KeyboardInterrupt traceback."""
    out = tmp_path / "R"
    import capslib.train.trainer as trainer_module

    original = trainer_module.save_checkpoint

    def save_with_a_second_ctrl_c(path, state):
        os.kill(os.getpid(), signal.SIGINT)
        return original(path, state)

    interrupt_at_step(
        monkeypatch,
        2,
        then=lambda: monkeypatch.setattr(
            trainer_module, "save_checkpoint", save_with_a_second_ctrl_c
        ),
    )
    with pytest.raises(TrainingInterrupted, match="Resume with --resume") as caught:
        train(config(tiny, out), verbose=False)
    assert "\n" not in str(caught.value)
    assert load_checkpoint(out / "checkpoints" / "last.pt")["step"] == 2


def test_a_full_disk_names_the_disk_and_keeps_the_last_checkpoint(
    tmp_path, monkeypatch
):
    """Case 13: torch reports a full disk as a 39-line RuntimeError ('unexpected pos')."""
    path = tmp_path / "checkpoints" / "last.pt"
    save_checkpoint(path, {"step": 1, "weights": torch.ones(3)})
    good = path.read_bytes()

    def full(*args, **kwargs):
        raise RuntimeError(
            "[enforce fail at inline_container.cc:672] . unexpected pos 64"
        )

    monkeypatch.setattr(torch, "save", full)
    with pytest.raises(CheckpointError) as caught:
        save_checkpoint(path, {"step": 2, "weights": torch.zeros(3)})
    message = str(caught.value)
    assert "\n" not in message and "MB free" in message and str(path.parent) in message
    assert "the previous last.pt is intact" in message and "--resume" in message
    assert path.read_bytes() == good
    assert sorted(p.name for p in path.parent.iterdir()) == ["last.pt"]


def test_ctrl_c_while_the_data_loads_ends_in_one_line(tmp_path, monkeypatch, tiny):
    """Case 18: a KeyboardInterrupt from gzip used to end in a long traceback."""

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(sources, "load_mnist", interrupted)
    with pytest.raises(
        TrainingInterrupted, match="while loading the data.*nothing was lost"
    ):
        train(config(tiny, tmp_path / "R"), verbose=False)


def test_a_lock_path_that_is_a_folder_is_one_clear_error(tmp_path, tiny):
    """Case 19: `mkdir -p R/.lock` used to end in a 28-line IsADirectoryError."""
    (tmp_path / "R" / ".lock").mkdir(parents=True)
    with pytest.raises(RunFolderError, match=r"\.lock is a folder.*rmdir"):
        train(config(tiny, tmp_path / "R"), verbose=False)


# ----------------------------------------------------------------------------
# the small ones
# ----------------------------------------------------------------------------
def test_max_steps_without_out_says_there_is_no_checkpoint(capsys, tiny):
    train(config(tiny, max_steps=1))
    out = capsys.readouterr().out
    assert "None" not in out and "no checkpoint (no --out folder was given)" in out


def test_an_interrupt_during_the_final_test_names_the_last_epoch(
    tmp_path, monkeypatch, tiny
):
    original = Trainer.evaluate

    def evaluate(self, dataset):
        if dataset.split == "test":
            raise KeyboardInterrupt
        return original(self, dataset)

    monkeypatch.setattr(Trainer, "evaluate", evaluate)
    with pytest.raises(TrainingInterrupted) as caught:
        train(config(tiny, tmp_path / "R"), verbose=False)
    message = str(caught.value)
    assert "after the last epoch (2), during the final test" in message
    assert "epoch 3" not in message


def test_a_zeroed_checkpoint_does_not_pass_on_unsafe_advice(tmp_path):
    path = tmp_path / "last.pt"
    path.write_bytes(bytes(4096))
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(path)
    assert "weights_only=False" not in str(caught.value)
    assert "corrupt or unreadable" in str(caught.value)


@pytest.mark.parametrize("seed", [-1, 2**40])
def test_a_bad_seed_leaves_no_run_folder(tmp_path, seed, tiny):
    with pytest.raises(ValueError, match="TrainConfig.seed"):
        train(config(tiny, tmp_path / "R", seed=seed), verbose=False)
    assert not (tmp_path / "R").exists()


def test_a_temporary_file_of_a_killed_write_is_cleaned_up(tmp_path):
    """A SIGKILL between the two renames left `.last.pt.tmp-PID` behind for good."""
    path = tmp_path / "last.pt"
    dead = tmp_path / ".last.pt.tmp-999999"  # no such process
    dead.write_bytes(b"half a checkpoint")
    save_checkpoint(path, {"step": 1})
    assert not dead.exists() and path.is_file()
