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
