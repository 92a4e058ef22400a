"""DistributedDataParallel with gloo: two CPU processes equal one process on the same global batch."""

import os
import subprocess
import sys
import textwrap

import pytest
import torch

SCRIPT = textwrap.dedent("""
    import os, sys, torch
    from capslib.train import TrainConfig
    from capslib.train import Trainer
    config = TrainConfig(config="tiny", dataset="mnist-sample", epochs=1, batch_size=32, train_size=64,
                         validation_size=32, test_size=32, mode="quick", device="cpu", progress=False,
                         eval_batch_size=32, dtype="float32")
    trainer = Trainer(config, verbose=False)
    result = trainer.run()
    rank = int(os.environ.get("RANK", 0))
    torch.save({"weights": trainer.final_state, "losses": result.step_losses,
                "val": result.summary["best_val_accuracy"], "world": result.summary["processes"]},
               os.path.join(sys.argv[1], f"rank{rank}-of-{os.environ.get('WORLD_SIZE', 1)}.pt"))
""")


@pytest.mark.slow
def test_two_gloo_processes_match_one_process(tmp_path):
    script = tmp_path / "ddp_run.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "CAPSLIB_DATA": "/nonexistent", "OMP_NUM_THREADS": "1"}
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    single = subprocess.run(
        [sys.executable, str(script), str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert single.returncode == 0, single.stderr
    double = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node=2",
            str(script),
            str(tmp_path),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert double.returncode == 0, double.stderr[-3000:]
    one = torch.load(tmp_path / "rank0-of-1.pt", weights_only=True)
    ranks = [
        torch.load(tmp_path / f"rank{r}-of-2.pt", weights_only=True) for r in (0, 1)
    ]
    assert ranks[0]["world"] == 2 and one["world"] == 1
    # Both processes end with bitwise identical weights (DDP keeps the replicas in step) ...
    for key, value in ranks[0]["weights"].items():
        assert torch.equal(value, ranks[1]["weights"][key]), key
    # ... equal, within float tolerance, to one process on the same global batch of 32.
    for key, value in one["weights"].items():
        assert torch.allclose(value, ranks[0]["weights"][key], rtol=1e-4, atol=1e-5), (
            key
        )
    # The reported losses are each process's share: their mean is the global batch's loss.
    mean_of_shares = [
        (a + b) / 2 for a, b in zip(ranks[0]["losses"], ranks[1]["losses"])
    ]
    assert all(abs(a - b) < 1e-5 for a, b in zip(mean_of_shares, one["losses"]))
    assert abs(ranks[0]["val"] - one["val"]) < 1e-6


@pytest.mark.slow
def test_the_cli_under_torchrun_trains_with_two_processes_and_resumes(tmp_path):
    """``torchrun --nproc_per_node=2 -m capslib.train ...`` end to end (gloo on CPU), then the same with --resume."""
    import json
    import math

    from capslib.train import validate_summary
    from capslib.train.checkpoint import load_checkpoint
    from capslib.train.metrics import read_metrics

    out = tmp_path / "ddp-cli"
    env = {
        **os.environ,
        "CAPSLIB_MODE": "quick",
        "CAPSLIB_DATA": "/nonexistent",
        "OMP_NUM_THREADS": "1",
    }
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        "-m",
        "capslib.train",
        "--config",
        "tiny",
        "--dataset",
        "mnist-sample",
        "--train-size",
        "64",
        "--validation-size",
        "32",
        "--test-size",
        "64",
        "--batch-size",
        "32",
        "--device",
        "cpu",
        "--no-progress",
        "--out",
        str(out),
    ]
    first = subprocess.run(
        [*command, "--epochs", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert first.returncode == 0, first.stderr[-3000:]
    summary = validate_summary(json.loads((out / "summary.json").read_text()))
    assert summary["processes"] == 2 and "processes=2 (gloo)" in summary["describe"]
    assert (
        summary["mode"] == "quick"
        and summary["train_size"] == 64
        and summary["batch_size"] == 32
    )
    assert (
        summary["steps"] == 2 and summary["epochs"] == 1
    )  # 64 images in global batches of 32
    assert math.isfinite(summary["test_accuracy"]) and math.isfinite(
        summary["best_val_accuracy"]
    )
    assert (
        first.stdout.count("summary: ") == 1
    )  # rank 0 alone reports (and writes) the summary
    # one run id for both ranks (rank 1 adopts the best model rank 0 wrote, so their ids must agree)
    assert (
        load_checkpoint(out / "checkpoints" / "last.pt")["run_id"] == summary["run_id"]
    )
    assert [r["epoch"] for r in read_metrics(out) if r["kind"] == "epoch"] == [
        1
    ]  # one writer, one record
    assert load_checkpoint(out / "checkpoints" / "last.pt")["step"] == 2

    # Extend the finished run by one epoch: both processes restore the checkpoint and continue.
    second = subprocess.run(
        [*command, "--epochs", "2", "--resume"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert second.returncode == 0, second.stderr[-3000:]
    assert "Resumed from" in second.stdout and "epoch 1, step 2" in second.stdout
    summary = validate_summary(json.loads((out / "summary.json").read_text()))
    assert (
        summary["processes"] == 2 and summary["steps"] == 4 and summary["epochs"] == 2
    )
    assert [r["epoch"] for r in read_metrics(out) if r["kind"] == "epoch"] == [1, 2]
