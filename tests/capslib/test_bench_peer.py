"""scripts/bench_peer.py: its refusal of a missing or wrong --peer-dir, and its arithmetic on fake timings.

None of these tests needs the peer's code: the folders they give are empty, or hold stand-ins
written here.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench_peer():
    spec = importlib.util.spec_from_file_location(
        "bench_peer", REPO / "scripts" / "bench_peer.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _refusal(bench_peer, capsys, peer_dir: Path) -> str:
    with pytest.raises(SystemExit) as exit_info:
        bench_peer.main(
            ["--peer-dir", str(peer_dir), "--json", str(peer_dir / "x.json")]
        )
    assert exit_info.value.code == 2
    return capsys.readouterr().err


def test_a_missing_peer_folder_is_refused_with_the_clone_command(
    bench_peer, capsys, tmp_path
):
    message = _refusal(bench_peer, capsys, tmp_path / "nowhere")
    assert "no such folder" in message
    assert f"git clone {bench_peer.PEER_URL} {tmp_path / 'nowhere'}" in message


def test_a_folder_without_the_peer_files_is_refused_naming_them(
    bench_peer, capsys, tmp_path
):
    (tmp_path / "capsulenet.py").write_text("", encoding="utf-8")
    message = _refusal(bench_peer, capsys, tmp_path)
    assert "no capsulelayers.py there" in message and "not a clone" in message
    assert "git clone" in message
    assert not (tmp_path / "x.json").exists()  # refused before any timing or writing


def test_a_file_instead_of_a_folder_is_refused(bench_peer, capsys, tmp_path):
    path = tmp_path / "a-file"
    path.write_text("", encoding="utf-8")
    assert "a file, not a folder" in _refusal(bench_peer, capsys, path)


def test_files_that_do_not_define_the_peer_model_are_refused(
    bench_peer, capsys, tmp_path
):
    (tmp_path / "capsulelayers.py").write_text("", encoding="utf-8")
    (tmp_path / "capsulenet.py").write_text("def caps_loss():\n    pass\n", "utf-8")
    message = _refusal(bench_peer, capsys, tmp_path)
    assert (
        "defines no CapsuleNet" in message and "caps_loss" not in message.split(";")[0]
    )
    assert bench_peer.PEER_FILES["capsulenet.py"] in message


def test_a_peer_that_fails_to_import_is_refused_with_its_error(
    bench_peer, capsys, tmp_path
):
    (tmp_path / "capsulelayers.py").write_text("", encoding="utf-8")
    (tmp_path / "capsulenet.py").write_text("raise ImportError('broken')\n", "utf-8")
    message = _refusal(bench_peer, capsys, tmp_path)
    assert "importing its capsulenet.py failed (ImportError: broken)" in message


def test_a_stand_in_peer_is_imported_from_its_folder(bench_peer, tmp_path):
    (tmp_path / "capsulelayers.py").write_text("LAYER = 7\n", encoding="utf-8")
    (tmp_path / "capsulenet.py").write_text(
        "from capsulelayers import LAYER\n"
        "class CapsuleNet:\n    layer = LAYER\n"
        "def caps_loss():\n    return 3\n",
        encoding="utf-8",
    )
    capsule_net, caps_loss = bench_peer.load_peer(tmp_path)
    assert capsule_net.layer == 7 and caps_loss() == 3
    assert (
        str(tmp_path) not in __import__("sys").path
    )  # the folder is not left on the path


def test_ratios_are_peer_over_ours_per_round_with_their_quartiles(bench_peer):
    # peer 2 s in every round; ours 1.0, 0.5, 1.0, 2.0, 0.8 s: ratios 2, 4, 2, 1, 2.5
    times = {
        "ours-auto": [1.0, 0.5, 1.0, 2.0, 0.8],
        "peer": [2.0, 2.0, 2.0, 2.0, 2.0],
    }
    summary = bench_peer.summarize(times, batch_size=100)
    ratio = summary["ratios"]["ours-auto"]
    assert ratio["per_round"] == pytest.approx([2.0, 4.0, 2.0, 1.0, 2.5])
    assert ratio["median"] == pytest.approx(2.0)
    # inclusive quartiles of 1, 2, 2, 2.5, 4: q1 = 2, q3 = 2.5
    assert (ratio["q1"], ratio["q3"], ratio["iqr"]) == pytest.approx((2.0, 2.5, 0.5))
    assert ratio["rounds"] == 5
    # median seconds: ours 1.0, peer 2.0 at 100 images a step
    assert summary["images_per_s"] == pytest.approx({"ours-auto": 100.0, "peer": 50.0})
    assert "peer" not in summary["ratios"]


def test_the_ratio_is_per_round_not_a_ratio_of_medians(bench_peer):
    # the machine slows both models together in the last three rounds: each round's ratio is 3
    times = {"ours": [1.0, 1.0, 3.0, 3.0, 3.0], "peer": [3.0, 3.0, 9.0, 9.0, 9.0]}
    ratio = bench_peer.summarize(times, batch_size=10)["ratios"]["ours"]
    assert ratio["median"] == pytest.approx(3.0) and ratio["iqr"] == pytest.approx(0)


def test_summarize_refuses_uneven_or_peerless_timings(bench_peer):
    with pytest.raises(ValueError, match="same positive number of rounds"):
        bench_peer.summarize({"ours": [1.0], "peer": [1.0, 2.0]}, batch_size=1)
    with pytest.raises(ValueError, match="'peer'"):
        bench_peer.summarize({"ours": [1.0]}, batch_size=1)


def test_rounds_rotate_the_order_and_time_each_step_once_per_round(bench_peer):
    calls = []
    steps = {name: (lambda n=name: calls.append(n)) for name in ("a", "b", "peer")}
    ticks, cpu_ticks = itertools.count(), itertools.count(step=2)
    wall, cpu = bench_peer.interleaved_times(
        steps,
        rounds=3,
        warmup=1,
        clock=lambda: float(next(ticks)),
        cpu_clock=lambda: float(next(cpu_ticks)),
    )
    assert calls[:3] == ["a", "b", "peer"]  # warm-up
    assert calls[3:] == ["a", "b", "peer", "b", "peer", "a", "peer", "a", "b"]
    assert all(t == [1.0, 1.0, 1.0] for t in wall.values())
    assert all(t == [2.0, 2.0, 2.0] for t in cpu.values())


def test_the_record_labels_absolute_speeds_and_holds_the_provenance(bench_peer):
    times = {"ours-auto": [1.0, 1.0], "peer": [2.5, 3.0]}
    summary = bench_peer.summarize(times, batch_size=100)
    cpu_times = {"ours-auto": [2.0, 2.0], "peer": [3.0, 3.0]}
    record = bench_peer.make_record(
        summary,
        times,
        cpu_summary=bench_peer.summarize(cpu_times, batch_size=100),
        cpu_times=cpu_times,
        dtypes={"ours-auto": "bfloat16"},
        batch_size=100,
        threads=2,
        warmup=1,
        peer_commit_text="abc123",
        cpu={"model": "AMD EPYC", "capabilities": {"AVX512_BF16": True}},
        command="python scripts/bench_peer.py --peer-dir x",
    )
    json.dumps(record)  # JSON-ready
    assert record["peer"]["commit"] == "abc123"
    assert record["ours"]["dtypes"] == {"ours-auto": "bfloat16"}
    assert record["ratios"]["ours-auto"]["median"] == pytest.approx(2.75)
    assert "not comparable between runs" in record["images_per_s_note"]
    assert record["images_per_s_under_contention"]["peer"] == pytest.approx(100 / 2.75)
    assert record["threads"] == 2 and record["rounds"] == 2
    assert record["cpu_time_ratios"]["ours-auto"]["median"] == pytest.approx(1.5)
    assert record["step_cpu_seconds"] == cpu_times
    assert record["torch"] and record["ours"]["commit"]


def test_the_peer_commit_falls_back_to_the_measured_files(bench_peer, tmp_path):
    assert bench_peer.peer_commit(tmp_path, "given") == "given"
    text = bench_peer.peer_commit(tmp_path, None)  # not a git clone
    assert all(commit in text for commit in bench_peer.PEER_FILES.values())
