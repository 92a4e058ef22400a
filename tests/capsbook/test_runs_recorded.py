"""capsbook.runs.recorded: chapter 8's readings of recorded runs, by its rules."""

import json
import re
from pathlib import Path

import pytest
import torch

from capsbook.runs import recorded

ROOT = Path(__file__).resolve().parents[2]


def write_run(folder, name, dtype, accuracy, test_size=10_000):
    run = folder / name
    run.mkdir()
    summary = {
        "dtype": dtype,
        "dtype_reason": f"--dtype {dtype} was asked for",
        "test_accuracy": accuracy,
        "test_size": test_size,
        "images_per_s": 100.0,
    }
    (run / "summary.json").write_text(json.dumps(summary))


def test_parity_rows_are_empty_until_a_pair_is_recorded(tmp_path):
    assert recorded.parity_rows(tmp_path) == []
    write_run(tmp_path, "parity-small-float32", "float32", 0.99)
    assert recorded.parity_rows(tmp_path) == []  # its bf16 twin is not there yet


def test_parity_rows_give_the_paired_difference_and_its_bounds(tmp_path):
    write_run(tmp_path, "parity-small-float32", "float32", 0.99)
    write_run(tmp_path, "parity-small-bfloat16", "bfloat16", 0.985)
    rows = recorded.parity_rows(tmp_path)
    assert [r[2] for r in rows] == ["float32", "bfloat16"]
    model, epochs, dtype, reason, accuracy, errors, diff, two_se, verdict, ips = rows[1]
    assert (model, epochs, accuracy, ips) == ("small CapsNet", 3, 0.985, 100.0)
    assert (rows[0][5], errors, diff) == (100, 150, 50)
    # by hand: at least 50 discordant digits, at most 250; d**2 / n = 0.25
    assert two_se == pytest.approx((2 * 49.75**0.5, 2 * 249.75**0.5))
    assert verdict == "beyond"  # 50 > 31.6: beyond even at the most discordance
    assert reason == "--dtype bfloat16 was asked for"
    assert rows[0][6:9] == (None, None, None)


def test_parity_rows_refuse_a_pair_tested_on_different_digits(tmp_path):
    write_run(tmp_path, "parity-small-float32", "float32", 0.99)
    write_run(tmp_path, "parity-small-bfloat16", "bfloat16", 0.99, test_size=5000)
    with pytest.raises(ValueError, match="different numbers of digits"):
        recorded.parity_rows(tmp_path)


# -- paired comparisons from counts alone --------------------------------------------


def test_paired_two_se_by_hand():
    # 40 against 25 mistakes on 5,000 digits: d = 15, d**2 / n = 0.045
    least, most = recorded.paired_two_se(40, 25, 5000)
    assert least == pytest.approx(2 * (15 - 0.045) ** 0.5)
    assert most == pytest.approx(2 * (65 - 0.045) ** 0.5)
    assert recorded.paired_two_se(7, 7, 100) == (0.0, pytest.approx(2 * 14**0.5))
    with pytest.raises(ValueError, match="must be a count"):
        recorded.paired_two_se(-1, 3, 100)
    with pytest.raises(ValueError, match="more errors than"):
        recorded.paired_two_se(101, 3, 100)


def test_the_bounds_bracket_the_paired_se_of_any_two_sets_of_mistakes():
    """Whatever digits two models get wrong, McNemar's SE lies within the bounds."""
    gen = torch.Generator().manual_seed(0)
    n = 500
    for _ in range(200):
        a = set(torch.randperm(n, generator=gen)[: int(torch.randint(0, 60, (1,)))])
        b = set(torch.randperm(n, generator=gen)[: int(torch.randint(0, 60, (1,)))])
        a, b = {int(i) for i in a}, {int(i) for i in b}
        discordant, d = len(a ^ b), len(a) - len(b)
        actual = 2 * max(discordant - d * d / n, 0.0) ** 0.5
        least, most = recorded.paired_two_se(len(a), len(b), n)
        assert least - 1e-9 <= actual <= most + 1e-9
        # nested sets reach the least, disjoint sets the most
    assert recorded.paired_two_se(30, 20, n)[0] == pytest.approx(2 * (10 - 0.2) ** 0.5)


def test_paired_verdict_within_beyond_undecided():
    assert recorded.paired_verdict(144, 141, 10_000) == "within"  # 3 <= 2 sqrt(3)
    assert recorded.paired_verdict(60, 20, 10_000) == "beyond"  # 40 > 2 sqrt(80)
    assert recorded.paired_verdict(40, 25, 5000) == "undecided"  # 7.7 < 15 <= 16.1


def test_flat_epoch_at_the_two_bounds_by_hand():
    errors = [90, 40, 30, 28]
    # most: 40 - 28 = 12 <= 2 sqrt(68) = 16.5 and 40 - 30 = 10 <= 16.7 -> flat from 2
    assert recorded.flat_epoch(errors, 5000, discordance="most") == 2
    # least: 40 - 30 = 10 > 2 sqrt(10) = 6.3; 30 - 28 = 2 <= 2 sqrt(2) -> flat from 3
    assert recorded.flat_epoch(errors, 5000, discordance="least") == 3
    assert recorded.flat_epoch([50], 5000, discordance="most") == 1
    with pytest.raises(ValueError, match="discordance must be"):
        recorded.flat_epoch(errors, 5000, discordance="some")


def test_flat_epoch_most_is_never_later_than_least():
    gen = torch.Generator().manual_seed(1)
    for _ in range(100):
        errors = torch.randint(10, 120, (12,), generator=gen).tolist()
        most = recorded.flat_epoch(errors, 5000, discordance="most")
        least = recorded.flat_epoch(errors, 5000, discordance="least")
        assert 1 <= most <= least <= len(errors)


# -- which recorded runs join chapter 8's Table 1 -----------------------------------


def write_full_run(folder, name, mode="full", dataset="mnist"):
    run = folder / name
    run.mkdir()
    summary = {"mode": mode, "dataset": dataset, "test_accuracy": 0.99}
    (run / "summary.json").write_text(json.dumps(summary))


def test_table1_takes_only_the_named_runs_not_other_experiments(tmp_path):
    # chapter 6's 2-epoch loss experiment and the parity pairs: full-mode MNIST runs
    for name in ("losses-sum", "losses-mean", "losses-none", "losses-sum-seed1"):
        write_full_run(tmp_path, name)
    write_full_run(tmp_path, "parity-paper-float32")
    write_full_run(tmp_path, "mnist-capsnet")  # the shipped run has its own row
    assert recorded.table1_runs(tmp_path) == []
    write_full_run(tmp_path, "mnist-baseline")
    write_full_run(tmp_path, "mnist-paper")
    assert [r.name for r in recorded.table1_runs(tmp_path)] == [
        "mnist-paper",
        "mnist-baseline",
    ]


def test_table1_refuses_a_named_run_that_is_not_full_mode_mnist(tmp_path):
    write_full_run(tmp_path, "mnist-paper-r1", mode="quick")
    with pytest.raises(ValueError, match="not a full-mode MNIST run"):
        recorded.table1_runs(tmp_path)


def test_table1_names_are_the_table1_runs_of_the_gpu_script():
    script = (ROOT / "scripts" / "full_gpu_runs.sh").read_text(encoding="utf-8")
    for name in recorded.TABLE1_RUNS:
        assert re.search(rf"^\s*run {re.escape(name)} .*--dataset mnist", script, re.M)


# -- the shipped schedule, in every command chapter 8 shows ----------------------------


def test_schedule_flags_are_the_shipped_scripts():
    script = (ROOT / "scripts" / "train_shipped_models.sh").read_text(encoding="utf-8")
    common = re.search(r"^COMMON=\((.*?)\)", script, re.M | re.S).group(1).split()
    given = dict(zip(common[::2], common[1::2], strict=False))
    for flag, value in zip(
        recorded.schedule_flags().split()[::2],
        recorded.schedule_flags().split()[1::2],
        strict=True,
    ):
        assert float(given[flag]) == float(value), flag
    assert "--lr 1e-3" in recorded.schedule_flags()


def test_every_training_command_in_chapter_8_carries_the_shipped_schedule():
    nb = json.loads((ROOT / "notebooks" / "08_gpu_training.ipynb").read_text("utf-8"))
    text = "\n".join(
        "".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown"
    )
    commands = [
        " ".join(block.replace("\\\n", " ").split())
        for block in re.findall(r"```bash\n(.*?)```", text, re.S)
    ]
    shown = [
        line
        for block in commands
        for line in re.split(r"(?=(?:!?python|torchrun) )", block)
        if "capslib.train" in line and "..." not in line
    ]
    assert len(shown) >= 3  # the shipped stage, torchrun, Colab
    for line in shown:  # the schedule by name, or all its flags
        named = "--schedule shipped" in line
        assert named or recorded.schedule_flags() in line, line
        assert "--config paper --dataset mnist --epochs 20" in line, line
    # the page spells out what the name stands for, flag for flag
    assert f"`{recorded.schedule_flags()}`" in text


# -- the parity verdict in one sentence, for chapter 8 and the appendix -----------------


def test_parity_outcome_reads_the_verdicts_by_the_rule(tmp_path):
    assert recorded.parity_outcome([]).startswith("not recorded yet")
    write_run(tmp_path, "parity-small-float32", "float32", 0.99)
    write_run(tmp_path, "parity-small-bfloat16", "bfloat16", 0.9899)  # 100 vs 101
    within = recorded.parity_outcome(recorded.parity_rows(tmp_path))
    assert within.startswith(
        "for the small CapsNet after 3 epochs on MNIST, bf16 trained as well"
    )
    assert "not about longer training" in within
    assert "the paper CapsNet's pair is not recorded yet" in within
    write_run(tmp_path, "parity-paper-float32", "float32", 0.99)
    write_run(tmp_path, "parity-paper-bfloat16", "bfloat16", 0.985)  # beyond
    beyond = recorded.parity_outcome(recorded.parity_rows(tmp_path))
    assert "did NOT train as well" in beyond and "not recorded yet" not in beyond
    # 40 against 25 of 5,000: undecided (7.7 < 15 <= 16.1)
    rows = [("m", 1, "bfloat16", "", 0.992, 40, 15, (7.7, 16.1), "undecided", 1.0)]
    assert "is undecided by the rule" in recorded.parity_outcome(rows)


# -- which CNN runs are recorded, the yardstick for the shipped CapsNet ----------------


def test_cnn_runs_take_full_mode_cnns_only(tmp_path):
    def write(name, model, dataset, mode="full"):
        run = tmp_path / name
        run.mkdir()
        summary = {"mode": mode, "dataset": dataset, "model": model}
        (run / "summary.json").write_text(json.dumps(summary))

    write("fashion-cnn", "pooled-cnn", "fashion-mnist")
    write("mnist-capsnet", "capsnet", "mnist")
    write("mnist-cnn-try", "pooled-cnn", "mnist", mode="quick")
    assert recorded.cnn_runs(tmp_path, dataset="mnist") == []
    assert [r.name for r in recorded.cnn_runs(tmp_path)] == ["fashion-cnn"]
    write("mnist-baseline", "baseline", "mnist")
    assert [r.name for r in recorded.cnn_runs(tmp_path, dataset="mnist")] == [
        "mnist-baseline"
    ]


def test_smallest_detectable_gain_is_where_flat_epoch_starts_to_see_a_gain():
    n = 5000
    for errors in (10, 28, 40, 93):
        for discordance in ("least", "most"):
            g = recorded.smallest_detectable_gain(errors, n, discordance=discordance)
            # a later epoch g fewer is a beat; g - 1 fewer is not: the curve stays flat
            assert (
                recorded.flat_epoch([errors, errors - g], n, discordance=discordance)
                == 2
            )
            assert (
                recorded.flat_epoch(
                    [errors, errors - g + 1], n, discordance=discordance
                )
                == 1
            )
        least = recorded.smallest_detectable_gain(errors, n, discordance="least")
        most = recorded.smallest_detectable_gain(errors, n, discordance="most")
        assert least <= most  # more discordant digits, more noise, a larger gain needed
    assert recorded.smallest_detectable_gain(2, n, discordance="most") is None
    with pytest.raises(ValueError, match="'most' or 'least'"):
        recorded.smallest_detectable_gain(28, n, discordance="some")
