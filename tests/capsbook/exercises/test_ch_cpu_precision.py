"""Exercise checks of the appendix on number formats: the references by hand, and typical wrong answers
failing with the hint that names the mistake.  (Every check's reference solution and unfinished stub:
tests/capsbook/exercises/test_checks.py.)"""

import math

import pytest
import torch

from capsbook.exercises import ch_cpu_precision as ex


# -- Exercise B.1: the most a step can gain ------------------------------------------------
def test_autocast_bound_by_hand():
    assert ex.reference_autocast_bound(0.5, math.inf) == 2.0  # half the step stays
    assert ex.reference_autocast_bound(0.8, 3.0) == pytest.approx(1 / (0.2 + 0.8 / 3))
    assert ex.reference_autocast_bound(0.0, 9.0) == 1.0
    assert ex.reference_autocast_bound(0.5, 0.5) == pytest.approx(1 / 1.5)  # emulated


def test_autocast_bound_averaging_speeds_fails_with_its_hint(capsys):
    assert not ex.check_autocast_bound(lambda f, r: (1 - f) + f * r).passed
    assert "times add, not speeds" in capsys.readouterr().out
    assert not ex.check_autocast_bound(lambda f, r: (1 - f) + f / r).passed
    assert "the speed-up is its inverse" in capsys.readouterr().out


# -- Exercise B.2: the share of the step that was matrix work --------------------------------
def test_matrix_share_inverts_the_bound():
    for f in (0.0, 0.1, 0.5, 0.9, 1.0):
        for r in (1.5, 2.0, 4.0):
            gain = ex.reference_autocast_bound(f, r)
            assert ex.reference_matrix_share(gain, r) == pytest.approx(f, abs=1e-12)
    with pytest.raises(ValueError):
        ex.reference_matrix_share(3.0, 2.0)  # more than the matrix work gained
    with pytest.raises(ValueError):
        ex.reference_matrix_share(1.2, 1.0)


def test_matrix_share_ratio_of_gains_fails_with_its_hint(capsys):
    assert not ex.check_matrix_share(lambda gain, r: gain / r).passed
    assert "the gains do not divide" in capsys.readouterr().out


def test_matrix_share_without_the_refusal_fails(capsys):
    def no_refusal(gain, r):
        return (1 - 1 / gain) / (1 - 1 / r) if r != 1 else 0.0

    report = ex.check_matrix_share(no_refusal)
    assert not report.passed
    assert "raise ValueError instead of returning one" in capsys.readouterr().out


# -- Exercise B.3: where a running sum stops growing ----------------------------------------
def test_stall_by_hand():
    # 8 significant bits: from 256 on the gap is 2, and 256 + 1 rounds back to even 256
    assert ex.reference_stall(1.0, torch.bfloat16) == 256.0
    assert ex.reference_stall(0.25, torch.bfloat16) == 64.0
    assert ex.reference_stall(1.0, torch.float16) == 2048.0  # 11 significant bits
    one = torch.tensor(256.0, dtype=torch.bfloat16)
    assert one + 1 == one and one - 1 != one


def test_stall_in_float32_or_as_a_count_fails_with_its_hint(capsys):
    def count(increment, dtype):
        total, step, n = (
            torch.zeros((), dtype=dtype),
            torch.tensor(increment, dtype=dtype),
            0,
        )
        while total + step != total:
            total, n = total + step, n + 1
        return float(n)

    assert not ex.check_stall(count).passed
    assert "that is the number of terms" in capsys.readouterr().out

    def in_float16(increment, dtype):
        return ex.reference_stall(increment, torch.float16)

    assert not ex.check_stall(in_float16).passed
    assert "the sum was not kept in bfloat16" in capsys.readouterr().out

    def one_reduction(increment, dtype):  # torch.sum does not stop: see below
        n = 8 * _terms_to_stall(increment, dtype)
        return float(torch.full((n,), increment, dtype=dtype).sum())

    assert not ex.check_stall(one_reduction).passed
    assert "accumulate in float32 on a CPU" in capsys.readouterr().out


def _terms_to_stall(increment, dtype):
    return round(ex.reference_stall(increment, dtype) / increment)


def test_cpu_reductions_over_bf16_accumulate_in_float32():
    """The premise of Exercise B.3: a running total kept in bf16 stops at 256, but
    PyTorch's CPU reductions over the same 1,152 bf16 ones (the paper network's
    primary capsules) accumulate in float32 and round once: 1,152, exactly."""
    ones = torch.ones(1152, dtype=torch.bfloat16)
    assert ex.reference_stall(1.0, torch.bfloat16) == 256.0
    assert float(ones.sum()) == 1152.0  # 1152 = 9 x 2^7: a bf16 value
    assert float(ones.cumsum(0)[-1]) == 1152.0
    assert float(ones @ ones) == 1152.0
    votes = torch.ones(2, 1152, 10, 16, dtype=torch.bfloat16)
    assert (votes.sum(dim=1) == 1152).all()  # the routing's sum over capsules
    # what a bf16 total between additions loses: Adam's step of lr 1e-3 on a weight of 1
    weight = torch.ones((), dtype=torch.bfloat16)
    assert weight + 1e-3 == weight and weight - 1e-3 == weight
    assert weight.float() + 1e-3 != weight.float()  # float32 keeps the step
