"""What every native trainer shares: the SAE it trains, the optimiser and schedules, decoder-norm
handling and dead-latent tracking. A trainer subclass supplies only its initialisation and loss.

The interface follows dictionary_learning's trainers, so the training loop drives native and
user-written trainers alike: `update(step, activations)` takes one optimisation step and returns
logs, `ae` is the autoencoder module, and `config` is a dict of the trainer's hyperparameters.
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar

import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator

from saeeval.saes import SAE, SAEConfig
from saeeval.trainers.schedules import warmup_then_decay


class TrainerConfig(BaseModel):
    """Hyperparameters shared by every native trainer; subclasses add their own."""

    model_config = ConfigDict(extra="forbid")

    d_in: int = Field(gt=0)
    d_sae: int = Field(gt=0)
    total_steps: int = Field(gt=0)
    lr: float = Field(gt=0)
    warmup_steps: int | None = Field(
        default=None, ge=0, description="learning-rate warm-up steps; default 5% of training"
    )
    decay_start: float = Field(
        default=0.8, ge=0, le=1, description="fraction of training after which lr decays to 0"
    )
    grad_clip: float | None = Field(default=1.0, gt=0)
    # A latent that has not fired for this many training tokens counts as dead.
    dead_after_tokens: int = Field(default=200_000, gt=0)
    seed: int = 0

    @model_validator(mode="after")
    def _check(self):
        if self.warmup_steps is None:
            self.warmup_steps = max(1, self.total_steps // 20)
        if self.warmup_steps > self.total_steps:
            raise ValueError(f"warmup_steps ({self.warmup_steps}) exceeds total_steps")
        return self


class SAETrainer:
    """Base class of the native trainers."""

    name: ClassVar[str]  # registry name, e.g. "topk"
    trainer_class: ClassVar[str]  # class name recorded in training records
    config_class: ClassVar[type[TrainerConfig]] = TrainerConfig
    architecture: ClassVar[str]  # the inference architecture of the trained SAE
    unit_norm_decoder: ClassVar[bool] = True
    sparsity_penalty_field: ClassVar[str | None] = None  # which hyperparameter is "the" penalty

    def __init__(self, cfg: TrainerConfig, init_batch: torch.Tensor, device: str = "cpu"):
        self.cfg = cfg
        self.device = torch.device(device)
        torch.manual_seed(cfg.seed)
        self.ae = SAE(self.inference_config()).to(self.device)
        self.extra_parameters: dict[str, torch.nn.Parameter] = {}
        self.initialise(init_batch.to(self.device))
        if self.unit_norm_decoder:
            self._normalise_decoder()
        groups = [{"params": list(self.ae.parameters())}]
        extra, scale = list(self.extra_parameters.values()), self.extra_lr_scale()
        if extra and scale != 1.0:  # the extra parameters at their own rate
            groups.append({"params": extra, "lr_scale": scale})
        else:
            groups[0]["params"] += extra
        self.optimizer = torch.optim.Adam(groups, lr=cfg.lr, betas=(0.9, 0.999))
        self.tokens_since_fired = torch.zeros(cfg.d_sae, device=self.device)

    # -- what subclasses provide ----------------------------------------------------------------

    def inference_config(self) -> SAEConfig:
        return SAEConfig(
            architecture=self.architecture,
            d_in=self.cfg.d_in,
            d_sae=self.cfg.d_sae,
            hook_name="",
            k=getattr(self.cfg, "k", None) if self.architecture == "topk" else None,
        )

    def initialise(self, batch: torch.Tensor) -> None:
        """Default initialisation: random unit decoder rows, encoder their transpose, zero biases,
        decoder bias at the batch mean (a cheap stand-in for the geometric median)."""
        with torch.no_grad():
            w = torch.randn(self.cfg.d_sae, self.cfg.d_in, device=self.device)
            w /= w.norm(dim=-1, keepdim=True)
            self.ae.W_dec.copy_(w)
            self.ae.W_enc.copy_(w.T)
            self.ae.b_dec.copy_(batch.mean(dim=0))

    def extra_lr_scale(self) -> float:
        """The learning rate of `extra_parameters` relative to the SAE's (e.g. thresholds)."""
        return 1.0

    def loss(
        self, x: torch.Tensor, step: int
    ) -> tuple[torch.Tensor, dict[str, float], torch.Tensor]:
        """(loss to minimise, scalar logs, latents of the batch)."""
        raise NotImplementedError

    def after_step(self, step: int, latents: torch.Tensor) -> None:
        """Hook for state that changes once per step outside the optimiser (e.g. thresholds)."""

    def export(self) -> SAE:
        """The trained SAE for inference (in the units of the activations it was trained on)."""
        return copy.deepcopy(self.ae)

    # -- shared machinery --------------------------------------------------------------------

    @property
    def dead_mask(self) -> torch.Tensor:
        return self.tokens_since_fired >= self.cfg.dead_after_tokens

    @torch.no_grad()
    def _normalise_decoder(self) -> None:
        self.ae.W_dec.div_(self.ae.W_dec.norm(dim=-1, keepdim=True).clamp(min=1e-8))

    @torch.no_grad()
    def _remove_parallel_gradient(self) -> None:
        """Keep decoder rows on the unit sphere: drop the gradient along each row."""
        w, grad = self.ae.W_dec, self.ae.W_dec.grad
        if grad is not None:
            grad -= (grad * w).sum(dim=-1, keepdim=True) * w

    def update(self, step: int, activations: torch.Tensor) -> dict[str, float]:
        x = activations.to(self.device)
        lr = self.cfg.lr * warmup_then_decay(
            step, self.cfg.total_steps, self.cfg.warmup_steps, self.cfg.decay_start
        )
        for group in self.optimizer.param_groups:
            group["lr"] = lr * group.get("lr_scale", 1.0)
        self.optimizer.zero_grad(set_to_none=True)
        loss, logs, latents = self.loss(x, step)
        loss.backward()
        if self.unit_norm_decoder:
            self._remove_parallel_gradient()
        if self.cfg.grad_clip is not None:
            params = [p for g in self.optimizer.param_groups for p in g["params"]]
            torch.nn.utils.clip_grad_norm_(params, self.cfg.grad_clip)
        self.optimizer.step()
        if self.unit_norm_decoder:
            self._normalise_decoder()
        with torch.no_grad():
            fired = (latents > 0).any(dim=0)
            self.tokens_since_fired += x.shape[0]
            self.tokens_since_fired[fired] = 0
            self.after_step(step, latents)
            logs.update(
                loss=loss.item(),
                l0=(latents > 0).sum(dim=-1).float().mean().item(),
                lr=lr,
            )
        return logs

    @property
    def config(self) -> dict[str, Any]:
        """The training record's config, in dictionary_learning's vocabulary."""
        penalty = self.sparsity_penalty_field
        return {
            "trainer_class": self.trainer_class,
            "activation_dim": self.cfg.d_in,
            "dict_size": self.cfg.d_sae,
            "lr": self.cfg.lr,
            "sparsity_penalty": getattr(self.cfg, penalty) if penalty else None,
            "warmup_steps": self.cfg.warmup_steps,
            "resample_steps": None,
            "device": str(self.device),
            **self.cfg.model_dump(exclude={"d_in", "d_sae", "lr", "warmup_steps"}),
        }

    # -- checkpoints ----------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        return {
            "ae": self.ae.state_dict(),
            "extra": {k: v.detach().clone() for k, v in self.extra_parameters.items()},
            "optimizer": self.optimizer.state_dict(),
            "tokens_since_fired": self.tokens_since_fired,
            "buffers": self.extra_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.ae.load_state_dict(state["ae"])
        with torch.no_grad():
            for key, value in state["extra"].items():
                self.extra_parameters[key].copy_(value)
        self.optimizer.load_state_dict(state["optimizer"])
        self.tokens_since_fired = state["tokens_since_fired"].to(self.device)
        self.load_extra_state(state["buffers"])

    def extra_state(self) -> dict[str, Any]:
        """Non-parameter state a subclass must carry across a resume."""
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        pass


def reconstruction_error(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """Squared L2 error per token, summed over dimensions and averaged over the batch."""
    return (x - x_hat).pow(2).sum(dim=-1).mean()
