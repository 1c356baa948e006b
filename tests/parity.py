"""Whole-eval comparisons of saeeval against SAEBench's own entry points, and the rule each obeys.

A comparison holds one metric of one eval from both sides. Where the two sides' random streams
are aligned (the same draws feed the same computations) it holds one value per side and agrees
when the difference is within a stated tolerance. Where the streams differ by design (saeeval
draws from per-dataset generators, the reference from the global RNG), it holds one value per
seed on each side and agrees when the difference of means lies within two pooled standard errors
of that difference. The per-eval modules (parity_probing.py, parity_absorption.py,
parity_unlearning.py) build comparisons; the tests assert them at small sizes and
benchmarks/parity_report.py prints them at larger ones.
"""

from __future__ import annotations

import dataclasses
import math
import statistics


def pooled_standard_error(a: list[float], b: list[float]) -> float:
    """Standard error of mean(a) - mean(b), from the two samples' pooled variance."""
    n_a, n_b = len(a), len(b)
    if n_a < 2 or n_b < 2:
        raise ValueError(f"a seed comparison needs two values a side, got {n_a} and {n_b}")
    pooled = ((n_a - 1) * statistics.variance(a) + (n_b - 1) * statistics.variance(b)) / (
        n_a + n_b - 2
    )
    return math.sqrt(pooled * (1 / n_a + 1 / n_b))


@dataclasses.dataclass(frozen=True)
class Comparison:
    eval_name: str
    metric: str
    ours: list[float]
    reference: list[float]
    # Aligned streams: the absolute tolerance, and why (shown in the report). None: seeds.
    tolerance: float | None = None
    why: str = ""
    # What one value of a non-aligned comparison is: a seed, or e.g. one class's probe.
    unit: str = "seeds"

    @property
    def aligned(self) -> bool:
        return self.tolerance is not None

    @property
    def difference(self) -> float:
        return statistics.fmean(self.ours) - statistics.fmean(self.reference)

    @property
    def bound(self) -> float:
        if self.aligned:
            return self.tolerance
        return 2 * pooled_standard_error(self.ours, self.reference)

    @property
    def agrees(self) -> bool:
        return abs(self.difference) <= self.bound

    def describe(self) -> str:
        """Both distributions, for a failing assertion or the report's log."""
        ours = ", ".join(f"{v:.4f}" for v in self.ours)
        reference = ", ".join(f"{v:.4f}" for v in self.reference)
        return (
            f"{self.eval_name} {self.metric}: ours [{ours}] reference [{reference}] "
            f"difference {self.difference:+.4f} bound {self.bound:.4f}"
        )

    def row(self) -> dict:
        if self.aligned:
            rule = f"tolerance {self.tolerance:.2g}"
        else:
            rule = f"2 pooled SE over {len(self.ours)}/{len(self.reference)} {self.unit}"
        return {
            "eval": self.eval_name,
            "metric": self.metric,
            "ours": statistics.fmean(self.ours),
            "reference": statistics.fmean(self.reference),
            "difference": self.difference,
            "bound": self.bound,
            "rule": rule,
            "verdict": "agree" if self.agrees else "DIFFER",
        }


def assert_agree(comparisons: list[Comparison]) -> None:
    failing = [c.describe() for c in comparisons if not c.agrees]
    assert not failing, "\n".join(failing)


def markdown_table(comparisons: list[Comparison]) -> str:
    header = "| eval | metric | ours | reference | difference | tolerance or interval | verdict |"
    lines = [header, "|" + "---|" * 7]
    for c in comparisons:
        r = c.row()
        lines.append(
            f"| {r['eval']} | {r['metric']} | {r['ours']:.4f} | {r['reference']:.4f} | "
            f"{r['difference']:+.4f} | ±{r['bound']:.4f} ({r['rule']}) | {r['verdict']} |"
        )
    return "\n".join(lines)
