"""Result tables: one row per SAE, the headline metrics of each eval."""

from __future__ import annotations

from typing import Any

import pandas as pd

# (column title, path into eval_result_metrics) of the headline metrics per eval type.
HEADLINES: dict[str, list[tuple[str, tuple[str, ...]]]] = {
    "core": [
        ("L0", ("sparsity", "l0")),
        ("explained variance", ("reconstruction_quality", "explained_variance")),
        ("CE-loss score", ("model_performance_preservation", "ce_loss_score")),
        ("KL score", ("model_behavior_preservation", "kl_div_score")),
        ("cosine sim.", ("reconstruction_quality", "cossim")),
        ("L2 ratio", ("shrinkage", "l2_ratio")),
        ("alive fraction", ("misc_metrics", "frac_alive")),
    ],
    "absorption_first_letter": [
        ("mean absorption fraction", ("mean", "mean_absorption_fraction_score")),
        ("mean full absorption", ("mean", "mean_full_absorption_score")),
        ("mean split features", ("mean", "mean_num_split_features")),
    ],
    "sparse_probing": [
        ("LLM accuracy", ("llm", "llm_test_accuracy")),
        ("LLM top-1", ("llm", "llm_top_1_test_accuracy")),
        ("SAE accuracy", ("sae", "sae_test_accuracy")),
        ("SAE top-1", ("sae", "sae_top_1_test_accuracy")),
        ("SAE top-5", ("sae", "sae_top_5_test_accuracy")),
    ],
    "scr": [
        ("SCR n=10", ("scr_metrics", "scr_metric_threshold_10")),
        ("SCR n=20", ("scr_metrics", "scr_metric_threshold_20")),
    ],
    "tpp": [
        ("TPP n=10", ("tpp_metrics", "tpp_threshold_10_total_metric")),
        ("TPP n=20", ("tpp_metrics", "tpp_threshold_20_total_metric")),
    ],
}


def _dig(data: dict[str, Any], path: tuple[str, ...]) -> Any:
    for key in path:
        data = data.get(key, {}) if isinstance(data, dict) else {}
    return data if not isinstance(data, dict) else None


def headline_table(results: list[dict[str, Any]], eval_type_id: str) -> pd.DataFrame:
    columns = HEADLINES.get(eval_type_id, [])
    rows = []
    for result in results:
        if result["eval_type_id"] != eval_type_id:
            continue
        row = {
            "SAE": result["_sae_id"],
            "d_sae": result["sae_cfg_dict"].get("d_sae"),
            "architecture": result["sae_cfg_dict"].get("architecture"),
        }
        for title, path in columns:
            row[title] = _dig(result["eval_result_metrics"], path)
        rows.append(row)
    return pd.DataFrame(rows)


def to_markdown(frame: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table (without needing the optional `tabulate` package)."""

    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.4g}"
        return str(value)

    header = "| " + " | ".join(frame.columns) + " |"
    rule = "| " + " | ".join("---" for _ in frame.columns) + " |"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body])
