"""CapsNet (Sabour, Frosst & Hinton 2017, Fig. 1 and 2) with the tensor shapes of a configuration."""

from __future__ import annotations

from matplotlib.patches import Polygon, Rectangle

from capslib.models import CapsNetConfig

from ._style import (
    COLOURS,
    FONT,
    GREY,
    INK,
    MIN_FONT,
    PALE,
    TITLE_FONT,
    arrow,
    box,
    new_figure,
    text,
)

TIMES = "\N{MULTIPLICATION SIGN}"


def _name_and_caption(ax, x: float, y: float, name: str, caption: str) -> None:
    """A part's name in bold at ``(x, y)``, and a grey caption under it."""
    text(ax, x, y, name, size=FONT, weight="bold")
    text(ax, x, y - 0.22, caption, size=MIN_FONT, colour="#444444")


def shape_labels(config: CapsNetConfig | None = None) -> dict[str, str]:
    """The shapes written in :func:`capsnet_architecture`, computed from ``config`` (paper's default).

    For the paper's network: ``input`` "28×28", ``conv1`` "20×20×256",
    ``primary`` "6×6×32×8", ``primary_count`` "1152 capsules of 8D",
    ``digit`` "10×16", ``decoder`` "512 → 1024 → 784", ``reconstruction`` "28×28".
    """
    c = config if config is not None else CapsNetConfig()
    t = TIMES
    side = f"{c.input_size}{t}{c.input_size}"
    image = side if c.in_channels == 1 else f"{side}{t}{c.in_channels}"
    o, g = c.conv_output_size, c.primary_grid
    pixels = c.in_channels * c.input_size**2
    return {
        "input": image,
        "conv1": f"{o}{t}{o}{t}{c.conv_channels}",
        "primary": f"{g}{t}{g}{t}{c.primary_types}{t}{c.primary_dim}",
        "primary_count": f"{c.num_primary_caps} capsules of {c.primary_dim}D",
        "digit": f"{c.num_classes}{t}{c.digit_dim}",
        "decoder": " \N{RIGHTWARDS ARROW} ".join(
            str(h) for h in (*c.decoder_hidden, pixels)
        ),
        "reconstruction": image,
    }


def _cuboid(ax, x, y, w, h, depth, face, edge, lw=1.2):
    """A box seen slightly from above and the right: front face (x, y, w, h), receding ``depth``."""
    dx, dy = depth * 0.75, depth * 0.5
    ax.add_patch(
        Polygon(
            [
                (x, y + h),
                (x + dx, y + h + dy),
                (x + w + dx, y + h + dy),
                (x + w, y + h),
            ],
            closed=True,
            facecolor=face,
            edgecolor=edge,
            lw=lw,
            zorder=2,
        )
    )
    ax.add_patch(
        Polygon(
            [
                (x + w, y),
                (x + w + dx, y + dy),
                (x + w + dx, y + h + dy),
                (x + w, y + h),
            ],
            closed=True,
            facecolor=face,
            edgecolor=edge,
            lw=lw,
            zorder=2,
        )
    )
    ax.add_patch(
        Rectangle((x, y), w, h, facecolor=face, edgecolor=edge, lw=lw, zorder=3)
    )
    return x + w + dx  # right end


def _digit_seven(ax, x, y, size, colour, lw):
    """A hand-drawn "7" in the square (x, y, size): a stand-in for an MNIST digit."""
    pts = [(0.25, 0.78), (0.75, 0.78), (0.42, 0.18)]
    ax.plot(
        [x + size * p[0] for p in pts],
        [y + size * p[1] for p in pts],
        color=colour,
        lw=lw,
        solid_capstyle="round",
        solid_joinstyle="round",
        zorder=4,
    )


def capsnet_architecture(config: CapsNetConfig | None = None):
    """CapsNet with its tensor shapes: image -> Conv1 -> PrimaryCaps -> DigitCaps -> decoder.

    The top row is the encoder (for the paper's network 28×28 -> 20×20×256 ->
    6×6×32×8, i.e. 1152 primary capsules of 8D -> 10×16); the bottom row is
    the decoder, from the masked class capsules back to an image.  Every
    shape and layer size is computed from ``config`` (default: the paper's
    :class:`~capslib.models.CapsNetConfig`), see :func:`shape_labels`.
    Returns a matplotlib Figure, 7.5 in wide.
    """
    c = config if config is not None else CapsNetConfig()
    labels = shape_labels(c)
    t = TIMES
    fig, ax = new_figure(4.6 if c.use_decoder else 2.75)
    top = (
        4.6 - 2.75 if c.use_decoder else 0.0
    )  # the encoder row sits above the decoder row
    cy = top + 1.4  # centre line of the encoder row

    # input image
    s_in = 0.9
    x_in = 0.1
    ax.add_patch(
        Rectangle(
            (x_in, cy - s_in / 2), s_in, s_in, facecolor="white", edgecolor=INK, lw=1.2
        )
    )
    _digit_seven(ax, x_in, cy - s_in / 2, s_in, INK, 5)
    _name_and_caption(
        ax, x_in + s_in / 2, cy - s_in / 2 - 0.2, labels["input"], "image"
    )

    # conv1 feature maps
    x_c, w_c, d_c = 2.05, 0.62, 0.42
    right_c = _cuboid(
        ax, x_c, cy - w_c / 2 - 0.1, w_c, w_c, d_c, PALE["neuron"], COLOURS["neuron"]
    )
    _name_and_caption(
        ax, x_c + w_c / 2 + 0.1, cy - w_c / 2 - 0.32, labels["conv1"], "feature maps"
    )

    # primary capsules
    x_p, w_p, d_p = 4.1, 0.3, 0.36
    _cuboid(
        ax, x_p, cy - w_p / 2 - 0.08, w_p, w_p, d_p, PALE["capsule"], COLOURS["capsule"]
    )
    _name_and_caption(
        ax, x_p + 0.25, cy - w_p / 2 - 0.3, labels["primary"], labels["primary_count"]
    )

    # digit capsules: one bar per class capsule, the longest one (the prediction) darker
    x_d, bar_h, bar_gap = 6.35, 0.07, 0.035
    n = c.num_classes
    col_h = n * bar_h + (n - 1) * bar_gap
    lengths = [0.35, 0.2, 0.3, 0.25, 0.15, 0.3, 0.2, 0.95, 0.25, 0.3]
    for k in range(n):
        y = cy + col_h / 2 - k * (bar_h + bar_gap) - bar_h
        frac = lengths[k % len(lengths)]
        ax.add_patch(
            Rectangle(
                (x_d, y),
                0.8,
                bar_h,
                facecolor="white",
                edgecolor=COLOURS["parent"],
                lw=0.8,
            )
        )
        ax.add_patch(
            Rectangle(
                (x_d, y),
                0.8 * frac,
                bar_h,
                facecolor=COLOURS["parent"],
                alpha=1.0 if frac > 0.9 else 0.45,
                lw=0,
            )
        )
    _name_and_caption(
        ax,
        x_d + 0.4,
        cy - col_h / 2 - 0.2,
        labels["digit"],
        f"{n} capsules of {c.digit_dim}D",
    )
    text(
        ax,
        x_d + 0.4,
        cy + col_h / 2 + 0.17,
        "length = class score",
        size=MIN_FONT,
        colour="#444444",
    )

    # the operations between them
    ops = [
        (
            x_in + s_in + 0.08,
            x_c - 0.08,
            f"Conv {c.conv_kernel}{t}{c.conv_kernel}\n{c.conv_channels} channels\nReLU",
        ),
        (
            right_c + 0.08,
            x_p - 0.08,
            f"Conv {c.primary_kernel}{t}{c.primary_kernel}, stride {c.primary_stride}\n"
            f"{c.primary_types} types of {c.primary_dim}D\nsquash",
        ),
        (
            x_p + w_p + d_p * 0.75 + 0.08,
            x_d - 0.08,
            rf"$\mathbf{{W}}_{{ij}}$: {c.primary_dim}D $\rightarrow$ {c.digit_dim}D"
            + "\n"
            f"dynamic routing\n{c.routing_iterations} iterations",
        ),
    ]
    for x0, x1, label in ops:
        arrow(ax, (x0, cy), (x1, cy), lw=1.6, mutation=13)
        text(
            ax,
            (x0 + x1) / 2,
            cy + 0.42,
            label,
            size=MIN_FONT,
            linespacing=1.15,
            va="bottom",
        )
    text(
        ax,
        0.1,
        top + 2.6,
        "Encoder",
        size=TITLE_FONT,
        weight="bold",
        colour=INK,
        ha="left",
    )
    text(
        ax,
        x_d + 0.4,
        cy - col_h / 2 - 0.68,
        "margin loss",
        size=MIN_FONT,
        colour=COLOURS["parent"],
        style="italic",
    )

    if c.use_decoder:
        # decoder: masked capsules -> fully connected layers -> image, right to left
        dy = 1.0  # centre line of the decoder row
        x_m = x_d
        arrow(
            ax,
            (x_d + 0.4, cy - col_h / 2 - 0.82),
            (x_d + 0.4, dy + 0.42),
            lw=1.6,
            mutation=13,
            colour=COLOURS["decoder"],
        )
        text(
            ax,
            x_d + 0.3,
            top - 0.12,
            "mask: keep the\ntrue class",
            size=MIN_FONT,
            ha="right",
            colour=COLOURS["decoder"],
            linespacing=1.1,
        )
        # the masked capsules: all zero but one
        mh = 0.4
        box(ax, x_m, dy - mh / 2, 0.8, mh, face="white", edge=COLOURS["decoder"])
        ax.add_patch(
            Rectangle(
                (x_m + 0.8 * 7 / 10, dy - mh / 2),
                0.08,
                mh,
                facecolor=COLOURS["decoder"],
                lw=0,
            )
        )
        text(
            ax, x_m + 0.4, dy - mh / 2 - 0.2, f"masked {labels['digit']}", size=MIN_FONT
        )
        sizes = (*c.decoder_hidden, c.in_channels * c.input_size**2)
        biggest = max(sizes)
        xs = [5.15 - k * 1.05 for k in range(len(sizes))]
        previous = x_m
        for k, (x, units) in enumerate(zip(xs, sizes)):
            h = 0.25 + 0.55 * units / biggest
            box(
                ax,
                x,
                dy - h / 2,
                0.32,
                h,
                face=PALE["decoder"],
                edge=COLOURS["decoder"],
            )
            arrow(
                ax,
                (previous - 0.06, dy),
                (x + 0.38, dy),
                lw=1.4,
                colour=COLOURS["decoder"],
            )
            act = "sigmoid" if k == len(sizes) - 1 else "ReLU"
            text(
                ax,
                x + 0.16,
                dy - 0.62,
                f"FC {units}\n{act}",
                size=MIN_FONT,
                linespacing=1.1,
            )
            previous = x
        # the reconstruction, under the input image
        arrow(
            ax,
            (previous - 0.06, dy),
            (x_in + s_in + 0.08, dy),
            lw=1.4,
            colour=COLOURS["decoder"],
        )
        ax.add_patch(
            Rectangle(
                (x_in, dy - s_in / 2),
                s_in,
                s_in,
                facecolor="white",
                edgecolor=INK,
                lw=1.2,
            )
        )
        _digit_seven(ax, x_in, dy - s_in / 2, s_in, "#777777", 7)
        _name_and_caption(
            ax,
            x_in + s_in / 2,
            dy - s_in / 2 - 0.2,
            labels["reconstruction"],
            "reconstruction",
        )
        # the reconstruction loss compares the two images
        arrow(
            ax,
            (x_in + s_in / 2, cy - s_in / 2 - 0.55),
            (x_in + s_in / 2, dy + s_in / 2 + 0.05),
            style="<|-|>",
            colour=GREY,
            ls="--",
            lw=1.2,
            mutation=10,
        )
        text(
            ax,
            x_in + s_in / 2 + 0.1,
            (cy - s_in / 2 - 0.55 + dy + s_in / 2) / 2,
            f"reconstruction loss\n(squared error {t} {c.reconstruction_scale:g})",
            size=MIN_FONT,
            ha="left",
            colour="#444444",
            linespacing=1.1,
        )
        text(
            ax,
            5.45,
            dy + 0.78,
            f"Decoder: {labels['decoder']}",
            size=TITLE_FONT,
            weight="bold",
            colour=COLOURS["decoder"],
            ha="right",
        )
    fig.capslib_labels = labels
    return fig
