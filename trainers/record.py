"""What a training run leaves next to its SAE: the training record, curves, and the summary in
the shape the old research loop's `final_info.json` had."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from saeeval.results import atomic_write_json, atomic_write_text  # noqa: E402

TRAINING_RESULTS = "training_results.json"
CURVES_CSV = "training_curves.csv"
CURVES_PNG = "training_curves.png"
FINAL_INFO = "final_info.json"

# How the old loop keyed each eval's results in final_info.json.
FINAL_INFO_KEYS = {
    "core": "core evaluation results",
    "absorption_first_letter": "absorption evaluation results",
    "scr": "scr and tpp evaluations results",
    "tpp": "tpp evaluation results",  # the old loop filed only SCR under the shared key
    "sparse_probing": "sparse probing evaluation results",
    "unlearning": "unlearning evaluation results",
}


def write_training_results(
    out: Path, config: dict[str, Any], final_info: dict[str, Any], run: dict[str, Any]
) -> dict[str, Any]:
    record = {"config": config, "final_info": final_info, "run": run}
    atomic_write_json(out / TRAINING_RESULTS, record)
    return record


def write_curves(out: Path, rows: list[dict[str, float]]) -> None:
    if not rows:
        return
    columns = list(dict.fromkeys(key for row in rows for key in row))
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(out / CURVES_CSV, text.getvalue())

    panels = ["loss", "l0", "dead_fraction"] + [
        c for c in ("tau", "ortho_loss", "condition_mean", "threshold", "auxk") if c in columns
    ]
    fig, axes = plt.subplots(
        1, len(panels), figsize=(4 * len(panels), 3.2), constrained_layout=True
    )
    steps = [row["step"] for row in rows]
    for ax, name in zip(axes, panels, strict=True):
        ax.plot(steps, [row.get(name, float("nan")) for row in rows])
        ax.set_title(name)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        if name == "loss":
            ax.set_yscale("log")
    fig.savefig(out / CURVES_PNG, dpi=110)
    plt.close(fig)


def write_final_info(
    out: Path, layer: int, training: dict[str, Any], results: list[dict[str, Any]]
) -> dict[str, Any]:
    """The old loop's combined summary: training record plus one entry per eval."""
    summary: dict[str, Any] = {
        f"training results for layer {layer}": {
            "config": training["config"],
            "final_info": training["final_info"],
        }
    }
    for result in results:
        key = FINAL_INFO_KEYS.get(result["eval_type_id"], f"{result['eval_type_id']} results")
        clean = {k: v for k, v in result.items() if not k.startswith("_")}
        if result["eval_type_id"] == "core":  # the old loop kept core in SAELens' older shape
            release, sae_id = clean["sae_lens_release_id"], clean["sae_lens_id"]
            clean = {
                "unique_id": f"{release}_{sae_id}",
                "sae_set": release,
                "sae_id": sae_id,
                "eval_cfg": clean["eval_config"],
                "metrics": clean["eval_result_metrics"],
            }
        summary[key] = clean
    atomic_write_json(out / FINAL_INFO, summary)
    return summary
