"""Result tables: one row per SAE, the headline metrics of each eval."""

from __future__ import annotations

from typing import Any

import pandas as pd

from saeeval.evals import headline_metrics


def headline_table(results: list[dict[str, Any]], eval_type_id: str) -> pd.DataFrame:
    """One row per result of this eval type: the SAE, its size and the eval's headline metrics."""
    metrics = headline_metrics(eval_type_id)
    rows = []
    for result in results:
        if result["eval_type_id"] != eval_type_id:
            continue
        row = {
            "SAE": result["_sae_id"],
            "d_sae": (result.get("sae_cfg_dict") or {}).get("d_sae"),
            "architecture": (result.get("sae_cfg_dict") or {}).get("architecture"),
        }
        for metric in metrics:
            row[metric.title] = metric.value(result)
        rows.append(row)
    return pd.DataFrame(rows)
