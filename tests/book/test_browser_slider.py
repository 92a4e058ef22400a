"""Chapter 9's kernel-free pose slider, moved in a real browser (headless Chromium, no Python kernel).

The slider (``capsbook.pose_slider``) is plain HTML with an inline script, and the decodings were
computed when the book was built. These tests open it as a reader would, move one slider, and check
that the digit shown changed (to the decoding embedded for that offset), without any request to
another origin:

* on a standalone page made here from made-up decodings (needs no built book);
* on chapter 9's page of the built book (``make book`` first; ``CAPSLIB_BOOK_ROOT`` as in
  tests/book/test_browser.py);
* and on a copy of that page whose inline script was removed, where the same check must report
  that nothing changed (so the check can fail).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent / "browser"))
import bookcheck  # noqa: E402
from test_browser import HTML, require_built_book  # noqa: E402  (browser, context: tests/book/conftest.py)

from capsbook.pose_slider import pose_slider_html  # noqa: E402

CHAPTER = "notebooks/09_what_capsules_learn"
browser_test = pytest.mark.browser


def check_slider_moves(page, dimension: int | None = None) -> list[str]:
    """Move one slider of the first pose slider on ``page`` to its last step; the problems found.

    ``dimension``: which slider (default: the one whose last frame differs most from the first frame
    in bytes, i.e. a dimension that visibly changes the digit).  Checks that the script ran
    (``data-ready``), that the digit and the difference image switched to the frames embedded for
    that dimension and offset, and that the reset button brings back the capsule's own reconstruction.
    """
    root = page.locator("div.capslib-pose-slider").first
    if root.count() == 0:
        return ["no pose slider (div.capslib-pose-slider) on the page"]
    if root.get_attribute("data-ready") != "1":
        return [
            "the slider's script did not run (no data-ready='1'): scripts in outputs are not executed"
        ]
    data = json.loads(root.locator("script.cps-data").text_content())
    sliders = root.locator("input.cps-range")
    if sliders.count() != len(data["frames"]):
        return [f"{sliders.count()} sliders for {len(data['frames'])} dimensions"]
    last = len(data["offsets"]) - 1
    if dimension is None:
        dimension = max(
            range(len(data["frames"])),
            key=lambda d: data["frames"][d][last] != data["frames"][d][0],
        )
    digit, diff = root.locator("img.cps-digit"), root.locator("img.cps-diff")
    before = digit.get_attribute("src")
    problems = []
    if before != data["frames"][dimension][data["zero"]]:
        problems.append(
            "before any move, the digit shown is not the capsule's own reconstruction (offset 0)"
        )
    sliders.nth(dimension).fill(str(last))  # sets the value and fires the input event
    after = digit.get_attribute("src")
    if after == before:
        problems.append(
            f"moving the slider of dimension {dimension} to {data['offsets'][last]:+.2f} did not change "
            "the digit shown"
        )
    elif after != data["frames"][dimension][last]:
        problems.append(
            f"after the move the digit shown is not the decoding embedded for dimension {dimension} "
            f"at {data['offsets'][last]:+.2f}"
        )
    if diff.get_attribute("src") != data["differences"][dimension][last]:
        problems.append("the difference image did not follow the slider")
    if (
        root.locator("output").nth(dimension).text_content().strip()
        != f"+{data['offsets'][last]:.2f}"
    ):
        problems.append("the slider's value label did not follow it")
    root.locator("button.cps-reset").click()
    if digit.get_attribute("src") != data["frames"][0][data["zero"]]:
        problems.append("reset did not bring back the capsule's own reconstruction")
    thumbs = [sliders.nth(d).input_value() for d in range(sliders.count())]
    if any(value != str(data["zero"]) for value in thumbs):
        problems.append(
            f"after reset not every thumb is back at 0 (step {data['zero']}): {thumbs}"
        )
    labels = {
        root.locator("output").nth(d).text_content().strip() for d in range(len(thumbs))
    }
    if labels != {"+0.00"}:
        problems.append(
            f"after reset the value labels read {sorted(labels)}, not +0.00"
        )
    return problems


def _made_up_grid(dims=4, steps=5, size=8):
    g = torch.Generator().manual_seed(0)
    grid = torch.rand(dims, steps, 1, size, size, generator=g)
    grid[:, steps // 2] = grid[0, steps // 2]
    offsets = torch.linspace(-0.2, 0.2, steps)
    offsets[steps // 2] = 0.0
    return grid, offsets


@browser_test
def test_a_standalone_slider_changes_the_digit(context, tmp_path):
    grid, offsets = _made_up_grid()
    page_file = tmp_path / "slider.html"
    page_file.write_text(
        f"<!doctype html><html><body>{pose_slider_html(grid, offsets)}</body></html>",
        encoding="utf-8",
    )
    with bookcheck.serve(tmp_path) as base_url:
        record = bookcheck.visit(context, f"{base_url}slider.html")
        try:
            assert check_slider_moves(record.page, dimension=2) == []
            # dimension 0 too: the reset shows dimension 0, and used to leave its thumb moved
            assert check_slider_moves(record.page, dimension=0) == []
            assert (
                record.page.locator("div.capslib-pose-slider").get_attribute("data-dim")
                == "0"
            )  # after reset
            assert (
                bookcheck.check_loads_cleanly(record) == []
                and bookcheck.check_offline(record) == []
            )
        finally:
            record.page.close()


@browser_test
def test_the_slider_in_chapter_9_changes_the_digit_without_a_kernel(context):
    require_built_book(HTML, [CHAPTER])
    with bookcheck.serve(HTML) as base_url:
        record = bookcheck.visit(context, f"{base_url}{CHAPTER}.html")
        try:
            problems = check_slider_moves(record.page)
            problems += bookcheck.check_loads_cleanly(record) + bookcheck.check_offline(
                record
            )
        finally:
            record.page.close()
    assert not problems, f"{CHAPTER}:\n  " + "\n  ".join(problems)


@browser_test
def test_a_slider_without_its_script_is_caught(context, tmp_path):
    require_built_book(HTML, [CHAPTER])
    site = bookcheck.mirror(HTML, tmp_path / "site")
    marker = "(function () {\n  var root = document.getElementById("
    bookcheck.write_variant(
        site,
        f"{CHAPTER}.html",
        lambda text: text.replace(
            marker, "(function () { return;\n  var root = document.getElementById("
        ),
    )
    with bookcheck.serve(site) as base_url:
        record = bookcheck.visit(context, f"{base_url}{CHAPTER}.html")
        try:
            problems = check_slider_moves(record.page)
        finally:
            record.page.close()
    assert problems and "did not run" in problems[0]


@browser_test
def test_a_standalone_slider_without_its_script_is_caught(context, tmp_path):
    grid, offsets = _made_up_grid()
    html = pose_slider_html(grid, offsets)
    start = html.rindex("<script>")
    broken = html[:start] + html[html.index("</script>", start) + len("</script>") :]
    (tmp_path / "broken.html").write_text(
        f"<!doctype html><html><body>{broken}</body></html>", encoding="utf-8"
    )
    with bookcheck.serve(tmp_path) as base_url:
        record = bookcheck.visit(context, f"{base_url}broken.html")
        try:
            problems = check_slider_moves(record.page, dimension=2)
        finally:
            record.page.close()
    assert problems and "did not run" in problems[0]
