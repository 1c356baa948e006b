"""Adaptive orthogonal SAE: a ReLU SAE whose feature groups are pushed towards orthogonality.

From the research loop in seed 003: L = L_recon + lambda_1 L_sparse + lambda_2(t) L_ortho with
lambda_2(t) = lambda_2_max * min(1, t / t_0), and L_ortho = sum over pairs of groups g < h of
||D_g D_h^T - alpha I||_F, where D_g holds the unit decoder directions of group g's latents (alpha
lets matching features of two groups share a little). Latents are regrouped every
`group_update_every` steps from batch statistics: ranked by an exponential moving average of their
firing rate and cut into equal groups, so latents of similar frequency share a group. The
condition number of each group's decoder subspace is logged.

Optional group-specific decoder biases: each group carries a vector b_g that every active latent
of the group adds in proportion to its activation, x_hat = sum_i f_i (W_dec,i + b_g(i)) + b_dec.
The seed added a [groups, d_in] bias to a [batch, d_in] reconstruction, which breaks whenever the
batch size is not the group count; this form is defined for any batch, and because it is linear
in f the exported SAE folds it into the decoder rows exactly.
"""

from __future__ import annotations

import torch
from pydantic import Field, model_validator

from saeeval.saes import SAE, fold_decoder_norms
from saeeval.trainers.base import SAETrainer, TrainerConfig, reconstruction_error
from saeeval.trainers.schedules import linear_warmup


class AdaptiveOrthoConfig(TrainerConfig):
    lr: float = Field(default=5e-4, gt=0)
    sparsity_penalty: float = Field(default=0.04, ge=0, description="L1 coefficient lambda_1")
    ortho_penalty_max: float = Field(default=0.01, ge=0, description="lambda_2_max")
    ortho_warmup_steps: int | None = Field(default=None, ge=0, description="t_0; default 10%")
    alpha: float = Field(default=0.0, ge=0, le=1, description="allowed sharing between groups")
    n_groups: int = Field(default=8, ge=2)
    group_update_every: int = Field(default=100, gt=0)
    group_biases: bool = False
    condition_every: int = Field(default=50, gt=0, description="log condition numbers every n")

    @model_validator(mode="after")
    def _check_groups(self):
        if self.d_sae % self.n_groups:
            raise ValueError(
                f"d_sae ({self.d_sae}) must be divisible by n_groups ({self.n_groups}) so that "
                f"groups have equal size"
            )
        if self.ortho_warmup_steps is None:
            self.ortho_warmup_steps = max(1, self.total_steps // 10)
        return self


class AdaptiveOrthoTrainer(SAETrainer):
    name = "adaptive_ortho"
    trainer_class = "AdaptiveOrthogonalTrainer"
    config_class = AdaptiveOrthoConfig
    architecture = "standard"
    unit_norm_decoder = True
    sparsity_penalty_field = "sparsity_penalty"

    def initialise(self, batch: torch.Tensor) -> None:
        super().initialise(batch)
        cfg = self.cfg
        self.group_of = torch.arange(cfg.d_sae, device=self.device) // (cfg.d_sae // cfg.n_groups)
        self.firing_rate = torch.zeros(cfg.d_sae, device=self.device)
        self.last_condition: list[float] = []
        if cfg.group_biases:
            zeros = torch.zeros(cfg.n_groups, cfg.d_in, device=self.device)
            self.extra_parameters["group_bias"] = torch.nn.Parameter(zeros)

    def decoder_rows(self) -> torch.Tensor:
        """Each latent's full decoder vector, its group's bias included."""
        rows = self.ae.W_dec
        if self.cfg.group_biases:
            rows = rows + self.extra_parameters["group_bias"][self.group_of]
        return rows

    def ortho_loss(self) -> torch.Tensor:
        cfg = self.cfg
        size = cfg.d_sae // cfg.n_groups
        order = torch.argsort(self.group_of, stable=True)
        units = torch.nn.functional.normalize(self.decoder_rows()[order], dim=-1)
        blocks = units.view(cfg.n_groups, size, cfg.d_in)
        target = cfg.alpha * torch.eye(size, device=self.device)
        total = units.new_zeros(())
        for g in range(cfg.n_groups):
            for h in range(g + 1, cfg.n_groups):
                total = total + torch.linalg.matrix_norm(blocks[g] @ blocks[h].T - target)
        return total

    def loss(self, x: torch.Tensor, step: int):
        ae = self.ae
        latents = torch.relu((x - ae.b_dec) @ ae.W_enc + ae.b_enc)
        x_hat = latents @ self.decoder_rows() + ae.b_dec
        mse = reconstruction_error(x, x_hat)
        l1 = latents.sum(dim=-1).mean()
        ortho = self.ortho_loss()
        weight = self.cfg.ortho_penalty_max * linear_warmup(step, self.cfg.ortho_warmup_steps)
        loss = mse + self.cfg.sparsity_penalty * l1 + weight * ortho
        logs = {
            "mse": mse.item(),
            "l1": l1.item(),
            "ortho_loss": ortho.item(),
            "ortho_weight": weight,
        }
        if self.last_condition:
            logs["condition_mean"] = sum(self.last_condition) / len(self.last_condition)
            logs["condition_max"] = max(self.last_condition)
        return loss, logs, latents

    @torch.no_grad()
    def after_step(self, step: int, latents: torch.Tensor) -> None:
        fired = (latents > 0).float().mean(dim=0)
        self.firing_rate.mul_(0.99).add_(0.01 * fired)
        if (step + 1) % self.cfg.group_update_every == 0:
            self.regroup()
        if step % self.cfg.condition_every == 0:
            self.last_condition = self.condition_numbers()

    @torch.no_grad()
    def regroup(self) -> None:
        """Rank latents by firing rate and cut the ranking into equal groups."""
        size = self.cfg.d_sae // self.cfg.n_groups
        ranking = torch.argsort(self.firing_rate, descending=True, stable=True)
        self.group_of[ranking] = torch.arange(self.cfg.d_sae, device=self.device) // size

    @torch.no_grad()
    def condition_numbers(self) -> list[float]:
        rows = torch.nn.functional.normalize(self.decoder_rows(), dim=-1)
        numbers = []
        for g in range(self.cfg.n_groups):
            singular = torch.linalg.svdvals(rows[self.group_of == g])
            numbers.append((singular.max() / singular.min().clamp(min=1e-12)).item())
        return numbers

    def export(self) -> SAE:
        sae = super().export()
        with torch.no_grad():
            sae.W_dec.copy_(self.decoder_rows())
        fold_decoder_norms(sae)
        return sae

    def extra_state(self) -> dict:
        return {"group_of": self.group_of, "firing_rate": self.firing_rate}

    def load_extra_state(self, state: dict) -> None:
        self.group_of = state["group_of"].to(self.device)
        self.firing_rate = state["firing_rate"].to(self.device)
