"""The preface's table of shipped models: its numbers come from the shipped summaries."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "_ext"))
import chapter_times  # noqa: E402

from capslib import pretrained  # noqa: E402


def test_hardware_words_names_the_threads_not_the_machine():
    name = "CPU Intel(R) Xeon(R) Processor (2 threads, x86_64, AVX-512, AMX)"
    assert chapter_times.hardware_words(name) == "a 2-thread CPU"
    assert chapter_times.hardware_words("CPU AMD EPYC (1 thread, x86_64)") == (
        "a 1-thread CPU"
    )
    assert chapter_times.hardware_words("NVIDIA H100") == "NVIDIA H100"
    assert chapter_times.hardware_words(None) == "unrecorded hardware"


def test_cells_format_accuracy_and_time():
    summary = {"test_accuracy": 0.9961, "wall_time_s": 10898.4, "epochs": 20}
    summary["device_name"] = "CPU X (2 threads, x86_64)"
    assert chapter_times.shipped_model_cells(summary) == (
        "99.61%",
        "3.0 h (20 epochs, a 2-thread CPU)",
    )
    assert chapter_times.shipped_model_cells({}) == ("not recorded", "not recorded")


def test_every_model_in_the_preface_is_shipped_with_accuracy_and_time():
    preface = (REPO / "book" / "preface.md").read_text(encoding="utf-8")
    block = preface.split("```{shipped-models}\n", 1)[1].split("```", 1)[0]
    names = [line.split("|")[0].strip() for line in block.splitlines() if line]
    assert sorted(names) == sorted(pretrained.available())
    for name in names:
        accuracy, seconds = chapter_times.shipped_model_cells(
            pretrained.info(name)["summary"]
        )
        assert accuracy.endswith("%") and "not recorded" not in seconds, name
