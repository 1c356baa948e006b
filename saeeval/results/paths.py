"""Where results live: SAEBench's folder layout."""

from __future__ import annotations

from pathlib import Path

RESULT_SUFFIX = "_eval_results.json"


def result_path(out_dir: str | Path, eval_type_id: str, sae_id: str) -> Path:
    """SAEBench's layout: OUT/<eval_type_id>/<sae_id>_eval_results.json."""
    return Path(out_dir) / eval_type_id / f"{sae_id.replace('/', '_')}{RESULT_SUFFIX}"


# `saeeval run --seeds N` files each extra seed's results in a SAEBench-layout folder of its own
# under OUT/seed_runs/; readers of OUT leave it out, so each result is counted once.
SEED_RUNS_DIR = "seed_runs"


def seed_run_dir(out_dir: str | Path, seed: int) -> Path:
    """OUT/seed_runs/random_seed_<seed>: the results of one extra seed."""
    return Path(out_dir) / SEED_RUNS_DIR / f"random_seed_{seed}"
