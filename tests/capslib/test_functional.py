"""capslib.functional against hand computations, the paper's formulas and properties.

Expected values are computed here with plain Python arithmetic (``math``), never
by calling the function under test.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from capslib.functional import (
    capsule_length,
    dynamic_routing,
    dynamic_routing_loop,
    margin_loss,
    reconstruction_loss,
    squash,
)

F64 = torch.float64


def squash_by_hand(vector: list[float]) -> list[float]:
    """Eq. 1 written out: |s|^2 / (1 + |s|^2) * s / |s|."""
    norm2 = sum(x * x for x in vector)
    if norm2 == 0:
        return [0.0 for _ in vector]
    norm = math.sqrt(norm2)
    return [norm2 / (1 + norm2) * x / norm for x in vector]


def routing_by_hand(u_hat: list, iterations: int):
    """Procedure 1 for one example in plain Python. u_hat[i][j] is a list (the vector u_hat_j|i)."""
    n_in, n_out, dim = len(u_hat), len(u_hat[0]), len(u_hat[0][0])
    b = [[0.0] * n_out for _ in range(n_in)]
    for r in range(iterations):
        c = []
        for i in range(n_in):
            exps = [math.exp(b[i][j]) for j in range(n_out)]
            c.append([e / sum(exps) for e in exps])
        s = [
            [sum(c[i][j] * u_hat[i][j][d] for i in range(n_in)) for d in range(dim)]
            for j in range(n_out)
        ]
        v = [squash_by_hand(s_j) for s_j in s]
        if r < iterations - 1:
            for i in range(n_in):
                for j in range(n_out):
                    b[i][j] += sum(u_hat[i][j][d] * v[j][d] for d in range(dim))
    return v, c


# ----------------------------------------------------------------------------
# squash and capsule_length: values
# ----------------------------------------------------------------------------
def test_squash_matches_hand_computed_values():
    s = torch.tensor([[3.0, 4.0], [1.0, 0.0], [0.0, -0.1]], dtype=F64)
    expected = torch.tensor(
        [
            [
                25 / 26 * 0.6,
                25 / 26 * 0.8,
            ],  # |s| = 5: factor 25/26 times the unit vector
            [0.5, 0.0],  # |s| = 1: half length
            [0.0, -0.01 / 1.01],  # |s| = 0.1: length 0.01/1.01 ~ |s|^2
        ],
        dtype=F64,
    )
    torch.testing.assert_close(squash(s), expected, rtol=1e-6, atol=1e-12)


def test_squash_along_another_dim():
    s = torch.tensor([[3.0, 1.0], [4.0, 0.0]], dtype=F64)  # capsules are the columns
    out = squash(s, dim=0)
    torch.testing.assert_close(
        out[:, 0], torch.tensor([25 / 26 * 0.6, 25 / 26 * 0.8], dtype=F64)
    )
    torch.testing.assert_close(out[:, 1], torch.tensor([0.5, 0.0], dtype=F64))
    torch.testing.assert_close(squash(s, dim=0), squash(s.T, dim=-1).T)


def test_squash_matches_plain_python_on_random_vectors():
    rng = np.random.default_rng(0)
    s = rng.normal(size=(20, 7)) * rng.uniform(0.01, 10, size=(20, 1))
    expected = torch.tensor([squash_by_hand(list(row)) for row in s], dtype=F64)
    torch.testing.assert_close(squash(torch.tensor(s)), expected, rtol=1e-6, atol=1e-9)


def test_capsule_length_values():
    v = torch.tensor([[3.0, 4.0], [0.0, 0.0], [-1.0, 0.0]], dtype=F64)
    assert capsule_length(v).tolist() == [5.0, 0.0, 1.0]
    assert capsule_length(v.T, dim=0).tolist() == [5.0, 0.0, 1.0]


def test_squash_short_vectors_shrink_quadratically_and_long_ones_approach_one():
    short = torch.tensor([1e-2, 0.0], dtype=F64)
    long = torch.tensor([1e3, 0.0], dtype=F64)
    # eps = 1e-8 under the root changes the length by a factor 1 - eps / (2 |s|^2) = 1 - 5e-5 here
    assert capsule_length(squash(short)).item() == pytest.approx(
        1e-4 / (1 + 1e-4), rel=1e-4
    )
    assert capsule_length(squash(long)).item() == pytest.approx(1 - 1e-6, abs=1e-9)
    assert capsule_length(squash(long)).item() < 1


# ----------------------------------------------------------------------------
# the zero vector: zero output, finite gradients, in every precision
# ----------------------------------------------------------------------------
def _expected_dtype(fn, dtype):
    """squash keeps the input's dtype; capsule_length returns float32 (float64 for float64 input)."""
    if fn is capsule_length:
        return torch.float64 if dtype == torch.float64 else torch.float32
    return dtype


@pytest.mark.parametrize(
    "dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16]
)
@pytest.mark.parametrize(
    "fn", [squash, capsule_length], ids=["squash", "capsule_length"]
)
def test_zero_vector_gives_zero_and_finite_gradient(fn, dtype):
    s = torch.zeros(3, 8, dtype=dtype, requires_grad=True)
    out = fn(s)
    assert out.dtype == _expected_dtype(fn, dtype)
    assert torch.count_nonzero(out) == 0
    out.float().sum().backward()
    assert torch.isfinite(s.grad).all()
    assert (
        torch.count_nonzero(s.grad) == 0
    )  # zero is a minimum of the length: gradient 0


@pytest.mark.parametrize(
    "autocast_dtype", [torch.bfloat16, torch.float16], ids=["bfloat16", "float16"]
)
@pytest.mark.parametrize(
    "fn", [squash, capsule_length], ids=["squash", "capsule_length"]
)
def test_zero_vector_under_cpu_autocast(fn, autocast_dtype):
    """An exact zero from a layer run under CPU autocast (bf16, and fp16 as on a GPU) stays finite.

    float16 is the harder case: ``eps = 1e-8`` is below its smallest subnormal
    (6e-8), so a norm computed in float16 would be ``sqrt(0 + 0) = 0`` and
    ``s / ||s||`` would be 0/0 = NaN.
    """
    x = torch.zeros(4, 8, requires_grad=True)
    layer = torch.nn.Linear(8, 8, bias=False)
    torch.nn.init.zeros_(layer.weight)
    with torch.autocast("cpu", dtype=autocast_dtype):
        s = layer(x)  # the autocast dtype inside autocast, exactly zero
        assert s.dtype == autocast_dtype
        out = fn(s)
    assert out.dtype == _expected_dtype(fn, autocast_dtype)
    assert torch.count_nonzero(out) == 0 and torch.isfinite(out).all()
    out.float().sum().backward()
    assert torch.isfinite(x.grad).all() and torch.isfinite(layer.weight.grad).all()
    assert (
        torch.count_nonzero(layer.weight.grad) == 0
    )  # zero is a minimum of the length: gradient 0


def test_float16_norm_without_a_float32_reduction_would_be_nan():
    """Why the float32 reduction matters: the naive float16 formula is NaN at zero (the case above guards it)."""
    s = torch.zeros(2, 8, dtype=torch.float16)
    squared = (s * s).sum(-1, keepdim=True)
    naive = squared / (1 + squared) * s / torch.sqrt(squared + 1e-8)
    assert torch.isnan(naive).all()
    assert torch.count_nonzero(squash(s)) == 0 and torch.isfinite(squash(s)).all()


@pytest.mark.parametrize("norm", [1e20, 1e30, 3e38])
def test_huge_float32_vectors_squash_to_unit_length_and_have_finite_lengths(norm):
    """||s||^2 of a float32 vector of norm 1e20 overflows float32 (1e40 > 3.4e38): both stay finite."""
    s = torch.tensor([[0.6 * norm, 0.8 * norm, 0.0]], dtype=torch.float32)
    v = squash(s)
    assert torch.isfinite(v).all()
    torch.testing.assert_close(
        v, torch.tensor([[0.6, 0.8, 0.0]]), rtol=1e-6, atol=1e-7
    )  # Eq. 1 -> s / ||s||
    length = capsule_length(s)
    assert torch.isfinite(length).all() and length.item() == pytest.approx(
        norm, rel=1e-6
    )


def test_nan_stays_nan_in_length_and_squash():
    """A NaN must not read as length 0 (that hid NaN runs from every check downstream)."""
    v = torch.tensor([[float("nan"), 0.0], [0.0, 0.0], [3.0, 4.0]])
    lengths = capsule_length(v)
    assert torch.isnan(lengths[0]) and lengths[1] == 0 and lengths[2] == 5
    assert torch.isnan(squash(v)[0]).all()


def test_bfloat16_lengths_are_float32_with_float32_resolution_near_m_plus():
    """bf16's spacing near 0.9 is 2**-8 = 0.0039; the lengths come back in float32, as exact as the vector is."""
    v = torch.tensor(
        [[0.9, 0.0], [0.9 + 2**-7, 0.0]], dtype=torch.bfloat16
    )  # two bf16 vectors 1/128 apart
    lengths = capsule_length(v)
    assert lengths.dtype == torch.float32
    assert lengths.tolist() == [
        pytest.approx(float(v[0, 0]), abs=1e-7),
        pytest.approx(float(v[1, 0]), abs=1e-7),
    ]
    rotated = torch.tensor(
        [[0.6, 0.7]], dtype=torch.bfloat16
    )  # length 0.92195... exactly in f32
    assert capsule_length(rotated).item() == pytest.approx(
        math.hypot(float(rotated[0, 0]), float(rotated[0, 1])), abs=1e-7
    )


def test_empty_batches_are_refused_by_both_losses():
    with pytest.raises(ValueError, match="empty batch"):
        margin_loss(torch.zeros(0, 10), torch.zeros(0, dtype=torch.long))
    with pytest.raises(ValueError, match="empty batch"):
        reconstruction_loss(torch.zeros(0, 1, 28, 28), torch.zeros(0, 1, 28, 28))


def test_gradient_next_to_zero_is_finite():
    s = torch.tensor(
        [[1e-30, 0.0], [0.0, 1e-20]], dtype=torch.float32, requires_grad=True
    )
    squash(s).sum().backward()
    assert torch.isfinite(s.grad).all()


# ----------------------------------------------------------------------------
# routing: hand computations
# ----------------------------------------------------------------------------
# Two input capsules that agree on output 0 ([1, 0] twice) and disagree on
# output 1 ([0, 2] against [0, -2]).
AGREE_DISAGREE = [[[1.0, 0.0], [0.0, 2.0]], [[1.0, 0.0], [0.0, -2.0]]]


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def test_routing_one_iteration_is_the_uniform_average():
    u_hat = torch.tensor([AGREE_DISAGREE], dtype=F64)
    v, c = dynamic_routing(u_hat, iterations=1, return_couplings=True)
    # c_ij = 1/2; s_0 = (1/2)[1, 0] + (1/2)[1, 0] = [1, 0] -> v_0 = 1/2 [1, 0]; s_1 = 0 -> v_1 = 0
    torch.testing.assert_close(c, torch.full((1, 2, 2), 0.5, dtype=F64))
    torch.testing.assert_close(
        v, torch.tensor([[[0.5, 0.0], [0.0, 0.0]]], dtype=F64), rtol=0, atol=1e-8
    )


def test_routing_two_iterations_by_hand():
    u_hat = torch.tensor([AGREE_DISAGREE], dtype=F64)
    v, c = dynamic_routing(u_hat, iterations=2, return_couplings=True)
    # after iteration 1: v_0 = [1/2, 0], v_1 = 0, so b_i0 = [1, 0].[1/2, 0] = 1/2 and b_i1 = 0
    c0 = math.exp(0.5) / (math.exp(0.5) + 1)  # = sigmoid(1/2) ~ 0.6225
    s0 = 2 * c0  # both inputs predict [1, 0]
    v0 = s0**2 / (1 + s0**2)  # Eq. 1 on a vector along x
    torch.testing.assert_close(
        c, torch.tensor([[[c0, 1 - c0], [c0, 1 - c0]]], dtype=F64)
    )
    torch.testing.assert_close(
        v, torch.tensor([[[v0, 0.0], [0.0, 0.0]]], dtype=F64), rtol=1e-7, atol=1e-8
    )


def test_routing_three_iterations_by_hand():
    u_hat = torch.tensor([AGREE_DISAGREE], dtype=F64)
    v, c = dynamic_routing(u_hat, iterations=3, return_couplings=True)
    s0 = 2 * sigmoid(0.5)
    v0_after_2 = s0**2 / (1 + s0**2)
    b0 = 0.5 + v0_after_2  # b_i0 += [1, 0].v_0 ; b_i1 stays 0
    c0 = sigmoid(b0)
    s0 = 2 * c0
    v0 = s0**2 / (1 + s0**2)
    torch.testing.assert_close(c[0, :, 0], torch.tensor([c0, c0], dtype=F64))
    torch.testing.assert_close(
        v, torch.tensor([[[v0, 0.0], [0.0, 0.0]]], dtype=F64), rtol=1e-7, atol=1e-8
    )
    # agreement increases the coupling to the agreed output at every iteration
    assert 0.5 < sigmoid(0.5) < c0 < 1


@pytest.mark.parametrize("iterations", [1, 2, 3, 5])
def test_routing_matches_plain_python_procedure_on_asymmetric_inputs(iterations):
    rng = np.random.default_rng(iterations)
    u = rng.normal(size=(2, 5, 3, 4))
    v, c = dynamic_routing(
        torch.tensor(u), iterations=iterations, return_couplings=True
    )
    for n in range(2):
        v_ref, c_ref = routing_by_hand(u[n].tolist(), iterations)
        torch.testing.assert_close(
            v[n], torch.tensor(v_ref, dtype=F64), rtol=1e-6, atol=1e-9
        )
        torch.testing.assert_close(
            c[n], torch.tensor(c_ref, dtype=F64), rtol=1e-6, atol=1e-9
        )


@pytest.mark.parametrize("iterations", [1, 2, 3])
@pytest.mark.parametrize("shape", [(1, 1, 1, 1), (3, 6, 4, 5), (2, 20, 10, 16)])
def test_loop_and_vectorised_routing_agree(shape, iterations):
    torch.manual_seed(sum(shape) + iterations)
    u_hat = torch.randn(shape) * 0.5
    v, c = dynamic_routing(u_hat, iterations, return_couplings=True)
    v_loop, c_loop = dynamic_routing_loop(u_hat, iterations, return_couplings=True)
    torch.testing.assert_close(v, v_loop, rtol=0, atol=1e-6)
    torch.testing.assert_close(c, c_loop, rtol=0, atol=1e-6)


def test_loop_and_vectorised_routing_agree_on_gradients():
    torch.manual_seed(0)
    u_hat = torch.randn(2, 6, 3, 4, dtype=F64)
    for detach in (False, True):
        a = u_hat.clone().requires_grad_()
        b = u_hat.clone().requires_grad_()
        dynamic_routing(a, 3, detach_intermediate=detach).pow(2).sum().backward()
        dynamic_routing_loop(b, 3, detach_intermediate=detach).pow(2).sum().backward()
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-9, atol=1e-12)


def test_returned_couplings_produced_the_returned_v():
    torch.manual_seed(1)
    u_hat = torch.randn(3, 8, 4, 6, dtype=F64)
    v, c = dynamic_routing(u_hat, 3, return_couplings=True)
    s = (c.unsqueeze(-1) * u_hat).sum(dim=1)  # s_j = sum_i c_ij u_hat_j|i
    torch.testing.assert_close(v, squash(s))


def test_one_iteration_couplings_are_one_over_out_caps():
    u_hat = torch.randn(2, 7, 5, 3)
    v, c = dynamic_routing(u_hat, 1, return_couplings=True)
    torch.testing.assert_close(c, torch.full_like(c, 1 / 5))
    torch.testing.assert_close(v, squash(u_hat.sum(dim=1) / 5))


def test_logits_start_at_zero_for_every_example():
    """Routing one example alone or inside a batch gives the same answer (no state shared across the batch)."""
    torch.manual_seed(2)
    u_hat = torch.randn(4, 9, 3, 5)
    batched = dynamic_routing(u_hat, 3)
    for n in range(4):
        torch.testing.assert_close(
            batched[n : n + 1], dynamic_routing(u_hat[n : n + 1], 3)
        )


def test_detach_intermediate_changes_gradients_not_values():
    torch.manual_seed(3)
    u_hat = torch.randn(2, 6, 3, 4, dtype=F64)
    full = u_hat.clone().requires_grad_()
    detached = u_hat.clone().requires_grad_()
    v_full = dynamic_routing(full, 3)
    v_det, c_det = dynamic_routing(
        detached, 3, return_couplings=True, detach_intermediate=True
    )
    torch.testing.assert_close(v_full, v_det)
    v_full.pow(2).sum().backward()
    v_det.pow(2).sum().backward()
    assert not torch.allclose(full.grad, detached.grad)
    # with detach_intermediate the gradient is that of the last iteration with c held fixed
    fixed = u_hat.clone().requires_grad_()
    squash((c_det.detach().unsqueeze(-1) * fixed).sum(dim=1)).pow(2).sum().backward()
    torch.testing.assert_close(detached.grad, fixed.grad)


def test_default_routing_backpropagates_through_every_iteration():
    torch.manual_seed(4)
    u_hat = torch.randn(2, 6, 3, 4, dtype=F64)
    full = u_hat.clone().requires_grad_()
    v, c = dynamic_routing(full, 3, return_couplings=True)
    assert (
        c.requires_grad
    )  # the couplings depend on u_hat through the earlier iterations
    v.pow(2).sum().backward()
    fixed = u_hat.clone().requires_grad_()
    squash((c.detach().unsqueeze(-1) * fixed).sum(dim=1)).pow(2).sum().backward()
    assert not torch.allclose(full.grad, fixed.grad)


# ----------------------------------------------------------------------------
# properties (hypothesis)
# ----------------------------------------------------------------------------
finite = st.floats(
    min_value=-50, max_value=50, allow_nan=False, allow_infinity=False, width=64
)


@settings(max_examples=60, deadline=None)
@given(
    arrays(np.float64, st.tuples(st.integers(1, 5), st.integers(1, 9)), elements=finite)
)
def test_squash_keeps_direction_and_length_below_one(s):
    s_t = torch.tensor(s)
    v = squash(s_t)
    lengths = capsule_length(v)
    assert torch.all(lengths >= 0) and torch.all(lengths < 1)
    norms = torch.linalg.vector_norm(s_t, dim=-1)
    nonzero = norms > 1e-3
    # same direction: v is a non-negative multiple of s (cosine 1)
    cos = (v * s_t).sum(-1)[nonzero] / (lengths[nonzero] * norms[nonzero])
    torch.testing.assert_close(cos, torch.ones_like(cos))
    # and the length is |s|^2 / (1 + |s|^2)
    expected_length = norms**2 / (1 + norms**2)
    torch.testing.assert_close(lengths, expected_length, rtol=1e-6, atol=1e-8)


routing_inputs = st.tuples(
    st.integers(1, 3),
    st.integers(1, 6),
    st.integers(1, 5),
    st.integers(1, 4),
    st.integers(1, 4),
    st.integers(0, 2**31 - 1),
)


@settings(max_examples=40, deadline=None)
@given(routing_inputs)
def test_couplings_sum_to_one_over_outputs_and_lengths_below_one(params):
    batch, n_in, n_out, dim, iterations, seed = params
    g = torch.Generator().manual_seed(seed)
    u_hat = torch.randn(batch, n_in, n_out, dim, generator=g, dtype=F64) * 3
    v, c = dynamic_routing(u_hat, iterations, return_couplings=True)
    torch.testing.assert_close(c.sum(dim=2), torch.ones(batch, n_in, dtype=F64))
    assert torch.all(c >= 0)
    lengths = capsule_length(v)
    assert torch.all(lengths >= 0) and torch.all(lengths < 1)


@settings(max_examples=40, deadline=None)
@given(routing_inputs)
def test_permuting_input_capsules_leaves_v_unchanged(params):
    batch, n_in, n_out, dim, iterations, seed = params
    g = torch.Generator().manual_seed(seed)
    u_hat = torch.randn(batch, n_in, n_out, dim, generator=g, dtype=F64)
    perm = torch.randperm(n_in, generator=g)
    v, c = dynamic_routing(u_hat, iterations, return_couplings=True)
    v_perm, c_perm = dynamic_routing(u_hat[:, perm], iterations, return_couplings=True)
    torch.testing.assert_close(v_perm, v)
    torch.testing.assert_close(c_perm, c[:, perm])  # each input keeps its own couplings


# ----------------------------------------------------------------------------
# losses: hand computations
# ----------------------------------------------------------------------------
def test_margin_loss_by_hand():
    lengths = torch.tensor([[0.95, 0.2, 0.05], [0.3, 0.05, 0.5]], dtype=F64)
    targets = torch.tensor([0, 1])
    # example 0: target 0 at 0.95 >= 0.9 -> 0; absent 0.2 -> 0.5 * 0.1^2; absent 0.05 < 0.1 -> 0
    # example 1: target 1 at 0.05 -> (0.9 - 0.05)^2; absent 0.3 -> 0.5 * 0.2^2; absent 0.5 -> 0.5 * 0.4^2
    loss_0 = 0.5 * 0.1**2
    loss_1 = 0.85**2 + 0.5 * 0.2**2 + 0.5 * 0.4**2
    expected = (loss_0 + loss_1) / 2
    assert margin_loss(lengths, targets).item() == pytest.approx(expected, rel=1e-12)


def test_margin_loss_with_other_constants_and_multi_hot_targets():
    lengths = torch.tensor([[0.7, 0.6, 0.1]], dtype=F64)
    two_digits = torch.tensor([[1.0, 1.0, 0.0]], dtype=F64)
    # m+ = 0.8, m- = 0.2, lambda = 1: (0.8-0.7)^2 + (0.8-0.6)^2 + 0 (0.1 < 0.2)
    expected = 0.1**2 + 0.2**2
    got = margin_loss(lengths, two_digits, m_plus=0.8, m_minus=0.2, lambda_=1.0)
    assert got.item() == pytest.approx(expected, rel=1e-12)


def test_margin_loss_indices_equal_one_hot_and_perfect_prediction_is_zero():
    torch.manual_seed(5)
    lengths = torch.rand(6, 10, dtype=F64)
    labels = torch.randint(0, 10, (6,))
    one_hot = torch.nn.functional.one_hot(labels, 10).to(F64)
    torch.testing.assert_close(
        margin_loss(lengths, labels), margin_loss(lengths, one_hot)
    )
    perfect = torch.full((6, 10), 0.05, dtype=F64)
    perfect[torch.arange(6), labels] = 0.95
    assert margin_loss(perfect, labels).item() == 0.0


def test_reconstruction_loss_by_hand_is_a_sum_not_a_mean():
    images = torch.tensor(
        [[[[0.0, 1.0], [1.0, 0.0]]], [[[0.5, 0.5], [0.5, 0.5]]]], dtype=F64
    )
    recons = torch.tensor(
        [[[[0.0, 0.5], [1.0, 1.0]]], [[[0.5, 0.5], [0.5, 0.5]]]], dtype=F64
    )
    # image 0: 0 + 0.25 + 0 + 1 = 1.25; image 1: 0; mean over the batch = 0.625; times 0.0005
    assert reconstruction_loss(recons, images).item() == pytest.approx(
        0.0005 * 0.625, rel=1e-12
    )
    assert reconstruction_loss(recons, images, scale=1.0).item() == pytest.approx(
        0.625, rel=1e-12
    )


def test_reconstruction_loss_is_784_times_the_scaled_mse_on_mnist_and_accepts_flat_reconstructions():
    torch.manual_seed(6)
    images = torch.rand(4, 1, 28, 28, dtype=F64)
    recons = torch.rand(4, 784, dtype=F64)
    mse = torch.nn.functional.mse_loss(recons, images.flatten(1))
    got = reconstruction_loss(recons, images)
    assert got.item() == pytest.approx(0.0005 * 784 * mse.item(), rel=1e-10)
    torch.testing.assert_close(
        got, reconstruction_loss(recons.view(4, 1, 28, 28), images)
    )


# ----------------------------------------------------------------------------
# gradcheck in float64
# ----------------------------------------------------------------------------
def test_gradcheck_squash_and_length():
    s = torch.randn(3, 5, dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(squash, (s,))
    assert torch.autograd.gradcheck(lambda x: squash(x, dim=0), (s,))
    assert torch.autograd.gradcheck(capsule_length, (s,))


@pytest.mark.parametrize(
    "fn", [dynamic_routing, dynamic_routing_loop], ids=["vectorised", "loop"]
)
@pytest.mark.parametrize("iterations", [1, 3])
def test_gradcheck_routing(fn, iterations):
    torch.manual_seed(iterations)
    u_hat = torch.randn(2, 3, 3, 2, dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda u: fn(u, iterations), (u_hat,))
    assert torch.autograd.gradcheck(
        lambda u: fn(u, iterations, return_couplings=True)[1], (u_hat,), fast_mode=True
    )


def test_gradcheck_losses():
    # lengths away from the kinks at m+ and m- (the loss is not differentiable there)
    lengths = torch.tensor(
        [[0.3, 0.6, 0.95], [0.05, 0.5, 0.8]], dtype=F64, requires_grad=True
    )
    targets = torch.tensor([1, 2])
    assert torch.autograd.gradcheck(lambda x: margin_loss(x, targets), (lengths,))
    recons = torch.rand(3, 1, 4, 4, dtype=F64, requires_grad=True)
    images = torch.rand(3, 1, 4, 4, dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(reconstruction_loss, (recons, images))


# ----------------------------------------------------------------------------
# bad inputs: clear errors
# ----------------------------------------------------------------------------
def test_squash_rejects_integers_and_scalars():
    with pytest.raises(
        TypeError,
        match=r"squash: expected s to be a floating tensor.*shape \(3,\) of dtype int64",
    ):
        squash(torch.tensor([1, 2, 3]))
    with pytest.raises(ValueError, match="capsule dimension"):
        squash(torch.tensor(1.0))
    with pytest.raises(ValueError, match="dim=2 is out of range"):
        squash(torch.ones(2, 2), dim=2)
    with pytest.raises(TypeError, match="torch.Tensor"):
        squash([1.0, 2.0])


@pytest.mark.parametrize("fn", [dynamic_routing, dynamic_routing_loop])
def test_routing_rejects_bad_inputs(fn):
    with pytest.raises(
        ValueError,
        match=r"u_hat of shape \(batch, in_caps, out_caps, out_dim\), got shape \(2, 3, 4\)",
    ):
        fn(torch.ones(2, 3, 4))
    with pytest.raises(TypeError, match=r"floating u_hat .*int64; .* u_hat\.float\(\)"):
        fn(torch.ones(1, 2, 3, 4, dtype=torch.int64))
    with pytest.raises(ValueError, match="iterations >= 1, got 0"):
        fn(torch.ones(1, 2, 3, 4), iterations=0)
    with pytest.raises(TypeError, match="iterations to be an int"):
        fn(torch.ones(1, 2, 3, 4), iterations=2.0)


def test_margin_loss_rejects_bad_inputs():
    lengths = torch.rand(2, 10)
    with pytest.raises(
        ValueError,
        match=r"class labels in the range \[0, 10\), got labels from 0 to 10",
    ):
        margin_loss(lengths, torch.tensor([0, 10]))
    with pytest.raises(ValueError, match=r"range \[0, 10\), got labels from -1"):
        margin_loss(lengths, torch.tensor([-1, 3]))
    with pytest.raises(ValueError, match=r"1 NaN"):
        margin_loss(
            torch.tensor([[0.5, float("nan")], [0.1, 0.2]]), torch.tensor([0, 1])
        )
    with pytest.raises(ValueError, match=r"targets of shape \(2,\)"):
        margin_loss(lengths, torch.tensor([1, 2, 3]))
    with pytest.raises(ValueError, match=r"multi-hot targets of shape \(2, 10\)"):
        margin_loss(lengths, torch.zeros(2, 9))
    with pytest.raises(ValueError, match=r"values in \[0, 1\]"):
        margin_loss(lengths, torch.full((2, 10), 2.0))
    with pytest.raises(
        ValueError, match=r"lengths of shape \(batch, classes\), got shape \(10,\)"
    ):
        margin_loss(torch.rand(10), torch.tensor([1]))
    with pytest.raises(TypeError, match="class indices"):
        margin_loss(lengths, torch.tensor([1.0, 2.0]))


def test_reconstruction_loss_rejects_bad_inputs():
    images = torch.rand(2, 1, 28, 28)
    with pytest.raises(TypeError, match=r"images to be a floating tensor.*uint8"):
        reconstruction_loss(torch.rand(2, 784), (images * 255).to(torch.uint8))
    with pytest.raises(ValueError, match=r"same number of pixels.*shape \(2, 783\)"):
        reconstruction_loss(torch.rand(2, 783), images)
    with pytest.raises(ValueError, match="same batch size"):
        reconstruction_loss(torch.rand(3, 784), images)
    nan_recons = torch.rand(2, 784)
    nan_recons[1, 5] = float("nan")
    with pytest.raises(ValueError, match="finite values in reconstructions, got 1 NaN"):
        reconstruction_loss(nan_recons, images)


def test_losses_of_low_precision_inputs_are_float32_and_close():
    torch.manual_seed(7)
    lengths, labels = torch.rand(8, 10), torch.randint(0, 10, (8,))
    images, recons = torch.rand(8, 1, 28, 28), torch.rand(8, 1, 28, 28)
    for dtype in (torch.bfloat16, torch.float16):
        m = margin_loss(lengths.to(dtype), labels)
        r = reconstruction_loss(recons.to(dtype), images)
        assert m.dtype == torch.float32 and r.dtype == torch.float32
        assert m.item() == pytest.approx(margin_loss(lengths, labels).item(), rel=2e-2)
        assert r.item() == pytest.approx(
            reconstruction_loss(recons, images).item(), rel=1e-2
        )


# ----------------------------------------------------------------------------
# issue 24, case 8: hyper-parameters are checked inputs too
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("eps", [0, -1, float("nan"), float("inf")])
def test_squash_refuses_an_eps_that_is_not_positive_and_finite(eps):
    """eps=0 or eps=-1 used to return NaN at a zero vector (or for short ones) without a word."""
    with pytest.raises(
        ValueError, match=r"squash: expected eps a finite number in \(0"
    ):
        squash(torch.zeros(2, 8), eps=eps)


@pytest.mark.parametrize(
    "name, value",
    [
        ("m_plus", float("nan")),
        ("m_plus", 1.5),
        ("m_minus", -0.1),
        ("lambda_", float("inf")),
        ("lambda_", -1.0),
    ],
)
def test_margin_loss_refuses_margins_outside_their_range(name, value):
    lengths, targets = torch.full((3, 10), 0.5), torch.tensor([1, 2, 3])
    with pytest.raises(
        ValueError, match=f"margin_loss: expected {name} a finite number"
    ):
        margin_loss(lengths, targets, **{name: value})


def test_reconstruction_loss_refuses_a_negative_or_nan_scale():
    images = torch.rand(2, 1, 4, 4)
    for scale in (-0.0005, float("nan")):
        with pytest.raises(ValueError, match="reconstruction_loss: expected scale"):
            reconstruction_loss(images, images, scale=scale)
