"""The SAEBench result envelope that wraps every eval's metrics (what `run` yields per SAE)."""

from __future__ import annotations

import time
import uuid
from typing import Any

from saeeval.provenance import code_id
from saeeval.saes import LoadedSAE, config_to_saelens_dict
from saeeval.saes.saelens_format import saelens_version


def sae_cfg_dict(loaded: LoadedSAE) -> dict[str, Any]:
    """The SAE's SAELens config, with its metadata also flattened to the top level.

    SAEBench's readers look for `architecture`, `d_sae`, `model_name`, `hook_name`,
    `hook_layer` and `training_tokens` at the top level (the pre-6 SAELens layout), while SAELens 6
    loads the nested form; writing both keeps both readers working.
    """
    cfg = config_to_saelens_dict(loaded.sae.cfg)
    return {**cfg["metadata"], **cfg, "hook_layer": loaded.sae.cfg.hook_layer}


def build_result(
    eval_type_id: str,
    eval_config: dict[str, Any],
    metrics: dict[str, Any],
    details: list[dict[str, Any]],
    loaded: LoadedSAE,
    unstructured: Any = None,
) -> dict[str, Any]:
    return {
        "eval_type_id": eval_type_id,
        "eval_config": eval_config,
        "eval_id": str(uuid.uuid4()),
        "datetime_epoch_millis": int(time.time() * 1000),
        "eval_result_metrics": metrics,
        "eval_result_details": details,
        "sae_bench_commit_hash": code_id(),  # saeeval's version (and commit, from a checkout)
        "sae_lens_id": loaded.release_sae_id if loaded.release else loaded.sae_id,
        "sae_lens_release_id": loaded.release if loaded.release else str(loaded.path),
        "sae_lens_version": saelens_version(),
        "sae_cfg_dict": sae_cfg_dict(loaded),
        "eval_result_unstructured": unstructured,
    }
