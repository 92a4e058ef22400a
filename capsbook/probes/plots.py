"""The figures of chapters 9 and 10: perturbation grids, atlases, coupling maps, MultiMNIST pairs.

Every difference map is drawn on the fixed diverging scale
:data:`capsbook.probes.perturbation.DIFFERENCE_SCALE`; coupling maps on a fixed
scale centred on the uniform coupling (:data:`UNIFORM_COUPLING`), so that
white means "routing did not move it".  Text is set in :data:`FONT` points on
figures sized to the book's column (about 7 inches), so that it shows at 9 points
or more there (:func:`capsbook.plots.text_px_on_page`).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from capsbook.probes.couplings import UNIFORM_COUPLING
from capsbook.probes.perturbation import (
    DIFFERENCE_CMAP,
    DIFFERENCE_SCALE,
    difference_maps,
    perturbation_offsets,
)

#: The size in points of every label of these figures (titles, ticks, colour bars).
FONT = 10


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
    fontsize: float = FONT,
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
    stacked: bool = False,
):
    """Draw :func:`perturbation_grid`'s output: one row per dimension, one column per offset.

    With ``differences`` (default) a second panel shows each decoding minus the offset-0
    column (:func:`difference_maps`) on the fixed diverging scale ``[-difference_scale,
    difference_scale]``: red where the tweak adds ink, blue where it removes it; the
    decodings are drawn on a grey scale from 0 to 1.  ``row_labels`` default to ``"dim d"``.
    Side by side (default), the rows are named once, left of the decodings; ``stacked``
    puts the difference panel below the decodings, each panel as wide as the book's column
    allows, and names the rows of both.
    """
    import matplotlib.pyplot as plt

    images = images.detach().cpu()
    rows, steps = images.shape[:2]
    offsets = perturbation_offsets() if offsets is None else torch.as_tensor(offsets)
    dims = list(range(rows)) if dims is None else list(dims)
    labels = [f"dim {d}" for d in dims] if row_labels is None else list(row_labels)
    # the two ends and 0 are named; the columns between are equal steps
    columns = [
        f"{float(o):+.2f}".replace("+0.00", "0")
        if i in (0, len(offsets) - 1) or abs(float(o)) < 1e-9
        else ""
        for i, o in enumerate(offsets)
    ]
    panels = 2 if differences else 1
    stacked = stacked and differences
    fig, axes = plt.subplots(
        panels if stacked else 1,
        1 if stacked else panels,
        figsize=(
            (size * steps + 1.0, (size * rows + 0.5) * panels + 0.6)
            if stacked
            else (size * steps * panels + 1.4, size * rows + 1.0)
        ),
        squeeze=False,
        layout="constrained" if stacked else None,
    )
    axes = axes.reshape(1, -1)
    _show_mosaic(
        axes[0, 0],
        images,
        cmap="gray_r",
        vmin=0.0,
        vmax=1.0,
        row_labels=labels,
        col_labels=columns,
    )
    axes[0, 0].set_title("decoded", fontsize=FONT + 1)
    if differences:
        # side by side, the rows are those of the left panel: labelled once, on the left
        shown = _show_mosaic(
            axes[0, 1],
            difference_maps(images.float(), offsets),
            cmap=DIFFERENCE_CMAP,
            vmin=-difference_scale,
            vmax=difference_scale,
            row_labels=labels if stacked else None,
            col_labels=columns,
        )
        axes[0, 1].set_title(
            "minus the capsule's own reconstruction (offset 0)", fontsize=FONT + 1
        )
        bar = fig.colorbar(
            shown,
            ax=axes[0, 1],
            orientation="horizontal",
            fraction=0.03,
            pad=0.02,
            shrink=0.7,
            ticks=[
                -difference_scale,
                -difference_scale / 2,
                0,
                difference_scale / 2,
                difference_scale,
            ],
        )
        bar.set_label("blue: ink removed, red: ink added", fontsize=FONT)
        bar.ax.tick_params(labelsize=FONT)
    if title:
        fig.suptitle(title, fontsize=FONT + 1)
    return fig


def plot_difference_atlas(
    reference: Tensor,
    differences: Tensor,
    row_labels=None,
    col_labels=None,
    title: str | None = None,
    size: float = 0.4,
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
        # tall enough that both panels fill their width: their rows then line up
        figsize=(size * (dims + 1) + 1.0, size * rows * 1.3 + 1.5),
        squeeze=False,
        # the ratio of the two mosaics' widths (gaps of 2 pixels), so their rows line up
        gridspec_kw={
            "width_ratios": [1, dims + 2 * (dims - 1) / differences.shape[-1]],
            "wspace": 0.04,
        },
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
        ticks=[-difference_scale, 0, difference_scale],
    )
    bar.set_label("blue: ink removed, red: ink added", fontsize=FONT)
    bar.ax.tick_params(labelsize=FONT)
    if title:
        fig.suptitle(title, fontsize=FONT + 1)
    return fig


def plot_class_traversals(
    grids: Tensor,
    offsets: Tensor | None = None,
    row_labels=None,
    title: str | None = None,
    size: float = 0.42,
    difference_scale: float = DIFFERENCE_SCALE,
    stacked: bool = False,
):
    """One sweep per row (e.g. each class on its own most influential dimension): ``grids`` ``(rows, steps, C, H, W)``,
    with the difference maps beside it, or below it if ``stacked``
    (:func:`plot_perturbation_grid` with other row labels)."""
    return plot_perturbation_grid(
        grids,
        offsets,
        title=title,
        size=size,
        row_labels=row_labels,
        difference_scale=difference_scale,
        stacked=stacked,
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
    images: Tensor,
    maps: Tensor,
    titles=None,
    size: float = 1.6,
    alpha: float = 0.7,
    center: float = UNIFORM_COUPLING,
    half_range: float = UNIFORM_COUPLING,
):
    """Draw each image in grey with a coupling map (``(batch, H, W)``, from :func:`spread_to_image`) over it.

    The colour scale is fixed, the same for every image and every run: diverging, white at
    ``center`` (the uniform coupling 1/10 that routing starts from), saturated at ``center -
    half_range`` (blue) and ``center + half_range`` (red), by default 0 to 0.2.  A map that routing
    hardly moved is therefore drawn nearly white, not stretched to fill the colour bar.  Pixels
    that no position sees (value 0) are left uncoloured.  The colour bar is labelled with the
    symbol ``c_ij``; ``titles`` name the images.
    """
    import matplotlib.pyplot as plt
    import numpy as np

    if not half_range > 0:
        raise ValueError(
            f"plot_couplings_over_images: expected half_range > 0, got {half_range!r}"
        )
    images, maps = images.detach().cpu(), maps.detach().cpu().float()
    n = images.shape[0]
    fig, axes = plt.subplots(1, n, figsize=(size * n, size * 1.2), squeeze=False)
    for i, ax in enumerate(axes[0]):
        ax.imshow(images[i, 0].numpy(), cmap="gray_r", vmin=0, vmax=1)
        masked = np.ma.masked_where(maps[i].numpy() <= 0, maps[i].numpy())
        shown = ax.imshow(
            masked,
            cmap="RdBu_r",
            alpha=alpha,
            vmin=center - half_range,
            vmax=center + half_range,
        )
        ax.axis("off")
        if titles is not None:
            ax.set_title(titles[i], fontsize=8)
    bar = fig.colorbar(
        shown, ax=axes[0].tolist(), fraction=0.03, pad=0.02, format="%.2f"
    )
    bar.set_label("coupling $c_{ij}$ (white: 1/10)", fontsize=8)
    bar.ax.tick_params(labelsize=7)
    return fig


def plot_grid_couplings(
    images: Tensor,
    ink: Tensor,
    maps: Tensor,
    titles=None,
    size: float = 0.85,
    center: float = UNIFORM_COUPLING,
    half_range: float = UNIFORM_COUPLING,
):
    """Three rows per image: the digit, the ink under each grid position, the coupling map.

    ``images``: ``(n, 1, H, W)``; ``ink``: ``(n, grid, grid)`` (:func:`ink_per_position`);
    ``maps``: ``(n, grid, grid)`` couplings (:func:`couplings_for_class`), drawn at the level
    where routing acts, one square per primary-capsule position.  Each row is named once, at its
    left; its colour bar gives only the unit (``intensity``, ``c_ij``).  The coupling scale is fixed
    for every image and every run: white at ``center`` (the uniform 1/10), blue at ``center -
    half_range`` and red at ``center + half_range`` (by default 0 to 0.2).  The ink row is on
    a fixed scale too, 0 to the largest cell of the figure.
    """
    import matplotlib.pyplot as plt

    if not half_range > 0:
        raise ValueError(
            f"plot_grid_couplings: expected half_range > 0, got {half_range!r}"
        )
    images, ink = images.detach().cpu(), ink.detach().cpu().float()
    maps = maps.detach().cpu().float()
    n = images.shape[0]
    if ink.shape != maps.shape or ink.shape[0] != n:
        raise ValueError(
            f"plot_grid_couplings: expected {n} ink and coupling maps of one shape, got "
            f"{tuple(ink.shape)} and {tuple(maps.shape)}"
        )
    fig, axes = plt.subplots(3, n, figsize=(size * n + 1.2, size * 3.5), squeeze=False)
    fig.subplots_adjust(hspace=0.3)  # room between the two colour bars' end ticks
    top_ink = float(ink.max()) if float(ink.max()) > 0 else 1.0
    top_ink = math.ceil(top_ink * 100) / 100  # a tick on the bar's end, labelled
    for i in range(n):
        axes[0, i].imshow(images[i, 0].numpy(), cmap="gray_r", vmin=0, vmax=1)
        inked = axes[1, i].imshow(ink[i].numpy(), cmap="Greys", vmin=0, vmax=top_ink)
        coupled = axes[2, i].imshow(
            maps[i].numpy(),
            cmap="RdBu_r",
            vmin=center - half_range,
            vmax=center + half_range,
        )
        if titles is not None:
            axes[0, i].set_title(titles[i], fontsize=FONT)
    for ax in axes.flat:
        ax.set_xticks([]), ax.set_yticks([])
    # each row is named once, on the left; its colour bar gives the unit, not the name again
    for row, name in ((1, "ink under\neach cell"), (2, "coupling to\nthe true\nclass")):
        axes[row, 0].set_ylabel(
            name, fontsize=FONT, rotation=0, ha="right", va="center", labelpad=6
        )
    for shown, row, unit, ticks in (
        (inked, 1, "intensity", [0, round(top_ink, 2)]),
        (coupled, 2, "$c_{ij}$", [center - half_range, center, center + half_range]),
    ):
        bar = fig.colorbar(
            shown,
            ax=axes[row].tolist(),
            fraction=0.03,
            pad=0.02,
            format="%.2f",
            ticks=ticks,
        )
        bar.set_label(unit, fontsize=FONT)
        bar.ax.tick_params(labelsize=FONT)
    return fig


def plot_coupling_scales(
    maps: dict,
    scales=(UNIFORM_COUPLING, 0.01),
    center: float = UNIFORM_COUPLING,
    size: float = 0.85,
):
    """Coupling maps of several sources, each drawn on several fixed scales, one row each.

    ``maps``: ``{name: (n, grid, grid)}``, e.g. the network's couplings and a control's;
    ``scales``: half-ranges of the diverging scale centred on ``center`` (white), the
    first usually the chapter's 0 to 0.2, the next a stretched one, so that a deviation
    too small to see on the first shows on the second.  Rows go scale by scale, and
    within a scale source by source; each scale has its own colour bar, labelled at
    both ends and at the centre.
    """
    import matplotlib.pyplot as plt

    if not maps or any(not h > 0 for h in scales):
        raise ValueError(
            f"plot_coupling_scales: expected maps and half-ranges > 0, got "
            f"{len(maps)} maps and scales {tuple(scales)!r}"
        )
    shapes = {tuple(m.shape) for m in maps.values()}
    if len(shapes) != 1:
        raise ValueError(
            f"plot_coupling_scales: expected maps of one shape, got {sorted(shapes)}"
        )
    n = next(iter(shapes))[0]
    rows = [(name, h) for h in scales for name in maps]
    fig, axes = plt.subplots(
        len(rows), n, figsize=(size * n + 1.2, size * len(rows) + 0.4), squeeze=False
    )
    fig.subplots_adjust(hspace=0.15)
    for r, (name, h) in enumerate(rows):
        shown = None
        for i in range(n):
            shown = axes[r, i].imshow(
                maps[name][i].detach().cpu().float().numpy(),
                cmap="RdBu_r",
                vmin=center - h,
                vmax=center + h,
            )
            axes[r, i].set_xticks([]), axes[r, i].set_yticks([])
        axes[r, 0].set_ylabel(
            f"{name}\n{center - h:.2f} to {center + h:.2f}",
            fontsize=FONT,
            rotation=0,
            ha="right",
            va="center",
            labelpad=6,
        )
        if r % len(maps) == len(maps) - 1:  # one colour bar per scale
            group = axes[r - len(maps) + 1 : r + 1].flatten().tolist()
            bar = fig.colorbar(
                shown,
                ax=group,
                fraction=0.03,
                pad=0.02,
                format="%.2f",
                ticks=[center - h, center, center + h],
            )
            bar.set_label("$c_{ij}$", fontsize=FONT)
            bar.ax.tick_params(labelsize=FONT)
    return fig
