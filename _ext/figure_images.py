"""Every figure of the book shows a picture: a numbered figure without an image fails the build.

A notebook cell with a figure caption (``mystnb: figure:`` in its metadata) puts each of its
display outputs in a figure of that name. Two ways this goes wrong without any error in the cell:

- the output is text, not an image: a matplotlib ``Figure`` made without pyplot prints as
  ``<Figure size 750x460 with 1 Axes>`` until something installs IPython's PNG formatter;
- the cell has two display outputs (say a ``glue`` value left as the cell's last expression):
  two figures with one name (Sphinx warns of a "Duplicate explicit target name" there).

This extension reports the first case as a warning that names the page and the figure, which
fails ``make book`` (``--warningiserror``) instead of leaving a caption under a line of text.
"""

from __future__ import annotations

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)


def figures_without_an_image(doctree: nodes.document) -> list[nodes.figure]:
    """The figures of ``doctree`` that contain no image."""
    return [
        figure
        for figure in doctree.findall(nodes.figure)
        if not any(figure.findall(nodes.image))
    ]


def warn_about_figures_without_an_image(app: Sphinx, doctree: nodes.document) -> None:
    for figure in figures_without_an_image(doctree):
        names = ", ".join(figure.get("names", [])) or "(unnamed)"
        shown = figure.astext().strip().splitlines()
        logger.warning(
            "figure %s shows no image, only the text %r: the cell's output is not a picture "
            "(a matplotlib Figure made without pyplot needs IPython's PNG formatter; see capsbook.diagrams)",
            names,
            shown[0][:80] if shown else "",
            location=figure,
            type="figure_images",
            subtype="no_image",
        )


def setup(app: Sphinx) -> dict:
    app.connect("doctree-read", warn_about_figures_without_an_image)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
