"""The preface's table of shipped models: its numbers come from the shipped summaries."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "_ext"))
import chapter_times  # noqa: E402

from capslib import pretrained  # noqa: E402


def test_hardware_words_names_the_make_and_the_threads():
    name = "CPU Intel(R) Xeon(R) Processor (2 threads, x86_64, AVX-512, AMX)"
    assert chapter_times.hardware_words(name) == "Intel Xeon CPU, 2 threads"
    assert chapter_times.hardware_words("CPU AMD EPYC (1 thread, x86_64)") == (
        "AMD EPYC CPU, 1 thread"
    )
    assert chapter_times.hardware_words("NVIDIA H100") == "NVIDIA H100"
    assert chapter_times.hardware_words(None) == "unrecorded hardware"


def test_number_format_is_the_recorded_dtype_else_float32():
    assert chapter_times.number_format({"dtype": "bfloat16"}) == "bfloat16"
    assert chapter_times.number_format({"config": {"dtype": "auto"}}) == "float32"
    assert chapter_times.number_format({"config": {"dtype": "float16"}}) == "float16"


def test_cells_format_accuracy_and_time():
    summary = {"test_accuracy": 0.9961, "wall_time_s": 10898.4, "epochs": 20}
    summary["device_name"] = "CPU X (2 threads, x86_64)"
    assert chapter_times.shipped_model_cells(summary) == (
        "99.61%",
        "3.0 h (20 epochs; X CPU, 2 threads, float32)",
    )
    summary.update(dtype="bfloat16", test_accuracy_float16=0.903)
    assert chapter_times.shipped_model_cells(summary) == (
        "99.61% as trained; 90.30% shipped float16",
        "3.0 h (20 epochs; X CPU, 2 threads, bfloat16)",
    )
    assert chapter_times.shipped_model_cells({}) == ("not recorded", "not recorded")


def test_parameters_words():
    assert chapter_times.parameters_words({"parameters": 8215568}) == (
        "8.2 M parameters"
    )
    assert chapter_times.parameters_words({}) == ""


def test_every_model_in_the_preface_is_shipped_with_accuracy_and_time():
    preface = (REPO / "book" / "preface.md").read_text(encoding="utf-8")
    block = preface.split("```{shipped-models}\n", 1)[1].split("```", 1)[0]
    names = [line.split("|")[0].strip() for line in block.splitlines() if line]
    assert sorted(names) == sorted(pretrained.available())
    for name in names:
        accuracy, seconds = chapter_times.shipped_model_cells(
            pretrained.info(name)["summary"]
        )
        assert "%" in accuracy and "not recorded" not in seconds, name
        assert chapter_times.parameters_words(pretrained.info(name)["summary"]), name
    # every line gives the paper's figure (or says there is none)
    for line in block.splitlines():
        if line:
            assert len(line.split("|")) == 5, line


def test_build_machine_words_names_the_cpu_read_from_the_machine(monkeypatch):
    import capslib.runtime

    monkeypatch.setattr(capslib.runtime, "cpu_model", lambda: ("AMD EPYC", []))
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert chapter_times.build_machine_words() == "an AMD EPYC CPU with 2 cores"
    monkeypatch.setattr(
        capslib.runtime, "cpu_model", lambda: ("Intel(R) Xeon(R) Processor", [])
    )
    monkeypatch.setattr("os.cpu_count", lambda: 1)
    assert chapter_times.build_machine_words() == "an Intel Xeon CPU with 1 core"
    monkeypatch.setattr(capslib.runtime, "cpu_model", lambda: (None, []))
    assert chapter_times.build_machine_words() == "a CPU with 1 core"
