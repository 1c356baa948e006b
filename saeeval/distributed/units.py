"""Work units: what one executor slot does, as plain data that pickles to another machine.

Each unit calls the library functions a local run calls (no second implementation) and reads or
writes only files under its output folder and the activation cache, so it may run anywhere that
sees the same paths. Every unit is safe to run again: training resumes from its checkpoints, and
an eval keeps each result that already answers its request. That is what makes a retried unit
(a worker killed, a node lost, a SLURM job requeued) finish with exactly one result per item.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from saeeval.runner import RunOutcome, RunRequest


@dataclass(frozen=True)
class PrepareTraining:
    """Fill the activation cache a sweep's training reads (one per model, hook and data), and
    measure what the driver needs to plan the training passes where the training runs."""

    sweep: dict[str, Any]  # the sweep file's fields (SweepFile.model_dump())
    device: str

    @property
    def label(self) -> str:
        return f"prepare {self.sweep['model']} at {self.sweep['hook']}"

    def run(self, progress=None, log=print) -> dict[str, int]:
        from saeeval.trainers.grid import default_budget_bytes
        from saeeval.trainers.stream import ActivationStream

        spec, inputs = _sweep_inputs(self.sweep, self.device, progress)
        plan = next(iter(spec.plans().values()))
        n_contexts = min(len(inputs.contexts), plan.stream_contexts)
        ActivationStream(
            inputs.model,
            inputs.contexts,
            spec.hook,
            0,
            n_contexts,
            inputs.cache,
            seed=plan.seed,
            progress=progress,
        )
        budget = (
            int(spec.memory_budget_gb * 2**30)
            if spec.memory_budget_gb is not None
            else default_budget_bytes(inputs.device)
        )
        return {"d_in": inputs.model.hook_width(spec.hook), "budget_bytes": budget}


@dataclass(frozen=True)
class _SweepRuns:
    """Some of a sweep's runs, by name, in the sweep's output folder."""

    sweep: dict[str, Any]
    device: str
    out: str
    runs: tuple[str, ...]
    verb = "work on"

    @property
    def label(self) -> str:
        return f"{self.verb} {', '.join(self.runs)}"


@dataclass(frozen=True)
class TrainPass(_SweepRuns):
    """Train some of a sweep's runs together, in one pass over their shared activation stream."""

    verb = "train"

    def run(self, progress=None, log=print) -> dict[str, str | None]:
        """Each run's failure (it diverged), or None where it trained."""
        from saeeval.errors import SaeevalError
        from saeeval.trainers.loop import train_together

        spec, inputs = _sweep_inputs(self.sweep, self.device, progress)
        plans = spec.plans()
        results = train_together(
            [plans[name] for name in self.runs],
            [Path(self.out) / name for name in self.runs],
            inputs.model,
            spec.hook,
            inputs.contexts,
            inputs.cache,
            inputs.device,
            progress,
            log,
        )
        failures: dict[str, str | None] = {}
        for name, result in zip(self.runs, results, strict=True):
            failures[name] = str(result) if isinstance(result, SaeevalError) else None
            if failures[name]:
                log(f"{name}: {failures[name]}")
        return failures


@dataclass(frozen=True)
class EvaluateRuns(_SweepRuns):
    """Evaluate some trained runs of a sweep, the model loaded once for all of them."""

    verb = "evaluate"

    def run(self, progress=None, log=print) -> list[tuple[str, str, str, str]]:
        """The failed evals, as (run, eval, sae_id, reason)."""
        from saeeval.errors import SaeevalError
        from saeeval.runner import parse_overrides
        from saeeval.workflows import evaluate_trained, finished_record

        spec, inputs = _sweep_inputs(self.sweep, self.device, progress)
        plans, overrides = spec.plans(), parse_overrides(spec.eval_overrides)
        failed = []
        for name in self.runs:
            folder = Path(self.out) / name
            # The record must be this job's (plan, model, hook, training data), as a local
            # sweep checks before it reuses a run.
            record = finished_record(plans[name], folder, inputs, spec.hook)
            if record is None:
                raise SaeevalError(f"{folder} holds no finished training run to evaluate")
            _, outcome = evaluate_trained(
                plans[name],
                folder,
                record,
                inputs,
                spec.hook,
                spec.evals,
                spec.dataset,
                progress,
                log,
                overrides,
            )
            failed += [(name, *failure) for failure in (outcome.failed if outcome else [])]
        return failed


@dataclass(frozen=True)
class EvaluateSAEs:
    """`saeeval run` on a chunk of SAEs (at one hook, so the model loads once for the chunk)."""

    request: RunRequest
    command: str = "saeeval run"
    position: tuple[int, int] = field(default=(1, 1))  # this chunk's number, of how many

    @property
    def label(self) -> str:
        number, total = self.position
        return f"evaluate chunk {number} of {total} ({len(self.request.saes)} SAEs)"

    def run(self, progress=None, log=print) -> RunOutcome:
        from saeeval.runner import run

        return run(self.request, progress=progress, log=log, command=self.command)


def run_unit(unit, progress=None, log=print):
    """What an executor calls on a worker: run one unit, return its (picklable) outcome."""
    return unit.run(progress=progress, log=log)


# Where units run one after another in one process (the local executor), the inputs each unit
# of a sweep loads (model, tokenised contexts) are kept here for the executor's lifetime, so the
# model loads once per sweep, as in a single local job; elsewhere each unit loads its own.
_SHARED_INPUTS: ContextVar[dict | None] = ContextVar("shared_inputs", default=None)


@contextmanager
def sharing_inputs(store: dict) -> Iterator[None]:
    """Units run inside this block share the sweep inputs kept in `store`."""
    token = _SHARED_INPUTS.set(store)
    try:
        yield
    finally:
        _SHARED_INPUTS.reset(token)


def _sweep_inputs(fields: dict[str, Any], device: str, progress):
    from saeeval.trainers.sweep import SweepFile
    from saeeval.workflows import load_training_inputs, training_contexts_needed

    spec = SweepFile(**fields)
    store = _SHARED_INPUTS.get()
    key = (json.dumps(fields, sort_keys=True, default=str), device)
    if store is not None and key in store:
        return spec, store[key]
    inputs = load_training_inputs(
        spec.model,
        spec.hook,
        device,
        spec.dataset,
        training_contexts_needed(spec.tokens),
        progress,
        spec.dtype,
    )
    if store is not None:
        store[key] = inputs
    return spec, inputs
