"""Standard ReLU SAE with an L1 penalty, following Anthropic's April 2024 training update.

Recipe (Circuits Updates, April 2024, "Training SAEs"): f = ReLU(W_enc x + b_enc) with no decoder
bias subtracted from the input; loss = ||x - x_hat||^2 + lambda * sum_i f_i ||W_dec,i||, so the
penalty cannot be dodged by shrinking latents and growing decoder rows, and the decoder is left
unconstrained; decoder rows start as random directions of norm 0.1 with W_enc = W_dec^T; lambda
warms up linearly over the first 5% of steps; Adam with gradient clipping at norm 1 and the
learning rate decayed linearly to zero over the last 20% of training. Inputs are normalised to
E||x|| = sqrt(d_in) by the training loop. On export, decoder norms are folded into the encoder,
which leaves reconstructions unchanged and gives unit-norm decoder rows.
"""

from __future__ import annotations

import torch
from pydantic import Field

from saeeval.saes import SAE, SAEConfig, fold_decoder_norms
from saeeval.trainers.base import SAETrainer, TrainerConfig, reconstruction_error
from saeeval.trainers.schedules import linear_warmup


class StandardConfig(TrainerConfig):
    lr: float = Field(default=5e-4, gt=0)
    sparsity_penalty: float = Field(default=0.04, ge=0, description="L1 coefficient lambda")
    sparsity_warmup_fraction: float = Field(default=0.05, ge=0, le=1)


class StandardTrainer(SAETrainer):
    name = "standard"
    trainer_class = "StandardTrainerAprilUpdate"
    config_class = StandardConfig
    architecture = "standard"
    unit_norm_decoder = False
    sparsity_penalty_field = "sparsity_penalty"

    def inference_config(self) -> SAEConfig:
        cfg = super().inference_config()
        cfg.apply_b_dec_to_input = False
        return cfg

    def initialise(self, batch: torch.Tensor) -> None:
        with torch.no_grad():
            w = torch.randn(self.cfg.d_sae, self.cfg.d_in, device=self.device)
            w *= 0.1 / w.norm(dim=-1, keepdim=True)
            self.ae.W_dec.copy_(w)
            self.ae.W_enc.copy_(w.T)

    def sparsity_scale(self, step: int) -> float:
        """The multiplier of lambda at this step (the warm-up; subclasses may add more)."""
        warmup = int(self.cfg.sparsity_warmup_fraction * self.cfg.total_steps)
        return linear_warmup(step, warmup)

    def loss(self, x: torch.Tensor, step: int):
        ae = self.ae
        latents = torch.relu(x @ ae.W_enc + ae.b_enc)
        x_hat = latents @ ae.W_dec + ae.b_dec
        mse = reconstruction_error(x, x_hat)
        l1 = (latents * ae.W_dec.norm(dim=-1)).sum(dim=-1).mean()
        scale = self.sparsity_scale(step)
        loss = mse + self.cfg.sparsity_penalty * scale * l1
        return loss, {"mse": mse.item(), "l1": l1.item(), "sparsity_scale": scale}, latents

    def export(self) -> SAE:
        sae = super().export()
        fold_decoder_norms(sae)
        return sae
