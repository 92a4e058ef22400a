"""README's table of training runs, generated from ``results/*/summary.json`` and ``metrics.jsonl``.

Every trained model or run the book cites shows its provenance: epochs, best
epoch and whether validation was still improving at the end, the commit, the
hardware, the wall time, the dtype.  README.md holds the table between the
markers ``<!-- results-table:start -->`` and ``<!-- results-table:end -->``;
``python -m capsbook.results_table --write README.md`` regenerates it, and
``tests/capsbook/test_results_table.py`` fails when README and the summaries disagree.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .robustness import training_state
from .runs import list_runs, load_run

START, END = "<!-- results-table:start -->", "<!-- results-table:end -->"
ROOT = Path(__file__).resolve().parents[1]


def _hardware(name: str | None) -> str:
    """``"CPU Intel(R) Xeon(R) Processor (2 threads, ...)"`` -> ``"Intel Xeon CPU, 2 threads"``."""
    if not name:
        return "not recorded"
    if not name.startswith("CPU"):
        return name
    model = (
        name[4:]
        .split(" (")[0]
        .replace("(R)", "")
        .replace("(TM)", "")
        .replace(" Processor", "")
        .strip()
    )
    details = name[4:].partition(" (")[2]
    threads = details.split(",")[0] if details else ""
    threads = "1 thread" if threads == "1 threads" else threads
    return f"{model} CPU, {threads}".strip(", ")


def table(results_dir: str | Path = ROOT / "results") -> str:
    """The Markdown table: one row per run folder holding a ``summary.json``."""
    rows = [
        "| run (`results/`) | network | data | parameters | epochs | best validation | test accuracy "
        "| dtype | hardware | wall time | commit |",
        "| --- | --- | --- | ---: | --- | ---: | ---: | --- | --- | ---: | --- |",
    ]
    for name in list_runs(results_dir):
        run = load_run(name, results_dir)
        s = run.summary
        state = (
            training_state(run.metrics)
            if run.metrics
            else f"{s.get('epochs')} epochs (no metrics.jsonl)"
        )
        network = f"{s.get('model')} ({s.get('model_config')})"
        rows.append(
            f"| `{name}` | {network} | {s.get('dataset')}: {int(s.get('test_size', 0)):,} test "
            f"| {int(s.get('parameters', 0)):,} | {state} | {s.get('best_val_accuracy', float('nan')):.2%} "
            f"| {s.get('test_accuracy', float('nan')):.2%} | {s.get('dtype', 'float32')} "
            f"| {_hardware(s.get('device_name'))} | {s.get('wall_time_s', 0) / 60:.0f} min "
            f"| {str(s.get('git_commit', 'unknown'))[:7]} |"
        )
    return "\n".join(rows)


def in_readme(readme: str) -> str:
    """The table as README holds it now (between the markers)."""
    if START not in readme or END not in readme:
        raise ValueError(
            f"README.md has no {START} ... {END} section for the results table"
        )
    return readme.split(START, 1)[1].split(END, 1)[0].strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m capsbook.results_table",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--write", metavar="README", help="replace the table in this file"
    )
    args = parser.parse_args(argv)
    text = table()
    if args.write:
        path = Path(args.write)
        readme = path.read_text(encoding="utf-8")
        in_readme(readme)  # the markers must be there
        head, rest = readme.split(START, 1)
        path.write_text(
            head + START + "\n" + text + "\n" + END + rest.split(END, 1)[1],
            encoding="utf-8",
        )
        print(f"wrote the results table into {path}")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
