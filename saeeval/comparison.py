"""`saeeval compare`: each SAE's headline metrics against a baseline, with the interval of the
difference.

The baseline is one SAE (an id in the results) or a folder of results. A folder holding one SAE
is that SAE; a folder holding a family (one architecture, one width, several L0s) is compared at
matched sparsity: the family's metric is interpolated linearly in log L0 at the compared SAE's L0
(from its core result), and the interval of the difference comes from the two bracketing SAEs'
units with the interpolation weights. Paired over shared units where the units match (the same
batches, letters, class probes or questions), unpaired otherwise (see saeeval.uncertainty).

Results measured under different conditions are not comparable: a different model, hook, data
source (built-in vs hub), size preset or SCR/TPP ablation (SAEBench's, or valid positions only) in
the same eval is refused, naming the difference, unless the caller allows it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from saeeval.errors import SaeevalError
from saeeval.results.table import load_results, table
from saeeval.uncertainty import UnitValues, difference_interval, metric_units

COLUMNS = [
    "sae_id",
    "baseline_id",
    "eval_type_id",
    "metric",
    "value",
    "baseline_value",
    "delta",
    "ci_low",
    "ci_high",
    "significant",
    "paired",
    "higher_is_better",
    "note",
]
# What must be equal for two results to be compared, with how to name a difference.
MATCHED = {
    "model": "model",
    "hook": "hook",
    "data_source": "data source (built-in vs hub)",
    "size_preset": "size preset",
    "ablation": "SCR/TPP ablation",
}


@dataclass(frozen=True)
class _Baseline:
    """The SAEs a baseline value is made of, each with its weight (one SAE: weight 1)."""

    parts: list[tuple[str, float]]
    name: str
    note: str


def compare(
    results: list[str | Path], baseline: str | Path, allow_mismatch: bool = False
) -> pd.DataFrame:
    """One row per compared SAE, eval and headline metric (see COLUMNS)."""
    compared = load_results(*results)
    if not compared:
        raise SaeevalError(f"no result files under {', '.join(str(r) for r in results)}")
    baseline_path = Path(baseline)
    if baseline_path.is_dir():
        base_results = load_results(baseline_path)
        if not base_results:
            raise SaeevalError(f"--baseline {baseline}: the folder holds no result files")
        inside = {r["_path"] for r in base_results}
        compared = [r for r in compared if r["_path"] not in inside]
        base_ids = sorted({r["_sae_id"] for r in base_results})
    else:
        ids = sorted({r["_sae_id"] for r in compared})
        if str(baseline) not in ids:
            raise SaeevalError(
                f"--baseline {baseline}: neither a results folder nor an SAE in the results "
                f"(SAEs: {', '.join(ids)})"
            )
        base_results = [r for r in compared if r["_sae_id"] == str(baseline)]
        compared = [r for r in compared if r["_sae_id"] != str(baseline)]
        base_ids = [str(baseline)]
    if not compared:
        raise SaeevalError("nothing to compare: every result given is the baseline's")

    ours, theirs = table(compared), table(base_results)
    _check_comparable(ours, theirs, allow_mismatch)
    # The raw results, for their recorded units; kept apart, since a baseline folder may hold
    # SAEs of the same names as the compared ones (an older run of them, say).
    raw = {
        side: {(r["_sae_id"], r["eval_type_id"]): r for r in side_results}
        for side, side_results in (("ours", compared), ("theirs", base_results))
    }
    family = _family(theirs, base_ids)
    rows = []
    for row in ours.itertuples(index=False):
        chosen = _baseline_for(row, theirs, base_ids, family)
        if chosen is None:
            continue
        rows.append(_compare_row(row, chosen, theirs, raw))
    frame = pd.DataFrame(rows, columns=COLUMNS)
    return frame.sort_values(["sae_id", "eval_type_id", "metric"], kind="stable").reset_index(
        drop=True
    )


def _check_comparable(ours: pd.DataFrame, theirs: pd.DataFrame, allow_mismatch: bool) -> None:
    if allow_mismatch:
        return
    for eval_type in sorted(set(ours["eval_type_id"]) & set(theirs["eval_type_id"])):
        mine_rows = ours[ours["eval_type_id"] == eval_type]
        their_rows = theirs[theirs["eval_type_id"] == eval_type]
        for column, name in MATCHED.items():
            mine = set(mine_rows[column].dropna().unique())
            baseline = set(their_rows[column].dropna().unique())
            if mine and baseline and mine != baseline:
                raise SaeevalError(
                    f"the {eval_type} results and the baseline's differ in {name}: "
                    f"{', '.join(sorted(map(str, mine)))} against "
                    f"{', '.join(sorted(map(str, baseline)))}; their numbers are not comparable "
                    f"(--allow-mismatch compares them anyway)"
                )


def _family(theirs: pd.DataFrame, base_ids: list[str]) -> bool:
    """True when the baseline is several SAEs of one architecture and width (a family)."""
    if len(base_ids) < 2:
        return False
    kinds = theirs.drop_duplicates("sae_id")[["architecture", "d_sae"]].drop_duplicates()
    if len(kinds) > 1:
        listed = ", ".join(f"{a} with {d} latents" for a, d in kinds.itertuples(index=False))
        raise SaeevalError(
            f"--baseline holds SAEs of more than one family ({listed}): give one SAE id as "
            f"--baseline, or a folder of one architecture at one width"
        )
    return True


def _baseline_for(row, theirs: pd.DataFrame, base_ids: list[str], family: bool):
    same = theirs[(theirs.eval_type_id == row.eval_type_id) & (theirs.metric == row.metric)]
    if not family:
        if same.empty:
            return None
        return _Baseline([(base_ids[0], 1.0)], base_ids[0], "")
    members = same.dropna(subset=["l0"]).sort_values("l0")
    name = f"{members.architecture.iloc[0]} family" if not members.empty else "family"
    if len(members) < 2:
        return _Baseline([], name, "not compared: fewer than two family SAEs have a core L0")
    if not (isinstance(row.l0, float) and math.isfinite(row.l0) and row.l0 > 0):
        return _Baseline([], name, "not compared: this SAE has no core result to match L0 with")
    l0s = list(members.l0)
    if not l0s[0] <= row.l0 <= l0s[-1]:
        span = f"{l0s[0]:.1f}-{l0s[-1]:.1f}"
        return _Baseline([], name, f"not compared: L0 {row.l0:.1f} outside the family's {span}")
    upper = next(i for i, l0 in enumerate(l0s) if l0 >= row.l0)
    lower = max(upper - 1, 0)
    if l0s[upper] == row.l0 or upper == lower:
        parts = [(members.sae_id.iloc[upper], 1.0)]
    else:
        span = math.log(l0s[upper]) - math.log(l0s[lower])
        w = (math.log(row.l0) - math.log(l0s[lower])) / span
        parts = [(members.sae_id.iloc[lower], 1 - w), (members.sae_id.iloc[upper], w)]
    l0_of = dict(zip(members.sae_id, l0s, strict=True))
    between = " and ".join(f"{sae} (L0 {l0_of[sae]:.1f})" for sae, _ in parts)
    return _Baseline(parts, name, f"matched L0 {row.l0:.1f}: interpolated in log L0 from {between}")


def _compare_row(row, chosen: _Baseline, theirs: pd.DataFrame, raw) -> dict[str, Any]:
    out = {
        "sae_id": row.sae_id,
        "baseline_id": chosen.name,
        "eval_type_id": row.eval_type_id,
        "metric": row.metric,
        "value": row.value,
        "baseline_value": None,
        "delta": None,
        "ci_low": None,
        "ci_high": None,
        "significant": False,
        "paired": False,
        "higher_is_better": row.higher_is_better,
        "note": chosen.note,
    }
    if not chosen.parts:
        return out
    values = {}
    for sae_id, _ in chosen.parts:
        match = theirs[
            (theirs.sae_id == sae_id)
            & (theirs.eval_type_id == row.eval_type_id)
            & (theirs.metric == row.metric)
        ]
        values[sae_id] = float(match.value.iloc[0])
    baseline_value = sum(w * values[sae_id] for sae_id, w in chosen.parts)
    out.update(baseline_value=baseline_value, delta=row.value - baseline_value)

    mine = metric_units(raw["ours"][(row.sae_id, row.eval_type_id)], row.metric)
    parts: list[tuple[UnitValues, float]] = []
    for sae_id, w in chosen.parts:
        part = metric_units(raw["theirs"][(sae_id, row.eval_type_id)], row.metric)
        if part is None:
            break
        parts.append((part, w))
    if mine is None or len(parts) < len(chosen.parts):
        out["note"] = _join(out["note"], "no units recorded: no interval")
        return out
    low, high, paired = difference_interval(mine, parts)
    out.update(ci_low=low, ci_high=high, paired=paired)
    out["significant"] = low is not None and (low > 0 or high < 0)
    if low is None:
        out["note"] = _join(out["note"], "fewer than two units: no interval")
    return out


def _join(*notes: str) -> str:
    return "; ".join(n for n in notes if n)


def display_table(frame: pd.DataFrame) -> pd.DataFrame:
    """The comparison as people read it: the numbers, and the interval with a mark."""
    shown = frame[
        ["sae_id", "baseline_id", "eval_type_id", "metric", "value", "baseline_value", "delta"]
    ].copy()
    shown["95% CI of delta"] = [_interval_text(r) for r in frame.itertuples(index=False)]
    return shown


def write_comparison(frame: pd.DataFrame, out: Path) -> list[Path]:
    """DIR/comparison.csv, .md and .tex."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "comparison.csv", out / "comparison.md", out / "comparison.tex"]
    frame.to_csv(paths[0], index=False)
    shown = display_table(frame)
    paths[1].write_text(shown.to_markdown(index=False, floatfmt=".4g") + f"\n\n{FOOTNOTE}\n")
    paths[2].write_text(shown.to_latex(index=False, float_format="%.4g", escape=True))
    return paths


FOOTNOTE = "* marks a difference whose 95% interval excludes 0."


def _interval_text(row) -> str:
    if row.ci_low is None or pd.isna(row.ci_low):
        return ""
    mark = " *" if row.significant else ""
    return f"[{row.ci_low:.4g}, {row.ci_high:.4g}]{mark}"
