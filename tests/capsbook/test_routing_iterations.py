"""The committed routing-iterations measurement (chapter 7) against the shipped model."""

from __future__ import annotations

import pytest
import torch

import capslib.functional as cf
from capsbook.routing_iterations import (
    RESULT,
    errors_by_iterations,
    read_result,
    routing_profile,
)
from capslib import pretrained
from capslib.models import CapsNet, CapsNetConfig


def test_the_file_holds_all_test_digits_with_its_provenance():
    record = read_result()
    assert record["digits"] == 10_000
    assert record["model"] == "mnist-capsnet"
    assert record["model_sha256"] == pretrained.info("mnist-capsnet")["sha256"]
    assert sorted(record["errors"]) == [1, 2, 3, 5]
    for k, wrong in record["wrong"].items():
        assert record["errors"][k] == len(wrong) == len(set(wrong))
        assert wrong == sorted(wrong) and all(0 <= i < 10_000 for i in wrong)
    for field in ("commit", "device", "torch", "date", "wall_seconds", "command"):
        assert record["provenance"][field]
    assert "measure_routing_iterations.py" in record["provenance"]["command"]


def test_the_file_and_the_shipped_model_agree_on_the_first_digits():
    record = read_result(RESULT)
    model = pretrained.load("mnist-capsnet", "cpu").model
    live = errors_by_iterations(model, (1, 3, 5), limit=300)
    for k, wrong in live.items():
        assert wrong == [i for i in record["wrong"][k] if i < 300], k
    assert model.digit_caps.iterations == 3  # restored after the sweep


def test_routing_profile_splits_s_into_the_uniform_and_the_reweighted_votes():
    torch.manual_seed(0)
    model = CapsNet(CapsNetConfig.small(conv_channels=16, primary_types=4)).eval()
    images = torch.rand(4, 1, 28, 28)
    with torch.no_grad():
        u = model.primary_capsules(images)
    profile = routing_profile(model, u, (1, 3))
    u_hat = model.digit_caps.predictions(u)
    for k, p in profile.items():
        v, c = cf.dynamic_routing(u_hat, k, return_couplings=True)
        lengths = v.norm(dim=-1).sort(dim=1, descending=True).values
        assert torch.allclose(p["length"], lengths[:, 0])
        assert torch.allclose(p["runner_up"], lengths[:, 1])
        # |v| = |s|^2 / (1 + |s|^2): the squash of the winner's s
        s2 = p["s_norm"] ** 2
        assert torch.allclose(p["length"], s2 / (1 + s2), atol=1e-5)
        for b in range(4):
            j = p["winner"][b]
            votes, c_bj = u_hat[b, :, j], c[b, :, j]
            uniform = votes.mean(0) * u_hat.shape[1] / 10  # sum / 10 classes
            assert torch.allclose(p["uniform_part"][b], uniform.norm(), rtol=1e-5)
            assert p["coupling_mean"][b] == pytest.approx(c_bj.mean().item())
            coherence = votes.sum(0).norm() / votes.norm(dim=-1).sum()
            assert p["coherence"][b] == pytest.approx(coherence.item(), rel=1e-5)
    one = profile[1]  # 1 iteration: uniform couplings, nothing reweighted
    assert torch.allclose(one["coupling_mean"], torch.full((4,), 0.1))
    assert torch.allclose(one["coupling_sd"], torch.zeros(4), atol=1e-7)
    assert torch.allclose(one["reweighted_part"], torch.zeros(4), atol=1e-6)
    assert torch.allclose(one["s_norm"], one["uniform_part"], rtol=1e-5)
    # routing moves couplings towards the winner: it gains on average
    assert (profile[3]["coupling_mean"] >= 0.1 - 1e-6).all()
