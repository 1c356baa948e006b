"""Matryoshka BatchTopK SAE, following Bussmann, Nabeshima, Karvonen & Nanda 2025, "Learning
Multi-Level Features with Matryoshka Sparse Autoencoders" (arXiv:2503.17547), as
dictionary_learning's `MatryoshkaBatchTopKTrainer` trains it.

Recipe: BatchTopK's encoder (the k * batch_size largest ReLU'd pre-activations across the batch,
AuxK for dead latents, unit-norm decoder rows, a learned inference threshold), with the
dictionary split into nested groups. Each prefix of the dictionary (the first group, the first
two, ..., all of them) must reconstruct the input on its own: the loss is a weighted sum of the
prefixes' reconstruction errors, so general latents settle in the early groups and specific ones
later, which is what keeps a general latent from being absorbed by specific ones. The AuxK
residual is the full dictionary's.

`group_fractions` split d_sae into groups (all but the last rounded down, the last takes the
rest); `group_weights` weigh the prefixes' errors (default: equal, summing to 1). Deviation: the
recipe averages the already weighted errors (dividing once more by the number of groups); here
they are summed, so one group of fraction 1 is BatchTopK exactly, and the AuxK weight means
what it means there.

The trained SAE infers as a JumpReLU with the learned threshold and is saved as SAELens saves a
trained Matryoshka BatchTopK SAE: a `jumprelu` whose metadata names `matryoshka_batchtopk` and
its nested widths (the prefixes' sizes).
"""

from __future__ import annotations

import itertools
import math

import torch
from pydantic import Field, model_validator

from saeeval.saes import SAEConfig
from saeeval.trainers.base import reconstruction_error
from saeeval.trainers.batch_topk import BatchTopKConfig, BatchTopKTrainer
from saeeval.trainers.topk import auxk_loss

# Five groups, each twice the size of the one before (1/32 of d_sae first), the last the rest.
DEFAULT_GROUP_FRACTIONS = [1 / 32, 1 / 16, 1 / 8, 1 / 4, 17 / 32]


class MatryoshkaConfig(BatchTopKConfig):
    group_fractions: list[float] = Field(
        default_factory=lambda: list(DEFAULT_GROUP_FRACTIONS),
        description="fraction of d_sae in each nested group, summing to 1",
    )
    group_weights: list[float] | None = Field(
        default=None, description="weight of each prefix's reconstruction error; default equal"
    )

    @model_validator(mode="after")
    def _check_groups(self):
        fractions = self.group_fractions
        if not fractions or any(f <= 0 for f in fractions):
            raise ValueError(f"group_fractions must be positive, got {fractions}")
        if not math.isclose(sum(fractions), 1.0, abs_tol=1e-6):
            raise ValueError(
                f"group_fractions must sum to 1, got {fractions} (sum {sum(fractions)})"
            )
        sizes = self.group_sizes
        if any(size <= 0 for size in sizes):
            raise ValueError(
                f"group_fractions {fractions} leave an empty group at d_sae={self.d_sae} "
                f"(group sizes {sizes})"
            )
        if self.group_weights is None:
            self.group_weights = [1 / len(fractions)] * len(fractions)
        if len(self.group_weights) != len(fractions) or any(w < 0 for w in self.group_weights):
            raise ValueError(
                f"group_weights must be {len(fractions)} non-negative numbers, one per group, "
                f"got {self.group_weights}"
            )
        return self

    @property
    def group_sizes(self) -> list[int]:
        sizes = [int(f * self.d_sae) for f in self.group_fractions[:-1]]
        return [*sizes, self.d_sae - sum(sizes)]

    @property
    def widths(self) -> list[int]:
        """The nested prefixes' sizes (SAELens' `matryoshka_widths`), ending at d_sae."""
        return list(itertools.accumulate(self.group_sizes))


class MatryoshkaBatchTopKTrainer(BatchTopKTrainer):
    name = "matryoshka_batch_topk"
    trainer_class = "MatryoshkaBatchTopKTrainer"
    config_class = MatryoshkaConfig
    architecture = "matryoshka_batchtopk"

    def inference_config(self) -> SAEConfig:
        cfg = super().inference_config()
        cfg.matryoshka_widths = self.cfg.widths
        return cfg

    def loss(self, x: torch.Tensor, step: int):
        ae = self.ae
        pre, latents = self.encode_batch(x)
        x_hat = ae.b_dec.expand_as(x)
        errors = []
        start = 0
        for end in self.cfg.widths:  # each prefix adds its group's part to the one before
            x_hat = x_hat + latents[:, start:end] @ ae.W_dec[start:end]
            errors.append(reconstruction_error(x, x_hat))
            start = end
        nested = sum(w * e for w, e in zip(self.cfg.group_weights, errors, strict=True))
        aux = auxk_loss(self, pre, (x - x_hat).detach())
        loss = nested + self.cfg.auxk_alpha * aux
        logs = {
            "mse": errors[-1].item(),
            "mse_first_group": errors[0].item(),
            "auxk": aux.item(),
            "threshold": self.threshold,
        }
        return loss, logs, latents
