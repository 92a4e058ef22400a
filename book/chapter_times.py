"""Measure how long each chapter's notebook takes to run, for the preface's table of chapter times.

The book's build records the quick-mode times itself (the preface's ``{chapter-times}`` table,
``_ext/chapter_times.py``). Full mode needs a GPU and is not part of the build: on a GPU
machine, from the repository root,

    python book/chapter_times.py --mode full

runs every notebook of ``_toc.yml`` in full mode (``CAPSLIB_MODE=full``, with nbclient, in
reading order) and writes ``results/notebook_times_full.json``:
``{"mode", "device", "date", "commit", "torch", "seconds": {docname: seconds}, "failed": [...]}``.
Commit that file; the next build of the book shows the times. ``--only`` runs some notebooks.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def toc_notebooks(root: Path = ROOT) -> list[str]:
    """The notebooks of ``_toc.yml``, in reading order (docnames, e.g. ``notebooks/04_squash``)."""
    import yaml

    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
    files = [
        chapter["file"]
        for part in toc.get("parts", [])
        for chapter in part.get("chapters", [])
    ]
    return [name for name in files if (root / f"{name}.ipynb").exists()]


def run_notebook(path: Path, timeout_s: int) -> float:
    """Execute one notebook (in its folder, as the book does) and return the wall time in seconds."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=timeout_s,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    start = time.perf_counter()
    client.execute()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=("quick", "full"), required=True)
    parser.add_argument(
        "--only", nargs="*", help="docnames or stems to run (default: every notebook)"
    )
    parser.add_argument(
        "--timeout", type=int, default=6 * 3600, help="seconds per cell (default 6 h)"
    )
    parser.add_argument(
        "--out", type=Path, help="default: results/notebook_times_<mode>.json"
    )
    args = parser.parse_args(argv)
    os.environ["CAPSLIB_MODE"] = args.mode

    import capslib

    names = toc_notebooks()
    if args.only:
        names = [n for n in names if n in args.only or Path(n).name in args.only]
    out = args.out or ROOT / "results" / f"notebook_times_{args.mode}.json"
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    record = {
        "mode": args.mode,
        "device": capslib.device_name(),
        "date": datetime.now(timezone.utc).date().isoformat(),
        "commit": commit,
        "torch": capslib.versions()["torch"],
        "seconds": {},
        "failed": [],
    }
    for name in names:
        print(f"{name} ...", end=" ", flush=True)
        try:
            seconds = run_notebook(ROOT / f"{name}.ipynb", args.timeout)
        except Exception as err:  # noqa: BLE001 - record it and go on with the next chapter
            record["failed"].append(name)
            print(f"FAILED ({type(err).__name__})")
            continue
        record["seconds"][name] = round(seconds, 1)
        print(f"{seconds:.0f} s")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    return 1 if record["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
