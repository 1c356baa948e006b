"""`saeeval sweep FILE.yaml`: a grid of training runs sharing one activation collection.

    model: smollm2-135m            # optional, these are the defaults
    hook: blocks.6.hook_resid_post
    dataset: offline
    tokens: 1000000
    batch_size: 1024
    checkpoint_every: 250          # training steps between checkpoints (a rerun resumes from one)
    dtype: float32                 # the model's; SAEs train in float32 either way
    memory_budget_gb: 8            # default: half the memory free when the sweep starts
    d_sae: 4608
    evals: [core]
    eval_overrides: [core.n_eval_reconstruction_batches=8]   # like `saeeval run --set`
    defaults: {lr: 0.001}          # hyperparameters for every run
    grid:
      - trainer: topk
        k: [16, 32, 64]            # a list sweeps; every combination is one run
      - trainer: standard
        sparsity_penalty: [0.02, 0.05]

The runs train together, in one pass over the activation stream (as many passes as
`memory_budget_gb` needs; see trainers/grid.py). Every run trains into OUT/<run name>/ (resumable
on its own, with the result it would have trained alone), is evaluated, and the sweep ends with
OUT/summary.csv and OUT/summary.md holding each run's training and eval numbers. A run whose
training diverges is named in the summary and the sweep goes on.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from saeeval.errors import SaeevalError, validation_problems
from saeeval.trainers.loop import TrainingPlan


class SweepRun(BaseModel):
    name: str
    trainer: str
    d_sae: int
    hyperparameters: dict[str, Any]


class SweepFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = "smollm2-135m"
    hook: str = "blocks.6.hook_resid_post"
    dataset: str | None = None
    tokens: int = Field(default=1_000_000, gt=0)
    batch_size: int = Field(default=1024, gt=0)
    d_sae: int = Field(default=4608, gt=0)
    seed: int = 0
    checkpoint_every: int = Field(
        default=250, gt=0, description="training steps between checkpoints"
    )
    dtype: Literal["float32", "bfloat16", "float16"] = Field(
        default="float32", description="the model's dtype for collecting activations"
    )
    memory_budget_gb: float | None = Field(
        default=None,
        gt=0,
        description="memory one training pass may use; default half of what is free at the start",
    )
    evals: list[str] = Field(default_factory=lambda: ["core"])
    eval_overrides: list[str] = Field(
        default_factory=list, description="like --set: EVAL.FIELD=VALUE for every run's evals"
    )
    defaults: dict[str, Any] = Field(default_factory=dict)
    grid: list[dict[str, Any]] = Field(min_length=1)

    def runs(self) -> list[SweepRun]:
        runs: list[SweepRun] = []
        for entry in self.grid:
            if "trainer" not in entry:
                raise SaeevalError(f"sweep grid entry {entry} names no trainer")
            fixed = {**self.defaults, **entry}
            trainer = fixed.pop("trainer")
            swept = {k: v for k, v in fixed.items() if isinstance(v, list)}
            for values in itertools.product(*swept.values()) if swept else [()]:
                params = {**fixed, **dict(zip(swept, values, strict=True))}
                d_sae = int(params.pop("d_sae", self.d_sae))
                label = "_".join(f"{k}{v}" for k, v in zip(swept, values, strict=True))
                name = Path(trainer).stem.split(":")[0] if ":" in trainer else trainer
                runs.append(
                    SweepRun(
                        name=f"{name}_{label}" if label else name,
                        trainer=trainer,
                        d_sae=d_sae,
                        hyperparameters=params,
                    )
                )
        names = [r.name for r in runs]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise SaeevalError(
                f"sweep runs would share the names {', '.join(duplicates)}; give "
                f"the grid entries distinct values"
            )
        return runs

    def plans(self) -> dict[str, TrainingPlan]:
        """Each run's training plan, by run name."""
        return {
            run.name: TrainingPlan(
                trainer=run.trainer,
                d_sae=run.d_sae,
                tokens=self.tokens,
                batch_size=self.batch_size,
                hyperparameters=run.hyperparameters,
                seed=self.seed,
                checkpoint_every=self.checkpoint_every,
            )
            for run in self.runs()
        }


def load_sweep(path: str | Path) -> SweepFile:
    path = Path(path)
    if not path.is_file():
        raise SaeevalError(f"sweep file {path} does not exist")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise SaeevalError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise SaeevalError(f"{path} must hold a mapping with at least a `grid` list")
    try:
        return SweepFile(**raw)
    except ValidationError as exc:
        raise SaeevalError(f"{path}: {validation_problems(exc)}") from None
