"""Deliberately WRONG variants of CapsNet pieces, as found in public code.

Each function here reproduces one bug that circulates in popular public
implementations of Sabour, Frosst & Hinton (2017), *Dynamic Routing Between
Capsules*.  They exist so that the book can *show* what each mistake does
(chapters 4, 5 and 11) next to the correct :mod:`capslib.functional` version.
**Never use them in a model.**

Every docstring names the bug, its effect, and the capslib test that guards the
correct version against it.  ``tests/capsbook/test_pitfalls.py`` checks that each pitfall
differs measurably from the correct version in exactly the way its docstring
says.

Only the named bug differs from the correct computation: the rest (for
instance the squash inside the routing pitfalls) is done correctly, so that an
observed difference can be blamed on that one bug.
"""

from __future__ import annotations

import torch

from capslib.checks import require_shape

__all__ = [
    "routing_softmax_wrong_axis",
    "routing_shared_logits",
    "squash_without_eps",
    "primary_capsules_reshape_across_positions",
    "reconstruction_loss_mean",
]


def _check_u_hat(name: str, u_hat: torch.Tensor, iterations: int) -> None:
    shape = ("batch", "in_caps", "out_caps", "out_dim")
    require_shape(u_hat, name, "u_hat", shape, floating=True)
    if (
        isinstance(iterations, bool)
        or not isinstance(iterations, int)
        or iterations < 1
    ):
        raise ValueError(
            f"{name}: expected iterations >= 1 (an int), got {iterations!r}"
        )


def _squash(s: torch.Tensor, dim: int = -1, eps: float = 1e-8) -> torch.Tensor:
    """The correct squash (with the epsilon), used inside the routing pitfalls."""
    squared_norm = (s * s).sum(dim=dim, keepdim=True)
    return squared_norm / (1.0 + squared_norm) * s / torch.sqrt(squared_norm + eps)


def routing_softmax_wrong_axis(
    u_hat: torch.Tensor, iterations: int = 3, *, return_couplings: bool = False
):
    """WRONG: routing by agreement with the softmax over the *input* capsules.

    ``u_hat``: ``(batch, in_caps, out_caps, out_dim)``; returns ``v``:
    ``(batch, out_caps, out_dim)`` (and ``c``: ``(batch, in_caps, out_caps)``
    with ``return_couplings=True``).

    **Bug.** Procedure 1 of the paper computes ``c_i = softmax(b_i)``: each
    *input* capsule ``i`` distributes its output among the parents, so its
    couplings sum to 1 over the *output* capsules (``dim=2``).  Public code that
    writes ``F.softmax(b, dim=1)`` normalises over the input capsules instead.

    **Effect.** Each *output* capsule's couplings sum to 1 over the inputs, and
    an input capsule's couplings no longer sum to 1: parents stop competing for
    a child (one child can send everything to every parent), and ``s_j`` becomes a
    weighted *average* of the predictions instead of a sum, so at the first
    iteration it is ``out_caps / in_caps`` times the correct ``s_j`` (1152/10
    times shorter in the paper's network), which the squash crushes to nearly
    zero length.

    **Guarded by** ``tests/capslib/test_functional.py``:
    ``test_couplings_sum_to_one_over_outputs_and_lengths_below_one`` and the
    hand-computed ``test_routing_two_iterations_by_hand``; the effect is
    measured in ``tests/capsbook/test_pitfalls.py``.
    """
    _check_u_hat("routing_softmax_wrong_axis", u_hat, iterations)
    batch, in_caps, out_caps, _ = u_hat.shape
    b = u_hat.new_zeros(batch, in_caps, out_caps)
    for iteration in range(iterations):
        c = torch.softmax(b, dim=1)  # BUG: should be dim=2 (output capsules)
        s = (c.unsqueeze(-1) * u_hat).sum(dim=1)  # (batch, out_caps, out_dim)
        v = _squash(s, dim=-1)
        if iteration < iterations - 1:
            b = b + (u_hat * v.unsqueeze(1)).sum(dim=-1)  # agreement u_hat_j|i . v_j
    return (v, c) if return_couplings else v


def routing_shared_logits(
    u_hat: torch.Tensor,
    iterations: int = 3,
    *,
    return_couplings: bool = False,
    reduction: str = "sum",
):
    """WRONG: routing logits ``b`` shared by every example of the batch.

    ``u_hat``: ``(batch, in_caps, out_caps, out_dim)``; returns ``v``:
    ``(batch, out_caps, out_dim)`` (and ``c``: ``(batch, in_caps, out_caps)``
    with ``return_couplings=True``; identical for every example).
    ``reduction``: how the examples' agreements are pooled into the one ``b``,
    ``"sum"`` or ``"mean"``.

    **Bug.** In the paper the logits ``b_ij`` start at zero *for every example*
    and are updated with that example's agreement.  Public code that stores
    ``b`` as an ``(in_caps, out_caps)`` tensor (sometimes even a parameter) and
    updates it with the agreement pooled over the batch routes every example
    with the same couplings.  The most copied instance is the PyTorch tutorial
    higgsfield/Capsule-Network-Tutorial: ``b_ij = torch.zeros(1, num_routes,
    num_capsules, 1)``, updated with ``a_ij.mean(dim=0, keepdim=True)``
    (``reduction="mean"``), a pattern found in many of its copies.

    **Effect.** An example's output depends on the other examples in its
    batch: the same image gives a different ``v`` alone and in a batch, so
    evaluation depends on the batch size and order.  With ``"sum"`` the logits
    also grow with the batch size, so the couplings saturate (become one-hot)
    faster with larger batches; with ``"mean"`` they do not, but every example
    is routed as the batch's average example.  With a batch of one both equal
    the correct routing.

    **Guarded by** ``tests/capslib/test_functional.py``:
    ``test_logits_start_at_zero_for_every_example`` (routing one example alone
    and inside a batch gives the same ``v``); the effect is measured in
    ``tests/capsbook/test_pitfalls.py``.
    """
    _check_u_hat("routing_shared_logits", u_hat, iterations)
    if reduction not in ("sum", "mean"):
        raise ValueError(
            f"routing_shared_logits: expected reduction 'sum' or 'mean', got {reduction!r}"
        )
    batch, in_caps, out_caps, _ = u_hat.shape
    b = u_hat.new_zeros(in_caps, out_caps)  # BUG: no batch dimension
    for iteration in range(iterations):
        c = torch.softmax(b, dim=1).expand(batch, in_caps, out_caps)
        s = (c.unsqueeze(-1) * u_hat).sum(dim=1)
        v = _squash(s, dim=-1)
        if iteration < iterations - 1:
            agreement = (u_hat * v.unsqueeze(1)).sum(dim=-1)
            b = b + (
                agreement.sum(dim=0) if reduction == "sum" else agreement.mean(dim=0)
            )  # BUG: pooled
    return (v, c) if return_couplings else v


def squash_without_eps(s: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """WRONG: the squash written literally, ``|s|^2 / (1 + |s|^2) * s / |s|``.

    ``s``: any shape with the capsule vector along ``dim``; returns ``v`` of the
    same shape.

    **Bug.** ``s / |s|`` divides by zero when a capsule's input is exactly the
    zero vector (a dead capsule after a ReLU, a zero-padded image region, a
    masked capsule), and the gradient of ``|s|`` at zero is ``0/0`` too.

    **Effect.** ``0 * 0 / 0`` is NaN: the forward pass returns NaN for a zero
    vector, the backward pass returns NaN gradients, and one NaN spreads to the
    loss and then to every weight after the next optimiser step.  Away from
    zero it agrees with the correct squash.

    **Guarded by** ``tests/capslib/test_functional.py``:
    ``test_zero_vector_gives_zero_and_finite_gradient`` and
    ``test_zero_vector_under_cpu_autocast`` (squash and
    capsule_length at an exact zero vector: zero output, finite gradients).
    """
    if not isinstance(s, torch.Tensor) or not s.is_floating_point():
        raise TypeError(
            f"squash_without_eps: expected a floating tensor, got "
            f"{type(s).__name__ if not isinstance(s, torch.Tensor) else s.dtype}"
        )
    norm = s.norm(dim=dim, keepdim=True)  # BUG: no epsilon, 0 at s = 0
    return norm**2 / (1.0 + norm**2) * s / norm


def primary_capsules_reshape_across_positions(
    conv_out: torch.Tensor, capsule_dim: int = 8
) -> torch.Tensor:
    """WRONG: primary capsules made by reshaping the convolution output directly.

    ``conv_out``: ``(batch, capsule_types * capsule_dim, height, width)``, the
    output of the primary-capsule convolution (``(batch, 256, 6, 6)`` in the
    paper); returns the capsule vectors *before the squash*:
    ``(batch, capsule_types * height * width, capsule_dim)``.

    **Bug.** The correct grouping takes, for one capsule type and one position
    ``(y, x)``, the ``capsule_dim`` channels of that type at that position:
    ``conv_out.view(batch, types, capsule_dim, h, w).permute(0, 1, 3, 4, 2)``.
    Public code that writes ``conv_out.view(batch, -1, capsule_dim)`` groups
    ``capsule_dim`` values that are consecutive in memory, i.e. *neighbouring
    positions of one channel* (and, across a row end, several channels).

    **Effect.** A "capsule" is then a strip of 8 pixels of one feature map, not
    8 features at one place: its orientation encodes where along the strip the
    feature fired rather than the properties of one entity, which destroys the
    meaning of the pose.  It appears when Keras/TensorFlow code, where
    ``Reshape((-1, 8))`` of a channels-last map is correct, is ported line for
    line to PyTorch's channels-first tensors.  The network still trains, and
    accuracy does not show the bug (the layers after it have separate weights
    for every group of 8, so they learn from either grouping).  Its cost is in
    what a capsule is: chapter 7 measures, with autograd, that a buggy capsule
    depends on 8 overlapping 17x17 windows of the image instead of one, and
    that one buggy capsule in nine mixes two feature maps.

    **Guarded by** ``tests/capslib/test_nn.py``:
    ``test_capsule_vectors_hold_the_channels_of_one_type_at_one_position``
    (PrimaryCapsules on a hand-built convolution output).
    """
    require_shape(
        conv_out,
        "primary_capsules_reshape_across_positions",
        "conv_out",
        ("batch", "capsule_types * capsule_dim", "height", "width"),
    )
    if conv_out.shape[1] % capsule_dim:
        raise ValueError(
            f"primary_capsules_reshape_across_positions: expected channels divisible by "
            f"capsule_dim={capsule_dim}, got {conv_out.shape[1]} channels"
        )
    return conv_out.reshape(
        conv_out.shape[0], -1, capsule_dim
    )  # BUG: groups along memory order


def reconstruction_loss_mean(
    reconstructions: torch.Tensor, images: torch.Tensor, scale: float = 0.0005
) -> torch.Tensor:
    """WRONG: the reconstruction loss as ``scale`` times the *mean* squared error.

    ``reconstructions``, ``images``: ``(batch, 1, height, width)`` (or any equal
    shapes whose first dimension is the batch); returns a scalar.

    **Bug.** The paper scales the *sum* of squared differences over the pixels
    by 0.0005 ("so that it does not dominate the margin loss"), then averages
    over the batch.  Public code that writes ``0.0005 * F.mse_loss(...)``
    averages over the pixels too: Geron's notebook (ageron/handson-ml,
    ``alpha * tf.reduce_mean(squared_difference)``), early versions of
    gram-ai/capsule-networks (``nn.MSELoss(size_average=True)``, later a sum)
    and higgsfield/Capsule-Network-Tutorial (``nn.MSELoss()``).  XifengGuo's
    CapsNet-Keras and CapsNet-Pytorch also use the mean but weight it by
    ``lam_recon = 0.392 = 0.0005 * 784``, which restores the paper's loss
    exactly on 28x28 images (and only there).

    **Effect.** The loss is ``height * width`` times weaker: 784 times on 28x28
    MNIST, 1296 on 36x36 MultiMNIST.  The decoder's regularising effect on the
    digit capsules all but disappears, and reconstructions come out blurry.

    **Guarded by** ``tests/capslib/test_functional.py``:
    ``test_reconstruction_loss_by_hand_is_a_sum_not_a_mean`` (scale times the
    per-image sum, mean over the batch).
    """
    if not isinstance(reconstructions, torch.Tensor) or not isinstance(
        images, torch.Tensor
    ):
        raise TypeError("reconstruction_loss_mean: expected two tensors")
    if reconstructions.numel() != images.numel():
        raise ValueError(
            f"reconstruction_loss_mean: expected equal sizes, got "
            f"{tuple(reconstructions.shape)} and {tuple(images.shape)}"
        )
    difference = reconstructions.reshape(images.shape) - images
    return scale * (difference**2).mean()  # BUG: mean over the pixels, not the sum
