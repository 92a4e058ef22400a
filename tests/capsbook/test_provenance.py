"""capsbook.provenance: the block every scripts/measure_*.py writes, checked against real values."""

from __future__ import annotations

import datetime
import importlib.util
import json
import re
import shutil
import subprocess
import sys

import pytest
import torch

from capsbook import provenance as prov
from capslib.runtime import device_name

ROOT = prov.REPO
#: What each script adds to the shared keys, by the record it writes in results/.
EXTRA_KEYS = {
    "routing-iterations.json": (),
    "fashion-routing-iterations.json": (),
    "squash-contrast.json": (),
    "face-seeds.json": ("threads", "cpu_seconds"),
    "reconstruction-losses.json": (
        "dtype",
        "epochs",
        "train_wall_s",
        "measure_seconds",
    ),
}
#: Written by measure_face_seeds.py --combine, not by a measurement.
COMBINE_KEYS = {"made_as"}


def _git(repo, *args) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def test_the_block_holds_this_machines_values():
    before = datetime.datetime.now(datetime.timezone.utc).replace(
        second=0, microsecond=0
    )
    block = prov.provenance("python scripts/x.py --limit 5", 12.345, threads=2)
    after = datetime.datetime.now(datetime.timezone.utc)
    assert list(block) == [*prov.KEYS, "threads"]
    assert block["torch"] == torch.__version__
    assert block["device"] == device_name("cpu") and block["device"].startswith("CPU")
    assert block["wall_seconds"] == 12.3 and block["threads"] == 2
    assert block["command"] == "python scripts/x.py --limit 5"
    date = datetime.datetime.strptime(block["date"], prov.DATE_FORMAT).replace(
        tzinfo=datetime.timezone.utc
    )
    assert before <= date <= after


def test_a_script_may_not_replace_a_shared_key():
    with pytest.raises(ValueError, match="commit, date"):
        prov.provenance("python scripts/x.py", 1.0, date="yesterday", commit="abc")


@pytest.mark.parametrize("name", sorted(EXTRA_KEYS))
def test_the_keys_are_those_of_the_records_already_written(name):
    """A record the scripts wrote before they called provenance has the keys it gives now."""
    record = json.loads((ROOT / "results" / name).read_text(encoding="utf-8"))
    extra = dict.fromkeys(EXTRA_KEYS[name], 0)
    block = prov.provenance("python scripts/x.py", 1.0, **extra)
    assert set(block) == set(record["provenance"]) - COMBINE_KEYS
    # and its command is one that script_command writes again
    words = record["provenance"]["command"].split(" ")
    assert words[:2] == ["python", words[1]] and words[1].startswith("scripts/measure_")
    again = prov.script_command(ROOT / words[1], words[2:])
    assert again == record["provenance"]["command"]


def test_the_command_as_typed_from_the_repository_root(tmp_path, monkeypatch):
    script = ROOT / "scripts" / "measure_routing_iterations.py"
    assert prov.script_command(script, []) == (
        "python scripts/measure_routing_iterations.py"
    )
    assert prov.script_command(str(script), ["--limit", "5", "--out", "r.json"]) == (
        "python scripts/measure_routing_iterations.py --limit 5 --out r.json"
    )
    monkeypatch.setattr(sys, "argv", [str(script), "--limit", "7"])
    assert prov.script_command(script) == (
        "python scripts/measure_routing_iterations.py --limit 7"
    )
    # a script outside the repository: its name, never the machine's path
    assert prov.script_command(tmp_path / "elsewhere.py", ["-v"]) == (
        "python elsewhere.py -v"
    )


def test_the_commit_is_this_checkouts_head():
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    commit = prov.provenance("c", 0.0)["commit"]
    head = _git(ROOT, "rev-parse", "HEAD")
    assert re.fullmatch(r"[0-9a-f]{40}(-dirty)?", commit)
    assert commit.removesuffix("-dirty") == head


@pytest.mark.skipif(shutil.which("git") is None, reason="no git")
def test_the_commit_in_a_new_repository_and_its_dirty_flag(tmp_path, monkeypatch):
    """The commit of the checkout the code runs from: HEAD, '-dirty' when a tracked file
    changed (not for an untracked one), 'unknown' outside git."""

    def running_from(folder):
        # capslib's git_commit, as a copy of its module placed in ``folder``
        path = folder / "capslib" / "train" / "summary.py"
        path.parent.mkdir(parents=True)
        shutil.copy(ROOT / "capslib" / "train" / "summary.py", path)
        spec = importlib.util.spec_from_file_location("capslib.train._copy", path)
        module = importlib.util.module_from_spec(spec)
        monkeypatch.setitem(sys.modules, spec.name, module)
        spec.loader.exec_module(module)
        monkeypatch.setattr(prov, "git_commit", module.git_commit)

    repo = tmp_path / "repo"
    running_from(repo)
    (repo / "notes.txt").write_text("one\n")
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "first")
    first = _git(repo, "rev-parse", "HEAD")
    assert re.fullmatch(r"[0-9a-f]{40}", first)
    assert prov.provenance("c", 0.0)["commit"] == first
    (repo / "untracked.txt").write_text("new\n")
    assert prov.provenance("c", 0.0)["commit"] == first
    (repo / "notes.txt").write_text("two\n")
    assert prov.provenance("c", 0.0)["commit"] == first + "-dirty"
    _git(repo, "commit", "-q", "-am", "second")
    second = _git(repo, "rev-parse", "HEAD")
    assert second != first and prov.provenance("c", 0.0)["commit"] == second

    outside = tmp_path / "no-repo"
    running_from(outside)
    if (
        subprocess.run(
            ["git", "rev-parse"], cwd=outside, capture_output=True
        ).returncode
        == 0
    ):
        pytest.skip("the temporary folder lies inside a git repository")
    assert prov.provenance("c", 0.0)["commit"] == "unknown"
