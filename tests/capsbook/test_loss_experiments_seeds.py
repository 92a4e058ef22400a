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


def test_paired_compare_holds_beyond_t_standard_errors_of_the_differences():
    # differences per seed: 3 - 1, 5 - 3, 8.4 - 6 = 2, 2, 2.4: mean 2.133,
    # sd sqrt(((-2/15)^2 * 2 + (4/15)^2) / 2) = 0.2309, se 0.1333; t = 16
    a, b = {0: 3.0, 1: 5.0, 2: 8.4}, {0: 1.0, 1: 3.0, 2: 6.0}
    result = ls.paired_compare(a, b)
    assert result["seeds"] == [0, 1, 2]
    assert result["differences"] == pytest.approx([2.0, 2.0, 2.4])
    assert result["difference"] == pytest.approx(32 / 15)
    assert result["se"] == pytest.approx(0.4 / 3)
    assert result["t"] == pytest.approx(16)
    # 2 degrees of freedom: p = 1 - t / sqrt(t^2 + 2), critical 4.303
    assert result["p"] == pytest.approx(1 - 16 / math.sqrt(258))
    assert result["critical"] == pytest.approx(0.95 * math.sqrt(2 / (1 - 0.95**2)))
    assert result["sign"] == 1 and result["verdict"] == "higher" and result["n"] == 3
    assert ls.paired_compare(b, a)["verdict"] == "lower"


def test_paired_compare_beyond_two_se_but_within_t_is_not_shown():
    # differences 1, 2, 3: mean 2, sd 1, se 1/sqrt(3) = 0.577, t = 3.46: beyond
    # 2 standard errors (the first rule's bar) but within 4.30, p = 0.074
    result = ls.paired_compare({0: 2.0, 1: 5.0, 2: 9.0}, {0: 1.0, 1: 3.0, 2: 6.0})
    assert result["difference"] == pytest.approx(2)
    assert result["se"] == pytest.approx(1 / math.sqrt(3))
    assert result["p"] == pytest.approx(1 - math.sqrt(12) / math.sqrt(14))
    assert result["sign"] == 0 and result["verdict"] == "not shown"
    # with 4 seeds the bar is 3.18: differences 1, 2, 3, 2 (t = 4.90) count
    four = ls.paired_compare(
        {0: 1.0, 1: 2.0, 2: 3.0, 3: 2.0}, dict.fromkeys(range(4), 0)
    )
    assert four["critical"] == pytest.approx(3.182446, abs=1e-5)
    assert four["sign"] == 1


def test_paired_compare_fails_within_two_se():
    # differences 3, -1, 1: mean 1, sd 2, se 2/sqrt(3) = 1.15; t = 0.87: not shown
    result = ls.paired_compare({0: 4.0, 1: 0.0, 2: 2.0}, {0: 1.0, 1: 1.0, 2: 1.0})
    assert result["difference"] == pytest.approx(1)
    assert result["se"] == pytest.approx(2 / math.sqrt(3))
    assert result["sign"] == 0 and result["verdict"] == "not shown"


def test_paired_compare_with_equal_differences_has_no_noise():
    result = ls.paired_compare({0: 2.0, 1: 3.0, 2: 4.0}, {0: 1.0, 1: 2.0, 2: 3.0})
    assert result["se"] == 0 and result["p"] == 0 and result["sign"] == 1
    same = ls.paired_compare({0: 2.0, 1: 3.0, 2: 4.0}, {0: 2.0, 1: 3.0, 2: 4.0})
    assert same["t"] == 0 and same["p"] == 1 and same["sign"] == 0


def test_pairing_removes_what_the_seeds_share():
    # seeds move both arms together: unpaired the spread of each arm (sd 10) hides
    # the difference; paired, the differences 1.0, 1.2, 0.8 (sd 0.2) reveal it
    a = {0: 11.0, 1: 21.2, 2: 30.8}
    b = {0: 10.0, 1: 20.0, 2: 30.0}
    result = ls.paired_compare(a, b)
    assert result["difference"] == pytest.approx(1.0)
    assert result["se"] == pytest.approx(0.2 / math.sqrt(3))
    assert result["sign"] == 1  # t = 8.7 > 4.30
    unpaired_se = math.sqrt(ls.arm_stats(list(a.values()))["se"] ** 2 + 100 / 3)
    assert result["difference"] < 2 * unpaired_se  # unpaired, it would not count


def test_paired_compare_pairs_only_the_seeds_both_arms_have():
    a = {0: 3.0, 1: 5.0, 2: 8.0, 7: 100.0}  # seed 7 has no partner
    b = {2: 4.0, 0: 1.0, 1: 2.0}
    result = ls.paired_compare(a, b)
    assert result["seeds"] == [0, 1, 2] and result["differences"] == [2.0, 3.0, 4.0]
    assert result["difference"] == pytest.approx(3) and result["n"] == 3


def test_paired_compare_with_fewer_than_three_pairs_is_not_decided():
    result = ls.paired_compare({0: 1.0, 1: 2.0}, {0: 40.0, 1: 50.0, 2: 60.0})
    assert result["sign"] is None and result["verdict"] == "not decided (2 seeds)"
    assert result["p"] is None and result["critical"] is None
    assert result["difference"] == pytest.approx(-43.5)  # still reported
    assert result["se"] == pytest.approx(4.5)  # differences -39, -48: sd 6.36 / 1.41
    one = ls.paired_compare({0: 1.0}, {0: 2.0, 1: 3.0, 2: 4.0})
    assert one["verdict"] == "not decided (1 seed)" and one["se"] is None
    assert ls.paired_compare({}, {0: 1.0})["difference"] is None


def test_arm_by_seed_keys_the_values_by_seed():
    record = {
        "runs": {
            "sum-seed2": {"variant": "sum", "seed": 2, "test_errors": 30},
            "sum": {"variant": "sum", "seed": 0, "test_errors": 10},
        }
    }
    assert ls.arm_by_seed(record, "test_errors", "sum") == {0: 10.0, 2: 30.0}
    assert ls.arm_by_seed(record, "test_errors", "none") == {}


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
