"""capslib.results: reading results/<run>/summary.json and metrics.jsonl, and the 'no run yet' outcome."""
import json

import pytest

from capslib.results import (
    RESULTS_ENV_VAR,
    RunFormatError,
    RunNotFoundError,
    default_results_dir,
    list_runs,
    load_run,
    read_metrics,
    runs_table,
)


def write_run(root, name, summary, metrics_lines=None):
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "summary.json").write_text(json.dumps(summary) if not isinstance(summary, str) else summary)
    if metrics_lines is not None:
        (folder / "metrics.jsonl").write_text("\n".join(metrics_lines) + "\n")
    return folder


SUMMARY = {"test_accuracy": 0.9975, "best_val_accuracy": 0.9968, "device_name": "NVIDIA H100 80GB HBM3",
           "mode": "full", "dataset": "mnist", "epochs": 30, "git_commit": "0123456789abcdef",
           "torch_version": "2.15.0", "images_per_s": 51234.5}


def test_absent_run_is_none_by_default_and_a_clear_error_on_request(tmp_path):
    assert load_run("mnist-paper", tmp_path) is None
    with pytest.raises(RunNotFoundError, match=r"no run 'mnist-paper'.*python -m capslib.train"):
        load_run("mnist-paper", tmp_path, missing="raise")
    assert issubclass(RunNotFoundError, FileNotFoundError)
    # a folder without summary.json (a run still going, or one that crashed) is not a finished run
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "metrics.jsonl").write_text('{"epoch": 1}\n')
    assert load_run("half", tmp_path) is None
    assert list_runs(tmp_path) == []
    assert list_runs(tmp_path / "nowhere") == []


def test_summary_and_metrics_are_read(tmp_path):
    lines = [json.dumps({"epoch": e, "split": s, "accuracy": a, "loss": 1.0 / e})
             for e, s, a in [(1, "train", 0.9), (1, "val", 0.95), (2, "train", 0.97), (2, "val", 0.98)]]
    write_run(tmp_path, "mnist-paper", SUMMARY, ["", *lines, ""])
    run = load_run("mnist-paper", tmp_path)
    assert run.name == "mnist-paper" and run.path == tmp_path / "mnist-paper"
    assert run.test_accuracy == pytest.approx(0.9975)
    assert run.test_error_percent == pytest.approx(0.25)
    assert run.best_val_accuracy == pytest.approx(0.9968)
    assert run.get("images_per_s") == 51234.5 and run.get("absent", "x") == "x"
    assert len(run.metrics) == 4 and run.notes == []
    assert run.series("accuracy", where={"split": "val"}) == ([1, 2], [0.95, 0.98])
    assert run.series("loss")[1] == [1.0, 1.0, 0.5, 0.5]
    assert run.metric_names() == ["epoch", "accuracy", "loss"]
    text = run.provenance()
    for part in ("run=mnist-paper", "mode=full", "device=NVIDIA H100 80GB HBM3", "epochs=30",
                 "commit=0123456789", "torch=2.15.0"):
        assert part in text
    assert list_runs(tmp_path) == ["mnist-paper"]
    table = runs_table([run])
    assert "0.25" in table and "0.9968" in table and "H100" in table


def test_alternative_and_nested_names_and_percent(tmp_path):
    write_run(tmp_path, "r", {"final_test_accuracy": 99.5, "provenance": {"device_name": "CPU"},
                              "validation": {"best_accuracy": 0.99}})
    run = load_run("r", tmp_path)
    assert run.test_accuracy == pytest.approx(0.995)  # stored in percent, read as a fraction
    assert run.test_error_percent == pytest.approx(0.5)
    assert run.get("device") == "CPU" and run.best_val_accuracy == pytest.approx(0.99)
    assert any("metrics.jsonl is absent" in note for note in run.notes)
    write_run(tmp_path, "nothing", {"epochs": 1})
    empty = load_run("nothing", tmp_path)
    assert empty.test_accuracy is None and empty.test_error_percent is None
    assert "-" in runs_table([empty])


def test_truncated_last_metrics_line_is_dropped_with_a_note(tmp_path):
    write_run(tmp_path, "cut", SUMMARY, ['{"epoch": 1, "loss": 0.5}', '{"epoch": 2, "lo'])
    run = load_run("cut", tmp_path)
    assert run.series("loss") == ([1], [0.5])
    assert len(run.notes) == 1 and "incomplete last line 2" in run.notes[0]


def test_bad_files_are_errors_not_absent(tmp_path):
    write_run(tmp_path, "garbled", "{not json")
    with pytest.raises(RunFormatError, match="summary.json: expected a JSON object, got invalid JSON"):
        load_run("garbled", tmp_path)
    write_run(tmp_path, "listy", "[1, 2]")
    with pytest.raises(RunFormatError, match="expected a JSON object, got list"):
        load_run("listy", tmp_path)
    folder = write_run(tmp_path, "midbad", SUMMARY, ['{"epoch": 1}', "oops", '{"epoch": 3}'])
    with pytest.raises(RunFormatError, match="line 2: expected a JSON object"):
        load_run("midbad", tmp_path)
    (folder / "metrics.jsonl").write_text('{"epoch": 1}\n[3]\n{"epoch": 2}\n')
    with pytest.raises(RunFormatError, match="line 2: expected a JSON object, got list"):
        read_metrics(folder / "metrics.jsonl")
    write_run(tmp_path, "weird", {"test_accuracy": 250})
    with pytest.raises(RunFormatError, match="accuracy in"):
        load_run("weird", tmp_path).test_accuracy


@pytest.mark.parametrize("name", ["", "../etc", "a/b", "..", 3])
def test_bad_run_names(tmp_path, name):
    with pytest.raises(ValueError, match="expected a run name"):
        load_run(name, tmp_path)


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="missing must be 'none' or 'raise', got 'ignore'"):
        load_run("x", tmp_path, missing="ignore")
    with pytest.raises(TypeError, match="expected a path"):
        load_run("x", 42)


def test_results_dir_from_the_environment(tmp_path, monkeypatch):
    write_run(tmp_path, "env-run", SUMMARY)
    monkeypatch.setenv(RESULTS_ENV_VAR, str(tmp_path))
    assert default_results_dir() == tmp_path
    assert load_run("env-run").test_accuracy == pytest.approx(0.9975)
    monkeypatch.delenv(RESULTS_ENV_VAR)
    assert default_results_dir().name == "results"


def test_variant_and_find_runs_pick_table1_rows(tmp_path):
    from capslib.results import find_runs
    base = dict(SUMMARY, mode="full", dataset="mnist")
    write_run(tmp_path, "r3", dict(base, model="capsnet", model_config="paper",
                                   config={"routing_iterations": None, "reconstruction": True}))
    write_run(tmp_path, "r1-norec", dict(base, model="capsnet", model_config="paper",
                                         config={"routing_iterations": 1, "reconstruction": False}))
    write_run(tmp_path, "cnn", dict(base, model="baseline", model_config="paper", config={"routing_iterations": None}))
    write_run(tmp_path, "quick", dict(base, mode="quick", model="capsnet", config={}))
    assert load_run("r3", tmp_path).variant() == {"model": "capsnet", "model_config": "paper", "dataset": "mnist",
                                                  "mode": "full", "routing_iterations": 3, "reconstruction": True}
    assert load_run("cnn", tmp_path).variant()["routing_iterations"] is None
    names = lambda runs: [r.name for r in runs]  # noqa: E731
    assert names(find_runs(tmp_path, mode="full", model="capsnet", routing_iterations=3)) == ["r3"]
    assert names(find_runs(tmp_path, routing_iterations=1, reconstruction=False)) == ["r1-norec"]
    assert names(find_runs(tmp_path, model="baseline")) == ["cnn"]
    assert names(find_runs(tmp_path, mode="quick")) == ["quick"]
    assert names(find_runs(tmp_path, epochs=30, mode="full")) == ["cnn", "r1-norec", "r3"]
    assert find_runs(tmp_path / "absent", mode="full") == []
