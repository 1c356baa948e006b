"""Results as one tidy table: a row per SAE, eval and headline metric, with provenance, the
95% interval over the eval's units and, for runs with `--seeds N`, the standard deviation over
seeds. `compare` and `report` read results through it, and notebooks can too:

    import saeeval.results
    frame = saeeval.results.load("runs/results")

A folder may hold saeeval's or SAEBench's result files (`<eval_type_id>/<sae>_eval_results.json`)
and the older research loop's `final_info.json` files (a dict keyed "training results for layer
N", "core evaluation results", ...). Results without a saeeval stamp are taken to be SAEBench's
own: hub data under its published settings (`data_source` "hub", `size_preset` "saebench").
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from saeeval.evals.registry import headline_metrics
from saeeval.files import read_json_object
from saeeval.results.reader import read_results
from saeeval.results.stamp import STAMP_KEY
from saeeval.uncertainty import recorded, recorded_spread

COLUMNS = [
    "sae_id",
    "eval_type_id",
    "metric",
    "title",
    "value",
    "ci_low",
    "ci_high",
    "n_units",
    "unit",
    "seed_sd",
    "n_seeds",
    "higher_is_better",
    "l0",
    "d_sae",
    "architecture",
    "model",
    "hook",
    "data_source",
    "size_preset",
    "ablation",
    "produced_by",
    "path",
]
FINAL_INFO = "final_info.json"


def load(*folders: str | Path) -> pd.DataFrame:
    """Every headline metric of every result under `folders`, one row each (see COLUMNS)."""
    return table(load_results(*folders))


def load_results(*folders: str | Path) -> list[dict[str, Any]]:
    """The result dicts under `folders`: result files, and the results inside final_info.json."""
    results = []
    for folder in folders:
        folder = Path(folder)
        results += read_results(folder)
        for path in sorted(folder.rglob(FINAL_INFO)):
            results += read_final_info(path)
    return results


def table(results: list[dict[str, Any]]) -> pd.DataFrame:
    core_l0 = next(m for m in headline_metrics("core") if m.key == "l0")
    l0_of = {r["_sae_id"]: core_l0.value(r) for r in results if r.get("eval_type_id") == "core"}
    rows = []
    for result in results:
        provenance = _provenance(result)
        intervals, spreads = recorded(result), recorded_spread(result)
        for metric in headline_metrics(result["eval_type_id"]):
            value = metric.number(result)
            if value is None:
                continue
            interval, spread = intervals.get(metric.key, {}), spreads.get(metric.key, {})
            rows.append(
                {
                    "sae_id": result["_sae_id"],
                    "eval_type_id": result["eval_type_id"],
                    "metric": metric.key,
                    "title": metric.title,
                    "value": value,
                    "ci_low": interval.get("ci_low"),
                    "ci_high": interval.get("ci_high"),
                    "n_units": interval.get("n_units"),
                    "unit": interval.get("unit"),
                    "seed_sd": spread.get("sd"),
                    "n_seeds": spread.get("n_seeds"),
                    "higher_is_better": metric.higher_is_better,
                    "l0": l0_of.get(result["_sae_id"]),
                    **provenance,
                }
            )
    frame = pd.DataFrame(rows, columns=COLUMNS)
    for column in ("ci_low", "ci_high", "seed_sd", "l0", "value"):
        frame[column] = frame[column].astype(float)
    return frame


def _provenance(result: dict[str, Any]) -> dict[str, Any]:
    cfg = result.get("sae_cfg_dict") or {}
    metadata = cfg.get("metadata") or {}
    stamp = result.get(STAMP_KEY)
    config = result.get("eval_config") or {}
    model = metadata.get("model_name") or cfg.get("model_name") or config.get("model_name")
    if isinstance(stamp, dict):
        inputs = stamp.get("inputs") or {}
        model = inputs.get("model") or model
        data_source = _data_source(inputs.get("dataset"))
        preset = config.get("size_preset")
        produced_by = f"saeeval {stamp.get('saeeval_version', '')}"
    else:  # SAEBench's own result files, as its runner writes them
        data_source, preset, produced_by = "hub", "saebench", "SAEBench"
    return {
        "d_sae": cfg.get("d_sae"),
        "architecture": cfg.get("architecture"),
        "model": model,
        "hook": metadata.get("hook_name") or cfg.get("hook_name"),
        "data_source": data_source,
        "size_preset": preset,
        "ablation": _ablation(result["eval_type_id"], config),
        "produced_by": produced_by.strip(),
        "path": result.get("_path"),
    }


def _ablation(eval_type_id: str, config: dict[str, Any]) -> str | None:
    """How SCR/TPP ablated: SAEBench's way (padding positions too) or at valid positions only."""
    if eval_type_id not in ("scr", "tpp"):
        return None
    return "valid positions only" if config.get("ablate_padding_positions") is False else "saebench"


def _data_source(dataset: str | None) -> str:
    """builtin (the offline stand-ins), local (a file or folder) or hub (a dataset name)."""
    if dataset in (None, "offline"):
        return "builtin"
    looks_like_a_path = "/" in dataset and Path(dataset).suffix or dataset.startswith((".", "/"))
    return "local" if looks_like_a_path or Path(dataset).exists() else "hub"


# The older research loop's final_info.json: its keys, and the eval each holds.
_FINAL_INFO_EVALS = {
    "core evaluation results": "core",
    "absorption evaluation results": "absorption_first_letter",
    "scr and tpp evaluations results": None,  # scr or tpp: the result says which
    "sparse probing evaluation results": "sparse_probing",
    "unlearning evaluation results": "unlearning",
}


def read_final_info(path: str | Path) -> list[dict[str, Any]]:
    """The eval results inside one final_info.json, as result dicts named after its folder.

    Its core result is in SAEBench's older layout (`eval_cfg`, `metrics`), and the SAE's config
    comes from the other results or from the training record."""
    path = Path(path)
    data = read_json_object(path)
    sae_cfg = next(
        (v["sae_cfg_dict"] for v in data.values() if isinstance(v, dict) and v.get("sae_cfg_dict")),
        None,
    )
    if sae_cfg is None:
        sae_cfg = _cfg_from_training(data)
    results = []
    for key, value in data.items():
        if key not in _FINAL_INFO_EVALS or not isinstance(value, dict):
            continue
        eval_type_id = value.get("eval_type_id") or _FINAL_INFO_EVALS[key]
        result = {
            "eval_type_id": eval_type_id,
            "eval_config": value.get("eval_config") or value.get("eval_cfg") or {},
            "eval_result_metrics": value.get("eval_result_metrics") or value.get("metrics") or {},
            "eval_result_details": value.get("eval_result_details") or [],
            "eval_result_unstructured": value.get("eval_result_unstructured"),
            "sae_cfg_dict": value.get("sae_cfg_dict") or sae_cfg or {},
            "_path": str(path),
            "_sae_id": path.parent.name,
        }
        results.append(result)
    return results


def _cfg_from_training(data: dict[str, Any]) -> dict[str, Any] | None:
    for key, value in data.items():
        if key.startswith("training results") and isinstance(value, dict):
            config = value.get("config") or {}
            return {
                "d_sae": config.get("dict_size"),
                "architecture": config.get("trainer_class"),
                "model_name": config.get("lm_name"),
            }
    return None
