"""Each deliberately wrong variant in capsbook.pitfalls differs from the correct
capslib version exactly in the way its docstring says (and only there)."""

import pytest
import torch

import capslib.functional as cf
from capsbook import pitfalls
from capslib.nn import PrimaryCapsules


def _u_hat(batch=3, in_caps=12, out_caps=4, out_dim=5, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(
        batch, in_caps, out_caps, out_dim, generator=generator, dtype=torch.float64
    )


# --- softmax over the wrong axis -------------------------------------------------------------
def test_wrong_axis_couplings_sum_to_one_over_inputs_not_outputs():
    u_hat = _u_hat()
    _, c_wrong = pitfalls.routing_softmax_wrong_axis(
        u_hat, iterations=3, return_couplings=True
    )
    _, c_right = cf.dynamic_routing(u_hat, iterations=3, return_couplings=True)
    torch.testing.assert_close(
        c_right.sum(dim=2), torch.ones(3, 12, dtype=torch.float64)
    )
    torch.testing.assert_close(
        c_wrong.sum(dim=1), torch.ones(3, 4, dtype=torch.float64)
    )
    assert (c_wrong.sum(dim=2) - 1).abs().max() > 0.1


def test_wrong_axis_first_iteration_is_out_caps_over_in_caps_times_shorter():
    u_hat = _u_hat(in_caps=12, out_caps=4)
    v_wrong = pitfalls.routing_softmax_wrong_axis(u_hat, iterations=1)
    s_right = u_hat.sum(dim=1) / 4  # uniform c = 1/out_caps
    s_wrong = u_hat.sum(dim=1) / 12  # uniform c = 1/in_caps
    torch.testing.assert_close(s_wrong, s_right * 4 / 12)
    torch.testing.assert_close(v_wrong, cf.squash(s_wrong))
    assert (
        v_wrong.norm(dim=-1) < cf.dynamic_routing(u_hat, iterations=1).norm(dim=-1)
    ).all()


def test_wrong_axis_crushes_lengths_with_the_papers_1152_inputs():
    u_hat = 0.05 * _u_hat(batch=2, in_caps=1152, out_caps=10, out_dim=16)
    u_hat[:, :, 0] += 0.02  # every child agrees a little on parent 0
    right = cf.dynamic_routing(u_hat).norm(dim=-1)
    wrong = pitfalls.routing_softmax_wrong_axis(u_hat).norm(dim=-1)
    assert right[:, 0].min() > 0.5
    assert wrong.max() < 0.05


# --- logits shared across the batch -------------------------------------------------------
def test_shared_logits_equal_correct_routing_for_a_batch_of_one():
    u_hat = _u_hat(batch=1)
    torch.testing.assert_close(
        pitfalls.routing_shared_logits(u_hat), cf.dynamic_routing(u_hat)
    )


def test_shared_logits_make_an_example_depend_on_its_batch():
    u_hat = _u_hat(batch=4)
    alone = pitfalls.routing_shared_logits(u_hat[:1])
    in_batch = pitfalls.routing_shared_logits(u_hat)[:1]
    assert (alone - in_batch).abs().max() > 1e-3
    # the correct routing does not care
    torch.testing.assert_close(
        cf.dynamic_routing(u_hat[:1]), cf.dynamic_routing(u_hat)[:1]
    )
    # and all examples get the same couplings
    _, c = pitfalls.routing_shared_logits(u_hat, return_couplings=True)
    torch.testing.assert_close(c, c[:1].expand_as(c))


def test_shared_logits_saturate_faster_with_larger_batches():
    # the same example repeated: the correct routing ignores the repetition, the pitfall sums it
    u_hat = _u_hat(batch=1).expand(16, -1, -1, -1).contiguous()
    _, c_right = cf.dynamic_routing(u_hat, iterations=3, return_couplings=True)
    _, c_wrong = pitfalls.routing_shared_logits(
        u_hat, iterations=3, return_couplings=True
    )
    assert c_wrong.max(dim=2).values.mean() > c_right.max(dim=2).values.mean() + 0.2


def test_shared_logits_with_the_tutorials_mean_pool_the_batch_without_growing():
    u_hat = _u_hat(batch=4)
    # a batch of one: the correct routing; inside a batch: not
    torch.testing.assert_close(
        pitfalls.routing_shared_logits(u_hat[:1], reduction="mean"),
        cf.dynamic_routing(u_hat[:1]),
    )
    alone = pitfalls.routing_shared_logits(u_hat[:1], reduction="mean")
    assert (
        alone - pitfalls.routing_shared_logits(u_hat, reduction="mean")[:1]
    ).abs().max() > 1e-3
    # the same example repeated 16 times: the mean of equal agreements is that agreement, so no saturation
    repeated = _u_hat(batch=1).expand(16, -1, -1, -1).contiguous()
    torch.testing.assert_close(
        pitfalls.routing_shared_logits(repeated, reduction="mean"),
        cf.dynamic_routing(repeated),
    )
    with pytest.raises(ValueError, match="reduction"):
        pitfalls.routing_shared_logits(u_hat, reduction="max")


def test_xifengguo_weight_on_the_mean_restores_the_papers_loss_on_28x28_only():
    generator = torch.Generator().manual_seed(2)
    images = torch.rand(3, 1, 28, 28, generator=generator, dtype=torch.float64)
    recon = torch.rand(3, 1, 28, 28, generator=generator, dtype=torch.float64)
    lam_recon = 0.392  # CapsNet-Keras's default
    compensated = pitfalls.reconstruction_loss_mean(recon, images, scale=lam_recon)
    torch.testing.assert_close(compensated, cf.reconstruction_loss(recon, images))
    big, big_recon = (
        torch.rand(3, 1, 36, 36, dtype=torch.float64),
        torch.rand(3, 1, 36, 36, dtype=torch.float64),
    )
    ratio = cf.reconstruction_loss(big_recon, big) / pitfalls.reconstruction_loss_mean(
        big_recon, big, scale=lam_recon
    )
    assert float(ratio) == pytest.approx(36 * 36 / 784)  # MultiMNIST: 1.65x too weak


# --- squash without epsilon -------------------------------------------------------------------
def test_squash_without_eps_gives_nan_at_zero_in_value_and_gradient():
    s = torch.zeros(2, 8, requires_grad=True)
    out = pitfalls.squash_without_eps(s)
    assert torch.isnan(out).all()
    out.sum().backward()
    assert torch.isnan(s.grad).all()
    # the correct squash: zero output, finite gradient
    s2 = torch.zeros(2, 8, requires_grad=True)
    out2 = cf.squash(s2)
    out2.sum().backward()
    assert (out2 == 0).all() and torch.isfinite(s2.grad).all()


def test_squash_without_eps_agrees_away_from_zero():
    s = _u_hat(batch=2, in_caps=3, out_caps=4, out_dim=8)
    torch.testing.assert_close(pitfalls.squash_without_eps(s), cf.squash(s))
    # hand value: length 3 -> 9/10
    assert pitfalls.squash_without_eps(
        torch.tensor([3.0, 0.0])
    ).tolist() == pytest.approx([0.9, 0.0])


# --- primary capsules grouped across positions ----------------------------------------------
def _labelled_conv_out(types=32, dim=8, h=6, w=6):
    """Channel type*dim+k at (y, x) holds the code 1000*type + 100*k + 10*y + x."""
    t, k, y, x = torch.meshgrid(
        torch.arange(types),
        torch.arange(dim),
        torch.arange(h),
        torch.arange(w),
        indexing="ij",
    )
    return (1000 * t + 100 * k + 10 * y + x).reshape(1, types * dim, h, w).double()


def test_reshape_across_positions_mixes_positions_of_one_channel():
    conv_out = _labelled_conv_out()
    wrong = pitfalls.primary_capsules_reshape_across_positions(conv_out, capsule_dim=8)
    right = PrimaryCapsules(capsule_types=32, capsule_dim=8).capsules_from_channels(
        conv_out
    )
    assert wrong.shape == right.shape == (1, 1152, 8)
    position = lambda codes: codes % 100  # noqa: E731 - 10*y + x
    component = lambda codes: (codes // 100) % 10  # noqa: E731
    # correct: each capsule = one position, components 0..7
    assert (position(right) == position(right[..., :1])).all()
    assert (component(right) == torch.arange(8)).all()
    # wrong: the first capsule is positions (0,0)..(1,1) of channel 0
    assert wrong[0, 0].tolist() == [0, 1, 2, 3, 4, 5, 10, 11]
    mixed = (position(wrong) != position(wrong[..., :1])).any(dim=-1)
    assert mixed.all()
    # the same numbers, differently grouped
    assert torch.equal(wrong.flatten().sort().values, right.flatten().sort().values)


def test_reshape_across_positions_checks_its_input():
    with pytest.raises(ValueError, match="divisible"):
        pitfalls.primary_capsules_reshape_across_positions(
            torch.zeros(1, 10, 6, 6), capsule_dim=8
        )
    with pytest.raises(ValueError, match="height, width"):
        pitfalls.primary_capsules_reshape_across_positions(torch.zeros(10, 6, 6))


# --- reconstruction loss on the mean ----------------------------------------------------------
@pytest.mark.parametrize("size", [28, 36])
def test_reconstruction_loss_mean_is_pixels_times_weaker(size):
    generator = torch.Generator().manual_seed(1)
    images = torch.rand(5, 1, size, size, generator=generator, dtype=torch.float64)
    recon = torch.rand(5, 1, size, size, generator=generator, dtype=torch.float64)
    right = cf.reconstruction_loss(recon, images)
    wrong = pitfalls.reconstruction_loss_mean(recon, images)
    assert float(right / wrong) == pytest.approx(size * size, rel=1e-9)
    hand = 0.0005 * ((recon - images) ** 2).sum(dim=(1, 2, 3)).mean()
    torch.testing.assert_close(right, hand)


# --- every pitfall documents bug, effect and guard -------------------------------------------
@pytest.mark.parametrize("name", pitfalls.__all__)
def test_docstrings_name_bug_effect_and_guard(name):
    doc = getattr(pitfalls, name).__doc__
    assert doc.startswith("WRONG")
    for heading in ("**Bug.**", "**Effect.**", "**Guarded by**"):
        assert heading in doc, f"{name}: docstring lacks {heading}"


def test_routing_pitfalls_check_inputs():
    for fn in (pitfalls.routing_softmax_wrong_axis, pitfalls.routing_shared_logits):
        with pytest.raises(ValueError, match="batch, in_caps, out_caps, out_dim"):
            fn(torch.zeros(3, 4, 5))
        with pytest.raises(ValueError, match="iterations >= 1"):
            fn(torch.zeros(1, 2, 3, 4), iterations=0)
        with pytest.raises(TypeError, match="floating"):
            fn(torch.zeros(1, 2, 3, 4, dtype=torch.int64))


@pytest.mark.parametrize("name", pitfalls.__all__)
def test_the_guarding_tests_named_in_docstrings_exist(name):
    import re
    from pathlib import Path

    doc = getattr(pitfalls, name).__doc__
    guard = doc[doc.index("**Guarded by**") :]
    files = re.findall(r"``(tests/[\w/]+\.py)``", guard)
    tests = re.findall(r"``(test_\w+)``", guard)
    assert files and tests, f"{name}: no guarding test named"
    root = Path(__file__).resolve().parents[2]
    sources = "".join((root / f).read_text() for f in files)
    for test in tests:
        assert f"def {test}(" in sources, f"{name}: {test} not found in {files}"


def test_the_pitfall_applied_channels_first_groups_positions_not_channels():
    conv_out = torch.arange(2 * 8 * 3 * 3, dtype=torch.float32).view(1, 16, 3, 3)
    wrong = pitfalls.primary_capsules_reshape_across_positions(conv_out, capsule_dim=8)
    assert torch.equal(
        wrong[0, 0], conv_out[0, 0].flatten()[:8]
    )  # 8 positions of channel 0
