"""Gated SAE, following Rajamanoharan et al. 2024, "Improving Dictionary Learning with Gated
Sparse Autoencoders" (arXiv:2404.16014).

Recipe: a gate path pi_gate = W_gate (x - b_dec) + b_gate decides which latents fire, and a
magnitude path pi_mag = (W_gate * exp(r_mag)) (x - b_dec) + b_mag, sharing the gate's weights up
to a per-latent rescaling, sets their values: f = 1[pi_gate > 0] * ReLU(pi_mag). The loss is
||x - x_hat(f)||^2 + lambda * ||ReLU(pi_gate)||_1 + ||x - x_hat_frozen(ReLU(pi_gate))||^2: the
sparsity penalty acts on the gate, and the auxiliary term (through a frozen copy of the decoder)
gives the gate path the gradient that the Heaviside step withholds. Decoder rows have unit norm.
"""

from __future__ import annotations

import torch
from pydantic import Field

from saeeval.trainers.base import SAETrainer, TrainerConfig, reconstruction_error
from saeeval.trainers.schedules import linear_warmup


class GatedConfig(TrainerConfig):
    lr: float = Field(default=5e-4, gt=0)
    sparsity_penalty: float = Field(default=0.1, ge=0, description="L1 coefficient on the gate")
    sparsity_warmup_fraction: float = Field(default=0.05, ge=0, le=1)


class GatedTrainer(SAETrainer):
    name = "gated"
    trainer_class = "GatedSAETrainer"
    config_class = GatedConfig
    architecture = "gated"
    sparsity_penalty_field = "sparsity_penalty"

    def loss(self, x: torch.Tensor, step: int):
        ae = self.ae
        centred = x - ae.b_dec
        pre = centred @ ae.W_enc
        gate = pre + ae.b_gate
        magnitude = torch.relu(pre * ae.r_mag.exp() + ae.b_mag)
        latents = (gate > 0).to(x.dtype) * magnitude
        x_hat = latents @ ae.W_dec + ae.b_dec
        mse = reconstruction_error(x, x_hat)
        gate_acts = torch.relu(gate)
        l1 = gate_acts.sum(dim=-1).mean()
        via_gate = gate_acts @ ae.W_dec.detach() + ae.b_dec.detach()
        aux = reconstruction_error(x, via_gate)
        warmup = linear_warmup(step, int(self.cfg.sparsity_warmup_fraction * self.cfg.total_steps))
        loss = mse + self.cfg.sparsity_penalty * warmup * l1 + aux
        return loss, {"mse": mse.item(), "l1": l1.item(), "aux": aux.item()}, latents
