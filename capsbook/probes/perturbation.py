"""The perturbation figure's numbers: tweak one pose dimension, decode, measure the pictures.

Sabour, Frosst & Hinton (2017), Section 5.1 and Figure 4: "We tweak each
dimension [of the digit capsule] by intervals of 0.05 in the range
[-0.25, 0.25]" and feed the result to the decoder.  :func:`perturbation_offsets`,
:func:`perturbed_poses` and :func:`perturbation_grid` build that figure (16
dimensions x 11 steps of decoded images; :func:`perturbation_grids` for many images at once); :func:`difference_maps` (each decoding
minus the capsule's own reconstruction, on the fixed scale
:data:`DIFFERENCE_SCALE`), :func:`dimension_change` (how much each dimension
changes the picture) and :func:`ink_statistics` (stroke ink, width, height and
slant of a picture, to name what a dimension does; its centre is :func:`centre_of_mass`) read it.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from capslib.checks import require_shape

#: The fixed colour scale of every difference map: -1 (ink removed, blue) .. +1 (ink added, red).
#: Pixels lie in [0, 1], so no change can exceed 1: nothing is clipped, and maps of different
#: digits, dimensions and figures can be compared by eye.
DIFFERENCE_SCALE = 1.0
DIFFERENCE_CMAP = "RdBu_r"


def perturbation_offsets(limit: float = 0.25, step: float = 0.05) -> Tensor:
    """The paper's offsets ``-limit, -limit + step, ..., limit`` (11 values by default), ``(steps,)``."""
    if not (limit > 0 and step > 0):
        raise ValueError(
            f"perturbation_offsets: expected positive limit and step, got {limit} and {step}"
        )
    count = round(2 * limit / step)
    if not math.isclose(count * step, 2 * limit, rel_tol=1e-9, abs_tol=1e-12):
        raise ValueError(
            f"perturbation_offsets: 2 * limit ({2 * limit}) is not a multiple of step ({step})"
        )
    # symmetric by construction, with an exact 0 in the middle (a float32 linspace gives -3.7e-09 there)
    return (
        (torch.arange(count + 1, dtype=torch.float64) - count / 2) * (2 * limit / count)
    ).float()


def perturbed_poses(pose: Tensor, offsets: Tensor | None = None, dims=None) -> Tensor:
    """Copies of one capsule's pose with one dimension moved at a time.

    ``pose``: ``(dim,)``; ``offsets``: ``(steps,)`` (default :func:`perturbation_offsets`);
    ``dims``: which dimensions to move (default all).  Returns
    ``(len(dims), steps, dim)`` where entry ``[r, k]`` is ``pose`` with
    ``pose[dims[r]] + offsets[k]`` in place of ``pose[dims[r]]``.
    """
    require_shape(
        pose,
        "perturbed_poses",
        "pose",
        ("dim",),
        floating=True,
        fix="one capsule's pose, e.g. poses[label] of one image",
    )
    offsets = (
        perturbation_offsets()
        if offsets is None
        else torch.as_tensor(offsets, dtype=pose.dtype)
    )
    offsets = offsets.to(device=pose.device, dtype=pose.dtype)
    dims = list(range(pose.shape[0])) if dims is None else [int(d) for d in dims]
    if any(not 0 <= d < pose.shape[0] for d in dims):
        raise ValueError(
            f"perturbed_poses: expected dims in [0, {pose.shape[0]}), got {dims}"
        )
    out = pose.expand(len(dims), offsets.shape[0], pose.shape[0]).clone()
    for row, d in enumerate(dims):
        out[row, :, d] += offsets
    return out


@torch.no_grad()
def perturbation_grid(
    decoder, poses: Tensor, label: int, offsets: Tensor | None = None, dims=None
) -> Tensor:
    """Decode every perturbed version of the ``label`` capsule: the paper's Figure 4.

    ``decoder``: a :class:`capslib.nn.CapsuleDecoder` (``model.decoder``);
    ``poses``: ``(num_classes, caps_dim)`` the digit capsules of one image;
    ``label``: the capsule to perturb (the decoder is masked to it).
    Returns images ``(len(dims), steps, C, H, W)``; the column of offset 0 is
    the plain reconstruction.
    """
    require_shape(
        poses,
        "perturbation_grid",
        "poses",
        ("num_classes", "caps_dim"),
        fix="the digit capsules of one image (perturbation_grids takes many)",
    )
    num_classes = poses.shape[0]
    if not 0 <= int(label) < num_classes:
        raise ValueError(
            f"perturbation_grid: expected label in [0, {num_classes}), got {label}"
        )
    varied = perturbed_poses(poses[int(label)], offsets, dims)  # (rows, steps, dim)
    rows, steps, dim = varied.shape
    full = poses.expand(rows * steps, num_classes, dim).clone()
    full[:, int(label)] = varied.reshape(rows * steps, dim)
    mask = torch.full(
        (rows * steps,), int(label), dtype=torch.long, device=poses.device
    )
    was_training = decoder.training
    decoder.eval()
    try:
        images = decoder(full, mask_with=mask)
    finally:
        decoder.train(was_training)
    return images.view(rows, steps, *images.shape[1:])


@torch.no_grad()
def perturbation_grids(
    decoder, poses: Tensor, label: int, offsets: Tensor | None = None
) -> Tensor:
    """:func:`perturbation_grid` for many images of one class at once, in one decoder call.

    ``poses``: ``(n, num_classes, caps_dim)`` the digit capsules of ``n`` images; ``label``:
    the capsule to perturb in every one of them.  Returns ``(n, caps_dim, steps, C, H, W)``:
    entry ``[i]`` equals ``perturbation_grid(decoder, poses[i], label, offsets)``.
    """
    require_shape(
        poses,
        "perturbation_grids",
        "poses",
        ("n", "num_classes", "caps_dim"),
        fix="the digit capsules of n images (perturbation_grid takes one)",
    )
    n, num_classes, dim = poses.shape
    if not 0 <= int(label) < num_classes:
        raise ValueError(
            f"perturbation_grids: expected label in [0, {num_classes}), got {label}"
        )
    offsets = perturbation_offsets() if offsets is None else torch.as_tensor(offsets)
    offsets = offsets.to(device=poses.device, dtype=poses.dtype)
    steps = offsets.shape[0]
    full = poses[:, None, None].repeat(
        1, dim, steps, 1, 1
    )  # (n, dim, steps, classes, dim)
    eye = torch.eye(dim, device=poses.device, dtype=poses.dtype)
    full[:, :, :, int(label)] += offsets[None, None, :, None] * eye[None, :, None, :]
    mask = torch.full((n * dim * steps,), int(label), device=poses.device)
    was_training = decoder.training
    decoder.eval()
    try:
        images = decoder(full.flatten(0, 2), mask_with=mask)
    finally:
        decoder.train(was_training)
    return images.view(n, dim, steps, *images.shape[1:])


def _zero_index(offsets: Tensor, steps: int) -> int:
    offsets = torch.as_tensor(offsets).flatten()
    if offsets.shape[0] != steps:
        raise ValueError(
            f"expected {steps} offsets (one per column), got {offsets.shape[0]}"
        )
    zeros = torch.nonzero(offsets.abs() < 1e-6).flatten()
    if len(zeros) != 1:
        raise ValueError(
            f"expected exactly one offset 0 (the capsule's own reconstruction), got {offsets.tolist()}"
        )
    return int(zeros[0])


_GRID = ("rows", "steps", "C", "H", "W")
_GRID_FIX = "the decodings of perturbation_grid"


def difference_maps(grid: Tensor, offsets: Tensor | None = None) -> Tensor:
    """Each decoding minus the capsule's own reconstruction: what a tweak adds (> 0) or removes (< 0).

    ``grid``: ``(rows, steps, C, H, W)`` from :func:`perturbation_grid` (``offsets`` default
    :func:`perturbation_offsets`, one of them 0).  Returns the same shape; the offset-0 column is 0.
    """
    require_shape(grid, "difference_maps", "grid", _GRID, fix=_GRID_FIX)
    offsets = perturbation_offsets() if offsets is None else offsets
    zero = _zero_index(offsets, grid.shape[1])
    return grid - grid[:, zero : zero + 1]


def dimension_change(grid: Tensor) -> Tensor:
    """How much each row of a perturbation grid changes the picture: ``(rows,)``.

    The sum over pixels of ``|grid[r, -1] - grid[r, 0]|``: the two ends of the sweep (offsets
    -0.25 and +0.25 by default) compared, in units of fully inked pixels.
    """
    require_shape(grid, "dimension_change", "grid", _GRID, fix=_GRID_FIX)
    if grid.shape[1] < 2:
        raise ValueError(
            "dimension_change: expected grid of shape (rows, steps >= 2, C, H, W) "
            f"(two ends to compare), got shape {tuple(grid.shape)}"
        )
    return (grid[:, -1] - grid[:, 0]).abs().flatten(1).sum(1)


def centre_of_mass(images: Tensor) -> Tensor:
    """The ink's centre of pictures ``(..., H, W)`` with non-negative intensities: ``(..., 2)``,
    ``(row, column)`` in pixels, in the pictures' dtype (a blank picture's is 0)."""
    height, width = images.shape[-2:]
    rows = torch.arange(height, dtype=images.dtype, device=images.device)
    cols = torch.arange(width, dtype=images.dtype, device=images.device)
    ink = images.sum((-2, -1)).clamp_min(1e-12)
    row = (images.sum(-1) * rows).sum(-1) / ink
    col = (images.sum(-2) * cols).sum(-1) / ink
    return torch.stack([row, col], -1)


def ink_statistics(images: Tensor) -> dict[str, Tensor]:
    """Measurements of pictures ``(..., H, W)`` with intensities in [0, 1], each of shape ``(...)``.

    * ``ink``: the sum of the intensities (thicker strokes: more ink);
    * ``width`` / ``height``: twice the ink-weighted standard deviation of the column / row
      index, in pixels (a wider digit spreads its ink over more columns);
    * ``slant``: columns moved to the right per row upwards, the ink-weighted covariance of column
      and row over the variance of the row, sign flipped because rows count downwards (a digit
      leaning right, like ``/``, has a positive slant).

    A blank picture has no centre: its width, height and slant are 0.
    """
    if (
        not isinstance(images, Tensor)
        or images.ndim < 2
        or not images.is_floating_point()
    ):
        got = (
            f"shape {tuple(images.shape)}"
            if isinstance(images, Tensor)
            else type(images).__name__
        )
        raise ValueError(
            f"ink_statistics: expected floating pictures (..., H, W), got {got}"
        )
    images = images.double().clamp_min(0)
    height, width = images.shape[-2:]
    rows = torch.arange(height, dtype=images.dtype, device=images.device).view(
        height, 1
    )
    cols = torch.arange(width, dtype=images.dtype, device=images.device).view(1, width)
    ink = images.sum((-2, -1))
    safe = ink.clamp_min(1e-12)
    mean_r, mean_c = centre_of_mass(images).unbind(-1)
    dr = rows - mean_r[..., None, None]
    dc = cols - mean_c[..., None, None]
    var_r = (images * dr**2).sum((-2, -1)) / safe
    var_c = (images * dc**2).sum((-2, -1)) / safe
    cov = (images * dr * dc).sum((-2, -1)) / safe
    blank = ink <= 1e-12
    zero = torch.zeros_like(ink)
    return {
        "ink": ink,
        "width": torch.where(blank, zero, 2 * var_c.sqrt()),
        "height": torch.where(blank, zero, 2 * var_r.sqrt()),
        "slant": torch.where(
            blank | (var_r <= 1e-12), zero, -cov / var_r.clamp_min(1e-12)
        ),
    }
