"""The chapters' records follow $CAPSLIB_RESULTS, read when they are read, not at import.

On Colab the package is installed from a clone into site-packages, which holds no results/;
the first cell of every notebook points CAPSLIB_RESULTS at the clone's results/. A reader that
fixed its path at import (as three did) would say "not measured yet" there.
"""

import json

from capsbook import loss_experiments, routing_iterations
from capsbook.robustness import face_seeds
from capsbook.runs.folder import REPO_RESULTS_DIR, results_file


def test_results_file_is_in_the_repository_results_without_the_variable(monkeypatch):
    monkeypatch.delenv("CAPSLIB_RESULTS", raising=False)
    assert results_file("face-seeds.json") == REPO_RESULTS_DIR / "face-seeds.json"


def test_each_record_reader_follows_the_variable_set_after_import(
    monkeypatch, tmp_path
):
    (tmp_path / "face-seeds.json").write_text(json.dumps({"seeds": [7]}))
    (tmp_path / "reconstruction-losses.json").write_text(json.dumps({"runs": "here"}))
    (tmp_path / "routing-iterations.json").write_text(
        json.dumps({"errors": {"3": 39}, "wrong": {"3": [1, 2]}, "digits": 10})
    )
    monkeypatch.setenv("CAPSLIB_RESULTS", str(tmp_path))
    assert face_seeds.load_record() == {"seeds": [7]}
    assert loss_experiments.read_result() == {"runs": "here"}
    record = routing_iterations.read_result()
    assert record["errors"] == {3: 39} and record["wrong"] == {3: [1, 2]}


def test_a_results_folder_without_the_records_reads_as_not_measured(
    monkeypatch, tmp_path
):
    monkeypatch.setenv("CAPSLIB_RESULTS", str(tmp_path))
    assert face_seeds.load_record() is None
    assert loss_experiments.read_result() is None
