"""The one driver of sweeps and many-SAE runs, whatever executes the units.

It plans work units (a prepare unit that fills the shared activation cache, training passes,
eval chunks), decides what is finished only from the files already written (training records,
stamped result files), and hands the executor only the rest. Rerunning the same command after an
interruption is therefore the resume: finished work is read, not redone.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from saeeval.distributed.executors import Executor, LocalExecutor
from saeeval.distributed.units import EvaluateRuns, EvaluateSAEs, PrepareTraining, TrainPass
from saeeval.errors import SaeevalError
from saeeval.evals import get_eval
from saeeval.files import read_json_object
from saeeval.results import result_path
from saeeval.results.stamp import json_normal
from saeeval.runner import (
    RunOutcome,
    RunRequest,
    check_without_model,
    parse_overrides,
    unique_ids,
)
from saeeval.trainers.loop import SAE_FOLDER
from saeeval.trainers.record import FINAL_INFO, TRAINING_RESULTS
from saeeval.trainers.sweep import SweepFile, load_sweep

Log = Callable[[str], None]


@dataclass
class SweepOutcome:
    rows: list[dict[str, Any]]
    csv_path: Path
    md_path: Path
    failed: list[tuple[str, str, str, str]]  # (run, eval, sae_id, reason)


def sweep(
    file: Path,
    out: Path,
    device: str,
    progress=None,
    log: Log = print,
    executor: Executor | None = None,
    chunk_size: int | None = None,
) -> SweepOutcome:
    """`saeeval sweep`: every run of the grid, trained and evaluated, then one summary table.

    The runs that still need training train together, in as few passes over the activation
    stream as the memory budget allows (one unit per pass). A run whose training diverges, or an
    eval that fails for one run (recorded in that run's manifest), is named at the end; the
    sweep goes on."""
    from saeeval.workflows import (
        EVAL_FOLDER,
        check_request,
        read_eval_results,
        summary_row,
        write_summary,
    )

    spec = _with_absolute_paths(load_sweep(file), Path(file).parent)
    out = Path(out).resolve()
    runs = [run.name for run in spec.runs()]
    overrides = parse_overrides(spec.eval_overrides)
    for trainer in dict.fromkeys(run.trainer for run in spec.runs()):
        check_request(trainer, spec.hook, spec.model, spec.dataset, spec.evals, overrides)
    executor = executor or LocalExecutor(progress, log)
    fields = spec.model_dump()
    plans = spec.plans()
    untrained = [name for name in runs if not _trained(out / name, plans[name], spec)]
    for name in (name for name in runs if name not in untrained):
        log(f"{name}: already trained, reusing {out / name / SAE_FOLDER}")
    training_failed: dict[str, str] = {}
    if untrained:
        (shape,) = _submit(executor, [PrepareTraining(fields, device)])
        passes = _training_passes(plans, untrained, shape)
        for number, members in enumerate(passes, 1):
            log(
                f"training pass {number} of {len(passes)} "
                f"({shape['budget_bytes'] / 2**30:.1f} GB budget): " + ", ".join(members)
            )
        units = [TrainPass(fields, device, str(out), tuple(members)) for members in passes]
        for failures in _submit(executor, units):
            training_failed.update({name: why for name, why in failures.items() if why})

    trained = [name for name in runs if name not in training_failed]
    to_evaluate = [name for name in trained if not _evaluated(spec, out / name, device)]
    size = chunk_size or executor.chunk_size or max(1, len(to_evaluate))
    units = [
        EvaluateRuns(fields, device, str(out), tuple(to_evaluate[i : i + size]))
        for i in range(0, len(to_evaluate), size)
    ]
    failed: list[tuple[str, str, str, str]] = []
    for eval_failures in _submit(executor, units):
        failed += [tuple(failure) for failure in eval_failures]

    rows = []
    for name in runs:
        plan = plans[name]
        if name in training_failed:
            reason = training_failed[name]
            rows.append(
                {
                    "run": name,
                    "trainer": plan.trainer,
                    "d_sae": plan.d_sae,
                    **plan.hyperparameters,
                    "training_failed": reason,
                }
            )
            failed.append((name, "training", name, reason))
            continue
        record = read_json_object(out / name / TRAINING_RESULTS)
        rows.append(
            summary_row(name, plan, record, read_eval_results(out / name / EVAL_FOLDER, log))
        )
    csv_path, md_path = write_summary(out, rows)
    return SweepOutcome(rows, csv_path, md_path, failed)


def run_many(
    request: RunRequest,
    executor: Executor,
    chunk_size: int | None = None,
    log: Log = print,
    command: str = "saeeval run",
) -> RunOutcome:
    """`saeeval run`, whatever the executor: the SAEs still without a result for this request,
    in chunks at one hook each (one chunk of all of them where units run one after another),
    one unit per chunk; the outcomes merged as one run's."""
    ids = request.sae_ids or unique_ids([Path(p) for p in request.saes])
    request = replace(_absolute_request(request), sae_ids=ids)
    evals = [get_eval(name) for name in request.evals]
    check = check_without_model(request)
    outcome = RunOutcome()
    by_hook: dict[str, list[int]] = defaultdict(list)
    for index, sae_id in enumerate(ids):
        done = [e for e in evals if (e.name, sae_id) in check.finished]
        outcome.skipped += [
            (e.name, sae_id, result_path(request.out, e.eval_type_id, sae_id)) for e in done
        ]
        if len(done) < len(evals):
            by_hook[check.hooks[sae_id]].append(index)
    size = chunk_size or executor.chunk_size
    if size is None:  # units run one after another here: one unit, the model loaded once
        chunks = [sorted(i for members in by_hook.values() for i in members)]
    else:
        chunks = [
            members[i : i + size]
            for members in by_hook.values()
            for i in range(0, len(members), size)
        ]
    chunks = [chunk for chunk in chunks if chunk]
    units = [
        EvaluateSAEs(
            replace(
                request,
                saes=[request.saes[i] for i in chunk],
                sae_ids=[ids[i] for i in chunk],
            ),
            command,
            (number, len(chunks)),
        )
        for number, chunk in enumerate(chunks, 1)
    ]
    log(
        f"{len(ids) - sum(map(len, chunks))} of {len(ids)} SAE(s) finished already; "
        f"{len(units)} unit(s) to run on {executor.name}"
    )
    for part in _submit(executor, units):
        outcome.extend(part)
    return outcome


def _submit(executor: Executor, units: list) -> list[Any]:
    """Run `units` on `executor`; their outcomes, or the first error once all have ended."""
    if not units:
        return []
    outcomes = executor.map(units)
    errors = [o for o in outcomes if isinstance(o, BaseException)]
    if errors:
        if len(errors) > 1:
            raise SaeevalError(
                f"{len(errors)} of {len(units)} units failed; the first: {errors[0]}"
            )
        raise errors[0]
    return outcomes


def _trained(folder: Path, plan, spec: SweepFile) -> bool:
    """A run is trained once its record and SAE are written (the record last). A finished run
    of another plan, hook or model there is an error, not something to overwrite; the eval unit
    checks the rest of the record (the model's weights, the training data) before using it."""
    if not ((folder / TRAINING_RESULTS).is_file() and (folder / SAE_FOLDER / "cfg.json").is_file()):
        return False
    run = read_json_object(folder / TRAINING_RESULTS).get("run") or {}
    was, now = run.get("plan") or {}, json_normal(plan.model_dump())
    differing = [
        f"{key}: {was.get(key)!r} there, {now[key]!r} now"
        for key in now
        if was.get(key) != now[key]
    ]
    if run.get("hook") != spec.hook:
        differing.append(f"hook: {run.get('hook')!r} there, {spec.hook!r} now")
    if differing:
        raise SaeevalError(
            f"{folder} holds a finished run of another job ({'; '.join(differing)}); use "
            f"another --out folder"
        )
    return True


def _evaluated(spec: SweepFile, folder: Path, device: str) -> bool:
    """Every eval of a trained run has a result that answers this sweep's request, and its
    final_info.json is written."""
    from saeeval.workflows import eval_request

    if not (folder / FINAL_INFO).is_file():
        return False
    if not spec.evals:
        return True
    request = eval_request(
        folder,
        spec.model,
        device,
        spec.dtype,
        spec.evals,
        spec.dataset,
        parse_overrides(spec.eval_overrides),
    )
    finished = check_without_model(request).finished
    return all((name, folder.name) in finished for name in spec.evals)


def _training_passes(plans: dict, names: list[str], shape: dict[str, int]) -> list[list[str]]:
    from saeeval.trainers.grid import training_passes

    passes = training_passes([plans[n] for n in names], shape["d_in"], shape["budget_bytes"])
    return [[names[i] for i in members] for members in passes]


def _local_path(value: str | None, base: Path) -> str | None:
    """`value` made absolute where it names a file or folder (workers run elsewhere)."""
    if value is None:
        return None
    candidate = (base / value) if not Path(value).is_absolute() else Path(value)
    return str(candidate.resolve()) if candidate.exists() else value


def _with_absolute_paths(spec: SweepFile, base: Path) -> SweepFile:
    """The sweep with its local model, data and trainer files as absolute paths, relative ones
    read from the working directory first and then from the sweep file's folder."""

    def local(value: str | None) -> str | None:
        if value is None or Path(value).exists():
            return _local_path(value, Path.cwd())
        return _local_path(value, base)

    grid = []
    for entry in spec.grid:
        trainer = str(entry.get("trainer", ""))
        path, sep, cls = trainer.rpartition(":")
        if sep and path.endswith(".py"):
            entry = {**entry, "trainer": f"{local(path)}:{cls}"}
        grid.append(entry)
    return spec.model_copy(
        update={"model": local(spec.model), "dataset": local(spec.dataset), "grid": grid}
    )


def _absolute_request(request: RunRequest) -> RunRequest:
    here = Path.cwd()
    return replace(
        request,
        out=Path(request.out).resolve(),
        saes=[_local_path(s, here) or s for s in request.saes],
        model=_local_path(request.model, here),
        dataset=_local_path(request.dataset, here),
    )
