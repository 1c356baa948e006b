"""The jobs behind the commands: train and evaluate, sweep a grid, fit the PCA baseline, the demo.

Each is a library function that the CLI calls with a progress bar and a logger, and that tests and
notebooks call directly. The CLI only parses arguments, shows progress and prints errors.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from saeeval.activations import ActivationCache
from saeeval.data import ContextSet
from saeeval.defaults import DEFAULT_HOOK, DEMO_D_SAE, DEMO_TOKENS
from saeeval.errors import SaeevalError
from saeeval.evals import EvalContext, get_eval, registered_names
from saeeval.files import atomic_write_text, read_json_object
from saeeval.models import ModelAdapter, canonical_model_name, load_model, resolve_device
from saeeval.models.hook_points import parse_hook
from saeeval.reports import build_report
from saeeval.results import read_result, read_results
from saeeval.results.stamp import json_normal
from saeeval.runner import (
    ModelLoader,
    RunOutcome,
    RunRequest,
    check_eval_requests,
    parse_value,
)
from saeeval.runner import run as run_evals
from saeeval.saes import save_sae
from saeeval.trainers import is_custom, native_trainer
from saeeval.trainers.custom import load_trainer_class
from saeeval.trainers.loop import SAE_FOLDER, TrainingPlan, train
from saeeval.trainers.pca import fit_pca_sae
from saeeval.trainers.record import TRAINING_RESULTS, write_final_info

Log = Callable[[str], None]

TRAIN_CONTEXT_SIZE = 128
EVAL_FOLDER = "eval"  # a training run's eval results: RUN/eval/
SUMMARY_EVAL = "core"  # whose headline metrics the summary of a sweep shows


@dataclass
class TrainingInputs:
    """What every training job reads: the model, the shared activation cache, and contexts of
    the dataset's train part (documents no eval reads)."""

    model: ModelAdapter
    cache: ActivationCache
    contexts: ContextSet
    device: str


def training_contexts_needed(tokens: int) -> int:
    """Contexts of the train part to tokenise for `tokens` training tokens.

    A 128-token context holds at least 100 training tokens once BOS and separators are dropped.
    """
    return tokens // 100 + 1


def load_training_inputs(
    model_name: str,
    hook: str,
    device: str,
    dataset: str | None,
    n_contexts: int,
    progress=None,
    dtype: str = "float32",
) -> TrainingInputs:
    """The model in `dtype` (a bad hook fails here, before any work), a cache and `n_contexts`
    contexts of the dataset's train part. The dtype is the model's, for collecting activations;
    SAEs train in float32 whatever it is."""
    parse_hook(hook)
    torch_device = str(resolve_device(device))
    model = load_model(model_name, torch_device, dtype)
    model.hook_width(hook)
    cache = ActivationCache()
    context = EvalContext(model=model, cache=cache, dataset_spec=dataset, progress=progress)
    contexts = context.contexts(TRAIN_CONTEXT_SIZE, n_contexts, part="train")
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


def check_request(
    plan_trainer: str,
    hook: str,
    model: str,
    dataset: str | None,
    evals: list[str],
    overrides: dict[str, dict[str, Any]],
) -> None:
    """Everything about a training job that needs no model fails here, before it loads: the
    trainer's name or file, the hook's syntax, the eval names, and every `--set` field and value
    (checked against each eval's config class with its defaults)."""
    if is_custom(plan_trainer):
        load_trainer_class(plan_trainer)
    else:
        native_trainer(plan_trainer)
    parse_hook(hook)
    check_eval_requests(
        [get_eval(name) for name in evals],
        overrides,
        canonical_model_name(model),
        dataset=dataset,
        option="the evals to run",
    )


def _reuse_mismatch(run: dict[str, Any], plan: TrainingPlan, inputs: TrainingInputs, hook: str):
    """Why a finished run's record does not match this job, or None when it does."""
    if run.get("fingerprint") == plan.fingerprint(inputs.model, hook, inputs.contexts):
        return None
    if "fingerprint" not in run:
        return "its record has no fingerprint of its inputs (an older saeeval wrote it)"
    expected = {
        "plan": json_normal(plan.model_dump()),
        "model": inputs.model.name,
        "model_fingerprint": inputs.model.fingerprint,
        "hook": hook,
        "dataset": inputs.contexts.dataset.name,
        "dataset_fingerprint": inputs.contexts.dataset.fingerprint,
        "dataset_part": inputs.contexts.part,
        "contexts": inputs.contexts.key,
    }
    differing = [
        f"{key}: {run.get(key)!r} there, {value!r} now"
        for key, value in expected.items()
        if run.get(key) != value
    ]
    return "; ".join(differing) or "its inputs' fingerprint differs"


def the_model(model: ModelAdapter) -> ModelLoader:
    """A model loader for evals inside a job that holds `model` already: it returns that model,
    and refuses any other name or dtype instead of evaluating on the wrong model."""

    def load(name: str, device: str, dtype: str) -> ModelAdapter:
        if canonical_model_name(name) != model.name or dtype != model.dtype_name:
            raise SaeevalError(
                f"this job holds model {model.name!r} ({model.dtype_name}), but the eval asked "
                f"for {name!r} ({dtype})"
            )
        return model

    return load


def read_eval_results(folder: Path, log: Log) -> list[dict[str, Any]]:
    unreadable: list[tuple[Path, str]] = []
    results = read_results(folder, unreadable) if folder.is_dir() else []
    for _, why in unreadable:
        log(f"warning: left out of the summary: {why}")
    return results


def finished_record(
    plan: TrainingPlan, out: Path, inputs: TrainingInputs, hook: str
) -> dict[str, Any] | None:
    """The training record of a finished run of exactly this job in `out`, or None if there is
    none. A finished run of another job there is an error, not something to overwrite.

    A run counts as this job's only if its record matches everything that defines the run: the
    training plan, the model's weights, the hook and the dataset's training contexts."""
    record_path = out / TRAINING_RESULTS
    if not (record_path.is_file() and (out / SAE_FOLDER / "cfg.json").is_file()):
        return None
    record = read_json_object(record_path)
    why = _reuse_mismatch(record.get("run") or {}, plan, inputs, hook)
    if why is not None:
        raise SaeevalError(
            f"{out} holds a finished run of another job ({why}); use another --out folder"
        )
    return record


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
) -> tuple[dict[str, Any], RunOutcome | None]:
    """Train (or resume, or reuse a finished run of exactly this job), evaluate, write
    final_info.json. Returns the run's row of the summary table and the eval run's outcome (None
    without evals)."""
    out = Path(out)
    record = finished_record(plan, out, inputs, hook)
    if record is not None:
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
    return evaluate_trained(
        plan, out, record, inputs, hook, evals, dataset_spec, progress, log, overrides
    )


def evaluate_trained(
    plan: TrainingPlan,
    out: Path,
    record: dict[str, Any],
    inputs: TrainingInputs,
    hook: str,
    evals: list[str],
    dataset_spec: str | None,
    progress=None,
    log: Log = print,
    overrides: dict[str, dict[str, Any]] | None = None,
) -> tuple[dict[str, Any], RunOutcome | None]:
    """Evaluate the trained run in `out` into out/eval and write its final_info.json."""
    results: list[dict[str, Any]] = []
    outcome = None
    if evals:
        request = eval_request(
            out,
            inputs.model.name,
            inputs.device,
            inputs.model.dtype_name,
            evals,
            dataset_spec,
            overrides or {},
        )
        outcome = run_evals(
            request,
            progress=progress,
            log=log,
            model_loader=the_model(inputs.model),
            cache=inputs.cache,
            command=f"saeeval train ({out.name})",
        )
        results = read_eval_results(out / EVAL_FOLDER, log)
    write_final_info(out, parse_hook(hook).layer, record, results)
    return summary_row(out.name, plan, record, results), outcome


def eval_request(
    out: Path,
    model: str,
    device: str,
    dtype: str,
    evals: list[str],
    dataset_spec: str | None,
    overrides: dict[str, dict[str, Any]],
) -> RunRequest:
    """The eval request of the training run in `out`: its SAE, filed under the run's name in
    out/eval."""
    return RunRequest(
        saes=[str(out / SAE_FOLDER)],
        evals=evals,
        out=out / EVAL_FOLDER,
        model=canonical_model_name(model),
        device=device,
        dtype=dtype,
        dataset=dataset_spec,
        overrides=overrides,
        sae_ids=[out.name],
    )


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
        "train_runs_in_pass": run.get("runs_in_pass", 1),
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
    atomic_write_text(out / "summary.md", frame.to_markdown(index=False, floatfmt=".4g") + "\n")
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
    dtype: str = "float32",
) -> tuple[dict[str, Any], RunOutcome | None]:
    """`saeeval train`: check everything cheap, load the inputs, train, evaluate."""
    check_request(plan.trainer, hook, model, dataset, evals, overrides)
    inputs = load_training_inputs(
        model, hook, device, dataset, training_contexts_needed(plan.tokens), progress, dtype
    )
    return train_and_evaluate(plan, out, inputs, hook, evals, dataset, progress, log, overrides)


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
    inputs = load_training_inputs(model, hook, device, dataset, n_contexts, progress)
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
    d_sae: int = DEMO_D_SAE,
    tokens: int = DEMO_TOKENS,
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
        model_loader=the_model(inputs.model),
        cache=inputs.cache,
        command="saeeval demo",
    )
    report = build_report(out / "results", out / "report", baseline="pca-topk32")
    results = outcome.results + [read_result(path) for _, _, path in outcome.skipped]
    return DemoOutcome(outcome, report, results)
