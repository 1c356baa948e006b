"""Per-text SAE statistics from one encoder pass: what sparse probing, SCR and TPP read of an SAE.

Sparse probing needs each text's mean latents; SCR and TPP also need, for the latents they ablate,
the latents summed over every position (masked ones included, each scaled by the factor decoding
multiplies it by), from which `ablation` computes every ablation without running the SAE again.

Memory: rows are encoded in batches sized from the working-set budget (`working_set`), and the
only per-text tensor of the SAE's width kept is one [n_texts, d_sae] float32 sum (two for SAEs
that normalise their input at run time). Everything here lives on the SAE's device, so on a GPU
the sums, and the probes, attributions and ablations that read them, are computed there. The
sums over every position are never materialised: masked positions hold the zero vector, whose
latents are the same everywhere, so the columns an ablation needs are built from the valid sums,
each text's masked-position count and the latents of zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from saeeval.evals.probing.text_activations import TextActivations
from saeeval.evals.working_set import in_batches, rows_within_budget
from saeeval.saes import SAE

# Per encoded row: the SAE's pre-activations and latents, and the float32 copy summed from.
DENSE_COPIES_PER_ROW = 3


@dataclass
class SAEStatistics:
    """Per-example sums of activations and SAE latents over the sequence positions.

    Every tensor is on the SAE's device.

    act_sum:   [B, D] activations summed over all positions (masked rows are zero), act dtype.
    count:     [B] number of valid positions, in the activation dtype (as the reference counts).
    valid_sum: [B, F] float32 latents summed over valid positions.
    scaled_sum: [B, F] float32 latents times each token's de-normalisation scale, summed over
               valid positions, for runtime-normalised SAEs; None otherwise (valid_sum serves).
    n_masked:  [B] float32 number of masked positions (context length - count).
    at_zero:   [F] float32 latents of the zero vector (times its de-normalisation scale).
    """

    act_sum: Tensor
    count: Tensor
    valid_sum: Tensor
    scaled_sum: Tensor | None
    n_masked: Tensor
    at_zero: Tensor

    def __len__(self) -> int:
        return len(self.count)

    def all_sum_columns(self, mask: Tensor) -> Tensor:
        """[B, mask.sum()] float32: the `mask` latents summed over ALL positions (each token times
        its de-normalisation scale for runtime-normalised SAEs), what ablation subtracts."""
        mask = mask.to(self.valid_sum.device)
        sums = self.valid_sum if self.scaled_sum is None else self.scaled_sum
        return sums[:, mask] + self.n_masked.unsqueeze(1) * self.at_zero[mask]

    def mean_latents_fp32(self, rows: Tensor | None = None) -> Tensor:
        """Mean latent over valid positions in float32 of every text or of `rows` (the per-example
        means SCR/TPP attribute with, in get_effects_per_class_precomputed_acts)."""
        if rows is None:
            return self.valid_sum / self.count.to(torch.float32)[:, None]
        return self.valid_sum[rows] / self.count[rows].to(torch.float32)[:, None]


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


def _latent_sums(
    sae: SAE, acts: TextActivations, with_scaled: bool, batch_rows: int | None
) -> tuple[Tensor, Tensor | None]:
    """[n_texts, d_sae] float32 sums of each text's valid latents, and (when `with_scaled` and the
    SAE normalises at run time) of its latents times their de-normalisation scale."""
    text_index = acts.text_index.to(sae.device)
    valid = torch.zeros(len(acts), sae.d_sae, device=sae.device)
    scaled = None
    if with_scaled and denormalisation_scale(sae, acts.rows[:1]) is not None:
        scaled = torch.zeros_like(valid)

    def encode(start: int, stop: int) -> tuple[Tensor, Tensor | None]:
        rows = acts.rows[start:stop].to(sae.device, sae.dtype)
        latents = sae.encode(rows)
        weighted = None
        if scaled is not None:
            weighted = (latents * denormalisation_scale(sae, rows)).float()
        return latents.float(), weighted

    size = batch_rows or rows_within_budget(sae.d_sae, DENSE_COPIES_PER_ROW)
    with torch.no_grad():
        for start, stop, (latents, weighted) in in_batches(
            len(acts.rows), size, encode, "SAE encoding batch"
        ):
            texts = text_index[start:stop]
            valid.index_add_(0, texts, latents)
            if scaled is not None:
                scaled.index_add_(0, texts, weighted)
            del latents, weighted
    return valid, scaled


def pooled_latents_of_texts(
    sae: SAE, acts: TextActivations, batch_rows: int | None = None
) -> Tensor:
    """[n_texts, d_sae] float32: each text's mean latent over its valid positions (SAEBench's
    get_sae_meaned_activations, the sparse-probing SAE input), divided in place."""
    valid, _ = _latent_sums(sae, acts, with_scaled=False, batch_rows=batch_rows)
    return valid.div_(acts.counts.to(valid.device).float().unsqueeze(1))


def sae_statistics_of_texts(
    sae: SAE, acts: TextActivations, batch_rows: int | None = None
) -> SAEStatistics:
    """`SAEStatistics` of every text from one encoder pass over its unmasked rows, in batches of
    `batch_rows` (by default as many as the working-set budget allows)."""
    valid, scaled = _latent_sums(sae, acts, with_scaled=True, batch_rows=batch_rows)
    with torch.no_grad():
        zero = torch.zeros(1, sae.d_in, device=sae.device, dtype=sae.dtype)
        at_zero = sae.encode(zero)
        zero_scale = denormalisation_scale(sae, zero)
        if zero_scale is not None:
            at_zero = at_zero * zero_scale
    counts = acts.counts.to(valid.device).float()
    return SAEStatistics(
        act_sum=acts.sums().to(valid.device),
        count=counts,
        valid_sum=valid,
        scaled_sum=scaled,
        n_masked=acts.context_length - counts,
        at_zero=at_zero.float().squeeze(0),
    )
