"""Intervals from an eval's units: known answers, coverage, and paired differences."""

from __future__ import annotations

import numpy as np
import pytest

from saeeval.uncertainty import UnitValues, difference_interval, interval, record


def _means(values, unit="letter") -> UnitValues:
    ids = [str(i) for i in range(len(values))]
    return UnitValues(unit, ids, {"value": [float(v) for v in values]}, "mean")


def test_interval_of_a_mean_is_the_normal_one_for_many_units():
    values = np.random.default_rng(1).normal(0.3, 1.0, size=400)
    low, high = interval(_means(values))
    half_width = 1.96 * values.std(ddof=1) / np.sqrt(len(values))
    assert low == pytest.approx(values.mean() - half_width, abs=0.2 * half_width)
    assert high == pytest.approx(values.mean() + half_width, abs=0.2 * half_width)


def test_intervals_cover_the_true_mean_about_95_percent_of_the_time():
    rng = np.random.default_rng(2)
    covered = 0
    for trial in range(300):
        low, high = interval(_means(rng.normal(1.0, 2.0, size=40)), seed=trial)
        covered += low <= 1.0 <= high
    assert 0.89 <= covered / 300 <= 0.99


def test_a_ratio_of_sums_is_a_weighted_mean():
    # Two datasets with 2 and 4 classes: the headline is the mean of the two dataset means.
    accuracies = {"a": [0.9, 0.7], "b": [0.6, 0.6, 0.5, 0.7]}
    ids, numerator, denominator = [], [], []
    for name, values in accuracies.items():
        for i, v in enumerate(values):
            ids.append(f"{name}/{i}")
            numerator.append(v / len(values))
            denominator.append(1 / len(values))
    units = UnitValues(
        "class probe", ids, {"numerator": numerator, "denominator": denominator}, "ratio"
    )
    assert units.point() == pytest.approx((0.8 + 0.6) / 2)


def test_one_unit_has_no_interval_and_constant_units_a_point_interval():
    assert interval(_means([0.5])) == (None, None)
    assert interval(_means([0.5, 0.5, 0.5])) == (pytest.approx(0.5), pytest.approx(0.5))
    entry = record({"m": _means([0.5])})["metrics"]["m"]
    assert entry["ci_low"] is None and entry["n_units"] == 1 and entry["value"] == 0.5


def test_an_sae_compared_with_itself_differs_by_exactly_zero():
    units = _means(np.random.default_rng(3).uniform(size=26))
    low, high, paired = difference_interval(units, units)
    assert paired and low == 0 and high == 0


def test_pairing_over_shared_units_sees_a_small_consistent_difference():
    # Units differ a lot from each other (hard and easy letters); the second SAE is better on
    # every one of them by about 0.02. Paired, the interval excludes 0; unpaired it cannot.
    rng = np.random.default_rng(4)
    hardness = rng.uniform(0, 1, size=26)
    base = _means(hardness)
    better = _means(hardness + 0.02 + rng.normal(0, 0.005, size=26))
    low, high, paired = difference_interval(better, base)
    assert paired and 0 < low < 0.02 < high < 0.03
    unpaired = _means(better.columns["value"], unit="batch")  # another kind of unit: no pairing
    low_u, high_u, paired_u = difference_interval(unpaired, base)
    assert not paired_u and low_u < 0 < high_u


def test_pairing_follows_unit_ids_not_their_order():
    rng = np.random.default_rng(5)
    values = rng.uniform(size=10)
    base = _means(values)
    shuffled_order = [str(i) for i in reversed(range(10))]
    same = UnitValues("letter", shuffled_order, {"value": list(values[::-1] + 0.1)}, "mean")
    low, high, paired = difference_interval(same, base)
    assert paired and low == pytest.approx(0.1) and high == pytest.approx(0.1)


def test_a_baseline_between_two_saes_is_their_weighted_sum():
    rng = np.random.default_rng(6)
    hardness = rng.uniform(size=30)
    low_sae, high_sae = _means(hardness), _means(hardness + 0.2)
    midway = _means(hardness + 0.1)
    low, high, paired = difference_interval(midway, [(low_sae, 0.5), (high_sae, 0.5)])
    assert paired and low == pytest.approx(0.0, abs=1e-12) and high == pytest.approx(0.0, abs=1e-12)


def test_units_must_have_a_value_per_id():
    with pytest.raises(ValueError, match="column 'value' has 2 values for 3"):
        UnitValues("letter", ["a", "b", "c"], {"value": [1.0, 2.0]}, "mean")
    with pytest.raises(ValueError, match="unknown statistic"):
        UnitValues("letter", ["a"], {"value": [1.0]}, "median")
