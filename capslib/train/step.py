"""One training step, the only one: the loss of a batch under autocast, then the optimiser's update.

The trainer (:class:`~capslib.train.trainer.Trainer`) and the benchmark
(:func:`capslib.bench.training_step`) both step through these functions, so
the benchmark times what training does:

* :func:`compute_loss`: the paper's margin + reconstruction loss for a CapsNet
  (both digits of a MultiMNIST pair, each reconstructed from its own
  capsule), the spread loss for a matrix-capsule network, cross-entropy for
  a CNN (a sigmoid per class for two labels);
* :func:`autocast`: the forward pass in the run's dtype (``None``: float32);
* :func:`optimizer_step`: backward, with loss scaling for float16, and the
  update; :func:`make_optimizer` (Adam, fused where torch has it) and
  :func:`make_scheduler` (the official exponential decay, per step).
"""

from __future__ import annotations

import torch
import torch.nn.functional as TF

from ..functional import spread_loss
from ..precision import choose_dtype

__all__ = [
    "autocast",
    "autocast_dtype",
    "compute_loss",
    "make_optimizer",
    "make_scheduler",
    "multi_hot",
    "optimizer_step",
]


def autocast_dtype(dtype: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``dtype`` on ``device`` (``None``: plain float32); see :mod:`capslib.precision`."""
    return choose_dtype(dtype, device).autocast


def autocast(device: torch.device, amp_dtype: torch.dtype | None):
    """The forward pass's autocast context: ``amp_dtype`` on ``device``, or none (float32)."""
    if amp_dtype is None:
        return torch.autocast(device.type, enabled=False)
    return torch.autocast(device.type, dtype=amp_dtype)


def multi_hot(labels: torch.Tensor, classes: int) -> torch.Tensor:
    """Class indices ``(batch,)`` as they are; ``(batch, k)`` labels as multi-hot ``(batch, classes)``."""
    return (
        TF.one_hot(labels, classes).sum(1).clamp_(max=1) if labels.ndim == 2 else labels
    )


def compute_loss(
    model,
    images: torch.Tensor,
    labels: torch.Tensor,
    components: torch.Tensor | None = None,
    *,
    capsnet=None,
    classes: int = 10,
    spread_margin: float | None = None,
):
    """``(loss, scores)`` for a batch: the paper's margin + reconstruction loss, or cross-entropy.

    ``model`` runs the forward pass (the network itself, or it compiled or
    wrapped in DistributedDataParallel); ``capsnet``: the CapsNet whose
    ``loss`` applies (``None``: ``model`` is a CNN).  Two labels per image
    (MultiMNIST, ``components`` ``(batch, 2, C, H, W)`` the two digits): the
    margin loss gets both classes as multi-hot targets and, as in the paper,
    each digit is reconstructed from its own capsule (masked alone) and
    compared with its own image, the two scaled sums of squared errors added.
    The CNNs use a sigmoid cross-entropy per class.  An image counts as right
    when its two highest scores are its two labels.  ``spread_margin``: ``model``
    is a matrix-capsule network (:class:`capslib.em_routing.MatrixCapsNet`),
    trained with :func:`capslib.functional.spread_loss` at this margin on its
    class activations, which are the scores.
    """
    if spread_margin is not None:
        activations = model(images).activations
        return spread_loss(activations, labels, spread_margin), activations
    targets = multi_hot(labels, classes)
    if capsnet is not None:
        if labels.ndim == 2:
            output = model(images, mask_each=labels)
            return capsnet.loss(output, components, targets).total, output.lengths
        output = model(images, targets=targets)
        return capsnet.loss(output, images, targets).total, output.lengths
    logits = model(images)
    if labels.ndim == 2:
        return TF.binary_cross_entropy_with_logits(
            logits.float(), targets.float(), reduction="sum"
        ) / len(images), logits
    return TF.cross_entropy(logits.float(), labels), logits


def optimizer_step(loss: torch.Tensor, optimizer, scheduler=None, scaler=None) -> None:
    """Backward and update: ``scaler`` (float16) scales the loss so small gradients do not
    flush to zero; ``scheduler`` (if any) then advances the learning rate by one step."""
    optimizer.zero_grad(set_to_none=True)
    if scaler is not None:
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    else:
        loss.backward()
        optimizer.step()
    if scheduler is not None:
        scheduler.step()


def make_optimizer(parameters, lr: float) -> torch.optim.Adam:
    """Adam (the paper's optimiser) with ``fused=True`` where this torch supports it for these parameters.

    The fused implementation updates every parameter in one kernel instead of a
    Python loop of several small operations per parameter tensor: the same
    update (Kingma & Ba's Algorithm 1, as ``torch.optim.Adam``), less time.
    """
    parameters = list(parameters)
    try:
        return torch.optim.Adam(parameters, lr=lr, fused=True)
    except (
        RuntimeError,
        TypeError,
        ValueError,
    ):  # older torch, or a device/dtype without a fused kernel
        return torch.optim.Adam(parameters, lr=lr)


def make_scheduler(optimizer: torch.optim.Optimizer, config):
    """The official schedule ``lr = lr0 * decay ** (step / decay_steps)``, stepped once per training step.

    ``config``: a :class:`~capslib.train.TrainConfig` (its ``lr_decay``, ``lr_decay_steps``, ``staircase``).
    """
    if config.staircase:
        return torch.optim.lr_scheduler.StepLR(
            optimizer, step_size=config.lr_decay_steps, gamma=config.lr_decay
        )
    return torch.optim.lr_scheduler.ExponentialLR(
        optimizer, gamma=config.lr_decay ** (1.0 / config.lr_decay_steps)
    )
