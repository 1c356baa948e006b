"""The jobs behind the commands: train and evaluate, sweep a grid, fit the PCA baseline, the demo.

Each is a library function that the CLI calls with a progress bar and a logger, and that tests and
notebooks call directly. The CLI only parses arguments, shows progress and prints errors.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from saeeval.activations import ActivationCache
from saeeval.data import ContextSet
from saeeval.defaults import DEFAULT_HOOK
from saeeval.errors import SaeevalError
from saeeval.evals import EvalContext, get_eval, registered_names
from saeeval.files import atomic_write_text
from saeeval.models import ModelAdapter, load_model, resolve_device
from saeeval.reports import build_report
from saeeval.reports.tables import to_markdown
from saeeval.results import read_result, read_results
from saeeval.runner import RunOutcome, RunRequest, parse_overrides, parse_value
from saeeval.runner import run as run_evals
from saeeval.saes import save_sae
from saeeval.trainers import is_custom, native_trainer
from saeeval.trainers.loop import SAE_FOLDER, TrainingPlan, train
from saeeval.trainers.pca import fit_pca_sae
from saeeval.trainers.record import TRAINING_RESULTS, write_final_info
from saeeval.trainers.stream import TRAIN_CONTEXT_OFFSET
from saeeval.trainers.sweep import load_sweep

Log = Callable[[str], None]

TRAIN_CONTEXT_SIZE = 128
EVAL_FOLDER = "eval"  # a training run's eval results: RUN/eval/
SUMMARY_EVAL = "core"  # whose headline metrics the summary of a sweep shows


@dataclass
class TrainingInputs:
    """What every training job reads: the model, the shared activation cache, the contexts."""

    model: ModelAdapter
    cache: ActivationCache
    contexts: ContextSet
    device: str


def training_contexts_needed(tokens: int) -> int:
    """Contexts to tokenise so that `tokens` training tokens follow the ones kept for evals.

    A 128-token context holds at least 100 training tokens once BOS and separators are dropped.
    """
    return TRAIN_CONTEXT_OFFSET + tokens // 100 + 1


def load_training_inputs(
    model_name: str,
    hook: str,
    device: str,
    dataset: str | None,
    n_contexts: int,
    progress=None,
) -> TrainingInputs:
    """The model (a bad hook fails here, before any work), a cache and `n_contexts` contexts."""
    torch_device = str(resolve_device(device))
    model = load_model(model_name, torch_device)
    model.hook_width(hook)
    cache = ActivationCache()
    context = EvalContext(model=model, cache=cache, dataset_spec=dataset, progress=progress)
    contexts = context.contexts(TRAIN_CONTEXT_SIZE, n_contexts)
    return TrainingInputs(model, cache, contexts, torch_device)


def hyperparameters(
    k: int | None = None,
    lr: float | None = None,
    sparsity_penalty: float | None = None,
    params: list[str] | None = None,
) -> dict[str, Any]:
    """Trainer hyperparameters from the named options and `--param NAME=VALUE` items."""
    values = {
        name: value
        for name, value in (("k", k), ("lr", lr), ("sparsity_penalty", sparsity_penalty))
        if value is not None
    }
    for item in params or []:
        name, sep, raw = item.partition("=")
        if not sep or not name:
            raise SaeevalError(f"--param {item!r}: expected NAME=VALUE")
        values[name] = parse_value(raw)
    return values


def check_evals(names: list[str], overrides: dict[str, dict[str, Any]]) -> None:
    """Unknown eval names and `--set` for evals not asked for fail before any training."""
    known = [get_eval(name).name for name in names]
    for name in overrides:
        if name not in known:
            raise SaeevalError(f"--set names eval {name!r}, which is not in the evals to run")


def train_and_evaluate(
    plan: TrainingPlan,
    out: Path,
    inputs: TrainingInputs,
    hook: str,
    evals: list[str],
    dataset_spec: str | None,
    progress=None,
    log: Log = print,
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
        record = train(
            plan,
            out,
            inputs.model,
            hook,
            inputs.contexts,
            inputs.cache,
            inputs.device,
            progress,
            log,
        ).record
    results: list[dict[str, Any]] = []
    if evals:
        request = RunRequest(
            saes=[str(out / SAE_FOLDER)],
            evals=evals,
            out=out / EVAL_FOLDER,
            device=inputs.device,
            dataset=dataset_spec,
            overrides=overrides or {},
            sae_ids=[out.name],
        )
        run_evals(
            request,
            progress=progress,
            log=log,
            model_loader=lambda *_: inputs.model,
            cache=inputs.cache,
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
        **plan.hyperparameters,
        "training_steps": record["final_info"]["training_steps"],
        "final_loss": record["final_info"]["final_loss"],
        "train_dead_fraction": run["dead_fraction"],
        "train_wall_time_s": run["wall_time_s"],
        "train_tokens_per_s": run["tokens_per_s"],
    }
    summary_eval = get_eval(SUMMARY_EVAL)
    for result in results:
        if result["eval_type_id"] == summary_eval.eval_type_id:
            for metric in summary_eval.headline_metrics:
                row[metric.key] = metric.value(result)
    return row


def write_summary(out: Path, rows: list[dict[str, Any]]) -> tuple[Path, Path]:
    frame = pd.DataFrame(rows)
    text = io.StringIO()
    frame.to_csv(text, index=False)
    atomic_write_text(out / "summary.csv", text.getvalue())
    atomic_write_text(out / "summary.md", to_markdown(frame) + "\n")
    return out / "summary.csv", out / "summary.md"


def train_run(
    plan: TrainingPlan,
    out: Path,
    model: str,
    hook: str,
    device: str,
    dataset: str | None,
    evals: list[str],
    overrides: dict[str, dict[str, Any]],
    progress=None,
    log: Log = print,
) -> dict[str, Any]:
    """`saeeval train`: check everything cheap, load the inputs, train, evaluate."""
    if not is_custom(plan.trainer):
        native_trainer(plan.trainer)  # an unknown name fails before the model loads
    check_evals(evals, overrides)
    inputs = load_training_inputs(
        model, hook, device, dataset, training_contexts_needed(plan.tokens), progress
    )
    return train_and_evaluate(plan, out, inputs, hook, evals, dataset, progress, log, overrides)


def sweep(
    file: Path, out: Path, device: str, progress=None, log: Log = print
) -> tuple[list[dict[str, Any]], Path, Path]:
    """`saeeval sweep`: every run of the grid over one set of inputs, then one summary table."""
    spec = load_sweep(file)
    runs = spec.runs()
    overrides = parse_overrides(spec.eval_overrides)
    check_evals(spec.evals, overrides)
    inputs = load_training_inputs(
        spec.model, spec.hook, device, spec.dataset, training_contexts_needed(spec.tokens), progress
    )
    rows = []
    for run_spec in runs:
        log(f"run {run_spec.name}")
        plan = TrainingPlan(
            trainer=run_spec.trainer,
            d_sae=run_spec.d_sae,
            tokens=spec.tokens,
            batch_size=spec.batch_size,
            hyperparameters=run_spec.hyperparameters,
            seed=spec.seed,
        )
        rows.append(
            train_and_evaluate(
                plan,
                out / run_spec.name,
                inputs,
                spec.hook,
                spec.evals,
                spec.dataset,
                progress,
                log,
                overrides,
            )
        )
    csv_path, md_path = write_summary(out, rows)
    return rows, csv_path, md_path


def fit_pca(
    out: Path,
    model: str,
    hook: str,
    k: int,
    n_contexts: int,
    device: str,
    dataset: str | None,
    progress=None,
) -> Path:
    """`saeeval fit-pca`: the PCA TopK baseline, fitted on `n_contexts` training contexts."""
    if n_contexts <= 0:
        raise SaeevalError(f"--contexts must be positive, not {n_contexts}")
    inputs = load_training_inputs(
        model, hook, device, dataset, TRAIN_CONTEXT_OFFSET + n_contexts, progress
    )
    sae = fit_pca_sae(
        inputs.model,
        inputs.contexts,
        hook,
        inputs.cache,
        k=k,
        n_contexts=n_contexts,
        progress=progress,
    )
    return save_sae(sae, out)


@dataclass
class DemoOutcome:
    run: RunOutcome
    report: Path
    results: list[dict[str, Any]]  # every result of the demo's SAEs, new or found finished


def demo(
    out: Path,
    device: str = "auto",
    force: bool = False,
    d_sae: int = 2304,
    tokens: int = 200_000,
    progress=None,
    log: Log = print,
) -> DemoOutcome:
    """The main job on the embedded default: train a TopK SAE on SmolLM2, fit the PCA baseline
    beside it, run every registered eval on both, and write the report."""
    run_name = f"topk-{d_sae}-k32"
    plan = TrainingPlan(trainer="topk", d_sae=d_sae, tokens=tokens, hyperparameters={"k": 32})
    inputs = load_training_inputs(
        "smollm2-135m", DEFAULT_HOOK, device, None, training_contexts_needed(tokens), progress
    )
    log(f"training a TopK SAE ({d_sae} latents, k=32) on {tokens} tokens at {DEFAULT_HOOK}")
    train_and_evaluate(plan, out / "runs" / run_name, inputs, DEFAULT_HOOK, [], None, progress, log)
    log("fitting the PCA TopK baseline beside it")
    pca_dir = out / "saes" / "pca-topk32"
    if force or not (pca_dir / "cfg.json").is_file():
        sae = fit_pca_sae(
            inputs.model, inputs.contexts, DEFAULT_HOOK, inputs.cache, k=32, progress=progress
        )
        save_sae(sae, pca_dir)
    request = RunRequest(
        saes=[str(out / "runs" / run_name / SAE_FOLDER), str(pca_dir)],
        sae_ids=[run_name, "pca-topk32"],
        evals=sorted(registered_names()),
        out=out / "results",
        device=inputs.device,
        force=force,
    )
    outcome = run_evals(
        request,
        progress=progress,
        log=log,
        model_loader=lambda *_: inputs.model,
        cache=inputs.cache,
        command="saeeval demo",
    )
    report = build_report(out / "results", out / "report")
    results = outcome.results + [read_result(path) for _, _, path in outcome.skipped]
    return DemoOutcome(outcome, report, results)
