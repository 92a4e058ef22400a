"""Tests for capsbook.pose_slider: the kernel-free pose slider of chapter 9.

What the HTML holds is tested here (its images decode back to the decodings, one slider per
dimension, nothing from another origin); that moving a slider changes the picture in a real
browser is tested in tests/book/test_browser_slider.py.
"""

import base64
import io
import json
import re

import numpy as np
import pytest
import torch
from matplotlib import colormaps
from PIL import Image

from capsbook import probes as ci
from capsbook.pose_slider import (
    DIFFERENCE_SCALE,
    png_data_uri,
    pose_slider,
    pose_slider_html,
    slider_data,
)
from capslib.nn import CapsuleDecoder


def decode_png(uri: str) -> np.ndarray:
    """A data: URI -> its RGB pixels (H, W, 3) uint8."""
    prefix = "data:image/png;base64,"
    assert uri.startswith(prefix), uri[:40]
    return np.asarray(
        Image.open(io.BytesIO(base64.b64decode(uri[len(prefix) :]))).convert("RGB")
    )


def colour(values, cmap, vmin, vmax) -> np.ndarray:
    """The RGB the slider should draw for ``values``: 256 levels of ``cmap`` over [vmin, vmax]."""
    values = np.asarray(values, dtype=np.float64)
    levels = np.rint(
        np.clip((values.reshape(-1) - vmin) / (vmax - vmin), 0, 1) * 255
    ).astype(int)
    return np.asarray(colormaps[cmap](levels / 255.0, bytes=True))[:, :3].reshape(
        *values.shape, 3
    )


def small_grid(dims=3, steps=5, size=6, seed=0):
    """Made-up decodings (dims, steps, 1, size, size) in [0, 1] whose offset-0 column is one picture."""
    g = torch.Generator().manual_seed(seed)
    base = torch.rand(1, size, size, generator=g)
    grid = torch.rand(dims, steps, 1, size, size, generator=g)
    grid[:, steps // 2] = base
    offsets = torch.linspace(-0.2, 0.2, steps)
    offsets[steps // 2] = 0.0
    return grid, offsets


def embedded(html: str) -> dict:
    match = re.search(
        r'<script type="application/json" class="cps-data">(.*?)</script>', html, re.S
    )
    assert match, "the slider embeds its data in a JSON script"
    return json.loads(match.group(1))


def test_png_data_uri_round_trips_through_the_colour_map():
    image = np.linspace(0, 1, 30).reshape(5, 6)
    assert np.array_equal(
        decode_png(png_data_uri(image)), colour(image, "gray_r", 0, 1)
    )
    signed = np.linspace(-1.5, 1.5, 30).reshape(5, 6)  # beyond the scale: the ends
    got = decode_png(png_data_uri(signed, cmap="RdBu_r", vmin=-1, vmax=1))
    assert np.array_equal(got, colour(signed, "RdBu_r", -1, 1))
    assert np.array_equal(got[0, 0], colour(-1.0, "RdBu_r", -1, 1)) and np.array_equal(
        got[-1, -1], colour(1.0, "RdBu_r", -1, 1)
    )
    with pytest.raises(ValueError, match="finite"):
        png_data_uri(np.array([[np.nan]]))
    with pytest.raises(ValueError, match="vmin < vmax"):
        png_data_uri(image, vmin=1, vmax=1)


def test_slider_data_holds_every_decoding_and_its_difference():
    grid, offsets = small_grid()
    data = slider_data(grid, offsets)
    assert data["zero"] == 2 and data["offsets"][2] == 0.0 and len(data["offsets"]) == 5
    assert data["labels"] == ["dim 0", "dim 1", "dim 2"]
    assert data["difference_scale"] == DIFFERENCE_SCALE == ci.DIFFERENCE_SCALE
    for d in range(3):
        for k in range(5):
            picture = grid[d, k, 0].double().numpy()
            assert np.array_equal(
                decode_png(data["frames"][d][k]), colour(picture, "gray_r", 0, 1)
            )
            change = picture - grid[0, 2, 0].double().numpy()
            assert np.array_equal(
                decode_png(data["differences"][d][k]),
                colour(change, "RdBu_r", -DIFFERENCE_SCALE, DIFFERENCE_SCALE),
            )
    # at offset 0 the difference is 0 everywhere: the middle of the diverging scale
    assert (decode_png(data["differences"][1][2]) == colour(0.0, "RdBu_r", -1, 1)).all()


def test_slider_data_refuses_what_it_cannot_show():
    grid, offsets = small_grid()
    with pytest.raises(ValueError, match="offset 0"):
        slider_data(grid, offsets + 0.05)
    with pytest.raises(ValueError, match="5 offsets"):
        slider_data(grid, offsets[:4])
    with pytest.raises(ValueError, match="increasing"):
        slider_data(grid, offsets.flip(0))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        slider_data(grid * 2, offsets)
    moved = grid.clone()
    moved[1, 2] += 0.1 * (moved[1, 2] < 0.9)
    with pytest.raises(ValueError, match="offset-0 column differs"):
        slider_data(moved, offsets)
    with pytest.raises(ValueError, match="dims, steps"):
        slider_data(grid[0, 0], offsets)
    with pytest.raises(ValueError, match="3 labels"):
        slider_data(grid, offsets, labels=["a"])


def test_html_has_one_slider_per_dimension_and_nothing_from_another_origin():
    grid, offsets = small_grid(dims=4)
    html = pose_slider_html(grid, offsets, title="A <test> slider")
    ranges = re.findall(
        r'<input class="cps-range" type="range" min="0" max="(\d+)" step="1" value="(\d+)"',
        html,
    )
    assert ranges == [("4", "2")] * 4  # 5 offsets, each slider starts at 0
    sources = re.findall(r'\bsrc="([^"]*)"', html)
    assert len(sources) == 3 and all(
        s.startswith("data:image/png;base64,") for s in sources
    )
    assert not re.search(
        r"(https?:)?//[a-z]", html.replace("data:image/png;base64,", ""), re.I
    ), "the fragment names no other origin"
    assert "<script src" not in html and "import(" not in html
    assert "A &lt;test&gt; slider" in html  # text is escaped
    data = embedded(html)  # the JSON parses back as embedded
    assert data["frames"][0][2] == sources[0] and len(data["frames"]) == 4
    # the first image shown is the capsule's own reconstruction (offset 0)
    assert np.array_equal(
        decode_png(sources[0]), colour(grid[0, 2, 0].double().numpy(), "gray_r", 0, 1)
    )


def test_each_slider_gets_its_own_id_and_the_script_finds_it():
    grid, offsets = small_grid()
    first, second = pose_slider_html(grid, offsets), pose_slider_html(grid, offsets)
    ids = [
        re.search(r'<div id="([^"]+)" class="capslib-pose-slider">', h).group(1)
        for h in (first, second)
    ]
    assert ids[0] != ids[1]
    assert f'document.getElementById("{ids[0]}")' in first
    assert 'id="mine"' in pose_slider_html(grid, offsets, element_id="mine")
    with pytest.raises(ValueError, match="element_id"):
        pose_slider_html(grid, offsets, element_id='x" onload="alert(1)')


def test_json_cannot_close_its_script_early():
    grid, offsets = small_grid(dims=1)
    html = pose_slider_html(grid, offsets, labels=["</script><b>x"])
    payload = re.search(r'class="cps-data">(.*?)</script>', html, re.S).group(1)
    assert "</" not in payload and json.loads(payload)["labels"] == ["</script><b>x"]


def test_a_decoders_perturbation_grid_goes_in_unchanged():
    torch.manual_seed(0)
    decoder = CapsuleDecoder(10, 16, (8, 8), (1, 28, 28))
    poses = torch.randn(10, 16) * 0.2
    grid = ci.perturbation_grid(decoder, poses, label=4)
    display = pose_slider(grid, ci.perturbation_offsets())
    data = embedded(display.data)
    assert (
        len(data["frames"]) == 16 and len(data["frames"][0]) == 11 and data["zero"] == 5
    )
    assert np.array_equal(
        decode_png(data["frames"][7][10]),
        colour(grid[7, 10, 0].double().numpy(), "gray_r", 0, 1),
    )
