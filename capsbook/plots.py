"""Plots that several chapters use."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import torch


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
        if images.shape[1] != 1:
            raise ValueError(
                f"show_digits: expected one channel, got images of shape {tuple(images.shape)}"
            )
        images = images[:, 0]
    if images.ndim != 3:
        raise ValueError(
            f"show_digits: expected images (n, 1, h, w) or (n, h, w), got shape {tuple(images.shape)}"
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
            ax.set_title(text, fontsize=8, color=colour)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
