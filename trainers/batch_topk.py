"""BatchTopK SAE, following Bussmann, Leask & Nanda 2024, "BatchTopK Sparse Autoencoders"
(arXiv:2412.06410).

Recipe: during training, keep the k * batch_size largest ReLU'd pre-activations across the whole
batch (so tokens may use more or fewer than k latents), with TopK's AuxK loss for dead latents
and unit-norm decoder rows. Alongside, learn the inference threshold: an exponential moving average
of the smallest activation kept in each batch. At inference the SAE is a JumpReLU with that
threshold for every latent, which keeps about k latents per token on average without needing
the batch.

The recipe's decay (0.999) remembers about a thousand steps; a short run (1M tokens is under a
thousand batches) would end with a threshold still weighted towards the first batches, whose
smallest kept activations are larger, and infer well under k latents per token. The decay is
therefore capped so the average spans at most a tenth of the run.
"""

from __future__ import annotations

from typing import Any

import torch
from pydantic import Field

from saeeval.saes import SAE
from saeeval.trainers.base import SAETrainer, reconstruction_error
from saeeval.trainers.topk import TopKConfig, auxk_loss


class BatchTopKConfig(TopKConfig):
    threshold_beta: float = Field(default=0.999, ge=0, lt=1, description="EMA decay")
    threshold_start_step: int = Field(default=100, ge=0)


class BatchTopKTrainer(SAETrainer):
    name = "batch_topk"
    trainer_class = "BatchTopKTrainer"
    config_class = BatchTopKConfig
    architecture = "jumprelu"
    sparsity_penalty_field = "k"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.threshold = -1.0  # set once training has seen threshold_start_step batches

    def encode_batch(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(pre-activations, latents): the k * batch_size largest ReLU'd pre-activations of
        the whole batch kept, the rest zero."""
        ae = self.ae
        pre = (x - ae.b_dec) @ ae.W_enc + ae.b_enc
        flat = pre.relu().flatten()
        kept = flat.topk(self.cfg.k * x.shape[0], sorted=False)
        latents = torch.zeros_like(flat).scatter_(-1, kept.indices, kept.values).view_as(pre)
        return pre, latents

    def loss(self, x: torch.Tensor, step: int):
        ae = self.ae
        pre, latents = self.encode_batch(x)
        x_hat = latents @ ae.W_dec + ae.b_dec
        mse = reconstruction_error(x, x_hat)
        aux = auxk_loss(self, pre, (x - x_hat).detach())
        loss = mse + self.cfg.auxk_alpha * aux
        return loss, {"mse": mse.item(), "auxk": aux.item(), "threshold": self.threshold}, latents

    @torch.no_grad()
    def after_step(self, step: int, latents: torch.Tensor) -> None:
        if step < self.cfg.threshold_start_step:
            return
        positive = latents[latents > 0]
        if positive.numel() == 0:
            return
        smallest = positive.min().item()
        beta = min(self.cfg.threshold_beta, 1 - 10 / self.cfg.total_steps)
        self.threshold = (
            smallest if self.threshold < 0 else beta * self.threshold + (1 - beta) * smallest
        )

    def export(self) -> SAE:
        sae = super().export()
        with torch.no_grad():
            sae.threshold.fill_(max(self.threshold, 0.0))
        return sae

    def extra_state(self) -> dict[str, Any]:
        return {"threshold": self.threshold}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.threshold = state["threshold"]
