"""capsbook.runs.readings: chapter 8's tables, figures and sentences from a run's record."""

import json

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from capsbook.runs import load_run, readings, recorded  # noqa: E402


def write_run(root, name, summary, epochs=()):
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "summary.json").write_text(json.dumps(summary))
    lines = [json.dumps(r) for r in epochs]
    (folder / "metrics.jsonl").write_text("\n".join(lines) + ("\n" if lines else ""))
    return folder


def epoch(e, val_accuracy, epoch_time_s=100.0, step=429):
    return {
        "kind": "epoch",
        "epoch": e,
        "step": step * e,
        "train_loss": 0.5 / e,
        "train_accuracy": 0.9,
        "val_loss": 0.4 / e,
        "val_accuracy": val_accuracy,
        "epoch_time_s": epoch_time_s,
    }


SUMMARY = {
    "mode": "full",
    "dataset": "mnist",
    "model": "capsnet",
    "model_config": "paper",
    "routing_iterations": 3,
    "reconstruction": True,
    "device": "cpu",
    "device_name": "CPU Test (2 threads, x86_64)",
    "dtype": "float32",
    "epochs": 3,
    "best_val_epoch": 2,
    "best_val_accuracy": 0.99,
    "test_accuracy": 0.9961,
    "images_per_s": 104.4,
    "wall_time_s": 7200.0,
    "git_commit": "0123456789abcdef",
    "validation_size": 5000,
}


def test_cpu_phrase_reads_the_threads_or_says_only_a_cpu():
    assert readings.cpu_phrase("CPU Xeon (2 threads, x86_64)") == "a CPU of 2 threads"
    assert readings.cpu_phrase("CPU Xeon (1 thread, x86_64)") == "a CPU of 1 threads"
    assert readings.cpu_phrase("") == "a CPU"
    assert readings.cpu_phrase(None) == "a CPU"


def test_epoch_rows_format_only_the_epoch_records():
    records = [
        {"kind": "step", "step": 2, "loss": 1.0},
        {
            "kind": "epoch",
            "epoch": 1,
            "step": 1_024,
            "train_loss": 0.12345,
            "train_accuracy": 0.5,
            "val_accuracy": 0.987,
        },
    ]
    assert readings.epoch_rows(records) == [(1, "1,024", "0.123", "50.0%", "98.7%")]


def test_shipped_rows_read_the_summary_and_say_what_is_missing(tmp_path):
    write_run(tmp_path, "full", SUMMARY, [epoch(1, 0.98, 90), epoch(2, 0.99, 110)])
    run = load_run("full", tmp_path)
    rows = dict(readings.shipped_rows(run, 0.996))
    assert rows["test accuracy (once)"] == "99.61%"
    assert rows["number format"] == "float32"
    assert rows["wall time"] == "2.0 h"
    assert rows["median time per epoch"] == "100 s"  # the median of 90 and 110
    assert rows["commit"] == "0123456789"
    assert rows["test accuracy of the shipped float16 weights"] == "99.60%"
    bare = {k: v for k, v in SUMMARY.items() if k not in ("dtype", "images_per_s")}
    write_run(tmp_path, "bare", bare)
    rows = dict(readings.shipped_rows(load_run("bare", tmp_path)))
    assert rows["number format"] == "not recorded"
    assert rows["training images/s"] == "not recorded"
    assert rows["median time per epoch"] == "not recorded"
    assert rows["test accuracy of the shipped float16 weights"] == "not recorded"


def test_flat_reading_names_the_epochs_and_the_gain_the_rule_could_see():
    # the shipped run's validation mistakes, on 5,000 digits
    mistakes = [93, 69, 55, 51, 45, 40, 45, 29, 34, 41]
    mistakes += [33, 35, 30, 28, 30, 34, 30, 30, 25, 28]
    epochs = list(range(1, 21))
    flat = {
        d: epochs[recorded.flat_epoch(mistakes, 5000, discordance=d) - 1]
        for d in ("most", "least")
    }
    assert flat == {"most": 6, "least": 14}
    curve, lever = readings.flat_reading(epochs, mistakes, 5000, flat)
    assert "from 1.86% (93 digits) after epoch 1" in curve
    assert "its lowest, 0.50% (25 digits), at epoch 19 of 20" in curve
    assert "epoch 6 at the earliest and epoch 14 at the latest" in curve
    gain = recorded.smallest_detectable_gain(28, 5000, discordance="most")
    assert gain == 14  # by hand in smallest_detectable_gain's docstring
    assert f"a later epoch needed {gain} fewer" in lever
    assert "the best later epoch made 3 fewer" in lever  # 28 at epoch 14, 25 at 19
    assert "the last 6 epochs" in lever


def test_flat_reading_when_only_the_last_epoch_is_flat():
    curve, lever = readings.flat_reading(
        [1, 2, 3], [90, 60, 30], 5000, {"most": 3, "least": 3}
    )
    assert "flat from epoch 3, whatever digits" in curve
    assert "cannot say whether more epochs would help" in lever


def test_table1_rows_quote_the_paper_then_add_ours(tmp_path):
    write_run(tmp_path, "mnist-capsnet", SUMMARY)
    shipped = load_run("mnist-capsnet", tmp_path)
    rows = readings.table1_rows(shipped, 0.39, results_dir=tmp_path)
    assert len(rows) == len(readings.PAPER_TABLE1) + 2 + 1
    assert rows[0] == ("paper", "Baseline CNN", "0.39", "8.1", "-")
    assert rows[4][1:4] == ("CapsNet, 3 it., reconstruction", "0.25 ± 0.005", "5.2")
    assert rows[-1] == (
        "this book: shipped (3 epochs)",
        "CapsNet paper, 3 it., reconstruction",
        "0.39 (1 run)",
        "-",
        "104 (CPU)",
    )
    assert readings.table1_rows(None, None, results_dir=tmp_path)[-1][0].endswith(
        "(quoted)"
    )


def test_table1_span_is_the_paper_capsnet_rows_range():
    assert abs(readings.table1_span() - (0.35 - 0.25)) < 1e-12


def test_table1_elsewhere_reads_the_records_or_says_they_are_missing(tmp_path):
    missing = readings.table1_elsewhere(tmp_path)
    assert set(missing.values()) == {"not recorded in this checkout", "its"}
    assert missing["mm_epochs"] == "its"
    (tmp_path / "routing-iterations.json").write_text(
        json.dumps({"errors": {"1": 41, "3": 39}})
    )
    (tmp_path / "reconstruction-losses.json").write_text(
        json.dumps(
            {"runs": {"sum": {"test_errors": 120}, "none": {"test_errors": 131}}}
        )
    )
    write_run(
        tmp_path,
        "multimnist-capsnet",
        dict(SUMMARY, dataset="multimnist", epochs=15, test_accuracy=0.8),
    )
    found = readings.table1_elsewhere(tmp_path)
    assert (found["r1"], found["r3"], found["sum"], found["none"]) == (
        "41",
        "39",
        "120",
        "131",
    )
    assert found["multimnist-capsnet"] == "20.0%"
    assert found["mm_epochs"] == "15"
    assert found["multimnist-cnn"] == "not recorded in this checkout"


def test_figures_draw_what_the_record_holds(tmp_path):
    records = [{"kind": "step", "step": s, "loss": 1.0 / s} for s in (2, 4, 6)]
    records += [epoch(1, 0.9, step=3), epoch(2, 0.95, step=3)]
    fig = readings.live_loss_figure(records, 2, "live")
    ax = fig.axes[0]
    lines = [line for line in ax.get_lines() if line.get_linestyle() != ":"]
    assert [list(line.get_xdata()) for line in lines] == [[2, 4, 6], [3, 6]]
    assert ax.get_yscale() == "log"
    plt.close(fig)
    write_run(tmp_path, "r", SUMMARY, [epoch(e, 0.99) for e in (1, 2, 3)])
    run = load_run("r", tmp_path)
    fig = readings.validation_figure(
        run, [1, 2, 3], [60, 50, 50], 5000, {"most": 2, "least": 3}, "t"
    )
    err_ax = fig.axes[1]
    assert list(err_ax.get_lines()[0].get_ydata()) == [1.2, 1.0, 1.0]  # percent
    plt.close(fig)


def test_time_to_accuracy_rows_read_the_first_epoch_at_each_target(tmp_path):
    run = tmp_path / "time-small-capsnet"
    run.mkdir()
    epochs = [
        (0.985, 100.0, 110.0, 500.0),
        (0.9912, 200.0, 225.0, 480.0),
        (0.9931, 300.0, 340.0, 250.0),
    ]
    run.joinpath("metrics.jsonl").write_text(
        "".join(
            json.dumps(
                {
                    "kind": "epoch",
                    "epoch": i + 1,
                    "step": 429 * (i + 1),
                    "test_accuracy": a,
                    "train_time_s": t,
                    "wall_time_s": w,
                    "images_per_s": v,
                }
            )
            + "\n"
            for i, (a, t, w, v) in enumerate(epochs)
        )
    )
    summary = {
        "test_each_epoch": True,
        "parameters": 2_817_552,
        "dtype": "bfloat16",
        "device_name": "CPU AMD EPYC (2 threads, x86_64, AVX-512)",
    }
    run.joinpath("summary.json").write_text(json.dumps(summary))
    small, paper = readings.time_to_accuracy_rows(tmp_path)
    assert small == (
        "small CapsNet (2,817,552 parameters)",
        "bfloat16",
        "AMD EPYC, 2 threads",
        "epoch 2 (99.12%)",
        "3.3 min",
        "3.8 min",
        "not reached in 3 epochs (best 99.31%)",
        "250-500 images/s",
    )
    assert paper[3] == "not measured yet"
    assert "train_shipped_models.sh time-paper" in paper[-1]


def test_readme_quotes_the_recorded_time_to_accuracy():
    """README's time-to-accuracy sentence is the record's (results/time-small-capsnet)."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    small = readings.time_to_accuracy_rows(root / "results")[0]
    if small[3] == "not measured yet":
        return
    readme = " ".join((root / "README.md").read_text(encoding="utf-8").split())
    epoch, accuracy = small[3].split(" (")
    assert f"99.0% test accuracy first after {epoch} ({accuracy}" in readme
    assert f"{small[4]} of training steps, {small[5]} wall" in readme
    if small[6].startswith("not reached"):  # "not reached in 7 epochs (best 99.30%)"
        epochs, best = small[6].removeprefix("not reached in ").split(" epochs (best ")
        assert f"99.5% not reached in the run's {epochs} epochs (best {best}" in readme
