"""Figure recipes for reports. Each takes the tidy results table (saeeval.results.table) or the
results themselves and writes `<eval_type_id>_<what>.{png,pdf,svg}` through reports.style.

- `saebench_view`: SAEBench's view, L0 against every headline metric present, one colour and
  marker per architecture (or per dictionary size), a family's points joined in L0 order,
  baselines as dashed lines, 95% intervals as error bars.
- detail views: sparse-probing accuracy against k (SAE and model), SCR and TPP against n,
  absorption per letter, the unlearning sweep.
- `training_curves`: loss, L0 and dead fraction against training tokens, for the SAEs that
  `saeeval train` or `sweep` made.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib.ticker
import numpy as np
import pandas as pd

from saeeval.reports import style

# The panels of SAEBench's view: (eval_type_id, metric, axis label, plotted as 1 - value).
SAEBENCH_PANELS = [
    ("core", "explained_variance", "explained variance", False),
    ("core", "ce_loss_score", "CE-loss score", False),
    ("core", "kl_div_score", "KL score", False),
    ("absorption_first_letter", "mean_absorption_fraction", "1 - absorption", True),
    ("sparse_probing", "sae_top_1", "sparse probing top-1", False),
    ("scr", "scr_20", "SCR (n=20)", False),
    ("tpp", "tpp_20", "TPP (n=20)", False),
    ("unlearning", "unlearning_score", "unlearning score", False),
]
SCHEMA_K = (1, 2, 5, 10, 20, 50, 100)
SCHEMA_N = (2, 5, 10, 20, 50, 100, 500)


@style.styled
def saebench_view(
    frame: pd.DataFrame, out_dir: Path, by: str = "architecture", baselines: list[str] = ()
) -> list[Path]:
    """L0 against each headline metric present; returns the written files (none if no L0)."""
    shown = frame[~frame.sae_id.isin(baselines)]
    panels = [p for p in SAEBENCH_PANELS if _has(shown, p[0], p[1])]
    if not panels or shown.l0.dropna().empty:
        return []
    groups = sorted(shown[by].dropna().astype(str).unique())
    fig, axes = style.figure(len(panels))
    for ax, (eval_type_id, metric, label, flipped) in zip(axes, panels, strict=True):
        rows = shown[(shown.eval_type_id == eval_type_id) & (shown.metric == metric)]
        rows = rows.dropna(subset=["l0"])
        for i, group in enumerate(groups):
            points = rows[rows[by].astype(str) == group].sort_values("l0")
            if points.empty:
                continue
            y, low, high = _oriented(points, flipped)
            ax.errorbar(
                points.l0,
                y,
                yerr=_yerr(y, low, high),
                color=style.colour(i),
                marker=style.marker(i),
                markersize=4,
                linewidth=1,
                capsize=2,
                label=group,
            )
        for j, sae_id in enumerate(baselines):
            base = frame[
                (frame.sae_id == sae_id)
                & (frame.eval_type_id == eval_type_id)
                & (frame.metric == metric)
            ]
            if not base.empty:
                value = _oriented(base, flipped)[0][0]
                ax.axhline(value, color=style.colour(len(groups) + j), linestyle="--", lw=1)
                ax.annotate(sae_id, (0.02, value), xycoords=("axes fraction", "data"), fontsize=6)
        style.log_x(ax)
        ax.set_xlabel("L0")
        ax.set_ylabel(label)
    axes[0].legend(title=by.replace("_", " "), frameon=False)
    name = "saebench_view" if by == "architecture" else f"saebench_view_by_{by}"
    return style.save(fig, out_dir, f"all_{name}")


def _has(frame: pd.DataFrame, eval_type_id: str, metric: str) -> bool:
    return bool(((frame.eval_type_id == eval_type_id) & (frame.metric == metric)).any())


def _oriented(points: pd.DataFrame, flipped: bool):
    y, low, high = (points[c].to_numpy(dtype=float) for c in ("value", "ci_low", "ci_high"))
    if flipped:
        return 1 - y, 1 - high, 1 - low
    return y, low, high


def _yerr(y, low, high):
    """Error bars from intervals; none where an interval is missing."""
    below = np.where(np.isnan(low), 0.0, y - low)
    above = np.where(np.isnan(high), 0.0, high - y)
    return np.vstack([np.clip(below, 0, None), np.clip(above, 0, None)])


@style.styled
def detail_views(results: list[dict[str, Any]], out_dir: Path) -> dict[str, list[Path]]:
    """Each eval's own view, for the evals present: {eval_type_id: files}."""
    recipes = {
        "sparse_probing": _sparse_probing_against_k,
        "scr": lambda r, o: _against_n(r, o, "scr", "scr_metric_threshold_{}", "SCR"),
        "tpp": lambda r, o: _against_n(r, o, "tpp", "tpp_threshold_{}_total_metric", "TPP"),
        "absorption_first_letter": _absorption_per_letter,
        "unlearning": _unlearning_sweep,
    }
    written = {}
    for eval_type_id, recipe in recipes.items():
        chosen = [r for r in results if r["eval_type_id"] == eval_type_id]
        if chosen:
            written[eval_type_id] = recipe(chosen, out_dir)
    return written


def _sparse_probing_against_k(results, out_dir: Path) -> list[Path]:
    fig, (ax,) = style.figure(1)
    model_drawn = False
    for i, result in enumerate(results):
        metrics = result["eval_result_metrics"]
        ks, sae = _series(metrics.get("sae", {}), "sae_top_{}_test_accuracy", SCHEMA_K)
        ax.plot(ks, sae, marker=style.marker(i), color=style.colour(i), label=result["_sae_id"])
        if not model_drawn:
            ks, llm = _series(metrics.get("llm", {}), "llm_top_{}_test_accuracy", SCHEMA_K)
            ax.plot(ks, llm, color="black", linestyle="--", label="model (top-k neurons)")
            model_drawn = True
    style.log_x(ax)
    ax.set_xlabel("k (latents or neurons in the probe)")
    ax.set_ylabel("test accuracy")
    ax.legend(frameon=False)
    return style.save(fig, out_dir, "sparse_probing_accuracy_vs_k")


def _against_n(results, out_dir: Path, eval_type_id: str, key: str, label: str) -> list[Path]:
    fig, (ax,) = style.figure(1)
    for i, result in enumerate(results):
        metrics = result["eval_result_metrics"].get(f"{eval_type_id}_metrics", {})
        ns, values = _series(metrics, key, SCHEMA_N)
        ax.plot(ns, values, marker=style.marker(i), color=style.colour(i), label=result["_sae_id"])
    style.log_x(ax)
    ax.set_xlabel("n (ablated latents)")
    ax.set_ylabel(label)
    ax.legend(frameon=False)
    return style.save(fig, out_dir, f"{eval_type_id}_vs_n")


def _series(metrics: dict, key: str, values) -> tuple[list, list]:
    pairs = [(v, metrics.get(key.format(v))) for v in values]
    pairs = [(v, m) for v, m in pairs if isinstance(m, int | float)]
    return [v for v, _ in pairs], [m for _, m in pairs]


def _absorption_per_letter(results, out_dir: Path) -> list[Path]:
    fig, (ax,) = style.figure(1, wide=True)
    width = 0.8 / len(results)
    letters = sorted({d["first_letter"] for r in results for d in r["eval_result_details"]})
    for i, result in enumerate(results):
        per = {
            d["first_letter"]: d["mean_absorption_fraction"] for d in result["eval_result_details"]
        }
        x = np.arange(len(letters)) + i * width
        ax.bar(
            x,
            [per.get(letter, np.nan) for letter in letters],
            width,
            color=style.colour(i),
            label=result["_sae_id"],
        )
    ax.set_xticks(np.arange(len(letters)) + 0.4 - width / 2, letters)
    ax.set_xlabel("first letter")
    ax.set_ylabel("mean absorption fraction")
    ax.legend(frameon=False)
    return style.save(fig, out_dir, "absorption_first_letter_per_letter")


def _unlearning_sweep(results, out_dir: Path) -> list[Path]:
    fig, (ax,) = style.figure(1)
    for i, result in enumerate(results):
        rows = result["eval_result_details"]
        ax.scatter(
            [r["retain_accuracy"] for r in rows],
            [r["forget_accuracy"] for r in rows],
            color=style.colour(i),
            marker=style.marker(i),
            s=12,
            label=result["_sae_id"],
        )
    ax.axvline(0.99, color="grey", linestyle=":", lw=1)  # the retain condition
    ax.set_xlabel("retain accuracy")
    ax.set_ylabel("forget accuracy")
    ax.legend(frameon=False)
    return style.save(fig, out_dir, "unlearning_sweep")


TRAINING_PANELS = [("loss", "training loss"), ("l0", "L0"), ("dead_fraction", "dead fraction")]


@style.styled
def training_curves(curves: dict[str, pd.DataFrame], out_dir: Path) -> list[Path]:
    """One line per SAE in each panel of TRAINING_PANELS, against tokens seen."""
    fig, axes = style.figure(len(TRAINING_PANELS))
    for ax, (column, label) in zip(axes, TRAINING_PANELS, strict=True):
        for i, (sae_id, rows) in enumerate(curves.items()):
            if column in rows:
                ax.plot(rows.tokens, rows[column], color=style.colour(i), lw=1, label=sae_id)
        ax.set_xlabel("training tokens")
        # 200k, 1M rather than 200000: a paper's column has no room for long tick labels.
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(4))
        ax.xaxis.set_major_formatter(matplotlib.ticker.EngFormatter(sep=""))
        ax.set_ylabel(label)
        if column == "loss":
            ax.set_yscale("log")
    axes[0].legend(frameon=False)
    return style.save(fig, out_dir, "training_curves")
