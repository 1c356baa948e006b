"""Per-text SAE statistics from one encoder pass: what sparse probing, SCR and TPP read of an SAE.

Sparse probing needs each text's mean latents; SCR and TPP also need the latents summed over every
position (masked ones included, each scaled by the factor decoding multiplies it by), from which
`ablation` computes every ablation without running the SAE again.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from saeeval.evals.probing.text_activations import TextActivations
from saeeval.saes import SAE


@dataclass
class SAEStatistics:
    """Per-example sums of activations and SAE latents over the sequence positions.

    act_sum:   [B, D] activations summed over all positions (masked rows are zero), act dtype.
    count:     [B] number of valid positions, in the activation dtype (as the reference counts).
    valid_sum: [B, F] latents summed over valid positions, SAE dtype.
    all_sum:   [B, F] latents summed over ALL positions (each token times its de-normalisation
               scale for runtime-normalised SAEs), SAE dtype; what ablation subtracts.
    """

    act_sum: Tensor
    count: Tensor
    valid_sum: Tensor
    all_sum: Tensor

    def __len__(self) -> int:
        return len(self.count)

    def pooled_latents(self) -> Tensor:
        """Mean latent over valid positions, in the SAE dtype (SAEBench's
        get_sae_meaned_activations, the sparse-probing SAE input)."""
        dtype = self.valid_sum.dtype
        return (self.valid_sum / self.count.to(dtype)[:, None]).to(dtype)

    def mean_latents_fp32(self) -> Tensor:
        """Mean latent over valid positions in float32 (the per-example means SCR/TPP attribute
        with, in get_effects_per_class_precomputed_acts)."""
        return self.valid_sum.to(torch.float32) / self.count.to(torch.float32)[:, None]


def denormalisation_scale(sae, x: Tensor) -> Tensor | None:
    """Per-token factor decode applies to f @ W in runtime-normalised SAEs ([B, L, 1]), or None."""
    scheme = getattr(getattr(sae, "cfg", None), "normalize_activations", "none")
    if scheme == "layer_norm":
        x = x.to(sae.dtype)
        return (x - x.mean(dim=-1, keepdim=True)).std(dim=-1, keepdim=True)
    if scheme == "constant_norm_rescale":
        x = x.to(sae.dtype)
        return x.norm(dim=-1, keepdim=True) / sae.cfg.d_in**0.5
    return None


def sae_statistics_of_texts(
    sae: SAE, acts: TextActivations, batch_rows: int = 4096
) -> SAEStatistics:
    """`SAEStatistics` of every text from one encoder pass over its unmasked rows. Each masked
    position holds the zero vector, whose latents are the same everywhere, so they are encoded
    once and counted `context_length - count` times.

    For SAEs that normalise their input at run time, `all_sum` weighs each position's latents by
    the factor decoding multiplies them by, so that ablation stays a sum over positions."""
    text_index = acts.text_index
    unmasked = torch.zeros(len(acts), sae.d_sae)
    scaled = None
    with torch.no_grad():
        for start in range(0, len(acts.rows), batch_rows):
            rows = acts.rows[start : start + batch_rows].to(sae.device, sae.dtype)
            latents = sae.encode(rows)
            texts = text_index[start : start + batch_rows]
            unmasked.index_add_(0, texts, latents.float().cpu())
            scale = denormalisation_scale(sae, rows)
            if scale is not None:
                scaled = scaled if scaled is not None else torch.zeros_like(unmasked)
                scaled.index_add_(0, texts, (latents * scale).float().cpu())
        zero = torch.zeros(1, sae.d_in, device=sae.device, dtype=sae.dtype)
        at_zero = sae.encode(zero)
        zero_scale = denormalisation_scale(sae, zero)
        if zero_scale is not None:
            at_zero = at_zero * zero_scale
    counts = acts.counts.float()
    n_masked = (acts.context_length - counts).unsqueeze(1)
    every_position = (unmasked if scaled is None else scaled) + n_masked * at_zero.float().cpu()
    return SAEStatistics(
        act_sum=acts.sums(), count=counts, valid_sum=unmasked, all_sum=every_position
    )
