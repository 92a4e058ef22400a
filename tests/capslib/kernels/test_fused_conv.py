"""capslib.kernels.fused_conv (convolution as one matrix multiply) against torch's conv2d, and CapsNet's fast path."""

import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from capslib.kernels import fused_conv
from capslib.kernels.fused_conv import conv2d_channels_last
from capslib.models import CapsNet, CapsNetConfig

F64 = torch.float64


@pytest.mark.parametrize(
    "stride,kernel,channels,bias,channels_last_weight",
    [
        (1, 3, 1, True, False),
        (2, 9, 5, True, True),
        (2, 4, 3, False, False),
        (3, 5, 2, True, True),
    ],
)
def test_values_and_gradients_equal_conv2d(
    stride, kernel, channels, bias, channels_last_weight
):
    g = torch.Generator().manual_seed(kernel)
    x = torch.randn(3, channels, 17, 15, generator=g, dtype=F64)
    weight = torch.randn(7, channels, kernel, kernel, generator=g, dtype=F64)
    if channels_last_weight:
        weight = weight.contiguous(memory_format=torch.channels_last)
    b = torch.randn(7, generator=g, dtype=F64) if bias else None
    upstream = None
    results = []
    for fast in (True, False):
        xs = x.detach().clone().requires_grad_()
        ws = weight.detach().clone().requires_grad_()
        bs = b.detach().clone().requires_grad_() if bias else None
        if fast:
            out = conv2d_channels_last(xs.permute(0, 2, 3, 1), ws, bs, stride).permute(
                0, 3, 1, 2
            )
        else:
            out = F.conv2d(xs, ws, bs, stride=stride)
        if upstream is None:
            upstream = torch.randn(out.shape, generator=g, dtype=F64)
        (out * upstream).sum().backward()
        results.append([out.detach(), xs.grad, ws.grad] + ([bs.grad] if bias else []))
    for a, c in zip(*results):
        torch.testing.assert_close(a, c, rtol=1e-12, atol=1e-12)


def test_gradcheck():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 7, 7, 2, generator=g, dtype=F64, requires_grad=True)
    w = torch.randn(3, 2, 3, 3, generator=g, dtype=F64, requires_grad=True)
    b = torch.randn(3, generator=g, dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda *t: conv2d_channels_last(*t, stride=2), (x, w, b)
    )


def test_capsnet_fast_path_gives_the_reference_loss_and_gradients():
    torch.manual_seed(0)
    model = CapsNet(
        CapsNetConfig.small(conv_channels=16, primary_types=4, decoder_hidden=(32, 64))
    ).double()
    images = torch.rand(3, 1, 28, 28, dtype=F64)
    labels = torch.tensor([1, 5, 7])
    results = []
    for fast in (True, False):
        model.fast = fast
        model.zero_grad()
        output = model(images, targets=labels)
        loss = model.loss(output, images, labels).total
        loss.backward()
        results.append(
            [loss.detach(), output.poses.detach()]
            + [p.grad.clone() for p in model.parameters()]
        )
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, rtol=1e-11, atol=1e-13)


def test_fast_path_only_where_it_applies():
    x, w = torch.randn(1, 5, 5, 2), torch.randn(3, 2, 3, 3)
    assert fused_conv.applies(x, w)
    assert fused_conv.applies(x.double(), w.double())
    assert not fused_conv.applies(x.half(), w.half())
    assert not fused_conv.applies(
        x.bfloat16(), w.bfloat16()
    )  # bf16 only under autocast
    assert not fused_conv.applies(x.double(), w)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert fused_conv.applies(x, w) and fused_conv.applies(x.bfloat16(), w)
        assert not fused_conv.applies(x.double(), w)
    with torch.autocast("cpu", dtype=torch.float16):
        assert not fused_conv.applies(x, w)


@pytest.mark.parametrize("stride,kernel,channels", [(2, 9, 16), (1, 3, 1)])
def test_under_bf16_autocast_values_and_gradients_are_conv2d_of_the_rounded_tensors(
    stride, kernel, channels
):
    """bf16 autocast: the result is bf16, and it and the gradients are the float64 convolution of the
    bf16-rounded input, weight and bias to bfloat16's precision (8 bits: 0.4% per rounding); the
    gradients reach the float32 parameters as float32."""
    g = torch.Generator().manual_seed(stride)
    x = torch.randn(3, 21, 19, channels, generator=g)
    weight = torch.randn(8, channels, kernel, kernel, generator=g).contiguous(
        memory_format=torch.channels_last
    )
    bias = torch.randn(8, generator=g)
    upstream = torch.randn(
        3, (21 - kernel) // stride + 1, (19 - kernel) // stride + 1, 8, generator=g
    )
    xs, ws, bs = (t.clone().requires_grad_() for t in (x, weight, bias))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = conv2d_channels_last(xs, ws, bs, stride)
    assert out.dtype == torch.bfloat16
    (out.float() * upstream).sum().backward()
    assert ws.grad.dtype == bs.grad.dtype == xs.grad.dtype == torch.float32
    exact = [t.bfloat16().double().requires_grad_() for t in (x, weight, bias)]
    ref = F.conv2d(exact[0].permute(0, 3, 1, 2), exact[1], exact[2], stride=stride)
    (ref.permute(0, 2, 3, 1) * upstream.bfloat16().double()).sum().backward()
    for a, b in zip(
        [out, xs.grad, ws.grad, bs.grad],
        [ref.permute(0, 2, 3, 1)] + [t.grad for t in exact],
    ):
        error = float((a.detach().double() - b.detach()).norm() / b.detach().norm())
        assert error < 1e-2, error


def test_bf16_col2im_adds_in_float32():
    """Every input pixel of a 9x9, stride-1 convolution receives 81 patch rows: added in bfloat16 their
    sum would drift by several roundings; added in float32 and rounded once it is within one rounding."""
    x = torch.zeros(1, 17, 17, 1, requires_grad=True)
    weight = torch.full((1, 1, 9, 9), 1.0 + 2**-7)  # exact in bf16; 81 of them are not
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = conv2d_channels_last(x, weight)
    out.float().sum().backward()
    centre = float(x.grad[0, 8, 8, 0])  # the one pixel that all 81 patches cover
    exact = 81 * (1.0 + 2**-7)
    assert abs(centre - exact) <= exact * 2**-8


def test_primary_capsules_weight_is_stored_channels_last_and_loads_either_layout():
    model = CapsNet(
        CapsNetConfig.small(conv_channels=16, primary_types=4, decoder_hidden=(32, 64))
    )
    weight = model.primary_caps.conv.weight
    assert weight.is_contiguous(memory_format=torch.channels_last)
    state = {
        k: v.contiguous() for k, v in model.state_dict().items()
    }  # an NCHW checkpoint
    other = CapsNet(model.config)
    other.load_state_dict(state)
    torch.testing.assert_close(other.primary_caps.conv.weight, weight)


def test_rejects_bad_inputs():
    with pytest.raises(
        ValueError,
        match=r"x of shape \(batch, height, width, 3\), got shape \(1, 5, 5, 2\)",
    ):
        conv2d_channels_last(torch.randn(1, 5, 5, 2), torch.randn(3, 3, 3, 3))
    with pytest.raises(
        ValueError,
        match=r"\(out_channels, in_channels, k, k\), got shape \(3, 2, 3, 2\)",
    ):
        conv2d_channels_last(torch.randn(1, 5, 5, 2), torch.randn(3, 2, 3, 2))
    with pytest.raises(ValueError, match="smaller than the kernel"):
        conv2d_channels_last(torch.randn(1, 2, 2, 2), torch.randn(3, 2, 3, 3))


def test_keep_freed_memory_saves_page_faults_of_repeated_large_allocations():
    """In fresh processes, a step-like pattern (75, 300 and 75 MB allocated, touched, freed; six times): with
    keep_freed_memory() the process reuses freed blocks; by default glibc gives every block back and each
    allocation faults its pages in again (76,800 faults per 300 MB)."""
    code = """
import resource, sys, torch
from capslib.cpu_memory import keep_freed_memory
if sys.argv[1] == "keep":
    assert keep_freed_memory() and keep_freed_memory()
def step():
    a = torch.empty(75 * 2**18); a.fill_(1); b = torch.empty(300 * 2**18); b.fill_(1)
    c = torch.empty(75 * 2**18); c.fill_(1)
    del a, b, c
step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(6):
    step()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""
    faults = {}
    for setting in ("keep", "default"):
        out = subprocess.run(
            [sys.executable, "-c", code, setting],
            capture_output=True,
            text=True,
            check=True,
        )
        faults[setting] = int(out.stdout.split()[-1])
    pages_per_step = 450 * 2**20 // 4096
    assert (
        faults["default"] > 5 * pages_per_step
    )  # nearly every page of every step faulted anew ...
    assert (
        faults["keep"] < 0.5 * faults["default"]
    )  # ... and most of them not with keep_freed_memory


def test_forward_hooks_on_the_convolutions_see_their_outputs():
    """The fast path calls no module; when a hook watches conv1 or PrimaryCaps, the reference layers run."""
    model = CapsNet(
        CapsNetConfig.small(conv_channels=16, primary_types=4, decoder_hidden=(32, 64))
    )
    seen = {}
    model.conv1.register_forward_hook(lambda m, i, o: seen.update(conv1=tuple(o.shape)))
    model.primary_caps.register_forward_hook(
        lambda m, i, o: seen.update(primary=tuple(o.shape))
    )
    model(torch.rand(2, 1, 28, 28))
    assert seen == {"conv1": (2, 16, 20, 20), "primary": (2, 4 * 36, 8)}
