"""Temperature-annealed sparsity: the standard (April 2024) SAE with its L1 term scaled by 1/tau(t).

From the research loop in seed 002 ("Tightened Temperature Annealing"): the sparsity term is
divided by a temperature tau that is annealed from tau_start to tau_end (cosine or linear) over
`tau_span` steps, so the sparsity pressure rises as training proceeds (defaults 0.3 -> 0.05, a 6x
rise). That loop computed tau from a step counter its loss function never received; here the step
comes from the training loop, and tau is logged every step.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field, model_validator

from saeeval.trainers.schedules import anneal
from saeeval.trainers.standard import StandardConfig, StandardTrainer


class TemperatureConfig(StandardConfig):
    tau_start: float = Field(default=0.3, gt=0)
    tau_end: float = Field(default=0.05, gt=0)
    tau_schedule: Literal["cosine", "linear"] = "cosine"
    tau_span: int | None = Field(default=None, gt=0, description="steps; default: all training")

    @model_validator(mode="after")
    def _check_taus(self):
        if self.tau_end > self.tau_start:
            raise ValueError(
                f"tau_end ({self.tau_end}) must not exceed tau_start ({self.tau_start}): the "
                f"temperature anneals downwards"
            )
        if self.tau_span is None:
            self.tau_span = self.total_steps
        return self


class TemperatureTrainer(StandardTrainer):
    name = "temperature"
    trainer_class = "TemperatureAnnealedTrainer"
    config_class = TemperatureConfig

    def tau(self, step: int) -> float:
        cfg = self.cfg
        return anneal(step, cfg.tau_start, cfg.tau_end, cfg.tau_span, cfg.tau_schedule)

    def sparsity_scale(self, step: int) -> float:
        return super().sparsity_scale(step) / self.tau(step)

    def loss(self, x: torch.Tensor, step: int):
        loss, logs, latents = super().loss(x, step)
        logs["tau"] = self.tau(step)
        return loss, logs, latents
