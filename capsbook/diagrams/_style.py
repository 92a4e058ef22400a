"""Drawing helpers shared by the diagrams: a figure in inch coordinates, boxes, arrows, text.

Every diagram is a :class:`matplotlib.figure.Figure` made without pyplot, so a
notebook cell that ends with ``diagrams.routing_iteration()`` shows it once
(IPython's formatter) and no figure is left open in pyplot's state.  The axes
fill the figure and its data units are inches, so a font size in points
and a position in the layout can be compared directly (1 pt = 1/72 in).
"""

from __future__ import annotations

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

#: The book's text column is about 750 px wide; figures are drawn at that size (100 dpi).
WIDTH_IN = 7.5
DPI = 100
#: Smallest font used (points at 100 dpi, i.e. 12.5 px on the page).
MIN_FONT = 9
FONT = 10
TITLE_FONT = 11

INK = "#222222"
GREY = "#8a8a8a"
LIGHT = "#f2f2f2"
#: One colour per role, the same in every diagram.
COLOURS = {
    "neuron": "#7f7f7f",  # scalars, plain CNN units
    "capsule": "#1f77b4",  # child / primary capsules, their vectors
    "parent": "#d95f02",  # parent / digit capsules
    "agree": "#1b9e77",  # agreement, things that match
    "disagree": "#c0392b",  # disagreement, outliers
    "decoder": "#7570b3",  # the decoder
    "part1": "#1f77b4",
    "part2": "#d95f02",
    "part3": "#7570b3",
}
PALE = {
    "neuron": "#ececec",
    "capsule": "#dbe9f6",
    "parent": "#fbe3cf",
    "agree": "#d5efe6",
    "decoder": "#e4e2f1",
    "setup": "#eeeeee",
}


def show_figures_as_png_in_ipython() -> bool:
    """Make IPython show a pyplot-free :class:`Figure` as a PNG, not as the text ``<Figure ...>``.

    IPython's PNG formatter for figures is installed by pyplot's inline backend, so a notebook whose
    first figure is a diagram (no pyplot call before it) would print the figure's repr.  Registering
    the formatter here makes a diagram show the same in every notebook.  Returns whether it did
    (``False`` outside IPython).
    """
    try:
        from IPython import get_ipython
        from IPython.core.pylabtools import print_figure
    except ImportError:
        return False
    shell = get_ipython()
    if shell is None:
        return False
    shell.display_formatter.formatters["image/png"].for_type(
        Figure, lambda fig: print_figure(fig, "png")
    )
    return True


def new_figure(height_in: float, width_in: float = WIDTH_IN):
    """A figure ``width_in`` x ``height_in`` inches whose single axes is measured in inches."""
    show_figures_as_png_in_ipython()
    fig = Figure(figsize=(width_in, height_in), dpi=DPI)
    FigureCanvasAgg(
        fig
    )  # a canvas that can render (savefig, text extents) without pyplot
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width_in)
    ax.set_ylim(0, height_in)
    ax.set_aspect("equal")
    ax.axis("off")
    return fig, ax


def box(
    ax,
    x: float,
    y: float,
    w: float,
    h: float,
    *,
    face: str = "white",
    edge: str = INK,
    lw: float = 1.2,
    radius: float = 0.06,
    ls: str = "-",
    zorder: float = 1,
):
    """A rounded rectangle with lower-left corner ``(x, y)``."""
    patch = FancyBboxPatch(
        (x, y),
        w,
        h,
        boxstyle=f"round,pad=0,rounding_size={radius}",
        facecolor=face,
        edgecolor=edge,
        linewidth=lw,
        linestyle=ls,
        zorder=zorder,
    )
    ax.add_patch(patch)
    return patch


def arrow(
    ax,
    start,
    end,
    *,
    colour: str = INK,
    lw: float = 1.4,
    style: str = "-|>",
    mutation: float = 12,
    ls: str = "-",
    connection: str = "arc3",
    shrink: float = 0.0,
    zorder: float = 2,
):
    """An arrow from ``start`` to ``end`` (inch coordinates)."""
    patch = FancyArrowPatch(
        start,
        end,
        arrowstyle=style,
        mutation_scale=mutation,
        color=colour,
        linewidth=lw,
        linestyle=ls,
        connectionstyle=connection,
        shrinkA=shrink,
        shrinkB=shrink,
        zorder=zorder,
    )
    ax.add_patch(patch)
    return patch


def text(
    ax,
    x: float,
    y: float,
    s: str,
    *,
    size: float = FONT,
    colour: str = INK,
    ha: str = "center",
    va: str = "center",
    weight: str = "normal",
    **kw,
):
    """Text at ``(x, y)``; never smaller than :data:`MIN_FONT`."""
    if size < MIN_FONT:
        raise ValueError(f"diagram text must be at least {MIN_FONT} pt, got {size}")
    return ax.text(
        x, y, s, fontsize=size, color=colour, ha=ha, va=va, fontweight=weight, **kw
    )
