"""The fused DigitCaps (capslib.kernels.fused_routing) computes what the reference layer computes: values and gradients."""

import pytest
import torch

from capslib.functional import dynamic_routing
from capslib.kernels.fused_routing import fused_routing_capsules
from capslib.nn import RoutingCapsules

F64 = torch.float64


def reference(u, weight, iterations, detach_intermediate=False):
    """The reference: einsum predictions (Eq. 2), then capslib.functional.dynamic_routing under autograd."""
    u_hat = torch.einsum("ijdk,bik->bijd", weight, u)
    return dynamic_routing(
        u_hat,
        iterations,
        return_couplings=True,
        detach_intermediate=detach_intermediate,
    )


def values_and_gradients(fn, u, weight, upstream):
    u = u.detach().clone().requires_grad_()
    weight = weight.detach().clone().requires_grad_()
    v, c = fn(u, weight)
    (v * upstream).sum().backward()
    return v.detach(), c.detach(), u.grad, weight.grad


@pytest.mark.parametrize("iterations", [1, 2, 3, 5])
@pytest.mark.parametrize("detach", [False, True])
def test_fused_layer_equals_the_reference_in_float64(iterations, detach):
    g = torch.Generator().manual_seed(iterations)
    # 150 input capsules: more than one block of the backward (BLOCK_IN_CAPS = 64), and a partial last block
    u = 0.5 * torch.randn(3, 150, 8, generator=g, dtype=F64)
    weight = 0.3 * torch.randn(150, 4, 6, 8, generator=g, dtype=F64)
    upstream = torch.randn(3, 4, 6, generator=g, dtype=F64)
    fused = values_and_gradients(
        lambda a, w: fused_routing_capsules(a, w, iterations, detach),
        u,
        weight,
        upstream,
    )
    ref = values_and_gradients(
        lambda a, w: reference(a, w, iterations, detach), u, weight, upstream
    )
    for name, a, b in zip(("v", "couplings", "grad u", "grad W"), fused, ref):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-13, msg=f"{name} differs")


def test_detach_intermediate_changes_the_fused_gradient_as_it_changes_the_reference():
    g = torch.Generator().manual_seed(0)
    u, weight = (
        torch.randn(2, 20, 4, generator=g, dtype=F64),
        torch.randn(20, 3, 5, 4, generator=g, dtype=F64),
    )
    upstream = torch.randn(2, 3, 5, generator=g, dtype=F64)
    full = values_and_gradients(
        lambda a, w: fused_routing_capsules(a, w, 3, False), u, weight, upstream
    )
    cut = values_and_gradients(
        lambda a, w: fused_routing_capsules(a, w, 3, True), u, weight, upstream
    )
    torch.testing.assert_close(full[0], cut[0])  # the same values ...
    assert (full[3] - cut[3]).abs().max() > 1e-6  # ... other gradients


def test_gradcheck_of_the_fused_function():
    g = torch.Generator().manual_seed(1)
    u = torch.randn(2, 7, 3, generator=g, dtype=F64, requires_grad=True)
    weight = torch.randn(7, 3, 4, 3, generator=g, dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda a, w: fused_routing_capsules(a, w, 3)[0], (u, weight)
    )


def test_paper_sized_layer_in_float32_matches_the_reference():
    torch.manual_seed(0)
    layer = RoutingCapsules(1152, 8, 10, 16)
    u = 0.3 * torch.randn(4, 1152, 8)
    results = []
    for fused in (True, False):
        layer.fused = fused
        layer.zero_grad()
        x = u.clone().requires_grad_()
        v, c = layer(x, return_couplings=True)
        (v**2).sum().backward()
        results.append((v.detach(), c, x.grad, layer.weight.grad.clone()))
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_the_layer_routes_fused_under_cpu_autocast_and_the_reference_when_asked():
    layer = RoutingCapsules(6, 4, 3, 5)
    u = torch.randn(2, 6, 4)
    calls = []
    import capslib.nn as capsnn

    real = capsnn.fused_routing_capsules

    def spy(u, weight, *args, **kwargs):
        calls.append((u.dtype, weight.dtype, torch.is_autocast_enabled("cpu")))
        return real(u, weight, *args, **kwargs)

    capsnn.fused_routing_capsules = spy
    try:
        layer(u)
        assert calls == [
            (torch.float32, torch.float32, False)
        ]  # float32 on a CPU: fused
        with torch.autocast("cpu", dtype=torch.bfloat16):
            layer(u.bfloat16())
        # autocast: fused, in float32, with autocast off inside
        assert calls[1:] == [(torch.float32, torch.float32, False)]
        layer.fused = False
        layer(u)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            layer(u)
        assert len(calls) == 2  # fused=False: the reference
    finally:
        capsnn.fused_routing_capsules = real


def test_under_bf16_autocast_the_fused_layer_is_float32_routing_of_the_cast_capsules():
    """Values and gradients: exactly float32 routing of the bf16 capsules cast up; and within
    bfloat16's tolerance of the reference under autocast (bf16 predictions), paper-sized."""
    torch.manual_seed(0)
    layer = RoutingCapsules(1152, 8, 10, 16)
    u = (0.3 * torch.randn(4, 1152, 8)).bfloat16()
    upstream = torch.randn(4, 10, 16)
    results = {}
    for name, fused, amp in (
        ("fast", True, True),
        ("float32", True, False),
        ("reference", False, True),
    ):
        layer.fused = fused
        layer.zero_grad()
        x = (u if amp else u.float()).clone().requires_grad_()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
            v, c = layer(x, return_couplings=True)
        (v.float() * upstream).sum().backward()
        results[name] = (
            v.float().detach(),
            c.float(),
            x.grad.float(),
            layer.weight.grad.clone(),
        )
    assert results["fast"][0].dtype == torch.float32
    for a, b in zip(results["fast"], results["float32"]):
        torch.testing.assert_close(
            a, b, rtol=1e-2, atol=1e-6
        )  # x.grad: rounded to bf16 once
    torch.testing.assert_close(
        results["fast"][3], results["float32"][3], rtol=0, atol=0
    )
    for a, b in zip(results["fast"], results["reference"]):
        assert (
            float((a - b).norm() / b.norm()) < 2e-2
        )  # bfloat16 keeps 8 bits: 0.4% per rounding


def test_fused_routing_rejects_bad_inputs():
    with pytest.raises(ValueError, match="expected u"):
        fused_routing_capsules(torch.randn(2, 5, 4), torch.randn(6, 3, 2, 4))
    with pytest.raises(ValueError, match="iterations"):
        fused_routing_capsules(
            torch.randn(2, 5, 4), torch.randn(5, 3, 2, 4), iterations=0
        )
    with pytest.raises(TypeError, match="float32 or float64"):
        fused_routing_capsules(
            torch.randn(2, 5, 4).half(), torch.randn(5, 3, 2, 4).half()
        )
