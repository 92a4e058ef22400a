"""Checkpoints: atomic writes, weights_only loading, clear errors, exact RNG round trip."""

import os
import random

import numpy as np
import pytest
import torch

from capslib.train.checkpoint import (
    CheckpointError,
    load_checkpoint,
    previous_path,
    resume_path,
    rng_state,
    save_checkpoint,
    set_rng_state,
)


def _state(value):
    return {
        "model": {"w": torch.full((3,), float(value))},
        "optimizer": {},
        "scheduler": {"last_epoch": value},
        "step": value,
        "epoch": 0,
        "rng": rng_state(),
        "config": "{}",
    }


def test_round_trip_keeps_previous_and_loads_with_weights_only(tmp_path):
    path = tmp_path / "checkpoints" / "last.pt"
    save_checkpoint(path, _state(1))
    save_checkpoint(path, _state(2))
    assert load_checkpoint(path)["step"] == 2
    assert previous_path(path).name == "last.prev.pt"
    assert load_checkpoint(previous_path(path))["step"] == 1
    assert sorted(p.name for p in path.parent.iterdir()) == [
        "last.prev.pt",
        "last.pt",
    ]  # no temporary left
    # weights_only=True accepts it: nothing but tensors and plain types is stored.
    torch.load(path, weights_only=True)


def test_crash_during_write_leaves_last_good_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    save_checkpoint(path, _state(1))

    def dying_save(obj, handle):
        handle.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", dying_save)
    with pytest.raises(
        CheckpointError, match="could not write the checkpoint .*disk full"
    ):
        save_checkpoint(path, _state(2))
    monkeypatch.undo()
    assert load_checkpoint(path)["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def test_corrupt_checkpoint_error_names_file_and_fix_and_keeps_previous(tmp_path):
    path = tmp_path / "last.pt"
    save_checkpoint(path, _state(1))
    save_checkpoint(path, _state(2))
    path.write_bytes(path.read_bytes()[:100])  # cut short, as by a crash of the disk
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path)
    message = str(err.value)
    assert (
        str(path) in message
        and "corrupt" in message
        and "last.prev.pt" in message
        and "cp " in message
    )
    assert (
        load_checkpoint(previous_path(path))["step"] == 1
    )  # the previous one is untouched
    assert len(path.read_bytes()) == 100  # and the damaged file was left for inspection


def test_missing_and_foreign_checkpoints(tmp_path):
    with pytest.raises(
        CheckpointError, match=r"no checkpoint at .*nothing\.pt.*without --resume"
    ):
        load_checkpoint(tmp_path / "nothing.pt")
    torch.save({"weights": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a capslib training checkpoint"):
        load_checkpoint(tmp_path / "other.pt")


def test_rng_states_round_trip_exactly(tmp_path):
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    save_checkpoint(tmp_path / "c.pt", _state(0))
    expected = (random.random(), np.random.rand(), torch.rand(2))
    random.seed(9), np.random.seed(9), torch.manual_seed(9)
    set_rng_state(load_checkpoint(tmp_path / "c.pt")["rng"])
    got = (random.random(), np.random.rand(), torch.rand(2))
    assert (
        got[0] == expected[0]
        and got[1] == expected[1]
        and torch.equal(got[2], expected[2])
    )


def _crash_between_the_two_renames(path, monkeypatch, state):
    """Run save_checkpoint but die at its second os.replace (temp -> last.pt), as a power cut would."""
    real_replace = os.replace
    calls = []

    def replace(src, dst):
        calls.append((src, dst))
        if len(calls) == 2:
            raise SystemExit("power cut")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(SystemExit):
        save_checkpoint(path, state)
    monkeypatch.undo()


def test_crash_between_the_renames_resumes_from_the_previous_checkpoint_and_says_so(
    tmp_path, monkeypatch
):
    path = tmp_path / "checkpoints" / "last.pt"
    save_checkpoint(path, _state(1))
    save_checkpoint(path, _state(2))
    _crash_between_the_two_renames(path, monkeypatch, _state(3))
    assert (
        not path.exists() and previous_path(path).is_file()
    )  # the state a crash leaves on disk
    # A hard crash also skips save_checkpoint's clean-up: leave its temporary file, as it would be.
    (path.parent / ".last.pt.tmp-4242").write_bytes(b"complete or not, never trusted")
    chosen, message = resume_path(path)
    assert chosen == previous_path(path)
    assert (
        message is not None
        and str(path) in message
        and str(previous_path(path)) in message
    )
    assert "one epoch" in message and ".last.pt.tmp-4242" in message
    assert load_checkpoint(chosen)["step"] == 2  # the last good checkpoint


def test_resume_path_keeps_last_pt_even_when_damaged_and_reports_nothing_when_nothing_is_there(
    tmp_path,
):
    path = tmp_path / "last.pt"
    assert resume_path(path) == (
        path,
        None,
    )  # nothing at all: load_checkpoint's "no checkpoint" error follows
    save_checkpoint(path, _state(1))
    save_checkpoint(path, _state(2))
    assert resume_path(path) == (path, None)  # the normal case
    path.write_bytes(b"damaged")
    chosen, message = resume_path(path)
    assert (chosen, message) == (
        path,
        None,
    )  # a damaged last.pt is never passed over silently ...
    with pytest.raises(
        CheckpointError, match="corrupt"
    ):  # ... it stops with today's clear error
        load_checkpoint(chosen)


def test_a_few_changed_bytes_inside_a_tensor_are_found_at_load(tmp_path):
    """Garbled bytes that still unpickle used to load and fail far away; the stored checksum finds them."""
    path = tmp_path / "last.pt"
    state = _state(1)
    state["model"]["w"] = torch.arange(4096, dtype=torch.float32)
    save_checkpoint(path, state)
    data = bytearray(path.read_bytes())
    marker = torch.arange(4096, dtype=torch.float32)[1000:1002].numpy().tobytes()
    at = bytes(data).index(marker)
    data[at : at + 4] = (
        torch.tensor([12345.0]).numpy().tobytes()
    )  # one float changed, the pickle intact
    path.write_bytes(bytes(data))
    torch.load(path, weights_only=True)  # it still loads ...
    with pytest.raises(
        CheckpointError, match="damaged: its content does not match the checksum"
    ):
        load_checkpoint(path)  # ... but is refused, with the reason


def test_a_best_model_copied_over_last_pt_is_refused_by_name(tmp_path):
    path = tmp_path / "last.pt"
    save_checkpoint(
        path,
        {"model": {"w": torch.ones(2)}, "epoch": 1, "step": 5, "val_accuracy": 0.5},
    )
    with pytest.raises(
        CheckpointError, match="not a capslib training checkpoint .*missing optimizer"
    ):
        load_checkpoint(path)


def test_signals_during_a_write_wait_until_it_is_complete(tmp_path, monkeypatch):
    """A Ctrl-C (or SIGTERM) that lands inside torch.save no longer aborts it half-way."""
    import os
    import signal

    path = tmp_path / "last.pt"
    real_save = torch.save

    def save_interrupted_midway(obj, handle):
        os.kill(os.getpid(), signal.SIGINT)  # arrives during the write
        real_save(obj, handle)

    monkeypatch.setattr(torch, "save", save_interrupted_midway)
    with pytest.raises(KeyboardInterrupt, match="held until the write was complete"):
        save_checkpoint(path, _state(3))
    assert load_checkpoint(path)["step"] == 3  # the checkpoint is whole
