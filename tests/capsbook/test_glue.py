"""capsbook.glue.glue: a hidden value stays off the page, a shown one is shown once."""

from __future__ import annotations

import pytest

from capsbook.glue import glue


@pytest.fixture
def shell():
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    yield shell
    InteractiveShell.clear_instance()


def test_a_hidden_glue_on_a_cells_last_line_has_no_result(shell):
    shell.user_ns["glue"] = glue
    result = shell.run_cell("glue('spread', 0.0108, display=False)", store_history=True)
    assert result.success and result.result is None, (
        "the value would print under the cell as Out[]"
    )


def test_a_shown_glue_is_displayed_once_and_returns_none(shell):
    from IPython.utils.capture import capture_output

    assert glue("count", 3, display=False) is None
    shell.user_ns["glue"] = glue
    with capture_output() as captured:
        result = shell.run_cell("glue('count', 3)", store_history=True)
    assert result.success and result.result is None
    shown = [o.data.get("text/plain") for o in captured.outputs] or [
        captured.stdout.strip()
    ]
    assert len(shown) == 1 and "3" in shown[0], (captured.outputs, captured.stdout)
