"""The training loop every trainer runs in: streaming, normalisation, checkpoints, records.

Inputs are scaled so that E||x|| = sqrt(d_in) (a factor estimated on the first batches); the
trainer never sees raw activations. On export the factor is folded into the SAE's biases (and
thresholds), so the saved SAE takes raw activations and evals need no undoing. A checkpoint is
written every `checkpoint_every` steps and at the end; rerunning the same plan into the same
folder resumes from it. A loss that turns NaN or infinite stops training with the last good
checkpoint kept.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from saeeval.activations import ActivationCache
from saeeval.data import ContextSet
from saeeval.errors import SaeevalError, validation_problems
from saeeval.files import atomic_path
from saeeval.models import ModelAdapter
from saeeval.saes import SAE, save_sae
from saeeval.trainers import TRAINERS, is_custom, native_trainer
from saeeval.trainers.custom import CustomTrainer, load_trainer_class
from saeeval.trainers.record import write_curves, write_training_results
from saeeval.trainers.stream import ActivationStream, require_train_part

SAE_FOLDER = "sae"
CHECKPOINT = Path("checkpoints") / "last.pt"


class TrainingPlan(BaseModel):
    """Everything that determines a training run (and so whether a checkpoint can resume it)."""

    model_config = ConfigDict(extra="forbid")

    trainer: str
    d_sae: int = Field(gt=0)
    tokens: int = Field(default=1_000_000, gt=0)
    batch_size: int = Field(default=1024, gt=0)
    hyperparameters: dict[str, Any] = Field(default_factory=dict)
    seed: int = 0
    context_size: int = Field(default=128, gt=1)
    checkpoint_every: int = Field(default=250, gt=0)
    log_every: int = Field(default=10, gt=0)

    @property
    def total_steps(self) -> int:
        return self.tokens // self.batch_size

    @property
    def stream_key(self) -> tuple[int, int, int, int]:
        """What decides the batches a run reads: runs with equal keys can share one stream."""
        return (self.tokens, self.batch_size, self.seed, self.context_size)

    @property
    def stream_contexts(self) -> int:
        """Contexts the stream reads for `tokens` (BOS and one separator dropped from each)."""
        return math.ceil(self.tokens / (self.context_size - 2))

    def fingerprint(self, model: ModelAdapter, hook: str, contexts: ContextSet) -> str:
        payload = json.dumps(
            {
                "plan": self.model_dump(),
                "model": model.fingerprint,
                "hook": hook,
                "contexts": contexts.key,
            },
            sort_keys=True,
            default=str,
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


@dataclass
class TrainingOutcome:
    sae_dir: Path
    record: dict[str, Any]
    resumed_from: int  # 0 for a fresh run


def _trainer_factory(plan: TrainingPlan, d_in: int, device: str, model: ModelAdapter, hook: str):
    """Check the trainer and its hyperparameters now; return what builds it from a first batch.

    Everything that can be wrong with a request fails here, before activations are collected.
    """
    # A latent counts as dead after a tenth of the run without firing (at least ten batches, at
    # most the 10M tokens of Gao et al.), unless the hyperparameters or the trainer's own
    # defaults say otherwise (JumpReLU with a target L0 brings a shorter window).
    dead_window = min(10_000_000, max(10 * plan.batch_size, plan.tokens // 10))
    values = {
        "d_in": d_in,
        "d_sae": plan.d_sae,
        "total_steps": plan.total_steps,
        "seed": plan.seed,
        **plan.hyperparameters,
    }
    if is_custom(plan.trainer):
        cls = load_trainer_class(plan.trainer)
        extra = {
            k: v
            for k, v in plan.hyperparameters.items()
            if k not in ("lr", "sparsity_penalty", "warmup_steps", "k", "dead_after_tokens")
        }
        common = {
            "device": device,
            "layer": int(hook.split(".")[1]),
            "lm_name": model.name,
            "submodule_name": hook,
        }
        window = values.setdefault("dead_after_tokens", dead_window)
        return lambda first_batch: CustomTrainer(
            cls, {**values, **common}, extra, window, spec=plan.trainer
        )
    cls = native_trainer(plan.trainer)
    try:
        cfg = cls.config_class(**values)
    except ValidationError as exc:
        raise SaeevalError(f"trainer {plan.trainer!r}: {validation_problems(exc)}") from None
    if "dead_after_tokens" not in cfg.model_fields_set:  # neither asked for nor the trainer's own
        cfg.dead_after_tokens = dead_window
    return lambda first_batch: cls(cfg, first_batch, device)


@torch.no_grad()
def fold_input_scale(sae: SAE, scale: float) -> None:
    """Turn an SAE trained on scale * x into one that takes x and returns the same x_hat / scale."""
    for name in ("b_dec", "b_enc", "threshold", "b_gate", "b_mag"):
        if hasattr(sae, name):
            getattr(sae, name).div_(scale)


def train(
    plan: TrainingPlan,
    out: Path,
    model: ModelAdapter,
    hook: str,
    contexts: ContextSet,
    cache: ActivationCache,
    device: str = "cpu",
    progress=None,
    log=print,
) -> TrainingOutcome:
    """Train one run into `out` (or resume it from its checkpoint there)."""
    (result,) = train_together([plan], [out], model, hook, contexts, cache, device, progress, log)
    if isinstance(result, SaeevalError):
        raise result
    return result


def train_together(
    plans: list[TrainingPlan],
    outs: list[Path],
    model: ModelAdapter,
    hook: str,
    contexts: ContextSet,
    cache: ActivationCache,
    device: str = "cpu",
    progress=None,
    log=print,
) -> list[TrainingOutcome | SaeevalError]:
    """Train several runs in one pass over one activation stream (each into its own folder).

    The runs must share the stream: tokens, batch size, seed and context size. Every run sees
    exactly the batches it would see alone, draws from its own random-number state, writes its own
    checkpoints and resumes on its own, so its result is the one it would have trained alone. A
    run that diverges stops (its last good checkpoint kept) and is returned as its error; the
    others go on."""
    if len(plans) != len(outs) or not plans:
        raise SaeevalError("train_together needs one output folder per plan, and some plans")
    shared = {p.stream_key for p in plans}
    if len(shared) > 1:
        raise SaeevalError(
            "runs trained together must share tokens, batch size, seed and context size; got "
            + ", ".join(f"{t} tokens / batch {b} / seed {s} / context {c}" for t, b, s, c in shared)
        )
    first_plan = plans[0]
    if first_plan.total_steps < 1:
        raise SaeevalError(
            f"--tokens {first_plan.tokens} is less than one batch of {first_plan.batch_size}"
        )
    d_in = model.hook_width(hook)
    require_train_part(contexts)
    available = len(contexts)
    wanted = first_plan.stream_contexts
    n_contexts = min(available, wanted)
    if wanted > available:
        log(
            f"{contexts.dataset.name} holds about {available * (first_plan.context_size - 2)} "
            f"training tokens; {first_plan.tokens} tokens means about {wanted / available:.1f} "
            f"passes over them"
        )
    # Every request (checkpoint, trainer, hyperparameters) is checked before any activation
    # is collected.
    runs = [
        _Run(
            plan,
            Path(out),
            plan.fingerprint(model, hook, contexts),
            _trainer_factory(plan, d_in, device, model, hook),
            device,
        )
        for plan, out in zip(plans, outs, strict=True)
    ]

    stream = ActivationStream(
        model, contexts, hook, 0, n_contexts, cache, seed=first_plan.seed, progress=progress
    )
    first = next(stream.batches(first_plan.batch_size))
    scale = math.sqrt(d_in) / first.norm(dim=-1).mean().item()
    for run in runs:
        run.begin(first, scale, log if len(runs) == 1 else _prefixed(log, run.out.name))

    total_steps = first_plan.total_steps
    start = min(run.start for run in runs)
    label = f"training {plans[0].trainer}" if len(runs) == 1 else f"training {len(runs)} runs"
    task = progress.add_task(label, total=total_steps, completed=start) if progress else None
    began = time.perf_counter()
    batches = stream.batches(first_plan.batch_size, skip=start)
    for step in range(start, total_steps):
        batch = next(batches)
        training = [run for run in runs if run.failure is None and run.start <= step]
        if not training:
            break
        for run in training:
            started = time.perf_counter()
            run.update(step, batch, began)
            run.step_seconds += time.perf_counter() - started
        if task is not None:
            lead = training[0]
            description = (
                f"{label}: loss {lead.logs['loss']:.4g}  L0 {lead.logs['l0']:.1f}  "
                f"dead {lead.rows[-1]['dead_fraction']:.1%}"
                if len(runs) == 1 and lead.rows
                else label
            )
            progress.update(task, completed=step + 1, description=description)
    if task is not None:
        progress.remove_task(task)
    wall = time.perf_counter() - began
    # What no single run's steps took (reading and shuffling the stream), shared out equally.
    shared = max(0.0, wall - sum(run.step_seconds for run in runs)) / len(runs)
    return [
        run.failure or run.finish(first, model, hook, contexts, wall, shared, len(runs))
        for run in runs
    ]


class _Run:
    """One run's state inside a (possibly shared) pass: trainer, checkpoint, curves."""

    def __init__(self, plan: TrainingPlan, out: Path, fingerprint: str, build_trainer, device):
        self.plan, self.out, self.fingerprint, self.device = plan, out, fingerprint, device
        self.build_trainer = build_trainer  # first batch -> trainer
        self.checkpoint_path = out / CHECKPOINT
        self.state = None
        if self.checkpoint_path.is_file():
            self.state = torch.load(self.checkpoint_path, map_location=device, weights_only=False)
            if self.state["fingerprint"] != fingerprint:
                raise SaeevalError(
                    f"{self.checkpoint_path} belongs to a different training configuration; use "
                    f"another --out folder or delete the checkpoint to start over"
                )
        self.start = self.state["step"] if self.state else 0
        self.rows: list[dict[str, Any]] = []
        self.elapsed = 0.0
        self.step_seconds = 0.0  # this session's time in this run's own steps and checkpoints
        self.logs: dict[str, float] = {}
        self.failure: SaeevalError | None = None
        self.trainer = None
        self.scale = 1.0
        self.rng: tuple[torch.Tensor, ...] = ()

    def begin(self, first: torch.Tensor, scale: float, log) -> None:
        self.scale = scale
        self.trainer = self.build_trainer(first * scale)
        if self.state is not None:
            self.trainer.load_state_dict(self.state["trainer"])
            self.rows, self.elapsed, self.scale = (
                self.state["curves"],
                self.state["elapsed"],
                self.state["scale"],
            )
            log(f"resuming from step {self.start} of {self.plan.total_steps}")
        self.state = None
        self.rng = _rng_state(self.device)

    def update(self, step: int, batch: torch.Tensor, began: float) -> None:
        plan = self.plan
        # Runs trained together interleave their steps; each keeps its own random-number state
        # so a trainer that draws random numbers draws what it would alone.
        _set_rng_state(self.device, self.rng)
        logs = self.trainer.update(step, batch * self.scale)
        self.rng = _rng_state(self.device)
        if not math.isfinite(logs["loss"]):
            kept = (
                f"the last good checkpoint is {self.checkpoint_path}"
                if self.checkpoint_path.is_file()
                else "no checkpoint had been written yet"
            )
            self.failure = SaeevalError(
                f"training diverged at step {step}: the loss is {logs['loss']}; {kept}. Try a "
                f"lower learning rate"
            )
            return
        self.logs = logs
        last = step == plan.total_steps - 1
        if step % plan.log_every == 0 or last:
            self.rows.append(
                {
                    "step": step,
                    "tokens": (step + 1) * plan.batch_size,
                    **logs,
                    "dead_fraction": self.trainer.dead_mask.float().mean().item(),
                }
            )
        if (step + 1) % plan.checkpoint_every == 0 and not last:
            self.save_checkpoint(step + 1, time.perf_counter() - began)

    def save_checkpoint(self, step: int, seconds: float) -> None:
        """Write the checkpoint at `step`, `seconds` into this session's training."""
        with atomic_path(self.checkpoint_path) as tmp:
            torch.save(
                {
                    "fingerprint": self.fingerprint,
                    "step": step,
                    "trainer": self.trainer.state_dict(),
                    "curves": self.rows,
                    "elapsed": self.elapsed + seconds,
                    "scale": self.scale,
                },
                tmp,
            )

    def finish(
        self,
        first: torch.Tensor,
        model: ModelAdapter,
        hook: str,
        contexts: ContextSet,
        wall: float,
        shared_seconds: float,
        runs_in_pass: int,
    ) -> TrainingOutcome:
        plan, trainer, scale = self.plan, self.trainer, self.scale
        self.save_checkpoint(plan.total_steps, wall)
        custom = isinstance(trainer, CustomTrainer)
        sae = trainer.export(first * scale) if custom else trainer.export()
        fold_input_scale(sae, scale)
        cfg = sae.cfg
        cfg.hook_name, cfg.model_name = hook, model.name
        cfg.context_size, cfg.dataset_path = plan.context_size, contexts.dataset.name
        trained_tokens = (plan.total_steps - self.start) * plan.batch_size
        cfg.extra = {
            "training_architecture": plan.trainer,
            "trainer_class": trainer.config.get("trainer_class"),
            "training_tokens": plan.total_steps * plan.batch_size,
            "activation_norm_scaling_factor": scale,
            "trainer_hyperparameters": plan.hyperparameters,
            "model_dtype": model.dtype_name,
        }
        sae_dir = save_sae(sae.cpu(), self.out / SAE_FOLDER)

        layer = int(hook.split(".")[1])
        config = {**trainer.config, "layer": layer, "lm_name": model.name, "submodule_name": hook}
        final_info = {
            "training_steps": plan.total_steps,
            "final_loss": self.logs.get("loss"),
            "layer": layer,
            "dict_size": plan.d_sae,
            "learning_rate": config.get("lr"),
            "sparsity_penalty": config.get("sparsity_penalty"),
        }
        run = {
            "tokens": plan.total_steps * plan.batch_size,
            "batch_size": plan.batch_size,
            "wall_time_s": round(self.elapsed + wall, 2),
            # A run's rate is over its share of the pass: its own steps and an equal part of the
            # shared stream (alone, the whole pass), so rates compare across trainers either way.
            "tokens_per_s": round(
                trained_tokens / max(self.step_seconds + shared_seconds, 1e-9), 1
            ),
            "runs_in_pass": runs_in_pass,
            "pass_wall_time_s": round(wall, 2),
            "activation_norm_scaling_factor": scale,
            "dead_fraction": self.rows[-1]["dead_fraction"],
            "dataset": contexts.dataset.name,
            "dataset_fingerprint": contexts.dataset.fingerprint,
            "dataset_part": contexts.part,
            "contexts": contexts.key,
            "model": model.name,
            "model_dtype": model.dtype_name,  # of the activations; the SAE trained in float32
            "model_fingerprint": model.fingerprint,
            "hook": hook,
            "plan": plan.model_dump(),
            "fingerprint": self.fingerprint,
        }
        record = write_training_results(self.out, config, final_info, run)
        write_curves(self.out, self.rows)
        return TrainingOutcome(sae_dir, record, self.start)


def _prefixed(log, name: str):
    return lambda message: log(f"{name}: {message}")


def _rng_state(device: str) -> tuple[torch.Tensor, ...]:
    if torch.device(device).type == "cuda":
        return torch.get_rng_state(), torch.cuda.get_rng_state(device)
    return (torch.get_rng_state(),)


def _set_rng_state(device: str, state: tuple[torch.Tensor, ...]) -> None:
    torch.set_rng_state(state[0])
    if len(state) > 1:
        torch.cuda.set_rng_state(state[1], device)


__all__ = [
    "TRAINERS",
    "TrainingOutcome",
    "TrainingPlan",
    "fold_input_scale",
    "train",
    "train_together",
]
