"""capsbook.exercises.report: a check stops at an unfinished answer's first case and reports it once."""

import pytest

from capsbook.exercises import ch07, ch08


@pytest.mark.parametrize(
    "check",
    [
        ch07.check_conv_output_size,
        ch07.check_capsnet_parameters,
        ch08.check_break_even_steps,
        ch08.check_early_stop,
    ],
)
def test_an_unfinished_stub_is_reported_once_not_once_per_case(check):
    def stub(*args):
        raise NotImplementedError("replace this line with your answer")

    report = check(stub, verbose=False)
    assert (
        not report.passed
        and len(report.results) == 1
        and "NotImplementedError" in str(report)
    )
