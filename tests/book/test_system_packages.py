"""`make test` brings the system packages it needs, from the one list that .ci/run reads too.

The Makefile's recipe is run for real (``make system-packages-test``) against small lists of
made-up packages, with ``id``, ``sudo`` and ``apt-get`` replaced by stand-ins on PATH that
record what they were asked, so that the test installs nothing and works as root or not.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LIST = REPO / ".ci" / "system-packages.txt"

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


def rows(path: Path = LIST) -> list[tuple[str, str, str]]:
    out = []
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            package, need, check = line.split(maxsplit=2)
            out.append((package, need, check))
    return out


def stand_ins(tmp_path: Path, *, uid: int, sudo_works: bool) -> Path:
    """A folder of fake `id`, `sudo` and `apt-get` that log their arguments to calls.log."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.log"
    scripts = {
        "id": f'[ "$1" = -u ] && echo {uid} || /usr/bin/id "$@"',
        "sudo": f'echo "sudo $*" >> {log}; '
        + ('shift; "$@"' if sudo_works else "exit 1"),
        "apt-get": f'echo "apt-get $*" >> {log}',
    }
    for name, body in scripts.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    return bin_dir


def make_packages(
    tmp_path: Path, listing: str, *, uid: int = 0, sudo_works: bool = False
):
    packages = tmp_path / "packages.txt"
    packages.write_text(listing)
    bin_dir = stand_ins(tmp_path, uid=uid, sudo_works=sudo_works)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(
        [
            "make",
            "--no-print-directory",
            "-C",
            str(REPO),
            f"SYSTEM_PACKAGES={packages}",
            "system-packages-test",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    log = tmp_path / "calls.log"
    return result, (log.read_text().splitlines() if log.exists() else [])


LISTING = "# a comment\nthere-already  test  true\nneeded-here  test  false\nnot-for-test  ci  false\n"


def test_the_list_is_well_formed_and_names_chromium_for_the_tests():
    table = rows()
    assert all(need in {"ci", "book", "test"} for _, need, _ in table)
    assert ("chromium", "test") in {(package, need) for package, need, _ in table}
    assert len({package for package, _, _ in table}) == len(table)


def test_as_root_make_installs_what_is_missing_and_only_that(tmp_path):
    result, calls = make_packages(tmp_path, LISTING, uid=0)
    assert result.returncode == 0, result.stderr
    assert calls == [
        "apt-get update -q",
        "apt-get install -y -q --no-install-recommends needed-here",
    ]
    assert "make test: installing system package(s) needed-here" in result.stdout


def test_with_passwordless_sudo_make_installs_through_sudo(tmp_path):
    result, calls = make_packages(tmp_path, LISTING, uid=1000, sudo_works=True)
    assert result.returncode == 0, result.stderr
    assert (
        "sudo -n env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends needed-here"
        in calls
    )


def test_otherwise_make_stops_with_one_line_naming_the_package_and_the_command(
    tmp_path,
):
    result, calls = make_packages(tmp_path, LISTING, uid=1000, sudo_works=False)
    assert result.returncode != 0
    # make's own "make: ***" (or "make[1]: ***" when run under another make, as CI's is) follows ours
    ours = [
        line
        for line in result.stderr.splitlines()
        if not re.match(r"make(\[\d+\])?: \*\*\*", line)
    ]
    assert ours == [
        "make test: missing system package(s) needed-here; "
        "install with: sudo apt-get install -y --no-install-recommends needed-here"
    ]
    assert not any(call.startswith("apt-get") for call in calls)


def test_nothing_missing_installs_nothing(tmp_path):
    result, calls = make_packages(tmp_path, "present  test  true\n", uid=1000)
    assert result.returncode == 0 and calls == [] and result.stdout == ""


def test_the_system_packages_come_before_any_test_in_make_test():
    dry = subprocess.run(
        ["make", "-n", "--no-print-directory", "-C", str(REPO), "test"],
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    assert dry.index("system-packages.txt") < dry.index("-m pytest")


@pytest.mark.parametrize("chromium", [None, "/bin/true", "/nonexistent/chromium"])
def test_the_chromium_check_agrees_with_the_browser_tests(monkeypatch, chromium):
    sys.path.insert(0, str(REPO / "tests" / "book" / "browser"))
    import bookcheck

    if chromium is None:
        monkeypatch.delenv("CHROMIUM", raising=False)
    else:
        monkeypatch.setenv("CHROMIUM", chromium)
    (check,) = [check for package, _, check in rows() if package == "chromium"]
    found = (
        subprocess.run(["sh", "-c", check], capture_output=True, cwd=REPO).returncode
        == 0
    )
    assert found == (bookcheck.find_chromium() is not None)


def test_ci_and_the_makefile_read_the_one_list():
    """Neither names a package itself: what they install is what the list says is missing."""
    ci = (REPO / ".ci" / "run").read_text()
    makefile = (REPO / "Makefile").read_text()
    assert (
        "done < .ci/system-packages.txt" in ci
        and "SYSTEM_PACKAGES := .ci/system-packages.txt" in makefile
    )
    packages = {package for package, _, _ in rows()}
    installs = [
        line
        for text in (ci, makefile)
        for line in text.splitlines()
        if "apt-get install" in line
        and not line.lstrip().startswith("#")
        and "install with:" not in line
    ]
    assert len(installs) == 2
    for line in installs:
        assert not packages & set(line.replace('"', " ").split()), line
