"""P-annealing: a ReLU SAE whose sparsity penalty moves from L1 towards L0 during training, as
dictionary_learning's `PAnnealTrainer` trains it (Karvonen et al. 2024, "Measuring Progress in
Dictionary Learning for Language Model Interpretability with Board Game Models",
arXiv:2408.00113).

Recipe: f = ReLU(W_enc (x - b_dec) + b_enc), unit-norm decoder rows; loss = ||x - x_hat||^2 +
alpha * S_p(f) with S_p(f) = sum_i f_i^p ("Lp^p") or (sum_i f_i^p)^(1/p) ("Lp"). p is held at
p_start, then from `anneal_start` it steps linearly to p_end in `n_sparsity_updates` updates.
At each update alpha is rescaled by mean S_p / mean S_p' over the last `sparsity_queue_length`
steps (p the current exponent, p' the next one), so the penalty's size does not jump when p
changes and the coefficient one sets is the L1 coefficient at the start.

Deviations: the squared reconstruction error, the learning-rate schedule and the input
normalisation of every saeeval trainer (the recipe takes the unsquared norm and only warms the
rate up); the queue is emptied at each update, so each ratio compares the two exponents on the
same recent steps only; p_end must be positive (at p = 0 the penalty has no gradient).
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from pydantic import Field, model_validator

from saeeval.trainers.base import SAETrainer, TrainerConfig, reconstruction_error


class PAnnealConfig(TrainerConfig):
    lr: float = Field(default=1e-3, gt=0)
    sparsity_penalty: float = Field(
        default=0.1, gt=0, description="alpha at the start (the L1 coefficient while p = 1)"
    )
    sparsity_function: Literal["Lp^p", "Lp"] = "Lp^p"
    p_start: float = Field(default=1.0, gt=0, le=1)
    p_end: float = Field(default=0.2, gt=0, le=1)
    anneal_start: float = Field(
        default=0.1, ge=0, lt=1, description="fraction of training before p starts to move"
    )
    n_sparsity_updates: int = Field(default=10, ge=1, description="how many times p steps")
    sparsity_queue_length: int = Field(default=10, ge=1)

    @model_validator(mode="after")
    def _check_p(self):
        if self.p_end > self.p_start:
            raise ValueError(f"p_end ({self.p_end}) must not exceed p_start ({self.p_start})")
        return self


class PAnnealTrainer(SAETrainer):
    name = "p_anneal"
    trainer_class = "PAnnealTrainer"
    config_class = PAnnealConfig
    architecture = "standard"
    sparsity_penalty_field = "sparsity_penalty"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        cfg = self.cfg
        first = int(cfg.anneal_start * cfg.total_steps)
        self.update_steps = (
            torch.linspace(first, cfg.total_steps - 1, cfg.n_sparsity_updates).long().tolist()
        )
        self.p_values = torch.linspace(cfg.p_start, cfg.p_end, cfg.n_sparsity_updates).tolist()
        self.p = cfg.p_start
        self.next_p: float | None = None
        self.alpha = cfg.sparsity_penalty
        self.updates_done = 0
        self.queue: list[tuple[float, float]] = []

    def sparsity(self, latents: torch.Tensor, p: float) -> torch.Tensor:
        powered = latents.pow(p).sum(dim=-1)
        if self.cfg.sparsity_function == "Lp":
            powered = powered.pow(1 / p)
        return powered.mean()

    def loss(self, x: torch.Tensor, step: int):
        ae = self.ae
        latents = torch.relu((x - ae.b_dec) @ ae.W_enc + ae.b_enc)
        x_hat = latents @ ae.W_dec + ae.b_dec
        mse = reconstruction_error(x, x_hat)
        penalty = self.sparsity(latents, self.p)
        loss = mse + self.alpha * penalty
        logs = {"mse": mse.item(), "sparsity": penalty.item(), "p": self.p, "alpha": self.alpha}
        return loss, logs, latents

    @torch.no_grad()
    def after_step(self, step: int, latents: torch.Tensor) -> None:
        if self.next_p is not None:
            now, next_ = self.sparsity(latents, self.p), self.sparsity(latents, self.next_p)
            self.queue = [*self.queue, (now.item(), next_.item())][
                -self.cfg.sparsity_queue_length :
            ]
        while (
            self.updates_done < len(self.update_steps)
            and step >= self.update_steps[self.updates_done]
        ):
            if self.next_p is not None and self.queue:
                now = sum(q[0] for q in self.queue) / len(self.queue)
                next_ = sum(q[1] for q in self.queue) / len(self.queue)
                if next_ > 0:
                    self.alpha *= now / next_
            self.p = self.p_values[self.updates_done]
            self.updates_done += 1
            more = self.updates_done < len(self.p_values)
            self.next_p = self.p_values[self.updates_done] if more else None
            self.queue = []

    def extra_state(self) -> dict[str, Any]:
        return {
            "p": self.p,
            "next_p": self.next_p,
            "alpha": self.alpha,
            "updates_done": self.updates_done,
            "queue": list(self.queue),
        }

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.p, self.next_p, self.alpha = state["p"], state["next_p"], state["alpha"]
        self.updates_done = state["updates_done"]
        self.queue = [tuple(q) for q in state["queue"]]
