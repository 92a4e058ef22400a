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

The trained network's figures (chapter 9) add, on the same fixed colour scale
(:data:`DIFFERENCE_SCALE`): :func:`difference_maps` (each decoding minus the
capsule's own reconstruction), :func:`dimension_change` (how much each
dimension changes the picture), :func:`ink_statistics` (stroke ink, width,
height and slant of a picture, to name what a dimension does),
:func:`plot_difference_atlas` (every class and every dimension in one figure)
and :func:`plot_class_traversals`; for MultiMNIST (chapter 10),
:func:`overlay_pair` draws the two per-digit reconstructions over the input.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from capslib.functional import capsule_length

#: The fixed colour scale of every difference map: -1 (ink removed, blue) .. +1 (ink added, red).
#: Pixels lie in [0, 1], so no change can exceed 1: nothing is clipped, and maps of different
#: digits, dimensions and figures can be compared by eye.
DIFFERENCE_SCALE = 1.0
DIFFERENCE_CMAP = "RdBu_r"

__all__ = [
    "DIFFERENCE_SCALE",
    "couplings_for_class",
    "difference_maps",
    "dimension_change",
    "ink_statistics",
    "overlay_pair",
    "plot_class_traversals",
    "plot_difference_atlas",
    "plot_pair_reconstructions",
    "perturbation_grid",
    "perturbation_offsets",
    "mosaic",
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
    if not isinstance(pose, Tensor) or pose.ndim != 1 or not pose.is_floating_point():
        got = (
            f"shape {tuple(pose.shape)} of dtype {pose.dtype}"
            if isinstance(pose, Tensor)
            else type(pose).__name__
        )
        raise ValueError(
            f"perturbed_poses: expected one capsule's pose as a floating (dim,) tensor, got {got}"
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
    if not isinstance(poses, Tensor) or poses.ndim != 2:
        got = (
            f"shape {tuple(poses.shape)}"
            if isinstance(poses, Tensor)
            else type(poses).__name__
        )
        raise ValueError(
            f"perturbation_grid: expected the digit capsules of one image (num_classes, caps_dim), got {got}"
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


def difference_maps(grid: Tensor, offsets: Tensor | None = None) -> Tensor:
    """Each decoding minus the capsule's own reconstruction: what a tweak adds (> 0) or removes (< 0).

    ``grid``: ``(rows, steps, C, H, W)`` from :func:`perturbation_grid` (``offsets`` default
    :func:`perturbation_offsets`, one of them 0).  Returns the same shape; the offset-0 column is 0.
    """
    if not isinstance(grid, Tensor) or grid.ndim != 5:
        got = (
            f"shape {tuple(grid.shape)}"
            if isinstance(grid, Tensor)
            else type(grid).__name__
        )
        raise ValueError(
            f"difference_maps: expected decodings (rows, steps, C, H, W), got {got}"
        )
    offsets = perturbation_offsets() if offsets is None else offsets
    zero = _zero_index(offsets, grid.shape[1])
    return grid - grid[:, zero : zero + 1]


def dimension_change(grid: Tensor) -> Tensor:
    """How much each row of a perturbation grid changes the picture: ``(rows,)``.

    The sum over pixels of ``|grid[r, -1] - grid[r, 0]|``: the two ends of the sweep (offsets
    -0.25 and +0.25 by default) compared, in units of fully inked pixels.
    """
    if not isinstance(grid, Tensor) or grid.ndim != 5 or grid.shape[1] < 2:
        got = (
            f"shape {tuple(grid.shape)}"
            if isinstance(grid, Tensor)
            else type(grid).__name__
        )
        raise ValueError(
            f"dimension_change: expected decodings (rows, steps >= 2, C, H, W), got {got}"
        )
    return (grid[:, -1] - grid[:, 0]).abs().flatten(1).sum(1)


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
    mean_r = (images * rows).sum((-2, -1)) / safe
    mean_c = (images * cols).sum((-2, -1)) / safe
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


def couplings_for_class(
    couplings: Tensor,
    classes: Tensor,
    capsule_types: int,
    grid: int,
    weights: Tensor | None = None,
) -> Tensor:
    """The couplings to one digit capsule per image, averaged over capsule types at each position.

    ``couplings``: ``(batch, capsule_types * grid * grid, num_classes)`` as returned by
    ``CapsNet(..., return_couplings=True)`` (type-major: capsule ``(type * grid + y) * grid + x``
    sits at ``(y, x)``); ``classes``: ``(batch,)`` the digit capsule to show for each image;
    ``weights``: optional ``(batch, in_caps)`` (e.g. :func:`primary_capsule_lengths`) to
    weight each primary capsule (an inactive capsule's couplings say little).
    Returns ``(batch, grid, grid)``: the (weighted) mean over types.
    """
    if not isinstance(couplings, Tensor) or couplings.ndim != 3:
        got = (
            f"shape {tuple(couplings.shape)}"
            if isinstance(couplings, Tensor)
            else type(couplings).__name__
        )
        raise ValueError(
            f"couplings_for_class: expected couplings (batch, in_caps, num_classes), got {got}"
        )
    batch, in_caps, num_classes = couplings.shape
    if in_caps != capsule_types * grid * grid:
        raise ValueError(
            f"couplings_for_class: expected {capsule_types} x {grid} x {grid} = "
            f"{capsule_types * grid * grid} input capsules, got {in_caps}"
        )
    classes = torch.as_tensor(classes, device=couplings.device).long()
    if classes.shape != (batch,) or classes.min() < 0 or classes.max() >= num_classes:
        raise ValueError(
            f"couplings_for_class: expected ({batch},) class indices in [0, {num_classes}), got {classes}"
        )
    chosen = couplings.gather(
        2, classes.view(batch, 1, 1).expand(batch, in_caps, 1)
    ).squeeze(2)  # (batch, in)
    chosen = chosen.view(batch, capsule_types, grid, grid)
    if weights is None:
        return chosen.mean(dim=1)
    if weights.shape != (batch, in_caps):
        raise ValueError(
            f"couplings_for_class: expected weights of shape ({batch}, {in_caps}), "
            f"got {tuple(weights.shape)}"
        )
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


def spread_to_image(
    grid_map: Tensor, size: int, stride: int, image_size: int
) -> Tensor:
    """Spread a per-position map over the pixels each position sees; average where patches overlap.

    ``grid_map``: ``(batch, grid, grid)``; position ``(y, x)`` covers pixels
    ``[y * stride, y * stride + size)`` (same for ``x``).  Returns
    ``(batch, image_size, image_size)``; pixels that no position sees are 0.
    """
    if (
        not isinstance(grid_map, Tensor)
        or grid_map.ndim != 3
        or grid_map.shape[1] != grid_map.shape[2]
    ):
        got = (
            f"shape {tuple(grid_map.shape)}"
            if isinstance(grid_map, Tensor)
            else type(grid_map).__name__
        )
        raise ValueError(
            f"spread_to_image: expected a square map (batch, grid, grid), got {got}"
        )
    grid = grid_map.shape[1]
    covered = (grid - 1) * stride + size
    if covered > image_size:
        raise ValueError(
            f"spread_to_image: {grid} positions of size {size} and stride {stride} cover "
            f"{covered} pixels, more than image_size={image_size}"
        )
    kernel = torch.ones(1, 1, size, size, dtype=grid_map.dtype, device=grid_map.device)
    pad = image_size - covered
    total = torch.nn.functional.conv_transpose2d(
        grid_map.unsqueeze(1), kernel, stride=stride, output_padding=0
    )
    count = torch.nn.functional.conv_transpose2d(
        torch.ones_like(grid_map).unsqueeze(1), kernel, stride=stride
    )
    total = torch.nn.functional.pad(total, (0, pad, 0, pad))
    count = torch.nn.functional.pad(count, (0, pad, 0, pad))
    return (total / count.clamp_min(1)).squeeze(1)


# ----------------------------------------------------------------------------
# figures
# ----------------------------------------------------------------------------


def mosaic(images: Tensor, gap: int = 2) -> Tensor:
    """Tile pictures ``(rows, cols, H, W)`` (or ``(rows, cols, 1, H, W)``) into one ``(rows*(H+gap)-gap, ...)``
    array, with NaN in the gaps (drawn in the colour map's "bad" colour), so that a whole grid is one image."""
    images = images.detach().cpu().double()
    if images.ndim == 5 and images.shape[2] == 1:
        images = images[:, :, 0]
    if images.ndim != 4:
        raise ValueError(
            f"mosaic: expected pictures (rows, cols, H, W), got shape {tuple(images.shape)}"
        )
    rows, cols, h, w = images.shape
    out = torch.full(
        (rows * (h + gap) - gap, cols * (w + gap) - gap),
        float("nan"),
        dtype=torch.float64,
    )
    for r in range(rows):
        for c in range(cols):
            out[
                r * (h + gap) : r * (h + gap) + h, c * (w + gap) : c * (w + gap) + w
            ] = images[r, c]
    return out


def _show_mosaic(
    ax,
    images: Tensor,
    *,
    cmap: str,
    vmin: float,
    vmax: float,
    row_labels=None,
    col_labels=None,
    gap: int = 2,
    fontsize: float = 7,
):
    """Draw :func:`mosaic` of ``images`` on ``ax`` with a label per row and column; returns the image artist."""
    import matplotlib.pyplot as plt

    h, w = images.shape[-2:]
    rows, cols = images.shape[:2]
    colours = plt.get_cmap(cmap).with_extremes(bad="#b8b8b8")
    shown = ax.imshow(
        mosaic(images, gap).numpy(),
        cmap=colours,
        vmin=vmin,
        vmax=vmax,
        interpolation="nearest",
    )
    ax.set_xticks(
        [c * (w + gap) + w / 2 - 0.5 for c in range(cols)]
        if col_labels is not None
        else []
    )
    ax.set_yticks(
        [r * (h + gap) + h / 2 - 0.5 for r in range(rows)]
        if row_labels is not None
        else []
    )
    if col_labels is not None:
        ax.set_xticklabels(col_labels, fontsize=fontsize)
        ax.xaxis.tick_top()
    if row_labels is not None:
        ax.set_yticklabels(row_labels, fontsize=fontsize)
    ax.tick_params(length=0, pad=2)
    for spine in ax.spines.values():
        spine.set_visible(False)
    return shown


def plot_perturbation_grid(
    images: Tensor,
    offsets: Tensor | None = None,
    dims=None,
    title: str | None = None,
    size: float = 0.42,
    differences: bool = True,
    row_labels=None,
    difference_scale: float = DIFFERENCE_SCALE,
):
    """Draw :func:`perturbation_grid`'s output: one row per dimension, one column per offset.

    With ``differences`` (default) a second panel beside it shows each decoding minus the offset-0
    column (:func:`difference_maps`) on the fixed diverging scale ``[-difference_scale,
    difference_scale]``: red where the tweak adds ink, blue where it removes it.  ``row_labels``
    default to ``"dim d"``; the decodings are drawn on a grey scale from 0 to 1.
    """
    import matplotlib.pyplot as plt

    images = images.detach().cpu()
    rows, steps = images.shape[:2]
    offsets = perturbation_offsets() if offsets is None else torch.as_tensor(offsets)
    dims = list(range(rows)) if dims is None else list(dims)
    labels = [f"dim {d}" for d in dims] if row_labels is None else list(row_labels)
    columns = [f"{float(o):+.2f}".replace("+0.00", "0") for o in offsets]
    panels = 2 if differences else 1
    fig, axes = plt.subplots(
        1,
        panels,
        figsize=(size * steps * panels + 1.4, size * rows + 1.0),
        squeeze=False,
    )
    _show_mosaic(
        axes[0, 0],
        images,
        cmap="gray_r",
        vmin=0.0,
        vmax=1.0,
        row_labels=labels,
        col_labels=columns,
    )
    axes[0, 0].set_title("decoded", fontsize=9)
    if differences:
        shown = _show_mosaic(
            axes[0, 1],
            difference_maps(images.float(), offsets),
            cmap=DIFFERENCE_CMAP,
            vmin=-difference_scale,
            vmax=difference_scale,
            row_labels=labels,
            col_labels=columns,
        )
        axes[0, 1].set_title(
            "minus the capsule's own reconstruction (offset 0)", fontsize=9
        )
        bar = fig.colorbar(
            shown,
            ax=axes[0, 1],
            orientation="horizontal",
            fraction=0.03,
            pad=0.02,
            shrink=0.7,
        )
        bar.set_label("blue: ink removed, red: ink added", fontsize=8)
        bar.ax.tick_params(labelsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def plot_difference_atlas(
    reference: Tensor,
    differences: Tensor,
    row_labels=None,
    col_labels=None,
    title: str | None = None,
    size: float = 0.42,
    difference_scale: float = DIFFERENCE_SCALE,
):
    """Every class and every dimension in one figure.

    ``reference``: ``(rows, C, H, W)`` the plain reconstructions (drawn first, in grey);
    ``differences``: ``(rows, dims, C, H, W)``, e.g. the decoding at +0.25 minus the one at -0.25 for
    each dimension, drawn on the fixed diverging scale ``[-difference_scale, difference_scale]``.
    """
    import matplotlib.pyplot as plt

    rows, dims = differences.shape[:2]
    if reference.shape[0] != rows:
        raise ValueError(
            f"plot_difference_atlas: {reference.shape[0]} reconstructions for {rows} rows of maps"
        )
    col_labels = (
        [str(d) for d in range(dims)] if col_labels is None else list(col_labels)
    )
    fig, axes = plt.subplots(
        1,
        2,
        figsize=(size * (dims + 1) + 1.6, size * rows + 1.2),
        squeeze=False,
        gridspec_kw={"width_ratios": [1, dims], "wspace": 0.04},
    )
    _show_mosaic(
        axes[0, 0],
        reference.detach().cpu().unsqueeze(1),
        cmap="gray_r",
        vmin=0.0,
        vmax=1.0,
        row_labels=row_labels,
        col_labels=["own"],
    )
    shown = _show_mosaic(
        axes[0, 1],
        differences.detach().cpu(),
        cmap=DIFFERENCE_CMAP,
        vmin=-difference_scale,
        vmax=difference_scale,
        col_labels=col_labels,
    )
    bar = fig.colorbar(
        shown,
        ax=axes[0, :].tolist(),
        orientation="horizontal",
        fraction=0.03,
        pad=0.03,
        shrink=0.5,
    )
    bar.set_label("blue: ink removed, red: ink added", fontsize=8)
    bar.ax.tick_params(labelsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def plot_class_traversals(
    grids: Tensor,
    offsets: Tensor | None = None,
    row_labels=None,
    title: str | None = None,
    size: float = 0.42,
    difference_scale: float = DIFFERENCE_SCALE,
):
    """One sweep per row (e.g. each class on its own most influential dimension): ``grids`` ``(rows, steps, C, H, W)``,
    with the difference maps beside it (:func:`plot_perturbation_grid` with other row labels)."""
    return plot_perturbation_grid(
        grids,
        offsets,
        title=title,
        size=size,
        row_labels=row_labels,
        difference_scale=difference_scale,
    )


def overlay_pair(
    image: Tensor, first: Tensor, second: Tensor, input_weight: float = 0.35
) -> Tensor:
    """Two reconstructions drawn over their input as one RGB picture ``(H, W, 3)`` in [0, 1].

    On a black background the input is dim grey (``input_weight``), ``first`` adds red and
    ``second`` green, so where both reconstructions put ink the pixel turns yellow.  Each argument
    is ``(H, W)`` or ``(1, H, W)`` with values in [0, 1].
    """
    parts = [
        torch.as_tensor(t).detach().cpu().float().squeeze(0)
        for t in (image, first, second)
    ]
    if any(p.ndim != 2 or p.shape != parts[0].shape for p in parts):
        raise ValueError(
            f"overlay_pair: expected three pictures of one shape (H, W), got "
            f"{[tuple(torch.as_tensor(t).shape) for t in (image, first, second)]}"
        )
    base, red, green = parts
    rgb = (input_weight * base).unsqueeze(-1).expand(*base.shape, 3).clone()
    rgb[..., 0] += red
    rgb[..., 1] += green
    return rgb.clamp_(0, 1)


def plot_pair_reconstructions(
    images: Tensor,
    reconstructions: Tensor,
    labels: Tensor,
    decoded: Tensor,
    size: float = 1.25,
):
    """MultiMNIST as the paper's Figure 5: inputs on top, below them the two digits decoded from two capsules.

    ``images``: ``(n, 1, H, W)``; ``reconstructions``: ``(n, 2, 1, H, W)`` (``CapsNet(images,
    mask_each=decoded)``); ``labels``, ``decoded``: ``(n, 2)`` the true digits and the capsules
    decoded.  Below each input, :func:`overlay_pair`: red from ``decoded[:, 0]``, green from
    ``decoded[:, 1]``; a title in red marks a pair whose decoded capsules are not its two digits.
    """
    import matplotlib.pyplot as plt

    n = images.shape[0]
    fig, axes = plt.subplots(2, n, figsize=(size * n, size * 2.3), squeeze=False)
    for i in range(n):
        truth, shown = sorted(int(v) for v in labels[i]), [int(v) for v in decoded[i]]
        axes[0, i].imshow(
            images[i, 0].detach().cpu().numpy(), cmap="gray_r", vmin=0, vmax=1
        )
        axes[0, i].set_title(f"L: {truth[0]}, {truth[1]}", fontsize=8)
        axes[1, i].imshow(
            overlay_pair(
                images[i], reconstructions[i, 0], reconstructions[i, 1]
            ).numpy()
        )
        axes[1, i].set_title(
            f"R: {shown[0]}, {shown[1]}",
            fontsize=8,
            color="black" if sorted(shown) == truth else "red",
        )
    for ax in axes.flat:
        ax.set_xticks([]), ax.set_yticks([])
    fig.tight_layout()
    return fig


def plot_couplings_over_images(
    images: Tensor, maps: Tensor, titles=None, size: float = 1.6, alpha: float = 0.55
):
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
        shown = ax.imshow(
            masked, cmap="magma", alpha=alpha, vmin=vmin, vmax=max(vmax, vmin + 1e-6)
        )
        ax.axis("off")
        if titles is not None:
            ax.set_title(titles[i], fontsize=8)
    fig.colorbar(shown, ax=axes[0].tolist(), fraction=0.03, pad=0.02, format="%.3f")
    return fig
