"""Checkpoints: atomic writes, weights_only loading, clear errors, exact RNG round trip."""
import random

import numpy as np
import pytest
import torch

from capslib.train.checkpoint import (CheckpointError, load_checkpoint, previous_path, rng_state, save_checkpoint,
                                      set_rng_state)


def _state(value):
    return {"model": {"w": torch.full((3,), float(value))}, "optimizer": {}, "scheduler": {"last_epoch": value},
            "step": value, "epoch": 0, "rng": rng_state()}


def test_round_trip_keeps_previous_and_loads_with_weights_only(tmp_path):
    path = tmp_path / "checkpoints" / "last.pt"
    save_checkpoint(path, _state(1))
    save_checkpoint(path, _state(2))
    assert load_checkpoint(path)["step"] == 2
    assert previous_path(path).name == "last.prev.pt"
    assert load_checkpoint(previous_path(path))["step"] == 1
    assert sorted(p.name for p in path.parent.iterdir()) == ["last.prev.pt", "last.pt"]  # no temporary left
    # weights_only=True accepts it: nothing but tensors and plain types is stored.
    torch.load(path, weights_only=True)


def test_crash_during_write_leaves_last_good_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    save_checkpoint(path, _state(1))

    def dying_save(obj, handle):
        handle.write(b"half a checkpoint")
        raise OSError("disk full")
    monkeypatch.setattr(torch, "save", dying_save)
    with pytest.raises(OSError, match="disk full"):
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
    assert str(path) in message and "corrupt" in message and "last.prev.pt" in message and "cp " in message
    assert load_checkpoint(previous_path(path))["step"] == 1  # the previous one is untouched
    assert len(path.read_bytes()) == 100  # and the damaged file was left for inspection


def test_missing_and_foreign_checkpoints(tmp_path):
    with pytest.raises(CheckpointError, match=r"no checkpoint at .*nothing\.pt.*without --resume"):
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
    assert got[0] == expected[0] and got[1] == expected[1] and torch.equal(got[2], expected[2])
