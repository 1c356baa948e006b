"""TopK SAE with the AuxK loss, following Gao et al. 2024, "Scaling and evaluating sparse
autoencoders" (arXiv:2406.04093).

Recipe: f = TopK(W_enc (x - b_dec) + b_enc), keeping the k largest pre-activations (then ReLU);
loss = ||x - x_hat||^2 + alpha * AuxK, where AuxK reconstructs the residual e = x - x_hat from the
k_aux largest pre-activations of the dead latents alone (normalised by the residual's variance),
with alpha = 1/32 and k_aux = d_in / 2; a latent is dead after a window of tokens without firing;
decoder rows are kept at unit norm (the gradient component along each row is removed before the
step); W_enc starts as W_dec^T and b_dec at the data mean; the learning rate scales as
1/sqrt(d_sae), here 2e-4 * sqrt(2^14 / d_sae), with Adam.
"""

from __future__ import annotations

import math

import torch
from pydantic import Field, model_validator

from saeeval.trainers.base import SAETrainer, TrainerConfig, reconstruction_error


def default_lr(d_sae: int) -> float:
    return 2e-4 * math.sqrt(2**14 / d_sae)


class TopKConfig(TrainerConfig):
    lr: float | None = Field(default=None, gt=0, description="default: 2e-4 * sqrt(2^14 / d_sae)")
    k: int = Field(default=32, gt=0, description="active latents per token")
    auxk_alpha: float = Field(default=1 / 32, ge=0)
    k_aux: int | None = Field(default=None, gt=0, description="default: d_in // 2")

    @model_validator(mode="after")
    def _fill_and_check(self):
        if self.k > self.d_sae:
            raise ValueError(f"k ({self.k}) must not exceed d_sae ({self.d_sae})")
        if self.lr is None:
            self.lr = default_lr(self.d_sae)
        if self.k_aux is None:
            self.k_aux = max(1, self.d_in // 2)
        return self


def auxk_loss(trainer: SAETrainer, pre: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
    """Gao et al.'s auxiliary loss: the dead latents' best attempt at the residual error."""
    dead = trainer.dead_mask
    n_dead = int(dead.sum())
    if n_dead == 0:
        return pre.new_zeros(())
    k_aux = min(trainer.cfg.k_aux, n_dead)
    masked = torch.where(dead, pre, torch.full_like(pre, float("-inf")))
    values, indices = masked.topk(k_aux, dim=-1, sorted=False)
    aux_latents = torch.zeros_like(pre).scatter_(-1, indices, values.relu())
    residual_hat = aux_latents @ trainer.ae.W_dec
    variance = (residual - residual.mean(dim=0)).pow(2).sum(dim=-1).mean()
    return (residual_hat - residual).pow(2).sum(dim=-1).mean() / variance.clamp(min=1e-8)


class TopKTrainer(SAETrainer):
    name = "topk"
    trainer_class = "TopKTrainer"
    config_class = TopKConfig
    architecture = "topk"
    sparsity_penalty_field = "k"

    def loss(self, x: torch.Tensor, step: int):
        ae = self.ae
        pre = (x - ae.b_dec) @ ae.W_enc + ae.b_enc
        values, indices = pre.topk(self.cfg.k, dim=-1, sorted=False)
        latents = torch.zeros_like(pre).scatter_(-1, indices, values.relu())
        x_hat = latents @ ae.W_dec + ae.b_dec
        mse = reconstruction_error(x, x_hat)
        aux = auxk_loss(self, pre, (x - x_hat).detach())
        loss = mse + self.cfg.auxk_alpha * aux
        return loss, {"mse": mse.item(), "auxk": aux.item()}, latents
