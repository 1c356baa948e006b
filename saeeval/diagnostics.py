"""Sanity checks on finished results: the failures the old workflow let through unnoticed.

Each check reads one SAEBench-schema result and returns plain-language warnings naming the cause;
the runner prints them beside the SAE's name and records them in the manifest.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from saeeval.results import non_finite_metrics

Check = Callable[[dict[str, Any]], list[str]]


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
    return warnings


def non_finite_check(result: dict[str, Any]) -> list[str]:
    """Metrics the result's stamp lists as NaN or infinite (the file holds SAEBench's -1 there).

    Read from the list, never from the values: -1 is also a legitimate cosine similarity,
    explained variance or SCR score.
    """
    listed = non_finite_metrics(result)
    if not listed:
        return []
    return [
        f"metrics came out NaN or infinite (the file holds -1 in their place): {', '.join(listed)}"
    ]


CHECKS: dict[str, Check] = {"core": core_checks}


def diagnose(result: dict[str, Any]) -> list[str]:
    check = CHECKS.get(result["eval_type_id"])
    return (check(result) if check else []) + non_finite_check(result)
