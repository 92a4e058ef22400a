"""What the exercise tests read from a check's report: its failures, and the hint beside one of them.

Not a test module: the chapters' test files import it (pytest puts this folder on ``sys.path``).
"""

from __future__ import annotations


def failures(report) -> str:
    """The report's failed properties, on one line."""
    return " | ".join(report.failures)


def fails_on(report, fragment: str):
    """``report``, once it is known to have failed on a property whose description contains ``fragment``."""
    assert not report.passed
    assert any(fragment in failure for failure in report.failures), report.failures
    return report


def hint_of(report, fragment: str) -> str:
    """The hint printed beside the failed property whose description contains ``fragment``."""
    hints = [hint for what, ok, hint in report.results if not ok and fragment in what]
    assert hints, (
        f"no failed property matches {fragment!r}: failures are {report.failures}"
    )
    return hints[0]


def unfinished(*args, **kwargs):
    """An answer not written yet: the stub every exercise starts from."""
    raise NotImplementedError("replace this line with your answer")
