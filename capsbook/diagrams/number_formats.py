"""The appendix on number formats: how float32, bfloat16 and float16 spend their bits.

Every width and bound is read from the format itself (``torch.finfo``), never typed:

* :func:`format_fields`: the sign, exponent and stored mantissa bits of a format;
* :func:`unit_roundoff`: the largest relative error of rounding a value in the
  format's normal range to it, :math:`2^{-p}` with :math:`p` significant bits;
* :func:`rounding_errors`: the relative errors measured by rounding values to it;
* :func:`bit_layout`: a diagram of the three formats' bits, one box per bit;
* :func:`rounding_error_plot`: the measured relative errors against the bound,
  over values from far below 1 to far above float16's largest.
"""

from __future__ import annotations

import math

import torch

from ._style import COLOURS, FONT, MIN_FONT, PALE, new_figure, text

__all__ = [
    "FORMATS",
    "bit_layout",
    "format_fields",
    "rounding_error_plot",
    "rounding_errors",
    "unit_roundoff",
]

#: The formats the appendix compares, in the order the figures draw them.
FORMATS = (torch.float32, torch.bfloat16, torch.float16)

_FIELD_COLOURS = {
    "sign": (COLOURS["disagree"], "#f6d5d1"),
    "exponent": (COLOURS["capsule"], PALE["capsule"]),
    "mantissa": (COLOURS["agree"], PALE["agree"]),
}


def _name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def format_fields(dtype: torch.dtype) -> dict[str, int]:
    """``{"sign": 1, "exponent": e, "mantissa": m}``: the bits of ``dtype``, from ``torch.finfo``.

    The stored mantissa has ``m`` bits where ``finfo.eps``, the gap between 1 and the
    next value, is :math:`2^{-m}`; the exponent takes the rest of ``finfo.bits`` but the
    sign bit.  float32: 1, 8, 23; bfloat16: 1, 8, 7; float16: 1, 5, 10.
    """
    info = torch.finfo(dtype)
    mantissa = round(-math.log2(info.eps))
    return {"sign": 1, "exponent": info.bits - 1 - mantissa, "mantissa": mantissa}


def unit_roundoff(dtype: torch.dtype) -> float:
    """The largest relative error of rounding to ``dtype`` in its normal range: ``eps / 2``.

    With ``m`` stored mantissa bits a value has ``m + 1`` significant bits, and rounding
    to the nearest is off by at most half a gap: :math:`2^{-(m+1)}`; float32
    :math:`2^{-24}`, bfloat16 :math:`2^{-8}`, float16 :math:`2^{-11}`.
    """
    return torch.finfo(dtype).eps / 2


def rounding_errors(values: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``|round(x) - x| / |x|`` for float64 ``values`` rounded to ``dtype`` (float64 result).

    A value beyond the format's largest rounds to infinity: its error is ``inf``.
    """
    x = values.to(torch.float64)
    return ((x.to(dtype).to(torch.float64) - x).abs() / x.abs()).nan_to_num(
        nan=math.inf, posinf=math.inf
    )


def bit_layout():
    """float32, bfloat16 and float16 as rows of bits: sign, exponent, mantissa.

    Each bit is one box, coloured by its field, with the field's width written under it;
    to the right, what the widths give: significant bits and the largest finite value.
    All of it from :func:`format_fields` and ``torch.finfo``.  Returns a Figure 7.5 in wide.
    """
    fig, ax = new_figure(2.45)
    bit_w, bit_h, x0 = 0.145, 0.3, 1.05
    for row, dtype in enumerate(FORMATS):
        fields, info = format_fields(dtype), torch.finfo(dtype)
        y = 1.82 - 0.8 * row
        text(ax, 0.05, y + bit_h / 2, _name(dtype), ha="left", weight="bold")
        x = x0
        for field, width in fields.items():
            edge, face = _FIELD_COLOURS[field]
            for _ in range(width):
                ax.add_patch(
                    _rect((x, y), bit_w, bit_h, face=face, edge=edge),
                )
                x += bit_w
            if field == "sign":  # one bit: its label above it
                text(
                    ax,
                    x - bit_w / 2,
                    y + bit_h + 0.13,
                    "sign 1",
                    size=MIN_FONT,
                    colour=edge,
                )
            else:
                text(
                    ax,
                    x - width * bit_w / 2,
                    y - 0.14,
                    f"{field} {width}",
                    size=MIN_FONT,
                    colour=edge,
                )
        text(
            ax,
            x0 + 32 * bit_w + 0.12,
            y + bit_h / 2,
            f"{fields['mantissa'] + 1} significant bits\nlargest {_largest(info.max)}",
            size=MIN_FONT,
            ha="left",
        )
    return fig


def _largest(value: float) -> str:
    """65,504 as it reads; 3.40e+38 in powers of ten."""
    return f"{value:,.0f}" if value < 1e6 else f"{value:.2e}"


def _rect(xy, w, h, *, face, edge):
    from matplotlib.patches import Rectangle

    return Rectangle(xy, w, h, facecolor=face, edgecolor=edge, linewidth=0.8)


def rounding_error_plot(low: float = 1e-9, high: float = 1e7, n: int = 4000):
    """The relative error of rounding ``n`` values, log-spaced in [low, high], to each format.

    Dots: the measured errors (:func:`rounding_errors`; an overflow, or a value that
    rounds to 0, is drawn at 1 on the top edge); dashed lines, drawn over the dots
    with a white rim: each format's bound, :func:`unit_roundoff`.  Returns a Figure
    7.5 in wide.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from ._style import DPI, WIDTH_IN, show_figures_as_png_in_ipython

    show_figures_as_png_in_ipython()
    fig = Figure(figsize=(WIDTH_IN, 3.6), dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    values = torch.logspace(math.log10(low), math.log10(high), n, dtype=torch.float64)
    colours = {
        torch.float32: COLOURS["neuron"],
        torch.bfloat16: COLOURS["capsule"],
        torch.float16: COLOURS["parent"],
    }
    from matplotlib import patheffects
    from matplotlib.lines import Line2D

    # a white rim keeps each bound visible where it crosses the dots
    rim = [patheffects.withStroke(linewidth=4, foreground="white")]
    for dtype in FORMATS:
        errors = rounding_errors(values, dtype).clamp(max=1.0)
        shown = errors > 0  # exact roundings have no place on a log axis
        ax.scatter(
            values[shown],
            errors[shown],
            s=2,
            color=colours[dtype],
            alpha=0.6,
            linewidths=0,
            zorder=2,
        )
        bound = unit_roundoff(dtype)
        # the bounds on top of the dots (zorder above the scatter's)
        ax.axhline(
            bound, color=colours[dtype], ls="--", lw=1.8, zorder=4, path_effects=rim
        )
        ax.text(
            high * 1.6,
            bound,
            f"$2^{{{round(math.log2(bound))}}}$",
            color=colours[dtype],
            va="center",
            fontsize=FONT,
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(low, high)
    ax.set_ylim(1e-10, 2.0)
    ax.set_xlabel("value x", fontsize=FONT)
    ax.set_ylabel("|round(x) - x| / |x|", fontsize=FONT)
    ax.tick_params(labelsize=MIN_FONT)
    handles = [
        Line2D(
            [],
            [],
            color=colours[dtype],
            ls="--",
            lw=1.8,
            marker="o",
            markersize=5,
            label=_name(dtype),
        )
        for dtype in FORMATS
    ]
    ax.legend(
        handles=handles,
        title="dots: measured error; dashed: bound $u = 2^{-p}$",
        title_fontsize=FONT,
        fontsize=FONT,
        loc="lower center",
        bbox_to_anchor=(0.5, 1.0),
        ncol=3,
        frameon=False,
    )
    fig.subplots_adjust(left=0.1, right=0.9, bottom=0.14, top=0.82)
    return fig
