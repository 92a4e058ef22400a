"""capsbook.runs: reading results/<run>/summary.json and metrics.jsonl, and the 'no run yet' outcome."""

import json

import pytest

from capsbook.runs import (
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
    (folder / "summary.json").write_text(
        json.dumps(summary) if not isinstance(summary, str) else summary
    )
    if metrics_lines is not None:
        (folder / "metrics.jsonl").write_text("\n".join(metrics_lines) + "\n")
    return folder


SUMMARY = {
    "test_accuracy": 0.9975,
    "best_val_accuracy": 0.9968,
    "device_name": "NVIDIA H100 80GB HBM3",
    "mode": "full",
    "dataset": "mnist",
    "epochs": 30,
    "git_commit": "0123456789abcdef",
    "torch_version": "2.15.0",
    "images_per_s": 51234.5,
}


def test_absent_run_is_none_by_default_and_a_clear_error_on_request(tmp_path):
    assert load_run("mnist-paper", tmp_path) is None
    with pytest.raises(
        RunNotFoundError, match=r"no run 'mnist-paper'.*python -m capslib.train"
    ):
        load_run("mnist-paper", tmp_path, missing="raise")
    assert issubclass(RunNotFoundError, FileNotFoundError)
    # a folder without summary.json (a run still going, or one that crashed) is not a finished run
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "metrics.jsonl").write_text('{"epoch": 1}\n')
    assert load_run("half", tmp_path) is None
    assert list_runs(tmp_path) == []
    assert list_runs(tmp_path / "nowhere") == []


def test_summary_and_metrics_are_read(tmp_path):
    lines = [
        json.dumps({"epoch": e, "split": s, "accuracy": a, "loss": 1.0 / e})
        for e, s, a in [
            (1, "train", 0.9),
            (1, "val", 0.95),
            (2, "train", 0.97),
            (2, "val", 0.98),
        ]
    ]
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
    for part in (
        "run=mnist-paper",
        "mode=full",
        "device=NVIDIA H100 80GB HBM3",
        "epochs=30",
        "commit=0123456789",
        "torch=2.15.0",
    ):
        assert part in text
    assert list_runs(tmp_path) == ["mnist-paper"]
    table = runs_table([run])
    assert "0.25" in table and "0.9968" in table and "H100" in table


def test_alternative_and_nested_names_and_percent(tmp_path):
    write_run(
        tmp_path,
        "r",
        {
            "final_test_accuracy": 99.5,
            "provenance": {"device_name": "CPU"},
            "validation": {"best_accuracy": 0.99},
        },
    )
    run = load_run("r", tmp_path)
    assert run.test_accuracy == pytest.approx(
        0.995
    )  # stored in percent, read as a fraction
    assert run.test_error_percent == pytest.approx(0.5)
    assert run.get("device") == "CPU" and run.best_val_accuracy == pytest.approx(0.99)
    assert any("metrics.jsonl is absent" in note for note in run.notes)
    write_run(tmp_path, "nothing", {"epochs": 1})
    empty = load_run("nothing", tmp_path)
    assert empty.test_accuracy is None and empty.test_error_percent is None
    assert "-" in runs_table([empty])


def test_truncated_last_metrics_line_is_dropped_with_a_note(tmp_path):
    write_run(
        tmp_path, "cut", SUMMARY, ['{"epoch": 1, "loss": 0.5}', '{"epoch": 2, "lo']
    )
    run = load_run("cut", tmp_path)
    assert run.series("loss") == ([1], [0.5])
    assert len(run.notes) == 1 and "incomplete last line 2" in run.notes[0]


def test_bad_files_are_errors_not_absent(tmp_path):
    write_run(tmp_path, "garbled", "{not json")
    with pytest.raises(
        RunFormatError, match="summary.json: expected a JSON object, got invalid JSON"
    ):
        load_run("garbled", tmp_path)
    write_run(tmp_path, "listy", "[1, 2]")
    with pytest.raises(RunFormatError, match="expected a JSON object, got list"):
        load_run("listy", tmp_path)
    folder = write_run(
        tmp_path, "midbad", SUMMARY, ['{"epoch": 1}', "oops", '{"epoch": 3}']
    )
    with pytest.raises(RunFormatError, match="line 2: expected a JSON object"):
        load_run("midbad", tmp_path)
    (folder / "metrics.jsonl").write_text('{"epoch": 1}\n[3]\n{"epoch": 2}\n')
    with pytest.raises(
        RunFormatError, match="line 2: expected a JSON object, got list"
    ):
        read_metrics(folder / "metrics.jsonl")
    write_run(tmp_path, "weird", {"test_accuracy": 250})
    with pytest.raises(RunFormatError, match="accuracy in"):
        load_run("weird", tmp_path).test_accuracy


@pytest.mark.parametrize("name", ["", "../etc", "a/b", "..", 3])
def test_bad_run_names(tmp_path, name):
    with pytest.raises(ValueError, match="expected a run name"):
        load_run(name, tmp_path)


def test_bad_arguments(tmp_path):
    with pytest.raises(
        ValueError, match="missing must be 'none' or 'raise', got 'ignore'"
    ):
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
    from capsbook.runs import find_runs

    base = dict(SUMMARY, mode="full", dataset="mnist")
    write_run(
        tmp_path,
        "r3",
        dict(
            base,
            model="capsnet",
            model_config="paper",
            config={"routing_iterations": None, "reconstruction": True},
        ),
    )
    write_run(
        tmp_path,
        "r1-norec",
        dict(
            base,
            model="capsnet",
            model_config="paper",
            config={"routing_iterations": 1, "reconstruction": False},
        ),
    )
    write_run(
        tmp_path,
        "cnn",
        dict(
            base,
            model="baseline",
            model_config="paper",
            config={"routing_iterations": None},
        ),
    )
    write_run(tmp_path, "quick", dict(base, mode="quick", model="capsnet", config={}))
    assert load_run("r3", tmp_path).variant() == {
        "model": "capsnet",
        "model_config": "paper",
        "dataset": "mnist",
        "mode": "full",
        "routing_iterations": 3,
        "reconstruction": True,
    }
    assert load_run("cnn", tmp_path).variant()["routing_iterations"] is None
    names = lambda runs: [r.name for r in runs]  # noqa: E731
    assert names(
        find_runs(tmp_path, mode="full", model="capsnet", routing_iterations=3)
    ) == ["r3"]
    assert names(find_runs(tmp_path, routing_iterations=1, reconstruction=False)) == [
        "r1-norec"
    ]
    assert names(find_runs(tmp_path, model="baseline")) == ["cnn"]
    assert names(find_runs(tmp_path, mode="quick")) == ["quick"]
    assert names(find_runs(tmp_path, epochs=30, mode="full")) == [
        "cnn",
        "r1-norec",
        "r3",
    ]
    assert find_runs(tmp_path / "absent", mode="full") == []


def test_provenance_has_the_wall_time_and_skips_what_is_not_recorded(tmp_path):
    write_run(
        tmp_path, "long", dict(SUMMARY, wall_time_s=3 * 3600 + 360, test_size=10_000)
    )
    run = load_run("long", tmp_path)
    assert "wall=3.1 h" in run.provenance()
    assert run.wall_time_h == pytest.approx(3.1)
    assert run.test_errors == 25  # 0.25% of 10,000
    write_run(tmp_path, "short", dict(SUMMARY, wall_time_s=42.4, git_commit=None))
    text = load_run("short", tmp_path).provenance()
    assert "wall=42 s" in text and "commit=" not in text
    assert load_run("short", tmp_path).test_errors is None  # no test_size recorded


def test_nan_accuracies_read_as_not_recorded(tmp_path):
    # an export made while a run was still going records NaN for the test accuracy (JSON allows it in Python)
    (tmp_path / "interim").mkdir()
    (tmp_path / "interim" / "summary.json").write_text(
        '{"test_accuracy": NaN, "best_val_accuracy": 0.9942, '
        '"wall_time_s": NaN, "test_size": 10000}'
    )
    run = load_run("interim", tmp_path)
    assert (
        run.test_accuracy is None
        and run.test_error_percent is None
        and run.test_errors is None
    )
    assert run.best_val_accuracy == pytest.approx(0.9942)
    assert "wall=" not in run.provenance() and run.wall_time_h is None
    assert runs_table([run]).splitlines()[1].split()[1] == "-"


def test_shipped_run_prefers_results_and_falls_back_to_the_manifest(tmp_path):
    from capsbook.runs import shipped_run
    from capslib import pretrained

    assert shipped_run("no-such-model", tmp_path) is None
    name = pretrained.available()[0]
    fallback = shipped_run(name, tmp_path)
    assert fallback.metrics == [] and "not in this checkout" in fallback.notes[0]
    assert (
        fallback.summary["test_size"] == pretrained.info(name)["summary"]["test_size"]
    )
    assert fallback.path == tmp_path / name
    write_run(
        tmp_path,
        name,
        SUMMARY,
        [json.dumps({"kind": "epoch", "epoch": 1, "val_accuracy": 0.99})],
    )
    real = shipped_run(name, tmp_path)
    assert real.notes == [] and real.series("val_accuracy") == ([1], [0.99])


def test_check_shipped_measures_the_first_digits_and_compares_with_the_record():
    from capsbook.runs import check_shipped
    from capslib import pretrained

    name = "mnist-capsnet"
    if name not in pretrained.available():
        pytest.skip("no shipped MNIST model")
    check = check_shipped(name, limit=100)
    recorded = pretrained.info(name)["summary"]
    assert check.limit == 100 and check.test_size == recorded["test_size"]
    assert check.recorded_errors == round(
        (1 - recorded["test_accuracy_float16"]) * recorded["test_size"]
    )
    assert check.live_errors == round((1 - check.live_accuracy) * 100)
    assert check.consistent and "consistent" in str(check) and "first 100" in str(check)
    with pytest.raises(ValueError, match="expected limit >= 1"):
        check_shipped(name, limit=0)


def test_check_shipped_consistency_rule():
    from capsbook.runs import ShippedCheck

    part = dict(
        name="m",
        test_size=10_000,
        recorded_accuracy=0.997,
        recorded_errors=30,
        seconds=1.0,
    )
    assert ShippedCheck(**part, limit=500, live_accuracy=0.99, live_errors=5).consistent
    assert not ShippedCheck(
        **part, limit=500, live_accuracy=0.9, live_errors=50
    ).consistent  # more than in all
    assert ShippedCheck(
        **part, limit=10_000, live_accuracy=0.997, live_errors=30
    ).consistent
    assert not ShippedCheck(
        **part, limit=10_000, live_accuracy=0.9971, live_errors=29
    ).consistent


def test_error_count_range_is_the_central_binomial_interval():
    from math import comb

    from capsbook.runs import error_count_range

    def cdf(k, n, p):
        return sum(comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k + 1))

    # by hand for a small case: Binomial(10, 0.5): P(X <= 1) = 11/1024 < 0.025 <= P(X <= 2) = 56/1024;
    # P(X <= 7) = 968/1024 < 0.975 <= P(X <= 8) = 1013/1024
    assert error_count_range(0.5, 10) == (2, 8)
    for n, p in [(10_000, 0.0025), (1_000, 0.05), (500, 0.01), (200, 0.3)]:
        low, high = error_count_range(p, n)
        assert cdf(low, n, p) >= 0.025 > (cdf(low - 1, n, p) if low else 0.0)
        assert cdf(high, n, p) >= 0.975 > cdf(high - 1, n, p)
    assert error_count_range(0.0025, 10_000) == (16, 35)
    assert error_count_range(0.0, 100) == (0, 0) and error_count_range(1.0, 7) == (7, 7)
    wide, narrow = (
        error_count_range(0.01, 1000, 0.99),
        error_count_range(0.01, 1000, 0.5),
    )
    assert wide[0] <= narrow[0] <= narrow[1] <= wide[1]
    for bad in [
        dict(error_rate=0.1, n=0),
        dict(error_rate=25, n=100),
        dict(error_rate=0.1, n=10, coverage=1.0),
    ]:
        with pytest.raises(ValueError, match="error_count_range"):
            error_count_range(**bad)
