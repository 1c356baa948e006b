"""95% intervals for headline metrics, from the units each eval averages over.

Every headline metric an eval reports is a function of per-unit statistics averaged over its
units: core's batches, sparse probing's (dataset, class) probes, absorption's letters, SCR's class
pairs, TPP's (dataset, class) ablations, unlearning's questions. An eval records, per metric, the
unit ids, the per-unit columns and the name of the function (`STATISTICS`) that turns the
columns' means into the metric, so that

    metric = STATISTICS[statistic]({column: mean over units})

reproduces the headline value. A percentile bootstrap over units (resampling units with
replacement, `RESAMPLES` times, a fixed seed so a result file is reproducible) gives the interval.
Because the per-unit columns are kept in the result file, `saeeval compare` can resample the
same units for two SAEs and give an interval of their difference paired over shared units.

The record lives in `eval_result_unstructured["saeeval_uncertainty"]`, which SAEBench's schema
leaves free, so the result files still validate.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

LEVEL = 0.95
RESAMPLES = 2000
SEED = 0
KEY = "saeeval_uncertainty"
METHOD = f"percentile bootstrap over units, {RESAMPLES} resamples, seed {SEED}"

Columns = Mapping[str, np.ndarray]

# metric = statistic(column means); every function works on scalars and on arrays of resamples.
STATISTICS: dict[str, Callable[[Columns], np.ndarray]] = {
    # a plain mean of one value per unit
    "mean": lambda m: m["value"],
    # a ratio of sums: token means (numerator: per-unit sum, denominator: per-unit count),
    # weighted means, and scores such as (ablated - sae) / (ablated - clean)
    "ratio": lambda m: m["numerator"] / m["denominator"],
    "one_minus_mean": lambda m: 1 - m["value"],
    # SAEBench's explained variance: 1 - E[residual] / (E[||x||^2] - E[mean_d x_d^2]^2)
    "explained_variance": lambda m: (
        1 - m["residual"] / (m["sum_of_squares"] - m["mean_square"] ** 2)
    ),
}


@dataclass(frozen=True)
class UnitValues:
    """What one metric is computed from: per-unit columns and how they combine."""

    unit: str  # what a unit is, for people: "batch", "letter", "class pair"
    ids: list[str]
    columns: dict[str, list[float]]
    statistic: str

    def __post_init__(self):
        if self.statistic not in STATISTICS:
            raise ValueError(f"unknown statistic {self.statistic!r}")
        for name, column in self.columns.items():
            if len(column) != len(self.ids):
                raise ValueError(f"column {name!r} has {len(column)} values for {len(self.ids)}")

    def point(self) -> float:
        means = {k: np.asarray(v, dtype=np.float64).mean() for k, v in self.columns.items()}
        return float(STATISTICS[self.statistic](means))

    def resampled(self, indices: np.ndarray) -> np.ndarray:
        """The metric on each row of unit indices: [resamples]."""
        means = {
            k: np.asarray(v, dtype=np.float64)[indices].mean(axis=-1)
            for k, v in self.columns.items()
        }
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.asarray(STATISTICS[self.statistic](means), dtype=np.float64)

    def restricted(self, ids: Sequence[str]) -> UnitValues:
        """The same metric over a subset of the units, in the order given."""
        where = {unit_id: i for i, unit_id in enumerate(self.ids)}
        rows = [where[i] for i in ids]
        columns = {k: [v[r] for r in rows] for k, v in self.columns.items()}
        return UnitValues(self.unit, list(ids), columns, self.statistic)

    def to_json(self) -> dict[str, Any]:
        return {
            "unit": self.unit,
            "statistic": self.statistic,
            "ids": self.ids,
            "columns": {k: [float(x) for x in v] for k, v in self.columns.items()},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> UnitValues:
        return cls(data["unit"], list(data["ids"]), dict(data["columns"]), data["statistic"])


def mean_of_group_means(unit: str, groups: Mapping[str, Mapping[str, float]]) -> UnitValues:
    """Units for a mean over groups of a mean over their members (datasets of classes): each
    member is a unit weighted 1 / (its group's size), so the weighted mean is the headline."""
    ids, weighted, weights = [], [], []
    for group, members in groups.items():
        for label, value in members.items():
            ids.append(f"{group}/{label}")
            weighted.append(value / len(members))
            weights.append(1 / len(members))
    return UnitValues(unit, ids, {"numerator": weighted, "denominator": weights}, "ratio")


def _indices(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, n, size=(RESAMPLES, n))


def _percentiles(samples: np.ndarray) -> tuple[float | None, float | None]:
    samples = samples[np.isfinite(samples)]
    if len(samples) == 0:
        return None, None
    tail = (1 - LEVEL) / 2 * 100
    low, high = np.percentile(samples, [tail, 100 - tail])
    return float(low), float(high)


def interval(values: UnitValues, seed: int = SEED) -> tuple[float | None, float | None]:
    """The 95% interval of the metric; (None, None) with fewer than two units."""
    if len(values.ids) < 2:
        return None, None
    return _percentiles(values.resampled(_indices(len(values.ids), seed)))


def difference_interval(
    values: UnitValues,
    baseline: UnitValues | Sequence[tuple[UnitValues, float]],
    seed: int = SEED,
) -> tuple[float | None, float | None, bool]:
    """(low, high, paired): the 95% interval of metric(values) - metric(baseline).

    `baseline` is one SAE's units, or a weighted sum of several (an interpolation between SAEs of
    a family). Paired when every side was measured on the same units (same unit kind, same ids):
    the same resampled units enter every side, so what the SAEs share (which batches or letters
    are hard) cancels. Otherwise each side is resampled on its own.
    """
    parts = [(baseline, 1.0)] if isinstance(baseline, UnitValues) else list(baseline)
    sides = [values] + [part for part, _ in parts]
    if any(len(side.ids) < 2 for side in sides):
        return None, None, False
    paired = all(
        side.unit == values.unit and set(side.ids) == set(values.ids) for side in sides[1:]
    )
    if paired:
        idx = _indices(len(values.ids), seed)
        base = sum(w * part.restricted(values.ids).resampled(idx) for part, w in parts)
        diffs = values.resampled(idx) - base
    else:
        base = sum(
            w * part.resampled(_indices(len(part.ids), seed + 1 + i))
            for i, (part, w) in enumerate(parts)
        )
        diffs = values.resampled(_indices(len(values.ids), seed)) - base
    low, high = _percentiles(diffs)
    return low, high, paired


def record(metrics: Mapping[str, UnitValues]) -> dict[str, Any]:
    """The `saeeval_uncertainty` entry of a result: each metric's interval and its units."""
    out = {}
    for key, values in metrics.items():
        low, high = interval(values)
        out[key] = {
            "value": values.point(),
            "ci_low": low,
            "ci_high": high,
            "n_units": len(values.ids),
            **values.to_json(),
        }
    return {"level": LEVEL, "method": METHOD, "metrics": out}


def recorded(result: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The `saeeval_uncertainty` metric entries of a result ({} if it records none)."""
    return _recorded_metrics(result, KEY)


def _recorded_metrics(result: Mapping[str, Any], key: str) -> dict[str, dict[str, Any]]:
    unstructured = result.get("eval_result_unstructured")
    if not isinstance(unstructured, dict):
        return {}
    return (unstructured.get(key) or {}).get("metrics", {})


def metric_units(result: Mapping[str, Any], key: str) -> UnitValues | None:
    """The units behind headline metric `key` of a result, if the result records them."""
    entry = recorded(result).get(key)
    return UnitValues.from_json(entry) if entry else None


# The spread over reruns under other seeds (`saeeval run --seeds N`): what the eval's random
# draws (text sampling, probe initialisation and training order) add to a number, which the
# interval over units above does not see.
SEEDS_KEY = "saeeval_seed_spread"


def seed_spread(
    values: Mapping[int, Mapping[str, float | None]], varied: str = "random_seed"
) -> dict[str, Any]:
    """The `saeeval_seed_spread` entry of a result from each seed's headline values.

    `values` maps seed -> {metric key: value}; a metric's spread is over the seeds where it is
    finite: the values, their mean, sample standard deviation (n - 1), minimum and maximum.
    """
    seeds = sorted(values)
    keys = list(dict.fromkeys(k for seed in seeds for k in values[seed]))
    metrics = {}
    for key in keys:
        per_seed = [values[seed].get(key) for seed in seeds]
        finite = np.array(
            [v for v in per_seed if v is not None and np.isfinite(v)], dtype=np.float64
        )
        metrics[key] = {
            "values": [None if v is None or not np.isfinite(v) else float(v) for v in per_seed],
            "n_seeds": int(finite.size),
            "mean": float(finite.mean()) if finite.size else None,
            "sd": float(finite.std(ddof=1)) if finite.size > 1 else None,
            "min": float(finite.min()) if finite.size else None,
            "max": float(finite.max()) if finite.size else None,
        }
    return {"varied": varied, "seeds": seeds, "metrics": metrics}


def recorded_spread(result: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The `saeeval_seed_spread` metric entries of a result ({} if it records none)."""
    return _recorded_metrics(result, SEEDS_KEY)
