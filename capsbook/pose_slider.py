"""A pose slider that works in the static HTML book: no kernel, no network, plain HTML and JavaScript.

The rendered book has no Python kernel, so an ``ipywidgets`` slider shows nothing there.  This
module turns decodings computed *in advance* (when the book is built) into one self-contained HTML
fragment: a ``<input type="range">`` per pose dimension, the decoded digit, and its difference from
the capsule's own reconstruction on a fixed diverging colour scale.  Every image is embedded as a
PNG ``data:`` URI and the script is inline, so the fragment needs nothing from any other origin,
and works offline and from a file.

What it can show is what was computed: :func:`capsbook.probes.perturbation_grid` decodes each
dimension moved *on its own* (``dims x steps`` images), so the sliders move one dimension at a
time: moving one puts the others back to 0, and the line under the sliders says so.  (With a live
kernel, the ipywidgets version in chapter 9 decodes any combination.)

>>> grid = capsbook.probes.perturbation_grid(model.decoder, poses, label)        # doctest: +SKIP
>>> display(capsbook.pose_slider.pose_slider(grid, capsbook.probes.perturbation_offsets()))  # doctest: +SKIP
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import itertools
import json

import numpy as np

from .probes import (
    DIFFERENCE_CMAP,
    DIFFERENCE_SCALE,
)  # one fixed scale for the book's figures and the slider

__all__ = [
    "DIFFERENCE_SCALE",
    "png_data_uri",
    "pose_slider",
    "pose_slider_html",
    "slider_data",
]

DIGIT_CMAP = "gray_r"

_counter = itertools.count()


def _as_array(images) -> np.ndarray:
    """``images`` (a tensor or array) as float64 NumPy ``(dims, steps, H, W)``."""
    if hasattr(images, "detach"):
        images = images.detach().cpu().double().numpy()
    array = np.asarray(images, dtype=np.float64)
    if array.ndim == 5 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim != 4:
        raise ValueError(
            f"pose_slider: expected decodings (dims, steps, H, W) or (dims, steps, 1, H, W), e.g. "
            f"capsbook.probes.perturbation_grid's output, got shape {array.shape}"
        )
    return array


def png_data_uri(
    image, *, cmap: str = DIGIT_CMAP, vmin: float = 0.0, vmax: float = 1.0
) -> str:
    """One ``(H, W)`` image as a ``data:image/png;base64,...`` URI, coloured by ``cmap`` over ``[vmin, vmax]``.

    Values outside the range are drawn at its ends (as ``imshow`` does).  8 bits per channel.
    """
    from matplotlib import colormaps

    array = np.asarray(image, dtype=np.float64)
    if array.ndim != 2 or not np.isfinite(array).all():
        raise ValueError(
            f"png_data_uri: expected a finite (H, W) image, got shape {array.shape}"
        )
    if not vmax > vmin:
        raise ValueError(f"png_data_uri: expected vmin < vmax, got {vmin} and {vmax}")
    from PIL import Image

    # 256 levels, stored as a palette image whose palette is the colour map (a third of the bytes of RGB)
    levels = np.rint(np.clip((array - vmin) / (vmax - vmin), 0.0, 1.0) * 255).astype(
        np.uint8
    )
    palette = colormaps[cmap](np.linspace(0.0, 1.0, 256), bytes=True)[
        :, :3
    ]  # (256, 3) uint8
    picture = Image.fromarray(levels, mode="L").convert("P")
    picture.putpalette(palette.reshape(-1).tolist())
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode(
        "ascii"
    )


def slider_data(
    images, offsets, *, difference_scale: float = DIFFERENCE_SCALE, labels=None
) -> dict:
    """What the slider embeds: ``offsets``, the index ``zero`` of offset 0, ``labels``, and per dimension
    and step the decoded image (``frames``) and its difference from offset 0 (``differences``) as PNG URIs.

    ``images``: ``(dims, steps, H, W)`` (or ``(dims, steps, 1, H, W)``) decodings in [0, 1], row ``d``
    moving dimension ``d`` through ``offsets`` (``(steps,)``, increasing, one of them 0).
    """
    array = _as_array(images)
    dims, steps = array.shape[:2]
    offsets = np.asarray(
        offsets.detach().cpu() if hasattr(offsets, "detach") else offsets,
        dtype=np.float64,
    )
    if offsets.shape != (steps,):
        raise ValueError(
            f"pose_slider: expected {steps} offsets (one per column of the decodings), got shape "
            f"{offsets.shape}"
        )
    if steps > 1 and not (np.diff(offsets) > 0).all():
        raise ValueError(
            f"pose_slider: expected increasing offsets, got {offsets.tolist()}"
        )
    zeros = np.flatnonzero(np.isclose(offsets, 0.0, atol=1e-6))
    if len(zeros) != 1:
        raise ValueError(
            f"pose_slider: expected exactly one offset 0 (the capsule's own reconstruction), got "
            f"{offsets.tolist()}"
        )
    zero = int(zeros[0])
    if not np.isfinite(array).all() or array.min() < -1e-6 or array.max() > 1 + 1e-6:
        raise ValueError(
            f"pose_slider: expected decodings in [0, 1] (the decoder's sigmoid outputs), got values "
            f"in [{np.nanmin(array):.3g}, {np.nanmax(array):.3g}]"
        )
    reference = array[:, zero]
    if not np.allclose(reference, reference[:1], atol=1e-5):
        raise ValueError(
            "pose_slider: the offset-0 column differs between rows; each row must move one dimension "
            "of the same capsule (capsbook.probes.perturbation_grid)"
        )
    if not difference_scale > 0:
        raise ValueError(
            f"pose_slider: expected a positive difference_scale, got {difference_scale}"
        )
    labels = (
        [f"dim {d}" for d in range(dims)]
        if labels is None
        else [str(label) for label in labels]
    )
    if len(labels) != dims:
        raise ValueError(f"pose_slider: expected {dims} labels, got {len(labels)}")
    frames = [[png_data_uri(array[d, k]) for k in range(steps)] for d in range(dims)]
    differences = [
        [
            png_data_uri(
                array[d, k] - reference[0],
                cmap=DIFFERENCE_CMAP,
                vmin=-difference_scale,
                vmax=difference_scale,
            )
            for k in range(steps)
        ]
        for d in range(dims)
    ]
    return {
        "offsets": [round(float(o), 6) for o in offsets],
        "zero": zero,
        "labels": labels,
        "difference_scale": float(difference_scale),
        "frames": frames,
        "differences": differences,
    }


_STYLE = """
#{id} {{ font-size: 0.85rem; line-height: 1.3; margin: 0.5rem 0; }}
#{id} .cps-top {{ display: flex; flex-wrap: wrap; gap: 1rem; align-items: flex-start; }}
#{id} figure {{ margin: 0; text-align: center; }}
#{id} figure img {{ width: {size}px; height: {size}px; image-rendering: pixelated; border: 1px solid #999; }}
#{id} .cps-bar {{ width: {size}px; height: 10px; image-rendering: auto; border: 1px solid #999; display: block; }}
#{id} .cps-bar-labels {{ display: flex; justify-content: space-between; width: {size}px; font-size: 0.75rem; }}
#{id} .cps-sliders {{ display: grid; grid-template-columns: repeat(auto-fill, minmax(15rem, 1fr)); gap: 0.1rem 1rem;
  margin-top: 0.5rem; }}
#{id} .cps-sliders label {{ display: flex; align-items: center; gap: 0.4rem; white-space: nowrap; }}
#{id} .cps-sliders input {{ flex: 1; min-width: 6rem; }}
#{id} .cps-sliders output {{ font-family: monospace; min-width: 3.2rem; text-align: right; }}
#{id} .cps-status {{ margin: 0.4rem 0 0; font-style: italic; }}
"""

_SCRIPT = r"""
(function () {
  var root = document.getElementById("%(id)s");
  if (!root || root.getAttribute("data-ready") === "1") return;
  var data = JSON.parse(root.querySelector("script.cps-data").textContent);
  var digit = root.querySelector("img.cps-digit"), diff = root.querySelector("img.cps-diff");
  var status = root.querySelector(".cps-status");
  var sliders = Array.prototype.slice.call(root.querySelectorAll("input.cps-range"));
  var signed = function (x) { return (x < 0 ? "\u2212" : "+") + Math.abs(x).toFixed(2); };
  function show(dim, step) {
    sliders.forEach(function (slider, d) {
      // one dimension at a time: this one at step, the others back to 0 (reset: all of them)
      slider.value = String(d === dim ? step : data.zero);
      slider.parentNode.querySelector("output").textContent = signed(data.offsets[Number(slider.value)]);
    });
    digit.src = data.frames[dim][step];
    diff.src = data.differences[dim][step];
    root.setAttribute("data-dim", String(dim));
    root.setAttribute("data-step", String(step));
    status.textContent = step === data.zero
      ? "Every dimension at 0: the capsule's own reconstruction."
      : data.labels[dim] + " moved by " + signed(data.offsets[step]) + ", the other " + (sliders.length - 1) +
        " dimensions at 0 (decodings computed when the book was built, one dimension at a time).";
  }
  sliders.forEach(function (slider, d) {
    slider.addEventListener("input", function () { show(d, Number(slider.value)); });
  });
  root.querySelector("button.cps-reset").addEventListener("click", function () { show(0, data.zero); });
  root.setAttribute("data-ready", "1");
})();
"""


def pose_slider_html(
    images,
    offsets,
    *,
    difference_scale: float = DIFFERENCE_SCALE,
    labels=None,
    title: str | None = None,
    pixel_size: int = 5,
    element_id: str | None = None,
) -> str:
    """A self-contained HTML fragment: a slider per dimension over precomputed decodings.

    ``images``: ``(dims, steps, H, W)`` or ``(dims, steps, 1, H, W)`` decodings in [0, 1] (row ``d``:
    dimension ``d`` moved through ``offsets``, e.g. :func:`capsbook.probes.perturbation_grid`);
    ``offsets``: ``(steps,)`` increasing, one of them 0; ``labels``: a name per dimension (default
    ``"dim d"``); ``pixel_size``: screen pixels per image pixel; ``element_id``: the fragment's HTML id
    (default: made from its contents, so the same decodings give the same page).

    The fragment holds a ``<style>``, the images as PNG ``data:`` URIs in a JSON ``<script>``, and an
    inline script that swaps them when a slider moves: nothing is fetched from anywhere.
    """
    data = slider_data(
        images, offsets, difference_scale=difference_scale, labels=labels
    )
    payload = (
        json.dumps(data, separators=(",", ":"))
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
    )
    if element_id is None:
        digest = hashlib.sha1(payload.encode("ascii")).hexdigest()[:10]
        element_id = f"capslib-pose-slider-{digest}-{next(_counter)}"
    if not element_id.replace("-", "").replace("_", "").isalnum():
        raise ValueError(
            f"pose_slider: expected an element_id of letters, digits, '-' and '_', got {element_id!r}"
        )
    height, width = _as_array(images).shape[2:]
    size = int(pixel_size) * max(height, width)
    zero, steps, scale = data["zero"], len(data["offsets"]), data["difference_scale"]
    sliders = "\n".join(
        f'<label>{html.escape(label)} <input class="cps-range" type="range" min="0" max="{steps - 1}" step="1" '
        f'value="{zero}" aria-label="{html.escape(label)}"><output>+0.00</output></label>'
        for label in data["labels"]
    )
    bar = png_data_uri(
        np.linspace(-scale, scale, 64)[None, :],
        cmap=DIFFERENCE_CMAP,
        vmin=-scale,
        vmax=scale,
    )
    heading = (
        f'<p class="cps-title"><strong>{html.escape(title)}</strong></p>'
        if title
        else ""
    )
    return f"""<div id="{element_id}" class="capslib-pose-slider">
<style>{_STYLE.format(id=element_id, size=size)}</style>
{heading}<div class="cps-top">
<figure><img class="cps-digit" src="{data["frames"][0][zero]}" alt="the decoded digit"><figcaption>decoded</figcaption></figure>
<figure><img class="cps-diff" src="{data["differences"][0][zero]}" alt="change from the capsule's own reconstruction">
<figcaption>change from offset 0</figcaption>
<img class="cps-bar" src="{bar}" alt="colour scale of the change">
<div class="cps-bar-labels"><span>&minus;{scale:g}</span><span>0</span><span>+{scale:g}</span></div>
</figure>
</div>
<div class="cps-sliders">
{sliders}
</div>
<p class="cps-status">Every dimension at 0: the capsule's own reconstruction.</p>
<button class="cps-reset" type="button">reset to 0</button>
<script type="application/json" class="cps-data">{payload}</script>
<script>{_SCRIPT % {"id": element_id}}</script>
</div>"""


def pose_slider(images, offsets, **options):
    """:func:`pose_slider_html` as an ``IPython.display.HTML`` object, for a notebook cell to show."""
    from IPython.display import HTML

    return HTML(pose_slider_html(images, offsets, **options))
