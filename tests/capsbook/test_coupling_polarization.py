"""capsbook.probes.coupling_polarization: one long routing run read at several counts."""

from __future__ import annotations

import pytest
import torch

import capslib.functional as cf
from capsbook import probes
from capslib.models import CapsNet, CapsNetConfig


def _small_model():
    torch.manual_seed(0)
    return CapsNet(CapsNetConfig.small(conv_channels=16, primary_types=4)).eval()


def test_each_count_matches_a_separate_routing_run_of_that_count():
    model = _small_model()
    images, labels = torch.rand(5, 1, 28, 28), torch.tensor([0, 1, 2, 3, 4])
    result = probes.coupling_polarization(
        model, images, labels, (2, 4, 7), batch_size=2
    )
    with torch.no_grad():
        u_hat = model.digit_caps.predictions(model.primary_capsules(images))
    for j, k in enumerate((2, 4, 7)):
        v, c = cf.dynamic_routing(u_hat, k, return_couplings=True)
        top = c.max(-1)
        assert result.largest_mean[j] == pytest.approx(
            top.values.mean().item(), rel=1e-5
        )
        assert result.largest_max[j] == pytest.approx(top.values.max().item(), rel=1e-5)
        assert torch.allclose(result.per_digit[j], top.values.mean(1), rtol=1e-5)
        share = (top.indices == labels[:, None]).float().mean().item()
        assert result.true_class_share[j] == pytest.approx(share)
        assert result.above_half[j] == (top.values > 0.5).float().mean().item()
        assert result.errors[j] == int((v.norm(dim=-1).argmax(1) != labels).sum())
    assert result.chance == pytest.approx(0.1)


def test_one_iteration_is_uniform_and_counts_are_checked():
    model = _small_model()
    images, labels = torch.rand(3, 1, 28, 28), torch.tensor([1, 2, 3])
    result = probes.coupling_polarization(model, images, labels, (1,))
    assert result.largest_mean[0] == pytest.approx(0.1)
    assert result.above_half == [0.0]
    with pytest.raises(ValueError, match="iteration counts >= 1"):
        probes.coupling_polarization(model, images, labels, (0, 3))


def test_plot_coupling_scales_draws_each_source_on_each_scale():
    import matplotlib

    matplotlib.use("Agg")
    maps = {"a": torch.full((3, 6, 6), 0.1), "b": torch.full((3, 6, 6), 0.105)}
    fig = probes.plot_coupling_scales(maps, scales=(0.1, 0.01))
    drawn = [ax for ax in fig.axes if ax.images]
    assert len(drawn) == 2 * 2 * 3  # 4 rows (2 sources x 2 scales) of 3 maps
    assert len(fig.axes) == len(drawn) + 2  # and one colour bar per scale
    labels = [ax.get_ylabel() for ax in drawn if ax.get_ylabel()]
    assert labels[:4] == [
        "a\n0.00 to 0.20",
        "b\n0.00 to 0.20",
        "a\n0.09 to 0.11",
        "b\n0.09 to 0.11",
    ]
    stretched = drawn[6].images[0]
    assert stretched.get_clim() == pytest.approx((0.09, 0.11))
    with pytest.raises(ValueError, match="half-ranges > 0"):
        probes.plot_coupling_scales(maps, scales=(0.1, 0))
    with pytest.raises(ValueError, match="one shape"):
        probes.plot_coupling_scales({"a": maps["a"], "b": torch.zeros(2, 6, 6)})
