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
    # most the 10M tokens of Gao et al.), unless the hyperparameters say otherwise.
    dead_window = min(10_000_000, max(10 * plan.batch_size, plan.tokens // 10))
    values = {
        "d_in": d_in,
        "d_sae": plan.d_sae,
        "total_steps": plan.total_steps,
        "seed": plan.seed,
        "dead_after_tokens": dead_window,
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
        return lambda first_batch: CustomTrainer(
            cls, {**values, **common}, extra, values["dead_after_tokens"], spec=plan.trainer
        )
    cls = native_trainer(plan.trainer)
    try:
        cfg = cls.config_class(**values)
    except ValidationError as exc:
        raise SaeevalError(f"trainer {plan.trainer!r}: {validation_problems(exc)}") from None
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
    out = Path(out)
    if plan.total_steps < 1:
        raise SaeevalError(f"--tokens {plan.tokens} is less than one batch of {plan.batch_size}")
    d_in = model.hook_width(hook)
    require_train_part(contexts)
    available = len(contexts)
    wanted = math.ceil(plan.tokens / (plan.context_size - 2))
    n_contexts = min(available, wanted)
    if wanted > available:
        log(
            f"{contexts.dataset.name} holds about {available * (plan.context_size - 2)} training "
            f"tokens; {plan.tokens} tokens means about {wanted / available:.1f} passes over them"
        )
    build_trainer = _trainer_factory(plan, d_in, device, model, hook)
    fingerprint = plan.fingerprint(model, hook, contexts)
    checkpoint_path = out / CHECKPOINT
    state = None
    if checkpoint_path.is_file():
        state = torch.load(checkpoint_path, map_location=device, weights_only=False)
        if state["fingerprint"] != fingerprint:
            raise SaeevalError(
                f"{checkpoint_path} belongs to a different training configuration; use another "
                f"--out folder or delete the checkpoint to start over"
            )

    stream = ActivationStream(
        model,
        contexts,
        hook,
        0,
        n_contexts,
        cache,
        seed=plan.seed,
        progress=progress,
    )
    first = next(stream.batches(plan.batch_size))
    scale = math.sqrt(d_in) / first.norm(dim=-1).mean().item()
    trainer = build_trainer(first * scale)

    start, rows, elapsed = 0, [], 0.0
    if state is not None:
        trainer.load_state_dict(state["trainer"])
        start, rows, elapsed, scale = (
            state["step"],
            state["curves"],
            state["elapsed"],
            state["scale"],
        )
        log(f"resuming from step {start} of {plan.total_steps}")

    def save_checkpoint(step: int) -> None:
        with atomic_path(checkpoint_path) as tmp:
            torch.save(
                {
                    "fingerprint": fingerprint,
                    "step": step,
                    "trainer": trainer.state_dict(),
                    "curves": rows,
                    "elapsed": elapsed + time.perf_counter() - began,
                    "scale": scale,
                },
                tmp,
            )

    task = (
        progress.add_task(f"training {plan.trainer}", total=plan.total_steps, completed=start)
        if progress
        else None
    )
    began = time.perf_counter()
    batches = stream.batches(plan.batch_size, skip=start)
    logs: dict[str, float] = {}
    for step in range(start, plan.total_steps):
        logs = trainer.update(step, next(batches) * scale)
        if not math.isfinite(logs["loss"]):
            kept = (
                f"the last good checkpoint is {checkpoint_path}"
                if checkpoint_path.is_file()
                else "no checkpoint had been written yet"
            )
            raise SaeevalError(
                f"training diverged at step {step}: the loss is {logs['loss']}; {kept}. Try a "
                f"lower learning rate"
            )
        last = step == plan.total_steps - 1
        if step % plan.log_every == 0 or last:
            dead = trainer.dead_mask.float().mean().item()
            rows.append(
                {
                    "step": step,
                    "tokens": (step + 1) * plan.batch_size,
                    **logs,
                    "dead_fraction": dead,
                }
            )
            if task is not None:
                progress.update(
                    task,
                    completed=step + 1,
                    description=(
                        f"training {plan.trainer}: loss {logs['loss']:.4g}  L0 {logs['l0']:.1f}  "
                        f"dead {dead:.1%}"
                    ),
                )
        elif task is not None:
            progress.update(task, completed=step + 1)
        if (step + 1) % plan.checkpoint_every == 0 and not last:
            save_checkpoint(step + 1)
    wall = elapsed + time.perf_counter() - began
    save_checkpoint(plan.total_steps)
    if task is not None:
        progress.remove_task(task)

    sae = trainer.export(first * scale) if isinstance(trainer, CustomTrainer) else trainer.export()
    fold_input_scale(sae, scale)
    cfg = sae.cfg
    cfg.hook_name, cfg.model_name = hook, model.name
    cfg.context_size, cfg.dataset_path = plan.context_size, contexts.dataset.name
    trained_tokens = (plan.total_steps - start) * plan.batch_size
    cfg.extra = {
        "training_architecture": plan.trainer,
        "trainer_class": trainer.config.get("trainer_class"),
        "training_tokens": plan.total_steps * plan.batch_size,
        "activation_norm_scaling_factor": scale,
        "trainer_hyperparameters": plan.hyperparameters,
    }
    sae_dir = save_sae(sae.cpu(), out / SAE_FOLDER)

    layer = int(hook.split(".")[1])
    config = {**trainer.config, "layer": layer, "lm_name": model.name, "submodule_name": hook}
    final_info = {
        "training_steps": plan.total_steps,
        "final_loss": logs.get("loss"),
        "layer": layer,
        "dict_size": plan.d_sae,
        "learning_rate": config.get("lr"),
        "sparsity_penalty": config.get("sparsity_penalty"),
    }
    run = {
        "tokens": plan.total_steps * plan.batch_size,
        "batch_size": plan.batch_size,
        "wall_time_s": round(wall, 2),
        "tokens_per_s": round(trained_tokens / max(wall - elapsed, 1e-9), 1),
        "activation_norm_scaling_factor": scale,
        "dead_fraction": rows[-1]["dead_fraction"],
        "dataset": contexts.dataset.name,
        "dataset_fingerprint": contexts.dataset.fingerprint,
        "dataset_part": contexts.part,
        "contexts": contexts.key,
        "model": model.name,
        "model_fingerprint": model.fingerprint,
        "hook": hook,
        "plan": plan.model_dump(),
        "fingerprint": fingerprint,
    }
    record = write_training_results(out, config, final_info, run)
    write_curves(out, rows)
    return TrainingOutcome(sae_dir, record, start)


__all__ = ["TRAINERS", "TrainingOutcome", "TrainingPlan", "fold_input_scale", "train"]
