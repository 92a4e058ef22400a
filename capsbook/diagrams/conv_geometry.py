"""Chapter 1's geometry of a convolution: stride and padding on a strip, and a growing field.

:func:`stride_padding_strip` draws a 1-D convolution with padding and stride 2:
the zeros added at each end, each window the kernel visits and the output
position it writes.  Its numbers are computed with ``F.conv1d``
(:func:`strip_example`), never typed.

:func:`receptive_field_growth` draws how the field of one unit widens layer by
layer in a network shaped like chapter 1's
:class:`~capsbook.classifiers.SmallCNN`: the fields are measured on the
network by back-propagation (:func:`field_rows`), the kernels and strides read
from its modules.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from matplotlib.patches import Rectangle
from torch import nn

from ..classifiers import SmallCNN
from ..conv_arithmetic import feature_map_size, mask_extent, measured_receptive_field
from ._style import COLOURS, GREY, INK, LIGHT, MIN_FONT, PALE, arrow, new_figure, text

#: The 1-D input of the strip diagram, its kernel, padding and stride.
STRIP_INPUT = [3, 1, 4, 1, 5, 9, 2]
STRIP_KERNEL = [1, 2, 1]
STRIP_PADDING = 1
STRIP_STRIDE = 2
#: One colour per output position (window), the same for the window and its output.
WINDOW_COLOURS = [
    COLOURS["part1"],
    COLOURS["part2"],
    COLOURS["agree"],
    COLOURS["part3"],
]


def strip_example(
    values=STRIP_INPUT, kernel=STRIP_KERNEL, padding=STRIP_PADDING, stride=STRIP_STRIDE
) -> dict:
    """What :func:`stride_padding_strip` draws.

    ``padded``: the input with ``padding`` zeros at each end; ``windows``: for
    each output position, the first and last index (in ``padded``) of the cells
    its window covers; ``output``: ``F.conv1d`` of the input (a cross-correlation
    with this padding and stride); ``size``: the formula's output length.
    """
    x = torch.tensor(values, dtype=torch.float32)[None, None]
    w = torch.tensor(kernel, dtype=torch.float32)[None, None]
    output = F.conv1d(x, w, stride=stride, padding=padding)[0, 0].int().tolist()
    k = len(kernel)
    size = feature_map_size(len(values), k, stride, padding)
    windows = [(i * stride, i * stride + k - 1) for i in range(size)]
    return {
        "input": list(values),
        "kernel": list(kernel),
        "padding": padding,
        "stride": stride,
        "padded": [0] * padding + list(values) + [0] * padding,
        "windows": windows,
        "output": output,
        "size": size,
    }


def _cell(
    ax, x, y, w, h, label, *, face="white", edge=GREY, lw=0.9, ls="-", colour=INK
):
    ax.add_patch(Rectangle((x, y), w, h, facecolor=face, edgecolor=edge, lw=lw, ls=ls))
    text(ax, x + w / 2, y + h / 2, str(label), size=11, colour=colour)


def _bracket(ax, x0, x1, y, colour):
    """A horizontal bracket from ``x0`` to ``x1`` at height ``y``, its ends turned up."""
    ax.plot([x0, x0, x1, x1], [y + 0.1, y, y, y + 0.1], color=colour, lw=2.2)


def stride_padding_strip():
    """Chapter 1's diagram of stride and padding on a 1-D strip.

    Top: the input with its padding zeros (grey, dashed); below it, the window
    of each output position as a bracket in its own colour, alternating between
    two rows because neighbouring windows share a cell; bottom: the output, each
    value under the middle of its window, joined to it by an arrow.
    """
    ex = strip_example()
    p, s, k = ex["padding"], ex["stride"], len(ex["kernel"])
    n, padded = len(ex["input"]), ex["padded"]
    fig, ax = new_figure(3.4)
    cell, x0 = 0.56, 1.95
    top = 2.25  # lower edge of the input strip

    text(
        ax,
        x0 + len(padded) * cell / 2,
        3.2,
        f"n = {n} inputs, padding p = {p}, kernel k = {k} "
        f"(weights {', '.join(map(str, ex['kernel']))}), stride s = {s}",
        size=10,
    )
    text(ax, x0 - 0.15, top + cell / 2, "input, padded", size=10, ha="right")
    for i, v in enumerate(padded):
        pad = i < p or i >= p + n
        _cell(
            ax,
            x0 + i * cell,
            top,
            cell,
            cell,
            v,
            face=LIGHT if pad else "white",
            ls="--" if pad else "-",
            colour=GREY if pad else INK,
        )
        text(
            ax,
            x0 + (i + 0.5) * cell,
            top + cell + 0.17,
            "pad" if pad else str(i - p),
            size=MIN_FONT,
            colour=GREY,
        )

    levels = (top - 0.2, top - 0.5)  # the brackets of even and odd windows
    out_y = 0.75  # lower edge of the output cells
    text(ax, x0 - 0.15, levels[0] - 0.15, "windows", size=10, ha="right")
    text(ax, x0 - 0.15, out_y + cell / 2, "output", size=10, ha="right")
    for i, ((first, last), value) in enumerate(zip(ex["windows"], ex["output"])):
        colour = WINDOW_COLOURS[i % len(WINDOW_COLOURS)]
        y = levels[i % 2]
        _bracket(ax, x0 + first * cell + 0.04, x0 + (last + 1) * cell - 0.04, y, colour)
        middle = x0 + (first + last + 1) * cell / 2
        arrow(ax, (middle, y - 0.03), (middle, out_y + cell + 0.04), colour=colour)
        _cell(ax, middle - cell / 2, out_y, cell, cell, value, edge=colour, lw=2.2)

    first = ex["windows"][0]
    terms = " + ".join(
        f"{v}·{w}" for v, w in zip(padded[first[0] : first[1] + 1], ex["kernel"])
    )
    text(
        ax,
        x0 + len(padded) * cell / 2,
        0.42,
        f"first output = {terms} = {ex['output'][0]};  the window moves {s} cells "
        f"per output",
        size=MIN_FONT,
    )
    text(
        ax,
        x0 + len(padded) * cell / 2,
        0.13,
        f"⌊(n + 2p − k) / s⌋ + 1 = ⌊({n} + {2 * p} − {k}) / {s}⌋ + 1 = {ex['size']} "
        "output positions",
        size=MIN_FONT,
    )
    return fig


def _kernel_stride(module: nn.Module) -> tuple[int, int]:
    """``(kernel, stride)`` of a square ``nn.Conv2d`` or pooling layer."""
    kernel, stride = module.kernel_size, module.stride
    kernel = kernel[0] if isinstance(kernel, tuple) else kernel
    stride = stride[0] if isinstance(stride, tuple) else stride
    return int(kernel), int(stride)


def field_rows(model: SmallCNN | None = None, *, device=None) -> list[dict]:
    """One unit's receptive field after each layer of ``model``, measured.

    ``model``: a :class:`~capsbook.classifiers.SmallCNN` on 28 x 28 images with
    max or average pooling (default: a fresh one, seed 0; the field depends on
    the layers, not on the weights).  For each of ``conv1``, ``pool1``,
    ``conv2``, ``pool2``: ``name``, ``kernel`` and ``stride`` (read from the
    module), ``grid`` (the side of the layer's map), ``step`` (the distance in
    pixels between the positions of the layer's *input* grid, the product of
    the strides before it) and ``extent`` ``(top, left, height, width)`` of the
    field of the middle unit ``(grid // 2, grid // 2)``, measured by
    :func:`~capsbook.conv_arithmetic.measured_receptive_field`.
    """
    if model is None:
        generator_state = torch.random.get_rng_state()
        torch.manual_seed(0)
        model = SmallCNN()
        torch.random.set_rng_state(generator_state)
    layers = [
        ("conv1", model.conv1),
        ("pool1", model.pool),
        ("conv2", model.conv2),
        ("pool2", model.pool),
    ]
    size = model.image_size
    with torch.no_grad():
        probe = torch.zeros(1, model.in_channels, size, size, device=device)
        grids = {
            name: m.shape[-1]
            for name, m in model.feature_maps(probe).items()
            if m.ndim == 4
        }
    rows, step = [], 1
    for name, module in layers:
        kernel, stride = _kernel_stride(module)
        grid = grids[name]
        mask = measured_receptive_field(
            lambda x, name=name: model.feature_maps(x)[name],
            (model.in_channels, size, size),
            (grid // 2, grid // 2),
            device=device,
        )
        rows.append(
            {
                "name": name,
                "kernel": kernel,
                "stride": stride,
                "grid": grid,
                "step": step,
                "extent": mask_extent(mask),
            }
        )
        step *= stride
    return rows


def _added_pixels(previous: tuple[int, int], extent: tuple[int, int]) -> list[int]:
    """The pixels of field ``extent = (left, width)`` outside ``previous`` (nested)."""
    (p_left, p_width), (left, width) = previous, extent
    return [i for i in range(left, left + width) if not p_left <= i < p_left + p_width]


def growth_steps(rows: list[dict]) -> list[dict]:
    """For each row of :func:`field_rows`: the field ``(left, width)`` along a row,
    the ``previous`` field it contains (for the first layer, the unit's own
    pixel), and ``added``, the pixels this layer adds, grouped into runs of
    ``step`` pixels (one position of the layer's input grid each)."""
    out, previous = [], None
    for row in rows:
        _top, left, _h, width = row["extent"]
        if previous is None:
            previous = (left + width // 2, 1)
        added = _added_pixels(previous, (left, width))
        step = row["step"]
        groups = []  # contiguous runs of the added pixels, cut into steps
        for pixel in added:
            if groups and pixel == groups[-1][-1] + 1 and len(groups[-1]) < step:
                groups[-1].append(pixel)
            else:
                groups.append([pixel])
        out.append(
            {
                **row,
                "field": (left, width),
                "previous": previous,
                "added": added,
                "groups": groups,
            }
        )
        previous = (left, width)
    return out


def receptive_field_growth(model: SmallCNN | None = None, *, rows=None, device=None):
    """Chapter 1's diagram of one unit's field widening, layer by layer.

    One strip per layer: the row of input pixels through the unit's centre,
    its field filled: pale where the field of one position of the layer's input
    already reached, orange for the pixels this layer adds, outlined in runs of
    ``step`` pixels (one position of the layer's input grid each), so the strip
    shows that a layer of kernel ``k`` adds ``k - 1`` such steps.  ``rows``:
    from :func:`field_rows` (measured on ``model`` when not given).
    """
    rows = growth_steps(rows if rows is not None else field_rows(model, device=device))
    width_px = 28 if model is None else model.image_size
    fig, ax = new_figure(4.0)
    cell, x0, high = 0.165, 1.95, 0.3
    row_h = 0.78
    orange = COLOURS["parent"]
    text(
        ax,
        x0 + width_px * cell / 2,
        3.8,
        f"the field of one unit along a row of the {width_px} input pixels",
        size=10,
    )
    for r, row in enumerate(rows):
        y = 3.75 - (r + 1) * row_h
        left, width = row["field"]
        p_left, p_width = row["previous"]
        for i in range(width_px):
            face = "white"
            if p_left <= i < p_left + p_width:
                face = PALE["capsule"]
            elif left <= i < left + width:
                face = orange
            ax.add_patch(
                Rectangle(
                    (x0 + i * cell, y),
                    cell,
                    high,
                    facecolor=face,
                    edgecolor=GREY,
                    lw=0.5,
                )
            )
        for group in row["groups"]:
            ax.add_patch(
                Rectangle(
                    (x0 + group[0] * cell, y),
                    len(group) * cell,
                    high,
                    fill=False,
                    edgecolor=INK,
                    lw=1.6,
                )
            )
        name = (
            f"{row['name']}: {row['kernel']} × {row['kernel']}, stride {row['stride']}"
        )
        steps = (
            "steps of 1 pixel" if row["step"] == 1 else f"steps of {row['step']} pixels"
        )
        text(ax, x0 - 0.12, y + high / 2 + 0.1, name, size=MIN_FONT, ha="right")
        text(
            ax,
            x0 - 0.12,
            y + high / 2 - 0.1,
            steps,
            size=MIN_FONT,
            ha="right",
            colour=GREY,
        )
        grown = f"{width} px" + (f" (+{len(row['added'])})" if r else "")
        text(ax, x0 + width_px * cell + 0.1, y + high / 2, grown, size=10, ha="left")
    for k, (face, edge, words) in enumerate(
        [
            (PALE["capsule"], GREY, "what one position of the layer's input sees"),
            (orange, INK, "what the layer adds: one outline per step of that grid"),
        ]
    ):
        y = 0.38 - 0.26 * k
        ax.add_patch(
            Rectangle((x0, y - 0.08), 0.22, 0.16, facecolor=face, edgecolor=edge, lw=1)
        )
        text(ax, x0 + 0.32, y, words, size=MIN_FONT, ha="left")
    return fig


__all__ = [
    "field_rows",
    "growth_steps",
    "receptive_field_growth",
    "strip_example",
    "stride_padding_strip",
]
