"""Sanity checks on finished results: the failures the old workflow let through unnoticed.

Each check reads one SAEBench-schema result and returns plain-language warnings naming the cause;
the runner prints them beside the SAE's name and records them in the manifest.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Check = Callable[[dict[str, Any]], list[str]]


def _negative_one_metrics(metrics: dict[str, Any], prefix: str = "") -> list[str]:
    bad = []
    for key, value in metrics.items():
        if isinstance(value, dict):
            bad += _negative_one_metrics(value, f"{prefix}{key}.")
        elif value == -1:
            bad.append(f"{prefix}{key}")
    return bad


def core_checks(result: dict[str, Any]) -> list[str]:
    m = result["eval_result_metrics"]
    cfg = result["sae_cfg_dict"]
    warnings = []
    l0, d_in, d_sae = m["sparsity"]["l0"], cfg["d_in"], cfg["d_sae"]
    if l0 > d_in / 2:
        warnings.append(
            f"not sparse: L0 is {l0:.0f} of {d_sae} latents, more than half the input width {d_in}"
        )
    if m["reconstruction_quality"]["explained_variance"] < 0:
        warnings.append("explained variance is negative: the reconstruction is worse than the mean")
    if m["model_performance_preservation"]["ce_loss_score"] < 0:
        warnings.append(
            "CE-loss score is negative: splicing the SAE in hurts more than zero-ablating"
        )
    frac_alive = m["misc_metrics"]["frac_alive"]
    if frac_alive < 0.5:
        tokens = m["token_stats"]["total_tokens_eval_sparsity_variance"]
        warnings.append(
            f"{100 * (1 - frac_alive):.0f}% of latents never fired on {tokens} evaluation tokens"
        )
    ablation_gap = (
        m["model_performance_preservation"]["ce_loss_with_ablation"]
        - m["model_performance_preservation"]["ce_loss_without_sae"]
    )
    if abs(ablation_gap) < 1e-3:
        warnings.append(
            "zero-ablating the hook barely changes the loss, so the CE-loss score is noise"
        )
    nan_metrics = _negative_one_metrics(m)
    if nan_metrics:
        warnings.append(f"metrics came out NaN (written as -1): {', '.join(nan_metrics)}")
    return warnings


CHECKS: dict[str, Check] = {"core": core_checks}


def diagnose(result: dict[str, Any]) -> list[str]:
    check = CHECKS.get(result["eval_type_id"])
    return check(result) if check else []
