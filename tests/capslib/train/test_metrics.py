"""capslib.train.metrics: the one reader of metrics.jsonl, line by line."""

from __future__ import annotations

import pytest

from capslib.train.metrics import BadLine, read_metrics, read_records


def test_read_records_keeps_records_and_says_why_each_other_line_is_not_one(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text(
        '{"step": 1, "kind": "step"}\n'  # 1: a record
        "\n"  # 2: blank, skipped
        "[3]\n"  # 3: JSON, not an object
        '{"step": "4"}\n'  # 4: a step that is not an integer
        '{"step": true}\n'  # 5: a bool is not a step
        '{"epoch": 1}\n'  # 6: a record without a step (step 0)
        '{"step": 7, "ki'  # 7: cut short, the last line
    )
    records, bad = read_records(path)
    assert records == [{"step": 1, "kind": "step"}, {"epoch": 1}]
    assert [(b.number, b.cut_short, b.last) for b in bad] == [
        (3, False, False),
        (4, False, False),
        (5, False, False),
        (7, True, True),
    ]
    assert bad[0].reason == "expected a JSON object, got list"
    assert bad[-1].reason.startswith("expected a JSON object, got invalid JSON")
    assert isinstance(bad[0], BadLine)
    assert read_metrics(tmp_path) == records  # the folder or the file
    assert read_metrics(path) == records


def test_a_cut_short_line_followed_by_blank_lines_is_still_the_last(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 1}\n{"st\n\n\n')
    assert read_records(path)[1] == [
        BadLine(2, read_records(path)[1][0].reason, True, True)
    ]


def test_read_metrics_names_the_fix_when_there_is_no_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="python -m capslib.train --out"):
        read_metrics(tmp_path)


def test_time_to_accuracy_is_the_first_epoch_at_or_above_the_target():
    from capslib.train import time_to_accuracy

    rows = [
        {"kind": "step", "step": 5},
        {
            "kind": "epoch",
            "epoch": 2,
            "test_accuracy": 0.990,
            "train_time_s": 20.0,
            "wall_time_s": 25.0,
        },
        {
            "kind": "epoch",
            "epoch": 1,
            "test_accuracy": 0.980,
            "train_time_s": 10.0,
            "wall_time_s": 12.0,
        },
        {
            "kind": "epoch",
            "epoch": 3,
            "test_accuracy": 0.989,
            "train_time_s": 30.0,
            "wall_time_s": 37.0,
        },
        {
            "kind": "epoch",
            "epoch": 4,
            "test_accuracy": 0.996,
            "train_time_s": 40.0,
            "wall_time_s": 50.0,
        },
    ]
    assert (
        time_to_accuracy(rows, 0.99)["epoch"] == 2
    )  # reached exactly, then lost: still epoch 2
    assert time_to_accuracy(rows, 0.995) == {
        "target": 0.995,
        "epoch": 4,
        "test_accuracy": 0.996,
        "train_time_s": 40.0,
        "wall_time_s": 50.0,
    }
    assert time_to_accuracy(rows, 0.999) is None
    for bad in (0, 1.5, -0.1):
        with pytest.raises(ValueError, match="fraction"):
            time_to_accuracy(rows, bad)
