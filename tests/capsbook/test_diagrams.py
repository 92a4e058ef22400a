"""The book's explanatory diagrams (capsbook.diagrams): readable at the book's width, and right.

Readability is measured on the rendered figure: its width in pixels, the
size of every text, that no two texts overlap, that every text lies inside
the figure, and that a text placed in a box fits in it.  Content is checked
against what it depicts: the table of contents, the CapsNet configuration,
and the routing computed by capslib.functional.
"""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch

from capsbook import diagrams
from capsbook.diagrams import capsules, routing
from capsbook.diagrams.clustering import routing_as_clustering
from capsbook.diagrams.conv_geometry import receptive_field_growth, stride_padding_strip
from capsbook.diagrams.em_steps import em_routing_loop
from capsbook.diagrams.idx_layout import idx_layout
from capsbook.diagrams.losses import two_losses
from capsbook.diagrams.mnist_centring import mnist_centring
from capsbook.diagrams.pooling import pooling_grids
from capsbook.diagrams.primary_grid import primary_capsule_grid
from capslib import functional as cf
from capslib.data import load_mnist, sources
from capslib.models import CapsNetConfig

ROOT = Path(__file__).resolve().parents[2]
ALL = {
    "book_path": diagrams.book_path,
    "neuron_vs_capsule": diagrams.neuron_vs_capsule,
    "parts_vote": diagrams.parts_vote,
    "routing_iteration": diagrams.routing_iteration,
    "max_pool_windows": diagrams.max_pool_windows,
    "capsnet_architecture": diagrams.capsnet_architecture,
    "capsnet_architecture(small, 40px, no decoder)": lambda: (
        diagrams.capsnet_architecture(
            CapsNetConfig.small(input_size=40, use_decoder=False)
        )
    ),
    "mnist_centring(test digits)": lambda: mnist_centring(
        load_mnist("test", source="sample", verbose=False).images
    ),
    "idx_layout(test images)": lambda: idx_layout(
        gzip.decompress(
            (Path(sources.SAMPLE_DIR) / "t10k-images-idx3-ubyte.gz").read_bytes()
        )
    ),
    "two_losses": two_losses,
    "pooling_grids": pooling_grids,
    "primary_capsule_grid(a test digit)": lambda: primary_capsule_grid(
        CapsNetConfig.paper(),
        image=load_mnist("test", source="sample", verbose=False).images[0],
    ),
    "routing_as_clustering": routing_as_clustering,
    "em_routing_loop": em_routing_loop,
    "stride_padding_strip": stride_padding_strip,
    "receptive_field_growth": receptive_field_growth,
}


@pytest.fixture(scope="module", params=list(ALL), ids=list(ALL))
def drawn(request):
    fig = ALL[request.param]()
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    texts = [
        t
        for t in fig.findobj(
            lambda a: hasattr(a, "get_text") and hasattr(a, "get_fontsize")
        )
        if t.get_text().strip() and t.get_visible()
    ]
    return fig, renderer, texts


def _texts_in_pixels(texts, renderer):
    return [(t, t.get_window_extent(renderer)) for t in texts]


def test_a_figure_at_the_book_width(drawn):
    fig, _, _ = drawn
    assert isinstance(fig, Figure)
    width_px = fig.get_figwidth() * fig.dpi
    assert 700 <= width_px <= 800, f"{width_px:.0f} px wide"
    assert fig.get_figheight() * fig.dpi <= 600, (
        "taller than a screen at the book's width"
    )


def test_no_text_below_9_points(drawn):
    _, _, texts = drawn
    assert texts, "a diagram with no words"
    small = [(t.get_text(), t.get_fontsize()) for t in texts if t.get_fontsize() < 9]
    assert not small


def test_every_text_inside_the_figure(drawn):
    fig, renderer, texts = drawn
    w, h = fig.get_figwidth() * fig.dpi, fig.get_figheight() * fig.dpi
    for t, box in _texts_in_pixels(texts, renderer):
        assert (
            box.x0 >= -0.5
            and box.y0 >= -0.5
            and box.x1 <= w + 0.5
            and box.y1 <= h + 0.5
        ), f"{t.get_text()!r} is cut off: {box} in a {w:.0f}x{h:.0f} figure"


def test_no_two_texts_overlap(drawn):
    _, renderer, texts = drawn
    boxes = _texts_in_pixels(texts, renderer)
    for k, (a, box_a) in enumerate(boxes):
        for b, box_b in boxes[k + 1 :]:
            overlap_x = min(box_a.x1, box_b.x1) - max(box_a.x0, box_b.x0)
            overlap_y = min(box_a.y1, box_b.y1) - max(box_a.y0, box_b.y0)
            assert overlap_x <= 0.5 or overlap_y <= 0.5, (
                f"{a.get_text()!r} overlaps {b.get_text()!r}"
            )


def test_a_text_placed_in_a_box_fits_in_it(drawn):
    fig, renderer, texts = drawn
    ax = fig.axes[0]
    boxes = [
        p.get_window_extent(renderer)
        for p in ax.patches
        if isinstance(p, FancyBboxPatch)
    ]
    for t, tb in _texts_in_pixels(texts, renderer):
        cx, cy = (tb.x0 + tb.x1) / 2, (tb.y0 + tb.y1) / 2
        for bb in boxes:
            if bb.x0 < cx < bb.x1 and bb.y0 < cy < bb.y1:
                assert (
                    tb.x0 >= bb.x0 - 0.5
                    and tb.x1 <= bb.x1 + 0.5
                    and tb.y0 >= bb.y0 - 0.5
                    and tb.y1 <= bb.y1 + 0.5
                ), f"{t.get_text()!r} spills out of its box"


def test_made_without_pyplot():
    """A cell ending with the call shows the figure once; nothing is left open in pyplot."""
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    for make in ALL.values():
        make()
    assert plt.get_fignums() == before


# -- content --------------------------------------------------------------------------------------
def _strings(fig):
    return [
        t.get_text()
        for t in fig.findobj(
            lambda a: hasattr(a, "get_text") and hasattr(a, "get_fontsize")
        )
    ]


def test_book_path_follows_the_table_of_contents():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    pages = [
        c["file"]
        for part in toc["parts"]
        for c in part["chapters"]
        if c["file"].startswith("notebooks/")
    ]
    assert [c.file for c in diagrams.CHAPTERS] == pages
    toc_parts = {
        part["caption"]: [
            c["file"] for c in part["chapters"] if c["file"].startswith("notebooks/")
        ]
        for part in toc["parts"]
    }
    number_to_file = {c.number: c.file for c in diagrams.CHAPTERS}
    for caption, numbers in diagrams.PARTS:
        expected = toc_parts["Appendices" if caption == "Appendix" else caption]
        assert [number_to_file[n] for n in numbers] == expected
    # the number shown is the notebook's file number (the appendix: A)
    for c in diagrams.CHAPTERS:
        stem = Path(c.file).name
        appendices = {"appendix_fashion_mnist": "A", "appendix_cpu_precision": "B"}
        assert c.number == (
            appendices[stem] if stem.startswith("appendix") else str(int(stem[:2]))
        )


def test_book_path_boxes_go_in_reading_order():
    fig = diagrams.book_path()
    strings = _strings(fig)
    for c in diagrams.CHAPTERS:
        assert c.number in strings and c.title in strings
    boxes = fig.capslib_boxes
    order = [c.number for c in diagrams.CHAPTERS[:12]]
    for a, b in zip(order, order[1:]):
        (xa, ya, _, _), (xb, yb, _, _) = boxes[a], boxes[b]
        assert (ya == yb and xb > xa) or yb < ya, (
            f"chapter {b} is not after chapter {a}"
        )
    assert (
        boxes["0"][1] == boxes["5"][1] > boxes["6"][1] == boxes["11"][1] > boxes["A"][1]
    )


def test_neuron_and_capsule_numbers_are_computed():
    fig = diagrams.neuron_vs_capsule()
    by_hand = max(0.0, 0.8 * 0.2 - 0.3 * 0.9 + 1.1 * 0.4 + 0.1)
    assert fig.capslib_values["neuron_output"] == pytest.approx(by_hand)
    assert f"{by_hand:.2f}" in _strings(fig)
    u, u_hat, v = capsules.capsule_computation()
    assert u.shape == u_hat.shape == (3, 2) and v.shape == (2,)
    # W_ij is a rotation and scale: it keeps the angle between x and W x, and scales the length
    for (deg, scale), ui, ui_hat in zip(capsules.CAPSULE_W, u, u_hat):
        assert float(torch.linalg.vector_norm(ui_hat)) == pytest.approx(
            scale * float(torch.linalg.vector_norm(ui)), rel=1e-5
        )
        turned = math.degrees(
            math.atan2(float(ui_hat[1]), float(ui_hat[0]))
            - math.atan2(float(ui[1]), float(ui[0]))
        )
        assert (turned - deg + 180) % 360 - 180 == pytest.approx(0, abs=1e-3)
    s = u_hat.mean(0)
    n2 = float(s @ s)
    assert float(torch.linalg.vector_norm(v)) == pytest.approx(
        n2 / (1 + n2), rel=1e-5
    )  # |squash(s)|
    assert fig.capslib_values["capsule_length"] == pytest.approx(
        n2 / (1 + n2), rel=1e-5
    )
    assert any(f"length {n2 / (1 + n2):.2f}" in t for t in _strings(fig))
    # the three predictions agree (that is what the picture claims): pairwise cosines above 0.9
    unit = u_hat / torch.linalg.vector_norm(u_hat, dim=1, keepdim=True)
    assert (unit @ unit.T).min() > 0.9


def test_parts_vote_in_place_agree_and_scrambled_disagree():
    scenes = capsules.parts_scenes()
    votes = capsules.house_votes(scenes["in place"])
    first = next(iter(votes.values()))
    for vote in votes.values():
        np.testing.assert_allclose(
            vote, first, atol=1e-12
        )  # every part predicts the same house
    assert capsules.vote_spread(votes) < 1e-9
    assert capsules.vote_spread(capsules.house_votes(scenes["scrambled"])) > 0.3
    # the same parts, only moved: each part's shape is the same size in both scenes
    for name in capsules.HOUSE_PARTS:
        det = [np.linalg.det(scenes[s][name][:2, :2]) for s in scenes]
        assert det[0] == pytest.approx(det[1])
    fig = diagrams.parts_vote()
    strings = "\n".join(_strings(fig))
    assert "house capsule: active" in strings and "house capsule: inactive" in strings


def test_a_vote_is_the_part_pose_through_the_inverse_relation():
    part = capsules.pose(0.3, -0.2, angle=0.7, scale=1.3)
    vote = capsules.house_votes({"roof": part})["roof"]
    np.testing.assert_allclose(vote @ capsules.HOUSE_PARTS["roof"], part, atol=1e-12)


def test_routing_iteration_shows_the_five_steps_in_order():
    fig = diagrams.routing_iteration()
    assert fig.capslib_steps == [
        "1  Predictions",
        "2  Couplings",
        "3  Sum",
        "4  Squash",
        "5  Agreement",
    ]
    titles = [t for t in fig.axes[0].texts if t.get_text() in fig.capslib_steps]
    xs = [
        t.get_position()[0]
        for t in sorted(titles, key=lambda t: fig.capslib_steps.index(t.get_text()))
    ]
    assert xs == sorted(xs) and len(set(xs)) == 5, "the steps read left to right"


def test_routing_iteration_numbers_are_those_of_dynamic_routing():
    toy = routing.routing_toy()
    u_hat = torch.tensor(routing.TOY_U_HAT, dtype=torch.float64)  # (4, 2, 2)
    # by hand: iteration 1 with uniform couplings, then the update, then iteration 2
    b = torch.zeros(4, 2, dtype=torch.float64)
    for _ in range(routing.SHOWN_ITERATION):
        c = torch.softmax(b, dim=1)
        s = (c[:, :, None] * u_hat).sum(0)
        n2 = (s * s).sum(-1, keepdim=True)
        v = n2 / (1 + n2) * s / n2.sqrt()
        agreement = (u_hat * v[None]).sum(-1)
        b = b + agreement
    torch.testing.assert_close(toy["c"], c[:, 0])
    torch.testing.assert_close(toy["s"], s[0])
    torch.testing.assert_close(toy["v"], v[0], rtol=1e-6, atol=1e-8)
    torch.testing.assert_close(toy["agreement"], agreement[:, 0], rtol=1e-6, atol=1e-8)
    # what the picture says: the outlier (child 4) gets the smallest coupling and a negative agreement
    assert (
        int(toy["c"].argmin()) == 3
        and toy["agreement"][3] < 0 < toy["agreement"][:3].min()
    )
    assert (
        float(torch.linalg.vector_norm(toy["v"]))
        < 1
        < float(torch.linalg.vector_norm(toy["s"]))
    )
    strings = _strings(diagrams.routing_iteration())
    for k in range(4):
        assert f"{float(toy['c'][k]):.2f}" in strings
        assert f"{float(toy['agreement'][k]):+.2f}" in strings
    v_lib = cf.dynamic_routing(u_hat[None], iterations=routing.SHOWN_ITERATION)
    torch.testing.assert_close(toy["v"], v_lib[0, 0])


def test_architecture_shapes_of_the_paper():
    labels = diagrams.shape_labels()
    assert labels["input"] == "28×28"
    assert labels["conv1"] == "20×20×256"
    assert labels["primary"] == "6×6×32×8"
    assert labels["primary_count"] == "1152 capsules of 8D"
    assert labels["digit"] == "10×16"
    assert labels["decoder"] == "512 → 1024 → 784"
    strings = _strings(diagrams.capsnet_architecture())
    for key in ("input", "conv1", "primary", "primary_count", "digit"):
        assert labels[key] in strings, key
    assert "Decoder: 512 → 1024 → 784" in strings


def test_architecture_shapes_follow_the_config_and_the_model():
    """The labels are the shapes the model really produces, for another configuration too."""
    from capslib.models import CapsNet

    config = CapsNetConfig.small(input_size=36)
    labels = diagrams.shape_labels(config)
    model = CapsNet(config).eval()
    images = torch.rand(2, 1, 36, 36)
    with torch.no_grad():
        conv = torch.relu(model.conv1(images))
        primary = model.primary_caps(conv)
        out = model(images)
    assert (
        labels["conv1"]
        == "×".join(map(str, (conv.shape[2], conv.shape[3], conv.shape[1])))
        == "28×28×64"
    )
    assert labels["primary"] == "10×10×16×8"
    assert primary.shape[1:] == (10 * 10 * 16, 8)
    assert (
        labels["primary_count"]
        == f"{primary.shape[1]} capsules of {primary.shape[2]}D"
        == "1600 capsules of 8D"
    )
    assert labels["digit"] == "×".join(map(str, out.poses.shape[1:])) == "10×16"
    assert labels["decoder"].endswith(str(36 * 36))
    strings = _strings(diagrams.capsnet_architecture(config))
    assert "28×28×64" in strings and "10×10×16×8" in strings
    no_decoder = _strings(
        diagrams.capsnet_architecture(CapsNetConfig(use_decoder=False))
    )
    assert not any(s.startswith("Decoder") for s in no_decoder)


def test_diagram_text_never_below_the_minimum():
    from capsbook.diagrams import _style

    fig, ax = _style.new_figure(1.0)
    with pytest.raises(ValueError, match="at least 9 pt"):
        _style.text(ax, 0.5, 0.5, "tiny", size=7)


def test_the_preface_figure_is_made_from_the_current_code():
    """book/figures/book_path.svg records the fingerprint of the code that drew it (make_figures.py)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "make_figures", ROOT / "book" / "figures" / "make_figures.py"
    )
    make_figures = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_figures)
    for name, function in make_figures.FIGURES.items():
        svg = (ROOT / "book" / "figures" / name).read_text(encoding="utf-8")
        assert (
            f"capsbook.diagrams.{function}(); code fingerprint {make_figures.fingerprint()}"
            in svg
        ), (
            f"book/figures/{name} is older than the code that draws it: run python book/figures/make_figures.py"
        )
        assert svg.lstrip().startswith("<?xml") and "<svg" in svg


def test_make_figures_writes_an_svg_that_reads_at_the_book_width(tmp_path):
    import importlib.util
    import re as regex

    spec = importlib.util.spec_from_file_location(
        "make_figures", ROOT / "book" / "figures" / "make_figures.py"
    )
    make_figures = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_figures)
    path = make_figures.draw("book_path.svg", "book_path", folder=tmp_path)
    width_pt = float(
        regex.search(r'<svg[^>]*width="([\d.]+)pt"', path.read_text()).group(1)
    )
    assert 700 <= width_pt / 72 * 100 <= 800, (
        f"{width_pt} pt is {width_pt / 72 * 100:.0f} px at 100 dpi"
    )


def test_a_diagram_shows_as_a_png_in_ipython_even_before_any_pyplot_figure():
    """A notebook whose first figure is a diagram must not print '<Figure size ...>' instead of the picture."""
    from IPython.core.interactiveshell import InteractiveShell

    from capsbook.diagrams import _style

    shell = InteractiveShell.instance()
    try:
        fig = diagrams.routing_iteration()
        data, _ = shell.display_formatter.format(fig)
        assert data["image/png"][:4] == b"\x89PNG"
        assert _style.show_figures_as_png_in_ipython()
    finally:
        InteractiveShell.clear_instance()


def test_digit_grids_are_legible_at_the_pages_width():
    """Fig. 0.1 and Fig. 1.4 (show_digits): labels and titles at least MIN_TEXT_PX high."""
    import matplotlib.pyplot as plt

    from capsbook.plots import MIN_TEXT_PX, show_digits, text_px_on_page

    images, labels = torch.rand(30, 1, 28, 28), torch.arange(30) % 10
    for n, predictions in [(30, None), (20, (labels[:20] + 1) % 10)]:
        fig = show_digits(
            images[:n], labels[:n], predictions=predictions, ncols=10, title="digits"
        )
        assert text_px_on_page(fig) >= MIN_TEXT_PX, text_px_on_page(fig)
        plt.close(fig)


def test_text_px_on_page_sees_a_figure_shrunk_to_the_column():
    import matplotlib.pyplot as plt

    from capsbook.plots import MIN_TEXT_PX, PAGE_WIDTH_PX, text_px_on_page

    fig, ax = plt.subplots(figsize=(14, 3), dpi=100)
    ax.set_title("eight points", fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])
    # 14 inches shown in 700 px: 50 px an inch, so 8 pt is 8 / 72 * 50 = 5.6 px
    assert text_px_on_page(fig) == pytest.approx(8 / 72 * PAGE_WIDTH_PX / 14)
    assert text_px_on_page(fig) < MIN_TEXT_PX
    plt.close(fig)


def test_the_pooling_diagram_shows_what_max_pool2d_computes():
    """The numbers drawn are PyTorch's, and the shift verdicts are the ones that hold."""
    example = diagrams.pooling_example()
    grid = torch.tensor(example["map"], dtype=torch.float32)
    # by hand: the largest value of each 2 x 2 window
    by_hand = [[int(grid[r : r + 2, c : c + 2].max()) for c in (0, 2)] for r in (0, 2)]
    assert example["pooled"] == by_hand == [[4, 2], [2, 5]]
    (_, first), (_, within), (_, across) = example["shifted"]
    assert within == first, "a shift inside the window leaves the output unchanged"
    assert across != first, "a shift into the next window changes it"
    strings = _strings(diagrams.max_pool_windows())
    assert "same output" in strings and "output changes" in strings
    assert "stride 2" in strings


def test_book_path_labels_clear_their_box_edges():
    """Every label inside a chapter box leaves at least 0.015 in (1.5 px) to the box's left and right edges."""
    fig = diagrams.book_path()
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    to_data = ax.transData.inverted()
    checked = 0
    for t in ax.texts:
        bb = t.get_window_extent(renderer)
        (x0, y0), (x1, y1) = to_data.transform([(bb.x0, bb.y0), (bb.x1, bb.y1)])
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        for number, (x, y, w, h) in fig.capslib_boxes.items():
            if x < cx < x + w and y < cy < y + h:
                checked += 1
                assert x0 - x >= 0.015 and x + w - x1 >= 0.015, (
                    f"box {number}: {t.get_text()!r} touches the box edge"
                )
    assert checked == 3 * len(diagrams.CHAPTERS)  # number, title, what it gives
