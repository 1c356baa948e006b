"""Where results live: SAEBench's folder layout."""

from __future__ import annotations

from pathlib import Path

RESULT_SUFFIX = "_eval_results.json"


def result_path(out_dir: str | Path, eval_type_id: str, sae_id: str) -> Path:
    """SAEBench's layout: OUT/<eval_type_id>/<sae_id>_eval_results.json."""
    return Path(out_dir) / eval_type_id / f"{sae_id.replace('/', '_')}{RESULT_SUFFIX}"
