"""Keep the rendered book offline-complete: no page fetches anything from another origin.

A reader offline, behind a firewall, or in ten years when a CDN has moved, must still see
every equation and every picture. MathJax comes from the book's own ``_static/mathjax``
(the ``sphinx-mathjax-offline`` extension) and the ipywidgets scripts are switched off
(``nb_ipywidgets_js: {}``, every widget cell also shows a static figure). What is left is
images written with a remote address in the chapters' markdown. This extension:

- serves the "Open in Colab" badge of every chapter's first cell
  (``https://colab.research.google.com/assets/colab-badge.svg``) from the book's own
  ``_static/colab-badge.svg``; the link around it still opens the notebook on Colab, and the
  notebook itself keeps the remote badge, which GitHub and Colab show;
- reports any other remote image as a Sphinx warning naming the page and the address, which
  fails the build under ``--warningiserror`` (``make book``), instead of leaving a broken image
  for the browser tests (``tests/book/test_browser.py``) to find.

It also includes each inline script once per page: sphinx-thebe adds its configuration
script after the HTML builder has started, so Sphinx 7 lists it twice (once with the file name
``None``, once with ``""``), and the second copy throws "Identifier 'THEBE_JS_URL' has already
been declared" in the console of every page.
"""

from __future__ import annotations

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util import logging
from sphinx.util.osutil import relative_uri

logger = logging.getLogger(__name__)

#: remote image address -> the book's local copy (relative to the output folder)
LOCAL_COPIES = {
    "https://colab.research.google.com/assets/colab-badge.svg": "_static/colab-badge.svg",
}


def is_remote(uri: str) -> bool:
    """True for an address the browser would fetch from another origin (``https://...``, ``//host/...``)."""
    return "://" in uri or uri.startswith("//")


def serve_remote_images_locally(
    app: Sphinx, doctree: nodes.document, docname: str
) -> None:
    """Point known remote images at their local copy; warn about any other remote image."""
    if app.builder.format != "html":
        return
    page_uri = app.builder.get_target_uri(docname)
    for image in doctree.findall(nodes.image):
        uri = image.get("uri", "")
        if not is_remote(uri):
            continue
        local = LOCAL_COPIES.get(uri)
        if local is None:
            logger.warning(
                "remote image %r: the rendered book must not fetch anything from another origin; "
                "save the image in the repository and link the local file instead",
                uri,
                location=image,
                type="offline_html",
                subtype="remote_image",
            )
            continue
        image["uri"] = relative_uri(page_uri, local)


def include_each_script_once(
    app: Sphinx, pagename: str, templatename: str, context: dict, doctree
) -> None:
    """Drop repeated scripts (same file or same inline body, same attributes) from a page."""
    scripts = context.get("script_files")
    if not isinstance(scripts, list):
        return
    seen, unique = set(), []
    for script in scripts:
        attributes = getattr(script, "attributes", {})
        key = (
            str(getattr(script, "filename", script) or ""),
            tuple(sorted(attributes.items())),
        )
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def setup(app: Sphinx) -> dict:
    app.connect("doctree-resolved", serve_remote_images_locally)
    app.connect("html-page-context", include_each_script_once)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
