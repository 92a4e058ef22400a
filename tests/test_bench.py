"""The benchmark on a CPU with tiny settings: JSON report, FLOP/s arithmetic, routing comparison, profile."""
import json
import pytest
import torch

from capslib.bench import bench_routing, bf16_peak_tflops, main, make_model, profile_training, run_bench
from capslib.flops import flops_per_image


def test_run_bench_reports_throughput_flops_and_routing_ratio(tmp_path):
    report_path = tmp_path / "bench.json"
    assert main(["--device", "cpu", "--models", "capsnet-tiny,baseline-tiny", "--batch-sizes", "4",
                 "--dtypes", "float32,bfloat16", "--steps", "1", "--warmup", "1", "--routing-batch", "2",
                 "--routing-in-caps", "32", "--json", str(report_path)]) == 0
    report = json.loads(report_path.read_text())
    assert report["describe"].startswith("mode=") and "device=CPU" in report["describe"]
    assert report["versions"]["torch"] == torch.__version__
    results = report["results"]
    assert [(r["model"], r["dtype"]) for r in results] == [
        ("capsnet-tiny", "float32"), ("capsnet-tiny", "bfloat16"), ("baseline-tiny", "float32"),
        ("baseline-tiny", "bfloat16")]
    for r in results:
        assert r["train_images_per_s"] > 0 and r["inference_latency_ms"] > 0
        assert r["train_flops_per_image"] == 3 * r["forward_flops_per_image"]
        assert r["achieved_train_tflops"] == pytest.approx(r["train_images_per_s"] * r["train_flops_per_image"] / 1e12)
        assert r["fraction_of_bf16_peak"] is None  # no peak for a CPU
    assert results[0]["forward_flops_per_image"] == flops_per_image(make_model("capsnet-tiny", torch.device("cpu")))
    routing = report["routing"]
    assert routing["max_abs_difference"] < 1e-5  # both versions compute the same v ...
    assert routing["speedup"] > 1                # ... and the loop is slower


def test_routing_comparison_fields():
    r = bench_routing(torch.device("cpu"), batch=1, in_caps=8, out_caps=3, out_dim=4, iterations=2, repeats=1)
    assert r["speedup"] == pytest.approx(r["loop_ms"] / r["vectorised_ms"])
    assert r["in_caps"] == 8 and r["iterations"] == 2


def test_known_gpu_peaks():
    assert bf16_peak_tflops("NVIDIA H100 80GB HBM3") == 989.4
    assert bf16_peak_tflops("NVIDIA H100 PCIe") == 756.5
    assert bf16_peak_tflops("NVIDIA A100-SXM4-40GB") == 312.0
    assert bf16_peak_tflops("CPU (2 threads, x86_64)") is None


def test_profile_writes_the_top_ops_table(tmp_path):
    table = profile_training("capsnet-tiny", 4, "float32", torch.device("cpu"), tmp_path, steps=1)
    text = (tmp_path / "profile_top_ops.txt").read_text()
    assert text == table + "\n" and "aten::" in text and "model=capsnet-tiny" in text
    assert (tmp_path / "profile_trace.json").stat().st_size > 0


def test_bad_model_name():
    with pytest.raises(ValueError, match="expected a model among"):
        make_model("resnet", torch.device("cpu"))
