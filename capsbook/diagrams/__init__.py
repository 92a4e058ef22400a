"""Explanatory diagrams of the book, drawn as matplotlib code (no binary image to edit).

Each function returns a :class:`matplotlib.figure.Figure`, 7.5 in (750 px at
100 dpi) wide, with text of at least 9 pt, so that it reads at the book's
width.  A notebook shows one by ending a cell with the call; the figure is
made without pyplot, so it appears once::

    from capsbook import diagrams
    diagrams.routing_iteration()

In the book such a cell carries the tag ``remove-input`` and a caption in its
metadata: ``"mystnb": {"figure": {"caption": "...", "name": "fig-..."}}``.

* :func:`book_path`: the chapters and how they lead into each other;
* :func:`max_pool_windows`: a 2 x 2 max-pooling window, its stride, and a feature
  shifted within and across a window;
* :func:`neuron_vs_capsule`: scalars in, scalar out vs vectors in, vector out;
* :func:`parts_vote`: parts predict the whole; agreement means the whole is there;
* :func:`routing_iteration`: predictions -> couplings -> sum -> squash -> agreement;
* :func:`capsnet_architecture`: CapsNet with the tensor shapes of a
  :class:`~capslib.models.CapsNetConfig` (the paper's by default).
"""

from __future__ import annotations

from .architecture import capsnet_architecture, shape_labels
from .capsules import neuron_vs_capsule, parts_vote
from .overview import CHAPTERS, PARTS, book_path
from .pooling import max_pool_windows, pooling_example
from .routing import STEPS, routing_iteration

__all__ = [
    "CHAPTERS",
    "PARTS",
    "STEPS",
    "book_path",
    "capsnet_architecture",
    "max_pool_windows",
    "neuron_vs_capsule",
    "parts_vote",
    "pooling_example",
    "routing_iteration",
    "shape_labels",
]
