r"""DigitCaps fast: the predictions and routing by agreement in one autograd function, with its backward by hand.

:class:`capslib.nn.RoutingCapsules` computes :math:`\hat u_{j|i} = W_{ij} u_i`
(Eq. 2) and routes the predictions (Procedure 1).  Written with ``einsum``
and left to autograd (:func:`capslib.functional.dynamic_routing`, the
reference), this layer took about a third of a CPU training step of the
paper's CapsNet, for a tenth of a percent of its FLOPs.  The time went into
memory, not arithmetic: the predictions ``u_hat`` of one batch of 100 are
18.4 million numbers (74 MB), and autograd walked over them about thirty
times, several of them as outer products through a matrix multiply with an
inner dimension of one, others as copies between the layouts the two
``einsum`` calls wanted.

This module computes exactly the same function and the same gradients (to
floating-point rounding; ``tests/capslib/kernels/test_fused_routing.py`` compares both with
the reference in float64) with three ideas:

1. **One layout.**  ``u_hat`` is stored as ``(batch, out_caps, in_caps,
   out_dim)``, so both reductions of an iteration are batched
   matrix-vector products over contiguous memory:
   :math:`s_j = \sum_i c_{ij} \hat u_{j|i}` is ``(1 x in_caps) @ (in_caps x
   out_dim)`` and the agreement :math:`\hat u_{j|i} \cdot v_j` is ``(in_caps
   x out_dim) @ (out_dim x 1)``, for every ``(example, j)``.
2. **The backward by hand.**  The gradient with respect to ``u_hat`` is a
   sum of ``2r - 1`` outer products, one per use of ``u_hat`` in ``r``
   iterations (:math:`c^{(t)}_{ij}\, \partial L / \partial s^{(t)}_j` for
   every iteration and :math:`\partial L / \partial b^{(t+1)}_{ij}\,
   v^{(t)}_j` for every agreement).  It is never stored as a whole: it is
   built a block of input capsules at a time, in cache, and immediately
   turned into the gradients of ``W`` and ``u``.
3. **Small things stay small.**  The couplings and logits ``(batch,
   out_caps, in_caps)`` and the capsules ``(batch, out_caps, out_dim)`` are
   what the backward keeps per iteration; squash's own backward runs through
   autograd on those small tensors, so it is the reference's.

The backward follows the chain rule through every iteration, as the
official implementation and :func:`~capslib.functional.dynamic_routing` do;
with ``detach_intermediate=True`` only the last iteration's
:math:`c_{ij}\,\partial L/\partial s_j` term remains, as there.

Used by :class:`~capslib.nn.RoutingCapsules` on a CPU for float32 and float64
tensors outside autocast; on a GPU and under autocast the layer uses the
reference path (its memory traffic is what a GPU is built for).
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..checks import require_shape
from ..functional import squash

__all__ = ["fused_routing_capsules"]

#: Input capsules per block of the backward: the block of the gradient of u_hat, (block, batch * out_caps,
#: out_dim) float32, is 4 MB for the paper's sizes at batch 100, which stays in a core's cache.
BLOCK_IN_CAPS = 64


def _predictions(u: Tensor, weight_ikn: Tensor, out_caps: int, out_dim: int) -> Tensor:
    """``u_hat`` in the layout ``(batch, out_caps, in_caps, out_dim)``.

    ``u``: ``(batch, in_caps, in_dim)``; ``weight_ikn``: ``(in_caps, in_dim, out_caps * out_dim)``.
    One batched matrix multiply per input capsule, ``(batch x in_dim) @ (in_dim x out_caps*out_dim)``,
    written into the routing layout.
    """
    batch, in_caps, _ = u.shape
    u_hat = u.new_empty(batch, out_caps, in_caps, out_dim)
    u_ibk = u.transpose(0, 1)  # (in_caps, batch, in_dim)
    for lo in range(0, in_caps, BLOCK_IN_CAPS):
        hi = min(lo + BLOCK_IN_CAPS, in_caps)
        block = torch.bmm(u_ibk[lo:hi], weight_ikn[lo:hi])  # (block, batch, J * D)
        u_hat[:, :, lo:hi, :] = block.view(hi - lo, batch, out_caps, out_dim).permute(
            1, 2, 0, 3
        )
    return u_hat


class _RoutingCapsulesFunction(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx, u: Tensor, weight: Tensor, iterations: int, detach_intermediate: bool
    ):
        batch, in_caps, in_dim = u.shape
        _, out_caps, out_dim, _ = weight.shape
        n = batch * out_caps
        weight_ikn = weight.permute(0, 3, 1, 2).reshape(
            in_caps, in_dim, out_caps * out_dim
        )
        u_hat = _predictions(u, weight_ikn, out_caps, out_dim)  # (B, J, I, D)
        flat = u_hat.view(n, in_caps, out_dim)
        b = u.new_zeros(batch, out_caps, in_caps)  # b_ij = 0
        couplings, sums, poses = [], [], []
        for r in range(iterations):
            c = torch.softmax(b, dim=1)  # over output capsules j
            s = torch.bmm(c.view(n, 1, in_caps), flat).view(
                batch, out_caps, out_dim
            )  # s_j = sum_i c_ij u_hat
            v = squash(s, dim=-1)
            couplings.append(c)
            sums.append(s)
            poses.append(v)
            if r < iterations - 1:
                b = b + torch.bmm(flat, v.view(n, out_dim, 1)).view(
                    batch, out_caps, in_caps
                )  # agreement
        ctx.iterations, ctx.detach_intermediate = iterations, detach_intermediate
        ctx.save_for_backward(u, weight_ikn, u_hat, *couplings, *sums, *poses)
        ctx.mark_non_differentiable(couplings[-1])
        return v, couplings[-1]

    @staticmethod
    def backward(ctx, grad_v: Tensor, _grad_couplings: Tensor):
        R = ctx.iterations
        u, weight_ikn, u_hat, *rest = ctx.saved_tensors
        couplings, sums, poses = rest[:R], rest[R : 2 * R], rest[2 * R :]
        batch, out_caps, in_caps, out_dim = u_hat.shape
        in_dim = u.shape[2]
        n = batch * out_caps
        flat = u_hat.view(n, in_caps, out_dim)
        # d L / d u_hat = sum_t left[t] (x) right[t]: left (B, J, I), right (B, J, D)
        left, right = [], []
        grad_b = None  # d L / d b^(r+1) while iteration r is processed
        for r in reversed(range(R)):
            if r == R - 1:
                grad_vr = grad_v
            else:
                if ctx.detach_intermediate:  # early iterations saw a detached u_hat
                    break
                grad_a = grad_b  # b^(r+1) = b^(r) + a^(r)
                grad_vr = torch.bmm(grad_a.reshape(n, 1, in_caps), flat).view(
                    batch, out_caps, out_dim
                )
                left.append(grad_a)
                right.append(poses[r])
            with (
                torch.enable_grad()
            ):  # squash's backward, as autograd does it, on (B, J, D)
                s = sums[r].detach().requires_grad_()
                (grad_s,) = torch.autograd.grad(squash(s, dim=-1), s, grad_vr)
            c = couplings[r]
            grad_c = torch.bmm(flat, grad_s.reshape(n, out_dim, 1)).view(
                batch, out_caps, in_caps
            )
            left.append(c)
            right.append(grad_s)
            grad_b_r = c * (
                grad_c - (c * grad_c).sum(dim=1, keepdim=True)
            )  # softmax over j, backward
            grad_b = grad_b_r if grad_b is None else grad_b + grad_b_r
        grad_u = grad_weight = None
        need_u, need_weight = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        if need_u or need_weight:
            left_inj = (
                torch.stack(left).permute(0, 3, 1, 2).reshape(len(left), in_caps, n)
            )  # (T, I, B*J)
            right_nd = torch.stack(right).reshape(len(right), n, out_dim)  # (T, B*J, D)
            u_ibk = u.transpose(0, 1)
            grad_u_ibk = u.new_empty(in_caps, batch, in_dim) if need_u else None
            grad_weight_ikn = (
                u.new_empty(in_caps, in_dim, out_caps * out_dim)
                if need_weight
                else None
            )
            buffer = u.new_empty(min(BLOCK_IN_CAPS, in_caps), n, out_dim)
            for lo in range(0, in_caps, BLOCK_IN_CAPS):
                hi = min(lo + BLOCK_IN_CAPS, in_caps)
                block = torch.mul(
                    left_inj[0, lo:hi, :, None], right_nd[0], out=buffer[: hi - lo]
                )  # (block, B*J, D)
                for t in range(1, len(left)):
                    block.addcmul_(left_inj[t, lo:hi, :, None], right_nd[t])
                block = block.view(
                    hi - lo, batch, out_caps * out_dim
                )  # (block, B, J*D)
                if need_weight:
                    torch.bmm(
                        u_ibk[lo:hi].transpose(1, 2), block, out=grad_weight_ikn[lo:hi]
                    )
                if need_u:
                    torch.bmm(
                        block, weight_ikn[lo:hi].transpose(1, 2), out=grad_u_ibk[lo:hi]
                    )
            if need_u:
                grad_u = grad_u_ibk.transpose(0, 1)
            if need_weight:
                grad_weight = grad_weight_ikn.view(
                    in_caps, in_dim, out_caps, out_dim
                ).permute(0, 2, 3, 1)
        return grad_u, grad_weight, None, None


def fused_routing_capsules(
    u: Tensor, weight: Tensor, iterations: int = 3, detach_intermediate: bool = False
) -> tuple[Tensor, Tensor]:
    r"""Predictions :math:`\hat u_{j|i} = W_{ij} u_i` and routing by agreement, in one step.

    The same values and gradients as
    ``dynamic_routing(einsum("ijdk,bik->bijd", weight, u), iterations, return_couplings=True)``.

    Args:
        u: ``(batch, in_caps, in_dim)`` float32 or float64.
        weight: ``(in_caps, out_caps, out_dim, in_dim)``, the same dtype and device.
        iterations: routing iterations (>= 1).
        detach_intermediate: see :func:`capslib.functional.dynamic_routing`.

    Returns:
        ``(v, c)``: the output capsules ``(batch, out_caps, out_dim)`` and the last
        iteration's couplings ``(batch, in_caps, out_caps)`` (not differentiable).
    """
    fn = "fused_routing_capsules"
    require_shape(weight, fn, "weight", ("in_caps", "out_caps", "out_dim", "in_dim"))
    require_shape(
        u,
        fn,
        "u",
        ("batch", weight.shape[0], weight.shape[3]),
        fix=f"u is (batch, in_caps, in_dim) for weight (in_caps, out_caps, out_dim, "
        f"in_dim) = {tuple(weight.shape)}",
    )
    if (
        isinstance(iterations, bool)
        or not isinstance(iterations, int)
        or iterations < 1
    ):
        raise ValueError(
            f"fused_routing_capsules: expected iterations >= 1, got {iterations!r}"
        )
    if u.dtype != weight.dtype or u.dtype not in (torch.float32, torch.float64):
        raise TypeError(
            f"fused_routing_capsules: expected float32 or float64 u and weight of one dtype, got "
            f"{u.dtype} and {weight.dtype}"
        )
    v, c = _RoutingCapsulesFunction.apply(
        u.contiguous(), weight, iterations, bool(detach_intermediate)
    )
    return v, c.transpose(1, 2)
