"""What capsules learn: the perturbation figure and routing couplings drawn over the image.

Sabour, Frosst & Hinton (2017), Section 5.1 and Figure 4: "We tweak each
dimension [of the digit capsule] by intervals of 0.05 in the range
[-0.25, 0.25]" and feed the result to the decoder, which shows what each of the
16 dimensions encodes (stroke thickness, skew, width, ...).

* :func:`perturbation_offsets`, :func:`perturbed_poses` and
  :func:`perturbation_grid` build that figure: 16 dimensions x 11 steps of
  decoded images;
* :func:`couplings_for_class` maps the couplings ``c_ij`` from the primary
  capsules to one digit capsule back onto the primary capsules' spatial grid
  (6x6 for 28x28 inputs), using the type-major layout of
  :class:`capslib.nn.PrimaryCapsules`; :func:`spread_to_image` spreads such a
  grid over the input pixels each position sees (its receptive field), so that
  it can be drawn over the image.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from .functional import capsule_length

__all__ = [
    "couplings_for_class",
    "perturbation_grid",
    "perturbation_offsets",
    "perturbed_poses",
    "plot_couplings_over_images",
    "plot_perturbation_grid",
    "primary_capsule_lengths",
    "receptive_field",
    "spread_to_image",
]


def perturbation_offsets(limit: float = 0.25, step: float = 0.05) -> Tensor:
    """The paper's offsets ``-limit, -limit + step, ..., limit`` (11 values by default), ``(steps,)``."""
    if not (limit > 0 and step > 0):
        raise ValueError(f"perturbation_offsets: expected positive limit and step, got {limit} and {step}")
    count = round(2 * limit / step)
    if not math.isclose(count * step, 2 * limit, rel_tol=1e-9, abs_tol=1e-12):
        raise ValueError(f"perturbation_offsets: 2 * limit ({2 * limit}) is not a multiple of step ({step})")
    return torch.linspace(-limit, limit, count + 1)


def perturbed_poses(pose: Tensor, offsets: Tensor | None = None, dims=None) -> Tensor:
    """Copies of one capsule's pose with one dimension moved at a time.

    ``pose``: ``(dim,)``; ``offsets``: ``(steps,)`` (default :func:`perturbation_offsets`);
    ``dims``: which dimensions to move (default all).  Returns
    ``(len(dims), steps, dim)`` where entry ``[r, k]`` is ``pose`` with
    ``pose[dims[r]] + offsets[k]`` in place of ``pose[dims[r]]``.
    """
    if not isinstance(pose, Tensor) or pose.ndim != 1 or not pose.is_floating_point():
        got = f"shape {tuple(pose.shape)} of dtype {pose.dtype}" if isinstance(pose, Tensor) else type(pose).__name__
        raise ValueError(f"perturbed_poses: expected one capsule's pose as a floating (dim,) tensor, got {got}")
    offsets = perturbation_offsets() if offsets is None else torch.as_tensor(offsets, dtype=pose.dtype)
    offsets = offsets.to(device=pose.device, dtype=pose.dtype)
    dims = list(range(pose.shape[0])) if dims is None else [int(d) for d in dims]
    if any(not 0 <= d < pose.shape[0] for d in dims):
        raise ValueError(f"perturbed_poses: expected dims in [0, {pose.shape[0]}), got {dims}")
    out = pose.expand(len(dims), offsets.shape[0], pose.shape[0]).clone()
    for row, d in enumerate(dims):
        out[row, :, d] += offsets
    return out


@torch.no_grad()
def perturbation_grid(decoder, poses: Tensor, label: int, offsets: Tensor | None = None, dims=None) -> Tensor:
    """Decode every perturbed version of the ``label`` capsule: the paper's Figure 4.

    ``decoder``: a :class:`capslib.nn.CapsuleDecoder` (``model.decoder``);
    ``poses``: ``(num_classes, caps_dim)`` the digit capsules of one image;
    ``label``: the capsule to perturb (the decoder is masked to it).
    Returns images ``(len(dims), steps, C, H, W)``; the column of offset 0 is
    the plain reconstruction.
    """
    if not isinstance(poses, Tensor) or poses.ndim != 2:
        got = f"shape {tuple(poses.shape)}" if isinstance(poses, Tensor) else type(poses).__name__
        raise ValueError(f"perturbation_grid: expected the digit capsules of one image (num_classes, caps_dim), got {got}")
    num_classes = poses.shape[0]
    if not 0 <= int(label) < num_classes:
        raise ValueError(f"perturbation_grid: expected label in [0, {num_classes}), got {label}")
    varied = perturbed_poses(poses[int(label)], offsets, dims)               # (rows, steps, dim)
    rows, steps, dim = varied.shape
    full = poses.expand(rows * steps, num_classes, dim).clone()
    full[:, int(label)] = varied.reshape(rows * steps, dim)
    mask = torch.full((rows * steps,), int(label), dtype=torch.long, device=poses.device)
    was_training = decoder.training
    decoder.eval()
    try:
        images = decoder(full, mask_with=mask)
    finally:
        decoder.train(was_training)
    return images.view(rows, steps, *images.shape[1:])


def couplings_for_class(couplings: Tensor, classes: Tensor, capsule_types: int, grid: int,
                        weights: Tensor | None = None) -> Tensor:
    """The couplings to one digit capsule per image, averaged over capsule types at each position.

    ``couplings``: ``(batch, capsule_types * grid * grid, num_classes)`` as returned by
    ``CapsNet(..., return_couplings=True)`` (type-major: capsule ``(type * grid + y) * grid + x``
    sits at ``(y, x)``); ``classes``: ``(batch,)`` the digit capsule to show for each image;
    ``weights``: optional ``(batch, in_caps)`` (e.g. :func:`primary_capsule_lengths`) to
    weight each primary capsule (an inactive capsule's couplings say little).
    Returns ``(batch, grid, grid)``: the (weighted) mean over types.
    """
    if not isinstance(couplings, Tensor) or couplings.ndim != 3:
        got = f"shape {tuple(couplings.shape)}" if isinstance(couplings, Tensor) else type(couplings).__name__
        raise ValueError(f"couplings_for_class: expected couplings (batch, in_caps, num_classes), got {got}")
    batch, in_caps, num_classes = couplings.shape
    if in_caps != capsule_types * grid * grid:
        raise ValueError(f"couplings_for_class: expected {capsule_types} x {grid} x {grid} = "
                         f"{capsule_types * grid * grid} input capsules, got {in_caps}")
    classes = torch.as_tensor(classes, device=couplings.device).long()
    if classes.shape != (batch,) or classes.min() < 0 or classes.max() >= num_classes:
        raise ValueError(f"couplings_for_class: expected ({batch},) class indices in [0, {num_classes}), got {classes}")
    chosen = couplings.gather(2, classes.view(batch, 1, 1).expand(batch, in_caps, 1)).squeeze(2)   # (batch, in)
    chosen = chosen.view(batch, capsule_types, grid, grid)
    if weights is None:
        return chosen.mean(dim=1)
    if weights.shape != (batch, in_caps):
        raise ValueError(f"couplings_for_class: expected weights of shape ({batch}, {in_caps}), "
                         f"got {tuple(weights.shape)}")
    w = weights.view(batch, capsule_types, grid, grid)
    return (chosen * w).sum(dim=1) / w.sum(dim=1).clamp_min(1e-12)


@torch.no_grad()
def primary_capsule_lengths(model, images: Tensor) -> Tensor:
    """The lengths of a :class:`capslib.models.CapsNet`'s primary capsules, ``(batch, in_caps)``."""
    return capsule_length(model.primary_caps(torch.relu(model.conv1(images))), dim=-1)


def receptive_field(config) -> tuple[int, int]:
    """``(size, stride)`` in input pixels of one primary capsule position of a CapsNet configuration.

    Paper: conv1 9x9 stride 1 then primary 9x9 stride 2 -> each position sees a
    17x17 patch, and neighbouring positions are 2 pixels apart.
    """
    size = config.conv_kernel + (config.primary_kernel - 1)
    return size, config.primary_stride


def spread_to_image(grid_map: Tensor, size: int, stride: int, image_size: int) -> Tensor:
    """Spread a per-position map over the pixels each position sees; average where patches overlap.

    ``grid_map``: ``(batch, grid, grid)``; position ``(y, x)`` covers pixels
    ``[y * stride, y * stride + size)`` (same for ``x``).  Returns
    ``(batch, image_size, image_size)``; pixels that no position sees are 0.
    """
    if not isinstance(grid_map, Tensor) or grid_map.ndim != 3 or grid_map.shape[1] != grid_map.shape[2]:
        got = f"shape {tuple(grid_map.shape)}" if isinstance(grid_map, Tensor) else type(grid_map).__name__
        raise ValueError(f"spread_to_image: expected a square map (batch, grid, grid), got {got}")
    grid = grid_map.shape[1]
    covered = (grid - 1) * stride + size
    if covered > image_size:
        raise ValueError(f"spread_to_image: {grid} positions of size {size} and stride {stride} cover "
                         f"{covered} pixels, more than image_size={image_size}")
    kernel = torch.ones(1, 1, size, size, dtype=grid_map.dtype, device=grid_map.device)
    pad = image_size - covered
    total = torch.nn.functional.conv_transpose2d(grid_map.unsqueeze(1), kernel, stride=stride,
                                                 output_padding=0)
    count = torch.nn.functional.conv_transpose2d(torch.ones_like(grid_map).unsqueeze(1), kernel, stride=stride)
    total = torch.nn.functional.pad(total, (0, pad, 0, pad))
    count = torch.nn.functional.pad(count, (0, pad, 0, pad))
    return (total / count.clamp_min(1)).squeeze(1)


# ----------------------------------------------------------------------------
# figures
# ----------------------------------------------------------------------------

def plot_perturbation_grid(images: Tensor, offsets: Tensor | None = None, dims=None, title: str | None = None,
                           size: float = 0.6):
    """Draw :func:`perturbation_grid`'s output: one row per dimension, one column per offset."""
    import matplotlib.pyplot as plt

    images = images.detach().cpu()
    rows, steps = images.shape[:2]
    offsets = perturbation_offsets() if offsets is None else torch.as_tensor(offsets)
    dims = list(range(rows)) if dims is None else list(dims)
    fig, axes = plt.subplots(rows, steps, figsize=(size * steps + 0.6, size * rows + 0.5), squeeze=False)
    for r in range(rows):
        for k in range(steps):
            ax = axes[r, k]
            ax.imshow(images[r, k, 0].float().numpy(), cmap="gray_r", vmin=0, vmax=1)
            ax.set_xticks([]), ax.set_yticks([])
            if r == 0:
                ax.set_title(f"{float(offsets[k]):+.2f}", fontsize=7)
            if k == 0:
                ax.set_ylabel(f"dim {dims[r]}", fontsize=7, rotation=0, labelpad=16)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_couplings_over_images(images: Tensor, maps: Tensor, titles=None, size: float = 1.6, alpha: float = 0.55):
    """Draw each image in grey with a coupling map (``(batch, H, W)``, from :func:`spread_to_image`) over it.

    The colour scale spans the maps' own range (couplings vary little around their mean, so a
    scale from 0 would show a flat colour); pixels that no position sees (value 0) are left uncoloured.
    """
    import matplotlib.pyplot as plt
    import numpy as np

    images, maps = images.detach().cpu(), maps.detach().cpu().float()
    n = images.shape[0]
    fig, axes = plt.subplots(1, n, figsize=(size * n, size * 1.2), squeeze=False)
    seen = maps[maps > 0]
    vmin, vmax = (float(seen.min()), float(seen.max())) if seen.numel() else (0.0, 1.0)
    for i, ax in enumerate(axes[0]):
        ax.imshow(images[i, 0].numpy(), cmap="gray_r", vmin=0, vmax=1)
        masked = np.ma.masked_where(maps[i].numpy() <= 0, maps[i].numpy())
        shown = ax.imshow(masked, cmap="magma", alpha=alpha, vmin=vmin, vmax=max(vmax, vmin + 1e-6))
        ax.axis("off")
        if titles is not None:
            ax.set_title(titles[i], fontsize=8)
    fig.colorbar(shown, ax=axes[0].tolist(), fraction=0.03, pad=0.02, format="%.3f")
    return fig
