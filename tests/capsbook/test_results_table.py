"""README's table of runs is the one the summaries in results/ give (capsbook.results_table)."""

from pathlib import Path

from capsbook.results_table import _hardware, in_readme, table

ROOT = Path(__file__).resolve().parents[2]


def test_readme_table_matches_the_summaries():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert in_readme(readme) == table(ROOT / "results"), (
        "README.md's results table differs from results/*/summary.json: "
        "run python -m capsbook.results_table --write README.md"
    )


def test_every_run_with_a_summary_has_a_row():
    rows = table(ROOT / "results").splitlines()[2:]
    runs = sorted(
        p.name for p in (ROOT / "results").iterdir() if (p / "summary.json").is_file()
    )
    assert [row.split("`")[1] for row in rows] == runs


def test_hardware_names_are_short():
    name = "CPU Intel(R) Xeon(R) Processor (2 threads, x86_64, AVX-512, AMX)"
    assert _hardware(name) == "Intel Xeon CPU, 2 threads"
    assert _hardware("NVIDIA H100 80GB HBM3") == "NVIDIA H100 80GB HBM3"
    assert _hardware(None) == "not recorded"


def test_one_thread_is_singular():
    assert (
        _hardware("CPU AMD EPYC (1 threads, x86_64, AVX-512)")
        == "AMD EPYC CPU, 1 thread"
    )
