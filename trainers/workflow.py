"""Train, then evaluate with the same code as `saeeval run`, then summarise: one run or a grid."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from saeeval.activations import ActivationCache
from saeeval.data import ContextSet
from saeeval.errors import SaeevalError
from saeeval.models import ModelAdapter
from saeeval.results import atomic_write_text, read_results
from saeeval.runner import RunRequest
from saeeval.runner import run as run_evals
from trainers.loop import SAE_FOLDER, TrainingPlan, train
from trainers.record import TRAINING_RESULTS, write_final_info

EVAL_FOLDER = "eval"
SUMMARY_METRICS = [  # (column, eval_type_id, group, metric)
    ("L0", "core", "sparsity", "l0"),
    ("explained_variance", "core", "reconstruction_quality", "explained_variance"),
    ("ce_loss_score", "core", "model_performance_preservation", "ce_loss_score"),
    ("kl_div_score", "core", "model_behavior_preservation", "kl_div_score"),
    ("frac_alive", "core", "misc_metrics", "frac_alive"),
]


def train_and_evaluate(
    plan: TrainingPlan,
    out: Path,
    model: ModelAdapter,
    hook: str,
    contexts: ContextSet,
    cache: ActivationCache,
    evals: list[str],
    device: str,
    dataset_spec: str | None,
    progress=None,
    log=print,
    overrides: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Train (or resume, or reuse a finished run), evaluate, write final_info.json.

    Returns the run's row of the summary table."""
    out = Path(out)
    record_path = out / TRAINING_RESULTS
    if record_path.is_file() and (out / SAE_FOLDER / "cfg.json").is_file():
        record = json.loads(record_path.read_text())
        if record.get("run", {}).get("plan") != plan.model_dump():
            raise SaeevalError(
                f"{out} holds a finished run with a different configuration; use "
                f"another --out folder"
            )
        log(f"{out.name}: already trained, reusing {out / SAE_FOLDER}")
    else:
        record = train(plan, out, model, hook, contexts, cache, device, progress, log).record
    results: list[dict[str, Any]] = []
    if evals:
        request = RunRequest(
            saes=[str(out / SAE_FOLDER)],
            evals=evals,
            out=out / EVAL_FOLDER,
            device=device,
            dataset=dataset_spec,
            overrides=overrides or {},
            sae_ids=[out.name],
        )
        run_evals(
            request,
            progress=progress,
            log=log,
            model_loader=lambda *_: model,
            cache=cache,
            command=f"saeeval train ({out.name})",
        )
        results = read_results(out / EVAL_FOLDER)
    write_final_info(out, int(hook.split(".")[1]), record, results)
    return summary_row(out.name, plan, record, results)


def summary_row(
    name: str, plan: TrainingPlan, record: dict[str, Any], results: list[dict[str, Any]]
) -> dict[str, Any]:
    run = record["run"]
    row: dict[str, Any] = {
        "run": name,
        "trainer": plan.trainer,
        "d_sae": plan.d_sae,
        **{k: v for k, v in plan.hyperparameters.items()},
        "training_steps": record["final_info"]["training_steps"],
        "final_loss": record["final_info"]["final_loss"],
        "train_dead_fraction": run["dead_fraction"],
        "train_wall_time_s": run["wall_time_s"],
        "train_tokens_per_s": run["tokens_per_s"],
    }
    for column, eval_type_id, group, metric in SUMMARY_METRICS:
        for result in results:
            if result["eval_type_id"] == eval_type_id:
                row[column] = result["eval_result_metrics"][group][metric]
    return row


def write_summary(out: Path, rows: list[dict[str, Any]]) -> tuple[Path, Path]:
    import pandas as pd

    from reports.tables import to_markdown

    frame = pd.DataFrame(rows)
    text = io.StringIO()
    frame.to_csv(text, index=False)
    atomic_write_text(out / "summary.csv", text.getvalue())
    atomic_write_text(out / "summary.md", to_markdown(frame) + "\n")
    return out / "summary.csv", out / "summary.md"
