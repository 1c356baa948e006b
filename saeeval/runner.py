"""`saeeval run`: load SAEs, group them by model, run the requested evals, write results.

A finished (SAE, eval) result is written the moment it exists, atomically, and the manifest is
updated with it; a rerun skips finished pairs unless forced. Killing a run therefore loses only
the work in flight.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from pydantic import ValidationError

from saeeval.activations import ActivationCache
from saeeval.diagnostics import diagnose
from saeeval.errors import SaeevalError, validation_problems
from saeeval.evals import Eval, EvalContext, get_eval
from saeeval.models import (
    EMBEDDED_MODEL_NAME,
    ModelAdapter,
    canonical_model_name,
    load_model,
    resolve_device,
)
from saeeval.results import Manifest, atomic_write_json, read_result, result_path
from saeeval.saes import LoadedSAE, load_sae

ModelLoader = Callable[[str, str, str], ModelAdapter]


@dataclass
class RunRequest:
    saes: list[str]
    evals: list[str]
    out: Path
    model: str | None = None
    hook: str | None = None
    device: str = "auto"
    dtype: str = "float32"
    force: bool = False
    format: str | None = None
    dataset: str | None = None
    text_column: str = "text"
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)  # eval -> field -> value
    seed: int = 42
    sae_ids: list[str] | None = None  # names to file results under; default: folder names


@dataclass
class RunOutcome:
    written: list[tuple[str, str, Path]] = field(default_factory=list)  # (eval, sae_id, path)
    skipped: list[tuple[str, str, Path]] = field(default_factory=list)
    warnings: list[tuple[str, str, str]] = field(default_factory=list)  # (eval, sae_id, message)
    results: list[dict[str, Any]] = field(default_factory=list)


def parse_value(raw: str) -> Any:
    """A command-line value: JSON where it parses (numbers, booleans, lists), else the string."""
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def parse_overrides(items: list[str]) -> dict[str, dict[str, Any]]:
    """`--set core.n_eval_reconstruction_batches=8` -> {"core": {"n_eval_...": 8}}."""
    overrides: dict[str, dict[str, Any]] = defaultdict(dict)
    for item in items:
        key, sep, raw = item.partition("=")
        eval_name, dot, field_name = key.partition(".")
        if not sep or not dot or not field_name:
            raise SaeevalError(
                f"--set {item!r}: expected EVAL.FIELD=VALUE, e.g. core.context_size=64"
            )
        overrides[eval_name][field_name] = parse_value(raw)
    return dict(overrides)


def unique_ids(paths: list[Path]) -> list[str]:
    """Folder names, prefixed by parent folders where two SAEs would share a name."""
    depth = 1
    while True:
        ids = ["_".join(p.resolve().parts[-depth:]) for p in paths]
        if len(set(ids)) == len(ids) or depth > 8:
            return ids
        depth += 1


def _model_for(loaded: LoadedSAE, requested: str | None) -> str:
    named = loaded.sae.cfg.model_name
    if requested:
        if named and canonical_model_name(named) != canonical_model_name(requested):
            raise SaeevalError(
                f"{loaded.path}: this SAE was trained on {named!r}, but --model {requested} "
                f"was given"
            )
        return canonical_model_name(requested)
    return canonical_model_name(named) if named else EMBEDDED_MODEL_NAME


def _check_fits(loaded: LoadedSAE, model: ModelAdapter) -> None:
    hook = loaded.sae.hook_name
    try:
        width = model.hook_width(hook)
    except SaeevalError as exc:
        raise SaeevalError(f"{loaded.path}: {exc}") from None
    if loaded.sae.d_in != width:
        raise SaeevalError(
            f"{loaded.path}: the SAE's d_in is {loaded.sae.d_in}, but {model.name!r} has width "
            f"{width} at {hook}"
        )


def _eval_config(eval_: Eval, context: EvalContext, overrides: dict[str, Any]):
    config = eval_.default_config(context)
    try:
        return eval_.config_class(**{**config.model_dump(), **overrides})
    except ValidationError as exc:
        raise SaeevalError(f"--set for eval {eval_.name!r}: {validation_problems(exc)}") from None


def run(
    request: RunRequest,
    progress=None,
    log: Callable[[str], None] = print,
    model_loader: ModelLoader = load_model,
    cache: ActivationCache | None = None,
    command: str = "saeeval run",
) -> RunOutcome:
    started = time.perf_counter()
    evals = [get_eval(name) for name in request.evals]
    names = [eval_.name for eval_ in evals]  # a user's eval file is set by its eval's name
    for name in request.overrides:
        if name not in names:
            raise SaeevalError(
                f"--set names eval {name!r}, which is not in --evals ({', '.join(names)})"
            )
    if not request.saes:
        raise SaeevalError("no SAE given; pass --sae PATH (repeat it for several SAEs)")
    device = resolve_device(request.device)
    torch.manual_seed(request.seed)

    paths = [Path(p) for p in request.saes]
    ids = request.sae_ids or unique_ids(paths)
    if len(ids) != len(paths) or len(set(ids)) != len(ids):
        raise SaeevalError("each SAE needs its own distinct id")
    loaded = [
        load_sae(p, request.format, request.dtype, str(device), request.hook, sae_id)
        for p, sae_id in zip(paths, ids, strict=True)
    ]
    by_model: dict[str, list[LoadedSAE]] = defaultdict(list)
    for item in loaded:
        by_model[_model_for(item, request.model)].append(item)

    cache = cache or ActivationCache()
    manifest = Manifest(request.out)
    manifest.start_run(command, request.seed, device)
    outcome = RunOutcome()
    for model_name, group in by_model.items():
        log(f"loading model {model_name}")
        model = model_loader(model_name, str(device), request.dtype)
        for item in group:
            _check_fits(item, model)
        manifest.record_model(model.name, model.fingerprint, str(model.dtype), str(device))
        context = EvalContext(
            model=model,
            cache=cache,
            dataset_spec=request.dataset,
            text_column=request.text_column,
            seed=request.seed,
            progress=progress,
        )
        for eval_ in evals:
            _run_eval(eval_, context, group, request, manifest, outcome, log)
    manifest.finish_run(time.perf_counter() - started)
    return outcome


def _run_eval(
    eval_: Eval,
    context: EvalContext,
    group: list[LoadedSAE],
    request: RunRequest,
    manifest: Manifest,
    outcome: RunOutcome,
    log: Callable[[str], None],
) -> None:
    config = _eval_config(eval_, context, request.overrides.get(eval_.name, {}))
    pending = []
    for item in group:
        path = result_path(request.out, eval_.eval_type_id, item.sae_id)
        if path.exists() and not request.force:
            outcome.skipped.append((eval_.name, item.sae_id, path))
        else:
            pending.append(item)
    if not pending:
        return
    log(f"running {eval_.name} on {len(pending)} SAE(s)")
    started = time.perf_counter()
    context.notes.clear()

    def notes_for(sae_id: str) -> list[str]:
        mine = [message for owner, message in context.notes if owner == sae_id]
        context.notes[:] = [(owner, m) for owner, m in context.notes if owner != sae_id]
        return mine

    def record(item: LoadedSAE, path: Path | None, warnings: list[str], **timing) -> None:
        """Log an SAE's warnings and file its manifest entry (result None: not measured)."""
        for message in warnings:
            log(f"warning: {item.sae_id} ({eval_.name}): {message}")
            outcome.warnings.append((eval_.name, item.sae_id, message))
        manifest.record_result(
            eval_.eval_type_id,
            item.sae_id,
            {
                "eval": eval_.name,
                "sae_id": item.sae_id,
                "sae_path": str(item.path),
                "result": None if path is None else str(path),
                "model": context.model.name,
                **timing,
                "diagnostics": warnings,
                "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
            },
        )

    finished = set()
    for item, result in eval_.run(context, pending, config):
        path = result_path(request.out, eval_.eval_type_id, item.sae_id)
        atomic_write_json(path, result)
        finished.add(item.sae_id)
        eval_config = result["eval_config"]
        if eval_config.get("dataset_fingerprint"):
            manifest.record_dataset(
                eval_config["dataset"],
                eval_config["dataset_fingerprint"],
                eval_config.get("dataset_provenance") or "",
            )
        record(
            item,
            path,
            notes_for(item.sae_id) + diagnose(result),
            wall_time_s=round(time.perf_counter() - started, 2),
            saes_in_call=len(pending),
        )
        outcome.written.append((eval_.name, item.sae_id, path))
        outcome.results.append(read_result(path))
    for item in pending:  # SAEs the eval could not measure, and why
        if item.sae_id not in finished:
            record(item, None, notes_for(item.sae_id) or ["the eval produced no result"])
