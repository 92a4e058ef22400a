"""capsbook.runs.peer: chapter 8's reading of results/peer-bench.json, by its rule."""

import json
from pathlib import Path

import pytest

from capsbook.runs import RunFormatError, peer

ROOT = Path(__file__).resolve().parents[2]


def record(auto=(2.6, 2.5, 2.7), f32=(1.2, 0.9, 1.3)):
    def ratio(m, q1, q3):
        return {"median": m, "q1": q1, "q3": q3, "iqr": q3 - q1, "rounds": 4}

    return {
        "ratios": {"ours-auto": ratio(*auto), "ours-float32": ratio(*f32)},
        "ours": {"dtypes": {"ours-auto": "bfloat16", "ours-float32": "float32"}},
        "cpu": {"model": "Some CPU"},
        "threads": 2,
        "date": "2026-12-07T16:41:37+00:00",
    }


def test_missing_record_is_none_and_a_bad_one_an_error(tmp_path):
    assert peer.load_peer_bench(tmp_path / "peer-bench.json") is None
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    with pytest.raises(RunFormatError, match="JSON object"):
        peer.load_peer_bench(bad)
    bad.write_text("{not json")
    with pytest.raises(RunFormatError, match="not JSON"):
        peer.load_peer_bench(bad)


def test_the_rule_faster_needs_the_lower_quartile_above_one_and_the_goal_too():
    auto, f32 = peer.peer_readings(record())
    # auto: 2.6x, q1 2.5 >= 2.5: faster and the goal met (at the boundary)
    assert (auto.faster, auto.met, auto.dtype, auto.goal) == (
        True,
        True,
        "bfloat16",
        2.5,
    )
    # float32: median 1.2 > 1 but q1 0.9 < 1: not shown faster; 1.8x not met
    assert (f32.faster, f32.met) == (False, False)
    auto, _ = peer.peer_readings(record(auto=(2.6, 2.49, 2.7)))
    assert auto.faster and not auto.met  # the median passes the goal, q1 does not
    assert auto.goal_outcome == "not clearly met"
    assert "its median reaches it, its lower quartile does not" in peer.peer_sentence(
        [auto]
    )


def test_table_rows_and_sentence_are_formatted_from_the_readings():
    readings = peer.peer_readings(record())
    assert peer.peer_table_rows(readings) == [
        ("--dtype auto", "bfloat16", "2.60x (2.50-2.70)", "2.5x: met"),
        ("--dtype float32", "float32", "1.20x (0.90-1.30)", "1.8x: not met"),
    ]
    sentence = peer.peer_sentence(readings)
    assert sentence.startswith("in bfloat16 ours is faster, 2.60x, and the 2.5x goal")
    assert "in float32 ours is not shown faster, 1.20x" in sentence
    assert "the 1.8x goal was not met (its median is below it)" in sentence
    assert "2.5x goal was met;" in sentence
    assert peer.peer_sentence([]) == "no record"
    assert peer.peer_machine(record()) == "Some CPU, 2 threads, 2026-12-07"


def test_a_record_without_a_variant_or_with_bad_quartiles_is_refused():
    broken = record()
    del broken["ratios"]["ours-float32"]
    with pytest.raises(RunFormatError, match="ours-float32.*bench_peer.py"):
        peer.peer_readings(broken)
    with pytest.raises(RunFormatError, match="do not bracket"):
        peer.peer_readings(record(auto=(2.0, 2.5, 2.7)))


def test_the_committed_record_reads_by_the_rule():
    path = ROOT / "results" / "peer-bench.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    readings = peer.peer_readings(peer.load_peer_bench(path))
    for r in readings:
        ratios = sorted(data["ratios"][r.variant]["per_round"])
        assert r.q1 <= r.median <= r.q3
        assert ratios[0] <= r.median <= ratios[-1]
        assert r.faster == (r.median > 1 and r.q1 > 1)
