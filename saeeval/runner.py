"""`saeeval run`: load SAEs, group them by model, run the requested evals, write results.

Everything that can be checked without the model (eval names, `--set` fields and values, the
hook names, the dtype, the SAE files) is checked before the model loads. A finished (SAE, eval)
result is written the moment it exists, atomically, stamped with what produced it, and the
manifest is updated with it. A rerun keeps a result only if its stamp matches what is asked now
(the eval's config and version, the SAE's content, the model, data and seed) and says why it
recomputes one that does not. An SAE that fails (an exception in the eval, out of memory) is
recorded as failed with the reason and the run goes on with the rest. Killing a run loses only
the work in flight.
"""

from __future__ import annotations

import gc
import hashlib
import json
import time
import traceback
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from pydantic import ValidationError

from saeeval.activations import ActivationCache
from saeeval.diagnostics import diagnose
from saeeval.errors import SaeevalError, one_line, validation_problems
from saeeval.evals import (
    ConfigContext,
    Eval,
    EvalContext,
    ModelInfo,
    get_eval,
    headline_metrics,
)
from saeeval.evals.base import eval_version, resolve_preset
from saeeval.evals.working_set import working_set_bytes
from saeeval.files import atomic_write_json
from saeeval.models import (
    EMBEDDED_MODEL_NAME,
    ModelAdapter,
    canonical_model_name,
    load_model,
    resolve_device,
)
from saeeval.models.embedded import EMBEDDED_MODEL_DESCRIPTION
from saeeval.models.hook_points import parse_hook
from saeeval.provenance import code_provenance
from saeeval.results import (
    Manifest,
    mismatch,
    non_finite_metrics,
    read_result,
    result_path,
    write_result,
)
from saeeval.results.paths import seed_run_dir
from saeeval.results.stamp import STAMP_KEY, json_normal
from saeeval.saes import LoadedSAE, apply_processing, default_sae_id, load_sae
from saeeval.uncertainty import SEEDS_KEY, seed_spread

ModelLoader = Callable[[str, str, str], ModelAdapter]
DTYPES = ("float32", "bfloat16", "float16")


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
    preset: str | None = None  # size preset; None: saebench on hub data, offline on built-in data
    sae_ids: list[str] | None = None  # names to file results under; default: folder names
    seeds: int = 1  # runs per eval under random_seed, random_seed + 1, ...: the spread over them


@dataclass
class RunOutcome:
    written: list[tuple[str, str, Path]] = field(default_factory=list)  # (eval, sae_id, path)
    skipped: list[tuple[str, str, Path]] = field(default_factory=list)  # finished, same request
    rerun: list[tuple[str, str, str]] = field(default_factory=list)  # (eval, sae_id, why)
    failed: list[tuple[str, str, str]] = field(default_factory=list)  # (eval, sae_id, reason)
    warnings: list[tuple[str, str, str]] = field(default_factory=list)  # (eval, sae_id, message)
    results: list[dict[str, Any]] = field(default_factory=list)

    def extend(self, other: RunOutcome) -> None:
        """Add another run's outcome to this one (the chunks of one distributed run)."""
        for name in self.__dataclass_fields__:
            getattr(self, name).extend(getattr(other, name))

    def failures(self) -> list[dict[str, str]]:
        """The failed (eval, SAE) pairs as the manifest records them."""
        return [{"eval": e, "sae_id": s, "reason": r} for e, s, r in self.failed]


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
    """Folder names, prefixed by parent folders where two SAEs would share a name (SAEBench's
    `RELEASE_SAE_ID` for a pretrained SAE)."""
    depth = 1
    while True:
        ids = [default_sae_id(p, depth) for p in paths]
        if len(set(ids)) == len(ids) or depth > 8:
            return ids
        depth += 1


def _model_for(loaded: LoadedSAE, requested: str | None) -> tuple[str, str]:
    """The model to evaluate an SAE on, and what chose it: --model, the SAE's config, or the
    embedded default for an SAE that names no model."""
    named = loaded.sae.cfg.model_name
    if requested:
        wanted = canonical_model_name(requested)
        if named and canonical_model_name(named) != wanted:
            if not _is_instruct_variant(wanted, canonical_model_name(named)):
                raise SaeevalError(
                    f"{loaded.path}: this SAE was trained on {named!r}, but --model {requested} "
                    f"was given"
                )
            return wanted, f"--model (the instruct variant of {named})"
        return wanted, "--model"
    if named:
        return canonical_model_name(named), "the SAE's config"
    return EMBEDDED_MODEL_NAME, "default: the SAE's config names no model"


# Suffixes naming a base model's instruction-tuned variant (gemma-2-2b -> gemma-2-2b-it).
_INSTRUCT_SUFFIXES = ("-it", "-instruct", "-chat")


def _is_instruct_variant(model: str, base: str) -> bool:
    """True when `model` is `base`'s instruct variant: SAEBench applies SAEs trained on a base
    model to it (its unlearning eval needs an instruct model); the hook and width checks of
    `_check_fits` still apply."""
    return any(model.lower() == base.lower() + suffix for suffix in _INSTRUCT_SUFFIXES)


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


def _eval_config(eval_: Eval, context: EvalContext | ConfigContext, overrides: dict[str, Any]):
    config = eval_.default_config(context)
    try:
        return eval_.config_class(**{**config.model_dump(), **overrides})
    except ValidationError as exc:
        raise SaeevalError(f"--set for eval {eval_.name!r}: {validation_problems(exc)}") from None


def check_eval_requests(
    evals: list[Eval],
    overrides: dict[str, dict[str, Any]],
    model_name: str,
    dtype: str = "float32",
    dataset: str | None = None,
    preset: str | None = None,
    option: str = "--evals",
) -> None:
    """`--set` naming an eval not asked for, an unknown field or a bad value, and an unknown
    preset or dtype, all fail here: before any model loads or any training starts."""
    names = [eval_.name for eval_ in evals]  # a user's eval file is set by its eval's name
    for name in overrides:
        if name not in names:
            asked = ", ".join(names) or "none"
            raise SaeevalError(f"--set names eval {name!r}, which is not in {option} ({asked})")
    if dtype not in DTYPES:
        raise SaeevalError(f"--dtype must be one of {', '.join(DTYPES)}, not {dtype!r}")
    resolve_preset(preset, offline=False)  # an unknown preset fails before any work
    context = ConfigContext(ModelInfo(model_name, dtype), dataset_spec=dataset, preset=preset)
    for eval_ in evals:
        try:
            eval_.default_config(context)
        except SaeevalError:
            raise
        except Exception:  # a user eval whose defaults read the loaded model: checked once it loads
            continue
        _eval_config(eval_, context, overrides.get(eval_.name, {}))


def effective_config(
    eval_name: str,
    model: str | None = None,
    dtype: str = "float32",
    dataset: str | None = None,
    preset: str | None = None,
    overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The config `saeeval run` would start `eval_name` with, built without loading anything."""
    eval_ = get_eval(eval_name)
    model_name = canonical_model_name(model) if model else EMBEDDED_MODEL_NAME
    context = ConfigContext(ModelInfo(model_name, dtype), dataset_spec=dataset, preset=preset)
    return _eval_config(eval_, context, overrides or {}).model_dump()


def sae_fingerprint(loaded: LoadedSAE) -> str:
    """A content hash of the SAE as evaluated: its config (hook and dtype included) and weights."""
    digest = hashlib.sha256()
    digest.update(json.dumps(loaded.sae.cfg.to_dict(), sort_keys=True, default=str).encode())
    for name, tensor in sorted(loaded.sae.state_dict().items()):
        flat = tensor.detach().to("cpu").contiguous().reshape(-1)
        digest.update(f"\x00{name}:{flat.dtype}:{tuple(tensor.shape)}\x00".encode())
        digest.update(memoryview(flat.view(torch.uint8).numpy()))
    return "sha256:" + digest.hexdigest()[:32]


def model_entry(model: ModelAdapter, device: torch.device) -> dict[str, Any]:
    """The manifest's record of a model: what it is, its weights' fingerprint, dtype, device."""
    entry = {"fingerprint": model.fingerprint, "dtype": str(model.dtype), "device": str(device)}
    if model.name == EMBEDDED_MODEL_NAME:
        entry["description"] = EMBEDDED_MODEL_DESCRIPTION
    return entry


@dataclass
class _Plan:
    """What a run evaluates: the SAEs, their fingerprints, and the model each goes on."""

    groups: dict[str, list[LoadedSAE]]  # model name -> its SAEs
    fingerprints: dict[str, str]  # sae_id -> content fingerprint
    chosen_by: dict[str, str]  # sae_id -> what chose its model


def _plan(request: RunRequest, evals: list[Eval], device: torch.device, log) -> _Plan:
    """Load the SAEs and check everything that needs no model."""
    if not request.saes:
        raise SaeevalError("no SAE given; pass --sae PATH (repeat it for several SAEs)")
    if request.seeds < 1:
        raise SaeevalError(f"--seeds must be at least 1 (one run per eval), not {request.seeds}")
    if request.hook:
        parse_hook(request.hook)
    # A first pass without a model name: names, fields, values, preset and dtype.
    check_eval_requests(
        evals,
        request.overrides,
        canonical_model_name(request.model) if request.model else EMBEDDED_MODEL_NAME,
        request.dtype,
        request.dataset,
        request.preset,
    )
    paths = [Path(p) for p in request.saes]
    ids = request.sae_ids or unique_ids(paths)
    if len(ids) != len(paths) or len(set(ids)) != len(ids):
        raise SaeevalError("each SAE needs its own distinct id")
    loaded = [
        load_sae(p, request.format, request.dtype, str(device), request.hook, sae_id)
        for p, sae_id in zip(paths, ids, strict=True)
    ]
    plan = _Plan(defaultdict(list), {}, {})
    for item in loaded:
        try:
            parse_hook(item.sae.hook_name)
        except SaeevalError as exc:
            raise SaeevalError(f"{item.path}: {exc}") from None
        model_name, chosen_by = _model_for(item, request.model)
        if chosen_by.startswith("default"):
            log(
                f"warning: {item.path} names no model; evaluating it on the embedded "
                f"{EMBEDDED_MODEL_NAME} ({EMBEDDED_MODEL_DESCRIPTION}); pass --model to choose"
            )
        plan.groups[model_name].append(item)
        plan.chosen_by[item.sae_id] = chosen_by
        plan.fingerprints[item.sae_id] = sae_fingerprint(item)
    for model_name in plan.groups:  # defaults can depend on the model's name
        check_eval_requests(
            evals, request.overrides, model_name, request.dtype, request.dataset, request.preset
        )
    return plan


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
    working_set_bytes()  # a bad $SAEEVAL_WORKING_SET_MB is a usage error, found before any work
    device = resolve_device(request.device)
    torch.manual_seed(request.seed)
    plan = _plan(request, evals, device, log)

    cache = cache or ActivationCache()
    manifest = Manifest(request.out, log)
    manifest.start_run(command, request.seed, device)
    outcome = RunOutcome()
    for model_name, group in plan.groups.items():
        log(f"loading model {model_name}")
        model = model_loader(model_name, str(device), request.dtype)
        for item in group:
            _check_fits(item, model)
            if note := apply_processing(item.sae, model):  # TransformerLens' basis, if any
                log(note)
        manifest.record_model(model.name, model_entry(model, device))
        context = EvalContext(
            model=model,
            cache=cache,
            dataset_spec=request.dataset,
            text_column=request.text_column,
            seed=request.seed,
            preset=request.preset,
            progress=progress,
        )
        for eval_ in evals:
            first = _EvalRun(eval_, context, group, request, plan, manifest, outcome, log)
            first.run()
            if request.seeds > 1:
                _rerun_under_seeds(first, device)
    manifest.finish_run(time.perf_counter() - started, outcome.failures())
    return outcome


def request_stamp(
    eval_: Eval,
    config,
    overrides: dict[str, Any],
    request: RunRequest,
    model_name: str,
    model_fingerprint: str | None,
    offline: bool,
) -> dict[str, Any]:
    """What a result of `eval_` records about the request that produced it, its SAE aside."""
    return {
        "eval": eval_.name,
        "eval_version": eval_version(eval_),
        "overrides": overrides,
        "requested_config": json_normal(config.model_dump()),
        "inputs": {
            "model": model_name,
            "model_fingerprint": model_fingerprint,
            "dtype": request.dtype,
            "dataset": "offline" if offline else request.dataset,
            "text_column": request.text_column,
            "seed": request.seed,
        },
    }


@dataclass
class ModelFreeCheck:
    """What a request needs, as far as it can be told without loading a model."""

    finished: set[tuple[str, str]]  # (eval name, SAE id) pairs whose result answers the request
    hooks: dict[str, str]  # SAE id -> the hook it reads


def check_without_model(request: RunRequest) -> ModelFreeCheck:
    """Load the request's SAEs, check everything that needs no model, and find the (eval, SAE)
    pairs whose result file already answers the request. Every field of the stamp is compared
    except the model weights' fingerprint, which the eval run checks once the model is loaded
    (so a model whose weights changed under the same name is caught there, not here).

    A distributed run's driver uses this to submit only unfinished work; with `--force` or
    `--seeds` above 1 nothing counts as finished."""
    evals = [get_eval(name) for name in request.evals]
    plan = _plan(request, evals, torch.device("cpu"), log=lambda _: None)
    check = ModelFreeCheck(set(), {})
    for group in plan.groups.values():
        check.hooks.update({item.sae_id: item.sae.hook_name for item in group})
    if request.force or request.seeds > 1:
        return check
    for model_name, group in plan.groups.items():
        context = ConfigContext(
            ModelInfo(model_name, request.dtype),
            dataset_spec=request.dataset,
            preset=request.preset,
        )
        for eval_ in evals:
            overrides = request.overrides.get(eval_.name, {})
            try:
                config = _eval_config(eval_, context, overrides)
            except Exception:  # defaults that read the loaded model: only a worker can tell
                continue
            for item in group:
                path = result_path(request.out, eval_.eval_type_id, item.sae_id)
                if not path.exists():
                    continue
                try:
                    recorded = read_result(path)
                except SaeevalError:
                    continue
                seen = (recorded.get(STAMP_KEY) or {}).get("inputs") or {}
                expected = request_stamp(
                    eval_,
                    config,
                    overrides,
                    request,
                    model_name,
                    seen.get("model_fingerprint"),
                    context.offline,
                )
                expected["sae_fingerprint"] = plan.fingerprints[item.sae_id]
                if mismatch(recorded, expected) is None:
                    check.finished.add((eval_.name, item.sae_id))
    return check


class _EvalRun:
    """One eval over one model's SAEs: what to keep, what to (re)compute, and recording it."""

    def __init__(
        self,
        eval_: Eval,
        context: EvalContext,
        group: list[LoadedSAE],
        request: RunRequest,
        plan: _Plan,
        manifest: Manifest,
        outcome: RunOutcome,
        log: Callable[[str], None],
        out: Path | None = None,
        overrides: dict[str, Any] | None = None,
    ):
        self.eval_, self.context, self.group, self.request = eval_, context, group, request
        self.plan, self.manifest, self.outcome, self.log = plan, manifest, outcome, log
        self.out = out or request.out
        self.overrides = request.overrides.get(eval_.name, {}) if overrides is None else overrides
        self.config = _eval_config(eval_, context, self.overrides)
        model = context.model
        self.common = request_stamp(
            eval_,
            self.config,
            self.overrides,
            request,
            model.name,
            model.fingerprint,
            context.offline,
        )

    def stamp(self, item: LoadedSAE) -> dict[str, Any]:
        return {
            **code_provenance(),
            **self.common,
            "sae_fingerprint": self.plan.fingerprints[item.sae_id],
            "model_chosen_by": self.plan.chosen_by[item.sae_id],
        }

    def path(self, item: LoadedSAE) -> Path:
        return result_path(self.out, self.eval_.eval_type_id, item.sae_id)

    def pending(self) -> list[LoadedSAE]:
        """The SAEs without a finished result for exactly this request; says why for each."""
        pending = []
        for item in self.group:
            path = self.path(item)
            if self.request.force or not path.exists():
                pending.append(item)
                continue
            try:
                why = mismatch(read_result(path), self.stamp(item))
            except SaeevalError as exc:
                why = f"the result file is damaged ({exc})"
            if why is None:
                self.outcome.skipped.append((self.eval_.name, item.sae_id, path))
                continue
            self.log(f"rerunning {self.eval_.name} for {item.sae_id}: {why}")
            self.outcome.rerun.append((self.eval_.name, item.sae_id, why))
            pending.append(item)
        return pending

    def run(self) -> None:
        pending = self.pending()
        if not pending:
            return
        self.log(f"running {self.eval_.name} on {len(pending)} SAE(s)")
        self.context.notes.clear()
        left, error = self.attempt(pending)
        if error is not None and len(left) > 1:
            self.log(
                f"warning: {self.eval_.name} failed ({_reason(error)}) with {len(left)} SAEs "
                f"unfinished; running each of them alone"
            )
            for item in left:
                rest, error_alone = self.attempt([item])
                if error_alone is not None:
                    self.fail(item, error_alone)
                elif rest:
                    self.unmeasured(item)
            return
        for item in left:
            if error is not None:
                self.fail(item, error)
            else:
                self.unmeasured(item)

    def attempt(self, items: list[LoadedSAE]) -> tuple[list[LoadedSAE], Exception | None]:
        """Run the eval on `items`; the SAEs it left unfinished, and the exception if it raised.

        KeyboardInterrupt and SystemExit are not caught: an interrupted run stops.
        """
        left = {item.sae_id: item for item in items}
        self.started, self.in_call = time.perf_counter(), len(items)
        try:
            # Evals run without autograd (probe training inside an eval turns it back on).
            # no_grad rather than inference_mode: tensors made under inference_mode could not
            # be saved for the backward pass of that probe training.
            with torch.no_grad():
                for item, result in self.eval_.run(self.context, items, self.config):
                    self.finish(item, result)
                    left.pop(item.sae_id, None)
        except Exception as exc:
            _free_memory()
            return list(left.values()), exc
        return list(left.values()), None

    def notes_for(self, sae_id: str) -> list[str]:
        notes = self.context.notes
        mine = [message for owner, message in notes if owner == sae_id]
        notes[:] = [(owner, m) for owner, m in notes if owner != sae_id]
        return mine

    def finish(self, item: LoadedSAE, result: dict[str, Any]) -> None:
        path = self.path(item)
        stamped = write_result(path, result, self.stamp(item))
        eval_config = stamped.get("eval_config") or {}
        if eval_config.get("dataset_fingerprint"):
            self.manifest.record_dataset(
                eval_config["dataset"],
                eval_config["dataset_fingerprint"],
                eval_config.get("dataset_provenance") or "",
            )
        self.record(
            item,
            path,
            self.notes_for(item.sae_id) + diagnose(stamped),
            wall_time_s=round(time.perf_counter() - self.started, 2),
            saes_in_call=self.in_call,
            non_finite_metrics=non_finite_metrics(stamped),
        )
        self.outcome.written.append((self.eval_.name, item.sae_id, path))
        self.outcome.results.append(read_result(path))

    def fail(self, item: LoadedSAE, error: Exception) -> None:
        reason = _reason(error)
        self.log(f"error: {self.eval_.name} failed for {item.sae_id}: {reason}")
        self.outcome.failed.append((self.eval_.name, item.sae_id, reason))
        self.record(
            item,
            None,
            self.notes_for(item.sae_id),
            failed=reason,
            traceback="".join(traceback.format_exception(error)),
        )

    def unmeasured(self, item: LoadedSAE) -> None:
        """An SAE the eval chose not to measure (it says why in a note)."""
        self.record(item, None, self.notes_for(item.sae_id) or ["the eval produced no result"])

    def record(self, item: LoadedSAE, path: Path | None, warnings: list[str], **extra) -> None:
        """Log an SAE's warnings and file its manifest entry (result None: not measured)."""
        for message in warnings:
            self.log(f"warning: {item.sae_id} ({self.eval_.name}): {message}")
            self.outcome.warnings.append((self.eval_.name, item.sae_id, message))
        self.manifest.record_result(
            self.eval_.eval_type_id,
            item.sae_id,
            {
                "eval": self.eval_.name,
                "eval_version": self.common["eval_version"],
                "sae_id": item.sae_id,
                "sae_path": str(Path(item.path).resolve()),
                "sae_fingerprint": self.plan.fingerprints[item.sae_id],
                "result": None if path is None else str(path),
                "model": self.context.model.name,
                "model_chosen_by": self.plan.chosen_by[item.sae_id],
                "overrides": self.overrides,
                **extra,
                "diagnostics": warnings,
                "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
            },
        )


def _rerun_under_seeds(first: _EvalRun, device: torch.device) -> None:
    """`--seeds N`: the eval of `first` rerun on the same SAEs under N - 1 further seeds, each
    into its own result folder (OUT/seed_runs/random_seed_S, resumable like OUT), and the spread
    of each headline metric over all N recorded in the result of `first`, the eval's own seed."""
    eval_, request, outcome, log = first.eval_, first.request, first.outcome, first.log
    if "random_seed" not in eval_.config_class.model_fields:
        log(f"{eval_.name} draws nothing at random; --seeds runs it once")
        return
    own_seed, model = first.config.random_seed, first.context.model
    seeds = [own_seed + i for i in range(request.seeds)]
    answered: dict[int, dict[str, Path]] = {}  # seed -> sae_id -> result of this request
    for seed in seeds[1:]:
        folder = seed_run_dir(request.out, seed)
        manifest = Manifest(folder, log)
        started = time.perf_counter()
        manifest.start_run(f"saeeval run --seeds (random_seed {seed})", request.seed, device)
        manifest.record_model(model.name, model_entry(model, device))
        here = RunOutcome()
        log(f"{eval_.name}: rerun under random_seed {seed} into {folder}")
        _EvalRun(
            eval_,
            first.context,
            first.group,
            request,
            first.plan,
            manifest,
            here,
            log,
            out=folder,
            overrides={**first.overrides, "random_seed": seed},
        ).run()
        manifest.finish_run(time.perf_counter() - started, here.failures())
        label = f"{eval_.name} (random_seed {seed})"
        outcome.failed += [(label, sae_id, why) for _, sae_id, why in here.failed]
        outcome.warnings += [(label, sae_id, m) for _, sae_id, m in here.warnings]
        answered[seed] = {s: path for _, s, path in here.written + here.skipped}
    for item in first.group:
        main = first.path(item)
        if main.exists() and all(item.sae_id in answered[s] for s in seeds[1:]):
            paths = {own_seed: main} | {s: answered[s][item.sae_id] for s in seeds[1:]}
            _record_spread(first, main, paths)
        elif main.exists():
            log(
                f"warning: no spread over seeds for {eval_.name} on {item.sae_id}: a rerun "
                f"under another seed failed"
            )


def _record_spread(first: _EvalRun, main: Path, paths: dict[int, Path]) -> None:
    """Write the spread over `paths` (seed -> result) into the first seed's result file `main`
    (atomically, the -1 placeholders of non-finite numbers kept as the file has them)."""
    metrics = headline_metrics(first.eval_.eval_type_id)
    values = {}
    for seed, path in paths.items():
        result = read_result(path)
        values[seed] = {m.key: m.number(result) for m in metrics}
    data = json.loads(main.read_text())
    unstructured = data.get("eval_result_unstructured")
    if unstructured is None:
        unstructured = data["eval_result_unstructured"] = {}
    if not isinstance(unstructured, dict):
        first.log(f"warning: {main} keeps no spread: its eval_result_unstructured is no object")
        return
    unstructured[SEEDS_KEY] = seed_spread(values)
    atomic_write_json(main, data)
    first.outcome.results = [
        read_result(main) if r.get("_path") == str(main) else r for r in first.outcome.results
    ]


def _reason(error: Exception) -> str:
    return f"{type(error).__name__}: {one_line(error) or 'no message'}"


def _free_memory() -> None:
    """After a failure (out of memory, say), give back what the failed attempt held."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
