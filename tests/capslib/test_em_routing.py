"""Tests for capslib.em_routing: matrix capsules with EM routing (Hinton, Sabour & Frosst 2018)."""

import math

import pytest
import torch

from capslib.em_routing import (
    ClassMatrixCapsules,
    ConvMatrixCapsules,
    MatrixCapsNet,
    MatrixCapsNetConfig,
    PrimaryMatrixCapsules,
    coordinate_offsets,
    e_step,
    em_routing,
    inverse_temperature_schedule,
    m_step,
    spread_loss,
    spread_margin,
)


def random_case(
    batch=2, in_caps=5, out_caps=3, pose_dim=4, seed=0, dtype=torch.float32
):
    g = torch.Generator().manual_seed(seed)
    votes = torch.randn(batch, in_caps, out_caps, pose_dim, generator=g, dtype=dtype)
    activations = torch.rand(batch, in_caps, generator=g, dtype=dtype)
    return votes, activations


# --- hand-computed values ---------------------------------------------------


def test_one_parent_two_children_by_hand():
    # votes 1 and 3 for a single 1-D parent, both children fully active:
    # mu = 2, sigma^2 = 1 (log sigma = 0), sum_i R_ij = 2, cost = 2 beta_u,
    # a = logistic(lambda (beta_a - 2 beta_u)).
    votes = torch.tensor([[[[1.0]], [[3.0]]]], dtype=torch.float64)  # (1, 2, 1, 1)
    acts = torch.ones(1, 2, dtype=torch.float64)
    out = em_routing(
        votes,
        acts,
        beta_u=0.5,
        beta_a=3.0,
        iterations=1,
        inverse_temperatures=[0.1],
        eps=0.0,
    )
    assert out.poses.item() == pytest.approx(2.0)
    expected = 1 / (1 + math.exp(-0.1 * (3.0 - 2 * 0.5)))
    assert out.activations.item() == pytest.approx(expected)


def test_m_step_weights_by_child_activation():
    # child activations 0.25 and 0.75, uniform R over 2 parents (1/2 each):
    # weights 0.125 and 0.375 -> mu = (0.125*0 + 0.375*4) / 0.5 = 3; sigma^2 = (0.125*9 + 0.375*1)/0.5 = 3.
    votes = torch.tensor(
        [[[[0.0], [0.0]], [[4.0], [4.0]]]], dtype=torch.float64
    )  # (1, 2 in, 2 out, 1)
    acts = torch.tensor([[0.25, 0.75]], dtype=torch.float64)
    R = torch.full((1, 2, 2), 0.5, dtype=torch.float64)
    mu, sigma_sq, a = m_step(
        R, acts, votes, beta_u=0.0, beta_a=0.0, inverse_temperature=1.0, eps=0.0
    )
    assert torch.allclose(mu, torch.full_like(mu, 3.0))
    assert torch.allclose(sigma_sq, torch.full_like(sigma_sq, 3.0))
    # cost = (0 + 0.5 ln 3) * 0.5 per parent; a = logistic(-cost)
    expected = 1 / (1 + math.exp(0.5 * math.log(3) * 0.5))
    assert torch.allclose(a, torch.full_like(a, expected))


def test_e_step_by_hand():
    # two 1-D parents N(0, 1) and N(2, 1) with activations 0.5 and 1; child votes 1 for both:
    # p equal, so R = a_j / sum a = (1/3, 2/3).
    mu = torch.tensor([[[0.0], [2.0]]], dtype=torch.float64)
    sigma_sq = torch.ones(1, 2, 1, dtype=torch.float64)
    a = torch.tensor([[0.5, 1.0]], dtype=torch.float64)
    votes = torch.ones(1, 1, 2, 1, dtype=torch.float64)
    R = e_step(mu, sigma_sq, a, votes)
    assert torch.allclose(R, torch.tensor([[[1 / 3, 2 / 3]]], dtype=torch.float64))
    # a vote at 0: densities exp(0) and exp(-2), R proportional to 0.5 and exp(-2)
    R0 = e_step(mu, sigma_sq, a, torch.zeros(1, 1, 2, 1, dtype=torch.float64))
    expected = torch.tensor([0.5, math.exp(-2)], dtype=torch.float64)
    assert torch.allclose(R0[0, 0], expected / expected.sum())


def test_e_step_uses_each_parents_variance():
    # equal means and activations, variances 1 and 4: a vote at 0 prefers the narrow one by sigma ratio 2
    mu = torch.zeros(1, 2, 1, dtype=torch.float64)
    sigma_sq = torch.tensor([[[1.0], [4.0]]], dtype=torch.float64)
    R = e_step(
        mu,
        sigma_sq,
        torch.ones(1, 2, dtype=torch.float64),
        torch.zeros(1, 1, 2, 1, dtype=torch.float64),
    )
    assert torch.allclose(R[0, 0], torch.tensor([2 / 3, 1 / 3], dtype=torch.float64))


def test_two_clusters_are_separated_by_routing():
    # children 0-2 agree on parent 0 at +5 and send noise to parent 1; children 3-5 the reverse.
    g = torch.Generator().manual_seed(1)
    votes = torch.randn(1, 6, 2, 4, generator=g, dtype=torch.float64) * 3
    votes[0, :3, 0] = 5 + 0.01 * torch.randn(3, 4, generator=g, dtype=torch.float64)
    votes[0, 3:, 1] = -5 + 0.01 * torch.randn(3, 4, generator=g, dtype=torch.float64)
    out = em_routing(
        votes,
        torch.ones(1, 6, dtype=torch.float64),
        0.0,
        0.0,
        iterations=3,
        inverse_temperatures=[1.0, 1.0, 1.0],
    )
    assert (out.assignments[0, :3, 0] > 0.99).all() and (
        out.assignments[0, 3:, 1] > 0.99
    ).all()
    assert torch.allclose(
        out.poses[0, 0], torch.full((4,), 5.0, dtype=torch.float64), atol=0.05
    )
    assert torch.allclose(
        out.poses[0, 1], torch.full((4,), -5.0, dtype=torch.float64), atol=0.05
    )


def test_agreement_raises_activation():
    # tight votes (small sigma) cost less than scattered ones, so the parent is more active
    tight = torch.tensor([[[[1.0, 1.0]], [[1.1, 0.9]], [[0.9, 1.1]]]])
    loose = tight * 10
    acts = torch.ones(1, 3)
    a_tight = em_routing(tight, acts, 0.0, 0.0, 1, [1.0]).activations
    a_loose = em_routing(loose, acts, 0.0, 0.0, 1, [1.0]).activations
    assert a_tight.item() > a_loose.item()


# --- invariants (properties) --------------------------------------------------


@pytest.mark.parametrize("iterations", [1, 2, 3])
def test_assignments_sum_to_one_over_parents(iterations):
    votes, acts = random_case(batch=3, in_caps=7, out_caps=4, pose_dim=16)
    out = em_routing(votes, acts, 0.1, 0.2, iterations)
    assert out.assignments.shape == (3, 7, 4)
    assert torch.allclose(out.assignments.sum(-1), torch.ones(3, 7), atol=1e-6)
    assert ((out.activations > 0) & (out.activations < 1)).all()


@pytest.mark.parametrize("seed", range(4))
def test_permuting_children_leaves_parents_unchanged(seed):
    votes, acts = random_case(
        batch=2, in_caps=6, out_caps=3, pose_dim=16, seed=seed, dtype=torch.float64
    )
    perm = torch.randperm(6, generator=torch.Generator().manual_seed(seed + 10))
    out = em_routing(votes, acts, 0.3, -0.2, 3)
    permuted = em_routing(votes[:, perm], acts[:, perm], 0.3, -0.2, 3)
    assert torch.allclose(out.poses, permuted.poses)
    assert torch.allclose(out.activations, permuted.activations)
    assert torch.allclose(out.assignments[:, perm], permuted.assignments)


def test_translating_all_votes_translates_poses_only():
    votes, acts = random_case(
        batch=2, in_caps=6, out_caps=3, pose_dim=16, dtype=torch.float64
    )
    shift = torch.linspace(-2, 2, 16, dtype=torch.float64)
    # eps -> 0: with eps = 1e-8 a parent whose total assignment is ~1e-12 gets its mean pulled to 0
    out = em_routing(votes, acts, 0.1, 0.1, 3, [1.0, 1.0, 1.0], eps=1e-300)
    moved = em_routing(votes + shift, acts, 0.1, 0.1, 3, [1.0, 1.0, 1.0], eps=1e-300)
    assert torch.allclose(moved.poses, out.poses + shift)
    assert torch.allclose(moved.activations, out.activations)


def test_inactive_child_has_no_influence():
    votes, acts = random_case(
        batch=1, in_caps=5, out_caps=2, pose_dim=16, dtype=torch.float64
    )
    acts[0, 4] = 0.0
    changed = votes.clone()
    changed[0, 4] += 100.0
    a = em_routing(votes, acts, 0.1, 0.1, 3)
    b = em_routing(changed, acts, 0.1, 0.1, 3)
    assert torch.allclose(a.poses, b.poses) and torch.allclose(
        a.activations, b.activations
    )


def test_batch_items_are_independent():
    votes, acts = random_case(
        batch=3, in_caps=5, out_caps=2, pose_dim=16, dtype=torch.float64
    )
    full = em_routing(votes, acts, 0.1, 0.1, 3)
    single = em_routing(votes[1:2], acts[1:2], 0.1, 0.1, 3)
    assert torch.allclose(full.poses[1:2], single.poses)


def test_per_parent_betas_broadcast():
    votes, acts = random_case(batch=2, in_caps=5, out_caps=3, pose_dim=16)
    out = em_routing(
        votes,
        acts,
        torch.tensor([0.0, 0.0, 0.0]),
        torch.tensor([0.0, 100.0, -100.0]),
        1,
        [1.0],
    )
    assert (out.activations[:, 1] > out.activations[:, 0]).all()
    assert (out.activations[:, 2] < out.activations[:, 0]).all()


# --- gradients ----------------------------------------------------------------


def test_gradcheck_em_routing_float64():
    votes, acts = random_case(
        batch=1, in_caps=3, out_caps=2, pose_dim=4, dtype=torch.float64
    )
    votes.requires_grad_(True)
    acts = (acts * 0.8 + 0.1).requires_grad_(True)
    beta_u = torch.tensor([0.1, -0.2], dtype=torch.float64, requires_grad=True)
    beta_a = torch.tensor([0.3, 0.0], dtype=torch.float64, requires_grad=True)

    def f(v, a, bu, ba):
        out = em_routing(
            v, a, bu, ba, iterations=3, inverse_temperatures=[0.5, 0.75, 1.0]
        )
        return out.poses, out.activations

    assert torch.autograd.gradcheck(f, (votes, acts, beta_u, beta_a))


def test_gradcheck_spread_loss_float64():
    acts = torch.tensor(
        [[0.2, 0.5, 0.45], [0.9, 0.1, 0.3]], dtype=torch.float64, requires_grad=True
    )
    targets = torch.tensor([0, 0])
    assert torch.autograd.gradcheck(lambda a: spread_loss(a, targets, 0.4), (acts,))


def test_network_gradients_reach_every_parameter():
    torch.manual_seed(0)
    net = MatrixCapsNet(
        MatrixCapsNetConfig.small(
            conv_channels=4, primary_types=2, conv_caps1_types=2, conv_caps2_types=2
        )
    )
    out = net(torch.rand(2, 1, 28, 28))
    spread_loss(out.activations, torch.tensor([3, 7]), 0.5).backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


# --- spread loss, schedules -------------------------------------------------


def test_spread_loss_by_hand():
    acts = torch.tensor([[0.8, 0.5, 0.9], [0.1, 0.9, 0.2]])
    targets = torch.tensor([0, 1])
    # m = 0.4: example 1: (0.4 - 0.3)^2 + (0.4 + 0.1)^2 = 0.01 + 0.25; example 2: 0 + (0.4 - 0.7)^+ = 0
    assert spread_loss(acts, targets, 0.4).item() == pytest.approx((0.26 + 0.0) / 2)


def test_spread_margin_schedule():
    assert spread_margin(0, 100) == pytest.approx(0.2)
    assert spread_margin(50, 100) == pytest.approx(0.55)
    assert spread_margin(500, 100) == pytest.approx(0.9)


def test_default_temperatures_are_the_authors_openreview_schedule():
    # lambda_t = 0.01 (1 - 0.95^(t+1)): 0.01 * 0.05, 0.01 * (1 - 0.9025), 0.01 * (1 - 0.857375)
    assert inverse_temperature_schedule(3) == [
        pytest.approx(5e-4),
        pytest.approx(9.75e-4),
        pytest.approx(1.42625e-3),
    ]
    assert inverse_temperature_schedule(1) == [pytest.approx(5e-4)]
    assert inverse_temperature_schedule(2, final=1.0, rate=0.5) == [
        pytest.approx(0.5),
        pytest.approx(0.75),
    ]
    # em_routing without inverse_temperatures uses it: same result as passing it explicitly
    votes, acts = random_case(pose_dim=16, dtype=torch.float64)
    default = em_routing(votes, acts, 0.1, 0.2, 3)
    explicit = em_routing(votes, acts, 0.1, 0.2, 3, inverse_temperature_schedule(3))
    assert torch.equal(default.activations, explicit.activations)
    with pytest.raises(ValueError, match="rate"):
        inverse_temperature_schedule(3, rate=1.0)


def test_logits_are_what_the_last_m_step_passes_to_the_logistic():
    # the one-parent case above: lambda (beta_a - sum_h cost) = 0.1 * (3 - 2 * 0.5) = 0.2
    votes = torch.tensor([[[[1.0]], [[3.0]]]], dtype=torch.float64)
    out = em_routing(
        votes,
        torch.ones(1, 2, dtype=torch.float64),
        beta_u=0.5,
        beta_a=3.0,
        iterations=1,
        inverse_temperatures=[0.1],
        eps=0.0,
    )
    assert out.logits.item() == pytest.approx(0.2)
    votes, acts = random_case(batch=2, in_caps=6, out_caps=3, pose_dim=16)
    out = em_routing(votes, acts, 0.1, 0.2, 3)
    assert torch.allclose(torch.sigmoid(out.logits), out.activations)


# --- layers and the network ---------------------------------------------------


def test_primary_capsules_group_channels_per_type_at_one_position():
    layer = PrimaryMatrixCapsules(in_channels=3, types=2)
    features = torch.randn(1, 3, 4, 5)
    poses, acts = layer(features)
    assert poses.shape == (1, 4, 5, 2, 16) and acts.shape == (1, 4, 5, 2)
    conv = layer.pose(features)  # (1, 2*16, 4, 5)
    # capsule type 1 at position (2, 3) holds channels 16..31 at that same position
    assert torch.allclose(poses[0, 2, 3, 1], conv[0, 16:32, 2, 3])


def test_conv_capsules_route_each_window_like_em_routing():
    torch.manual_seed(0)
    layer = ConvMatrixCapsules(
        in_types=2, out_types=3, kernel_size=3, stride=2, iterations=2
    )
    poses, acts = torch.randn(1, 5, 5, 2, 16), torch.rand(1, 5, 5, 2)
    out_poses, out_acts = layer(poses, acts)
    assert out_poses.shape == (1, 2, 2, 3, 16) and out_acts.shape == (1, 2, 2, 3)
    # the window of output (1, 0) covers rows 2..4, columns 0..2; children ordered (kernel offset, type)
    window_poses = poses[0, 2:5, 0:3].reshape(9 * 2, 16)
    window_acts = acts[0, 2:5, 0:3].reshape(9 * 2)
    m = window_poses.view(18, 1, 4, 4)
    votes = torch.matmul(m, layer.weights).flatten(-2).unsqueeze(0)
    expected = em_routing(
        votes, window_acts.unsqueeze(0), layer.beta_u, layer.beta_a, 2
    )
    assert torch.allclose(out_poses[0, 1, 0], expected.poses[0], atol=1e-5)
    assert torch.allclose(out_acts[0, 1, 0], expected.activations[0], atol=1e-6)


def test_coordinate_addition_adds_scaled_row_and_column():
    offsets = coordinate_offsets(2, 4, dtype=torch.float64)
    assert offsets.shape == (8, 1, 1, 16)
    flat = offsets.view(2, 4, 16)
    assert flat[1, 2, 3].item() == pytest.approx(0.75) and flat[
        1, 2, 7
    ].item() == pytest.approx(0.625)
    others = [h for h in range(16) if h not in (3, 7)]
    assert (flat[..., others] == 0).all()
    layer = ClassMatrixCapsules(
        in_types=2, classes=3, iterations=1, coordinate_addition=True
    )
    plain = ClassMatrixCapsules(
        in_types=2, classes=3, iterations=1, coordinate_addition=False
    )
    plain.load_state_dict(layer.state_dict())
    poses, acts = torch.randn(1, 2, 4, 2, 16), torch.ones(1, 2, 4, 2)
    # all children equally active, uniform R: the mean vote shifts by the mean offset (0.5, 0.5)
    delta = layer(poses, acts).poses - plain(poses, acts).poses
    assert torch.allclose(delta[0, :, 3], torch.full((3,), 0.5), atol=1e-5)
    assert torch.allclose(delta[0, :, 7], torch.full((3,), 0.5), atol=1e-5)


@pytest.mark.parametrize("image_size", [28, 32, 40])
def test_network_shapes(image_size):
    config = MatrixCapsNetConfig.small(
        image_size=image_size,
        conv_channels=4,
        primary_types=2,
        conv_caps1_types=2,
        conv_caps2_types=2,
    )
    out = MatrixCapsNet(config)(torch.rand(3, 1, image_size, image_size))
    assert out.activations.shape == (3, 10) and out.poses.shape == (3, 10, 4, 4)
    # logistic activations (a collapsed variance can saturate one at 1.0 in float32)
    assert ((out.activations >= 0) & (out.activations <= 1)).all() and torch.isfinite(
        out.poses
    ).all()


def test_paper_configuration_sizes():
    config = MatrixCapsNetConfig.paper()
    assert (
        config.conv_channels,
        config.primary_types,
        config.conv_caps1_types,
        config.conv_caps2_types,
    ) == (32, 32, 32, 32)
    assert config.routing_iterations == 3 and config.coordinate_addition
    assert config.grid_sizes() == (12, 5, 3)
    # the smallNORB geometry of the paper (32x32 input): 14x14 primary, 6x6 and 4x4 conv caps
    assert MatrixCapsNetConfig.paper(image_size=32).grid_sizes() == (14, 6, 4)


def test_class_capsules_vote_like_the_paper_with_shared_weights_and_coordinates():
    torch.manual_seed(0)
    layer = ClassMatrixCapsules(
        in_types=3, classes=4, iterations=2, coordinate_addition=True
    )
    poses, acts = (
        torch.randn(2, 2, 3, 3, 16, dtype=torch.float64),
        torch.rand(2, 2, 3, 3, dtype=torch.float64),
    )
    layer.double()
    # by hand: V = M W for every position and type (the same W at every position), plus the offsets
    m = poses.reshape(2, 6, 3, 1, 4, 4)
    votes = torch.matmul(m, layer.weights.unsqueeze(0)).flatten(-2)  # (2, 6, 3, 4, 16)
    votes = votes + coordinate_offsets(
        2, 3, dtype=torch.float64
    )  # offsets per position
    expected = em_routing(
        votes.reshape(2, 18, 4, 16), acts.reshape(2, 18), layer.beta_u, layer.beta_a, 2
    )
    got = layer(poses, acts)
    assert torch.allclose(got.poses, expected.poses) and torch.allclose(
        got.activations, expected.activations
    )


def test_transform_init_and_config_checks():
    torch.manual_seed(0)
    normal = ConvMatrixCapsules(8, 8, transform_init="normal").weights
    assert normal.abs().max() <= 2.0  # truncated at 2 standard deviations
    assert (
        abs(normal.mean().item()) < 0.02 and abs(normal.std().item() - 0.88) < 0.02
    )  # std of N(0,1) cut at 2
    identity = ConvMatrixCapsules(8, 8, transform_init="identity").weights
    assert (
        abs(identity[..., 0, 0].mean().item() - 1.0) < 0.05
        and abs(identity[..., 0, 1].mean().item()) < 0.05
    )
    with pytest.raises(ValueError, match="transform_init"):
        MatrixCapsNetConfig.small(transform_init="xavier")
    with pytest.raises(ValueError, match="inverse temperatures"):
        MatrixCapsNetConfig.small(inverse_temperatures=(1e-3,))  # small() routes twice
    config = MatrixCapsNetConfig.small(inverse_temperatures=(0.5, 1.0))
    assert MatrixCapsNet(config).class_caps.inverse_temperatures == [0.5, 1.0]
    # without them: the authors' schedule, rising to final_lambda (0.01 for the paper, 0.08 for small)
    assert MatrixCapsNetConfig.paper().temperatures() == inverse_temperature_schedule(3)
    assert MatrixCapsNetConfig.small().temperatures() == inverse_temperature_schedule(
        2, final=0.08
    )
    assert MatrixCapsNetConfig.small(
        routing_iterations=3
    ).temperatures() == inverse_temperature_schedule(3, final=0.08)
    with pytest.raises(ValueError, match="final_lambda"):
        MatrixCapsNetConfig.paper(final_lambda=0.0)


def _digits(n):
    from capslib.data import load_mnist

    data = load_mnist("train", source="sample", verbose=False)
    return data.images[:n], data.labels[:n]


def test_paper_network_starts_unsaturated_and_the_earlier_settings_did_not():
    # the paper's sizes (A = B = C = D = 32, 3 iterations) on 4 real digits, at initialisation
    images, _ = _digits(4)
    torch.manual_seed(0)
    with torch.no_grad():
        now = MatrixCapsNet(MatrixCapsNetConfig.paper())(images)
        torch.manual_seed(0)
        before = MatrixCapsNet(
            MatrixCapsNetConfig.paper(
                inverse_temperatures=(1e-3, 5.5e-3, 1e-2), transform_init="identity"
            )
        )(images)
    # before: the class capsules saturated (logits near 20 on average, activations 1.0 to 4 decimals)
    assert before.logits.mean() > 10 and before.activations.mean() > 0.9999
    # now: no class capsule saturated, and the classes differ from one another
    assert now.logits.abs().max() < 6 and now.activations.max() < 0.998
    assert (
        now.activations.max(dim=1).values - now.activations.min(dim=1).values
    ).min() > 0.05


@pytest.mark.slow
def test_paper_network_spread_loss_falls_within_a_few_dozen_steps():
    images, labels = _digits(4)
    torch.manual_seed(0)
    net = MatrixCapsNet(MatrixCapsNetConfig.paper())
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    losses = []
    for _ in range(10):
        loss = spread_loss(net(images).activations, labels, 0.2)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    # with the earlier settings (linear lambda to 1e-2, identity W) the same run stays within 10% of its start
    assert losses[-1] < 0.2 * losses[0]


@pytest.mark.slow
def test_a_few_steps_reduce_the_loss_on_a_fixed_batch():
    torch.manual_seed(0)
    net = MatrixCapsNet(
        MatrixCapsNetConfig.small(
            conv_channels=4, primary_types=2, conv_caps1_types=2, conv_caps2_types=2
        )
    )
    images = torch.rand(4, 1, 28, 28)
    targets = torch.tensor([1, 4, 7, 9])
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    losses = []
    for _ in range(12):
        opt.zero_grad()
        loss = spread_loss(net(images).activations, targets, 0.2)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


# --- input checks -------------------------------------------------------------


def test_bad_inputs_are_named():
    votes, acts = random_case()
    with pytest.raises(ValueError, match="pose_dim"):
        em_routing(votes[0], acts, 0.0, 0.0)
    with pytest.raises(TypeError, match="floating"):
        em_routing(votes.long(), acts, 0.0, 0.0)
    with pytest.raises(ValueError, match=r"\(batch, in_caps\)"):
        em_routing(votes, acts[:, :2], 0.0, 0.0)
    with pytest.raises(ValueError, match="iterations >= 1"):
        em_routing(votes, acts, 0.0, 0.0, iterations=0)
    with pytest.raises(ValueError, match="inverse temperatures"):
        em_routing(votes, acts, 0.0, 0.0, iterations=3, inverse_temperatures=[1.0])
    with pytest.raises(ValueError, match="targets"):
        spread_loss(torch.rand(2, 10), torch.tensor([1, 10]))
    with pytest.raises(ValueError, match="expected images"):
        MatrixCapsNet(MatrixCapsNetConfig.small())(torch.rand(2, 1, 32, 32))
    with pytest.raises(TypeError, match="floating images"):
        MatrixCapsNet(MatrixCapsNetConfig.small())(
            torch.zeros(2, 1, 28, 28, dtype=torch.uint8)
        )
