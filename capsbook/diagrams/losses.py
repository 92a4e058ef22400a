"""Chapter 6's diagram: CapsNet's two losses, and where the sum or the mean enters.

The digit capsules feed two paths.  Their lengths go to the margin loss; the
capsule of the label, the others masked to zero, goes through the decoder, whose
picture is compared with the input pixel by pixel.  The squared errors are then
reduced over the pixels, by a sum in the paper and by a mean in the common
mistake, scaled by 0.0005 and added to the margin loss.  Every number drawn
comes from a :class:`~capslib.models.CapsNetConfig` (the paper's by default).
"""

from __future__ import annotations

from matplotlib.patches import Circle

from capslib.models import CapsNetConfig

from ._style import (
    COLOURS,
    FONT,
    GREY,
    INK,
    MIN_FONT,
    PALE,
    arrow,
    box,
    new_figure,
    text,
)

__all__ = ["two_losses", "two_losses_numbers"]

#: The plus sign's size (points): larger than the labels, it marks where the terms add.
TITLE_PLUS = 14


def two_losses_numbers(config: CapsNetConfig | None = None) -> dict:
    """The numbers :func:`two_losses` draws, from ``config`` (the paper's by default).

    ``capsules`` and ``dim``: the digit capsules; ``pixels``: the values of one
    image (channels x height x width), over which the reconstruction's squared
    errors are summed or averaged; ``scale``: the factor on the reconstruction
    term; ``m_plus``, ``m_minus``, ``lambda_``: the margin loss's constants;
    ``hidden``: the decoder's hidden layers; ``mean_weaker``: how many times
    weaker the mean makes the term (the number of pixels).
    """
    c = config if config is not None else CapsNetConfig()
    pixels = c.in_channels * c.input_size * c.input_size
    return {
        "capsules": c.num_classes,
        "dim": c.digit_dim,
        "pixels": pixels,
        "scale": c.reconstruction_scale,
        "m_plus": c.m_plus,
        "m_minus": c.m_minus,
        "lambda_": c.lambda_,
        "hidden": tuple(c.decoder_hidden),
        "mean_weaker": pixels,
    }


def _number(x: float) -> str:
    """0.0005 -> '0.0005', 0.9 -> '0.9' (no float noise, no trailing zeros)."""
    return f"{x:.6f}".rstrip("0").rstrip(".")


def two_losses(config: CapsNetConfig | None = None):
    """CapsNet's loss as a diagram: the margin loss on the capsules' lengths, the
    reconstruction loss through the decoder from the masked capsule, and their sum.

    Top path: the digit capsules' lengths, then the margin loss summed over the
    classes.  Bottom path: the label's capsule kept (the others set to zero),
    the decoder, the squared error against the input at every pixel, the
    reduction over the pixels (highlighted: the paper's sum, or the mistaken
    mean), the factor ``reconstruction_scale``; the two terms meet at the plus.
    Numbers from :func:`two_losses_numbers`.  Returns a Figure 7.5 in wide; its
    ``capslib_numbers`` attribute holds the numbers drawn.
    """
    n = two_losses_numbers(config)
    fig, ax = new_figure(3.7)
    t = "\u00d7"
    top, bottom, h = 2.55, 1.05, 0.78  # centres of the two paths, box height
    dec = COLOURS["decoder"]

    def node(x, y, w, label, *, face="white", edge=INK, lw=1.2, size=MIN_FONT):
        box(ax, x, y - h / 2, w, h, face=face, edge=edge, lw=lw)
        text(ax, x + w / 2, y, label, size=size, linespacing=1.25)
        return x, x + w

    # the digit capsules: one tall box that feeds both paths
    cx0, cw = 0.12, 0.95
    box(
        ax,
        cx0,
        bottom - h / 2,
        cw,
        top - bottom + h,
        face=PALE["parent"],
        edge=COLOURS["parent"],
    )
    text(
        ax,
        cx0 + cw / 2,
        (top + bottom) / 2,
        f"digit\ncapsules\n$\\mathbf{{v}}_k$\n{n['capsules']} {t} {n['dim']}",
        size=FONT,
        linespacing=1.3,
    )
    right = cx0 + cw

    # top path: lengths, margin loss
    lx0, lx1 = node(1.35, top, 1.2, "lengths\n$\\|\\mathbf{v}_k\\|$")
    margin = (
        f"margin loss $\\Sigma_k\\, L_k$\n$m^+ = {_number(n['m_plus'])}$, "
        f"$m^- = {_number(n['m_minus'])}$,\n$\\lambda = {_number(n['lambda_'])}$"
    )
    mx0, mx1 = node(2.85, top, 1.9, margin, face=PALE["parent"], edge=COLOURS["parent"])
    arrow(ax, (right, top), (lx0, top))
    arrow(ax, (lx1, top), (mx0, top))

    # bottom path: mask, decoder, squared error, reduction, scale
    kx0, kx1 = node(1.35, bottom, 1.0, "mask: keep\nthe label's\ncapsule")
    hidden = ", ".join(str(k) for k in n["hidden"])
    decoder = f"decoder\n{hidden},\n{n['pixels']}"
    dx0, dx1 = node(2.6, bottom, 0.95, decoder, face=PALE["decoder"], edge=dec)
    sx0, sx1 = node(3.85, bottom, 0.9, "$(\\hat{x} - x)^2$\nat each\npixel")
    reduction = f"{n['pixels']} pixels:\nsum (paper) or\nmean (÷{n['mean_weaker']})"
    rx0, rx1 = node(
        5.0,
        bottom,
        1.35,
        reduction,
        face=PALE["setup"],
        edge=COLOURS["disagree"],
        lw=2.0,
    )
    wx0, wx1 = node(6.6, bottom, 0.8, f"{t} {_number(n['scale'])}", size=FONT)
    arrow(ax, (right, bottom), (kx0, bottom))
    for a, b in ((kx1, dx0), (dx1, sx0), (sx1, rx0), (rx1, wx0)):
        arrow(ax, (a, bottom), (b, bottom))
    # the input image joins the squared error from below
    input_y = 0.2
    text(ax, (sx0 + sx1) / 2, input_y, "input image $x$", size=MIN_FONT)
    arrow(ax, ((sx0 + sx1) / 2, input_y + 0.14), ((sx0 + sx1) / 2, bottom - h / 2))
    text(ax, (dx1 + sx0) / 2, bottom + 0.2, "$\\hat{x}$", size=MIN_FONT)

    # the two terms meet: the weighted sum
    px, r = (wx0 + wx1) / 2, 0.17
    ax.add_patch(Circle((px, top), r, facecolor="white", edgecolor=INK, lw=1.2))
    text(ax, px, top, "+", size=TITLE_PLUS)
    arrow(ax, (mx1, top), (px - r, top))
    arrow(ax, (px, bottom + h / 2), (px, top - r))
    arrow(ax, (px, top + r), (px, 3.3))
    text(
        ax,
        px - 0.1,
        3.45,
        "the loss, averaged over the batch",
        size=MIN_FONT,
        ha="right",
    )
    text(
        ax,
        (rx0 + rx1) / 2,
        bottom - h / 2 - 0.17,
        f"the mean: {n['mean_weaker']} times weaker",
        size=MIN_FONT,
        colour=COLOURS["disagree"],
    )
    text(
        ax,
        (kx0 + dx1) / 2,
        bottom + h / 2 + 0.17,
        "at test time: the longest capsule",
        size=MIN_FONT,
        colour=GREY,
    )
    fig.capslib_numbers = n
    return fig
