"""Plots that several chapters use."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import torch

from capslib.checks import require_shape

# The width, in CSS pixels, at which the book's column shows a figure at a 1280 px window
# (sphinx-book-theme's article column), and the smallest text a reader can read there.
PAGE_WIDTH_PX = 700
MIN_TEXT_PX = 10.0


def text_px_on_page(fig, page_px: float = PAGE_WIDTH_PX) -> float:
    """The height in screen pixels of the smallest text of ``fig`` as the book shows it.

    A figure is drawn at its own width, or shrunk to the page's column when it is wider: a
    ``size``-point font on a figure ``w`` inches wide shows at ``size / 72 * min(dpi,
    page_px / w)`` pixels. Only visible, non-empty texts count.
    """
    width_in = fig.get_size_inches()[0]
    px_per_inch = min(fig.dpi, page_px / width_in)
    hidden = set()  # the tick labels of axes turned off (ax.axis("off")) are not drawn
    for ax in fig.axes:
        if not ax.axison:
            hidden.update(id(t) for t in ax.findobj(plt.Text) if t is not ax.title)
            hidden.difference_update(id(t) for t in (ax._left_title, ax._right_title))
    sizes = [
        text.get_fontsize()
        for text in fig.findobj(plt.Text)
        if text.get_visible() and text.get_text().strip() and id(text) not in hidden
    ]
    if not sizes:
        return math.inf
    return min(sizes) / 72 * px_per_inch


def show_digits(
    images: torch.Tensor,
    labels=None,
    *,
    ncols: int = 10,
    title: str | None = None,
    class_names=None,
    predictions=None,
    size: float = 1.0,
    cmap: str = "gray_r",
):
    """A labelled grid of images.

    ``images``: ``(n, 1, h, w)`` or ``(n, h, w)``; ``labels`` and
    ``predictions``: ``(n,)`` (a wrong prediction is titled in red).
    Returns the matplotlib figure.
    """
    images = torch.as_tensor(images).detach().cpu()
    if images.ndim == 4:
        require_shape(images, "show_digits", "images", ("n", 1, "h", "w"))
        images = images[:, 0]
    require_shape(
        images,
        "show_digits",
        "images",
        ("n", "h", "w"),
        fix="(n, 1, h, w) works too; for one image pass images[None]",
    )
    n = len(images)
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(size * ncols, size * nrows * 1.15), squeeze=False
    )
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        ax.imshow(images[i].float(), cmap=cmap, vmin=0, vmax=1)
        if labels is not None:
            name = lambda k: (
                class_names[int(k)] if class_names is not None else str(int(k))
            )  # noqa: E731
            text, colour = name(labels[i]), "black"
            if predictions is not None:
                text += f"→{name(predictions[i])}"
                colour = "black" if int(predictions[i]) == int(labels[i]) else "red"
            ax.set_title(text, fontsize=12, color=colour)
    if title:
        fig.suptitle(title, fontsize=13)
    fig.tight_layout()
    return fig
