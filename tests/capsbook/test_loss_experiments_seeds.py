"""Chapter 6's seeds: per-arm summaries and the rule between two arms, by hand."""

from __future__ import annotations

import math

import pytest

from capsbook.loss_experiments import seeds as ls


def test_run_names_keep_the_first_runs_folders_for_seed_0():
    assert ls.run_key("sum", 0) == "sum" and ls.run_folder("sum", 0) == "losses-sum"
    assert ls.run_key("none", 2) == "none-seed2"
    assert ls.run_folder("mean", 1) == "losses-mean-seed1"
    assert ls.parse_seeds("0,1,2") == [0, 1, 2]
    for bad in ("0,0", "a", "", "-1"):
        with pytest.raises(ValueError):
            ls.parse_seeds(bad)


def test_arm_stats_by_hand():
    stats = ls.arm_stats([1.0, 2.0, 6.0])  # mean 3, deviations -2 -1 3: var 14/2
    assert stats["n"] == 3 and stats["mean"] == pytest.approx(3)
    assert stats["sd"] == pytest.approx(math.sqrt(7))
    assert stats["se"] == pytest.approx(math.sqrt(7 / 3))
    one = ls.arm_stats([4.0])
    assert one["mean"] == 4 and one["sd"] is None and one["se"] is None


def test_compare_holds_beyond_two_se_of_the_difference():
    # means 2 and 5, each sd 1: se sqrt(1/3 + 1/3) = 0.816; |-3| > 1.63
    result = ls.compare([1.0, 2.0, 3.0], [4.0, 5.0, 6.0])
    assert result["difference"] == pytest.approx(-3)
    assert result["se"] == pytest.approx(math.sqrt(2 / 3))
    assert result["sign"] == -1 and result["verdict"] == "lower" and result["n"] == 3
    assert ls.compare([4.0, 5.0, 6.0], [1.0, 2.0, 3.0])["verdict"] == "higher"


def test_compare_fails_within_two_se():
    # the same spreads, means 2 and 3: |-1| < 1.63
    result = ls.compare([1.0, 2.0, 3.0], [2.0, 3.0, 4.0])
    assert result["difference"] == pytest.approx(-1)
    assert result["sign"] == 0 and result["verdict"] == "not shown"


def test_compare_with_unequal_seeds_and_spreads():
    # a: mean 2, var 1, n 3; b: mean 10, var 16 (sd 4), n 4: se sqrt(1/3 + 4)
    result = ls.compare([1.0, 2.0, 3.0], [4.0, 8.0, 12.0, 16.0])
    var_b = sum((x - 10) ** 2 for x in (4, 8, 12, 16)) / 3
    assert result["se"] == pytest.approx(math.sqrt(1 / 3 + var_b / 4))
    assert result["n"] == 3 and result["sign"] == -1  # 8 > 2 x 3.3


def test_compare_with_fewer_than_three_seeds_is_not_decided():
    result = ls.compare([1.0, 2.0], [40.0, 50.0, 60.0])
    assert result["sign"] is None and result["verdict"] == "not decided (2 seeds)"
    assert result["difference"] == pytest.approx(-48.5)  # still reported
    assert ls.compare([1.0], [2.0, 3.0, 4.0])["verdict"] == "not decided (1 seed)"
    assert ls.compare([], [1.0])["difference"] is None


def test_summarise_groups_runs_by_arm_in_seed_order():
    record = {
        "runs": {
            "sum-seed2": {"variant": "sum", "seed": 2, "test_errors": 30},
            "sum": {"variant": "sum", "seed": 0, "test_errors": 10},
            "none": {"variant": "none", "seed": 0, "test_errors": 40},
        },
        "reconstruction": {"errors": {"sum": 1.0, "sum-seed2": 3.0}},
        "probe": {
            "r2": {"sum": [[0.2, 0.4]], "sum-seed2": [[0.6, 0.6]], "none": [[0.1, 0.3]]}
        },  # fmt: skip
        "decoder": {"movement": {}, "adam": {}},
        "shared_gradient": {"shares": {}},
    }
    assert ls.arms_of(record) == {"sum": ["sum", "sum-seed2"], "none": ["none"]}
    summary = ls.summarise(record)
    assert summary["test_errors"]["sum"]["values"] == [10.0, 30.0]
    assert summary["test_errors"]["sum"]["se"] == pytest.approx(10)  # sd 14.1 / 1.41
    assert summary["reconstruction_error"]["sum"]["mean"] == pytest.approx(2)
    assert "none" not in summary["reconstruction_error"]  # no decoder
    assert summary["probe_r2"]["sum"]["values"] == pytest.approx([0.3, 0.6])
    assert summary["decoder_movement"] == {}
