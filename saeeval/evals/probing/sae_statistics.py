"""Per-text SAE statistics from one encoder pass: what sparse probing, SCR and TPP read of an SAE.

Sparse probing needs each text's mean latents; SCR and TPP also need, for the latents they ablate,
the latents summed over every position (masked ones included, each scaled by the factor decoding
multiplies it by), from which `ablation` computes every ablation without running the SAE again.

Memory: rows are encoded in batches sized from the working-set budget (`working_set`), and the
only per-text data of the SAE's width kept is one [n_texts, d_sae] float32 sum (two for SAEs
that normalise their input at run time). When that sum would take more than the budget (wide
SAEs: 4 MB a text at 1M latents), `sae_statistics_of_texts` and `pooled_latents_of_texts` keep
only its non-zero entries (`SparseRows`); a TopK SAE's text of 128 tokens has at most 128 k.
Those sums read each batch's latents as non-zero entries (`latent_entries_in_batches`, which
encodes an SAE too wide for big dense batches a block of latents at a time) and add them in the
dense sums' order, so both give the same bits.
Everything here lives on the SAE's device, so on a GPU the sums, and the probes, attributions and
ablations that read them, are computed there. The sums over every position are never
materialised: masked positions hold the zero vector, whose latents are the same everywhere, so
the columns an ablation needs are built from the valid sums, each text's masked-position count
and the latents of zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from saeeval.evals.probing.sparse_rows import SparseRows
from saeeval.evals.probing.text_activations import TextActivations
from saeeval.evals.working_set import (
    FLOAT32_BYTES,
    in_batches,
    latent_entries_in_batches,
    rows_within_budget,
    working_set_bytes,
)
from saeeval.saes import SAE

# Per encoded row: the SAE's pre-activations and latents, and the float32 copy summed from.
DENSE_COPIES_PER_ROW = 3


class _SparseSums:
    """Per-row sums gathered batch by batch as sparse entries. Rows (texts) arrive in order, so
    a batch covers a run of consecutive rows; the batch's last row may go on in the next batch,
    so its sums wait for it. Each row's sums are thus added in one sequence, entry by entry in
    the order the entries came: the dense sums' arithmetic, bit for bit, whatever the batches.

    The entries go into three buffers that double when full, not into a list of small tensors:
    thousands of small tensors kept between each batch's large temporaries fragment the heap,
    which then holds several times their size."""

    def __init__(self, n_texts: int, d_sae: int, device):
        self.shape = (n_texts, d_sae)
        self.size = 0
        self.rows = torch.empty(0, dtype=torch.long, device=device)
        self.cols = torch.empty(0, dtype=torch.long, device=device)
        self.values = torch.empty(0, device=device)
        self.waiting: tuple[Tensor, Tensor, Tensor] | None = None  # the last row's sums

    def add_entries(self, rows: Tensor, cols: Tensor, values: Tensor) -> None:
        """Add float32 entries (row, col, value); rows must not go below the last batch's."""
        if self.waiting is not None:
            rows, cols, values = (
                torch.cat(pair) for pair in zip(self.waiting, (rows, cols, values), strict=True)
            )
        if len(rows) == 0:
            return
        keys, where = torch.unique(rows * self.shape[1] + cols, return_inverse=True)
        sums = torch.zeros(len(keys), device=values.device).index_add_(0, where, values)
        rows, cols = keys // self.shape[1], keys % self.shape[1]
        last = rows == rows[-1]
        self.waiting = rows[last], cols[last], sums[last]
        self._append(rows[~last], cols[~last], sums[~last])

    def _append(self, rows: Tensor, cols: Tensor, values: Tensor) -> None:
        end = self.size + len(rows)
        if end > len(self.values):
            capacity = max(end, 2 * len(self.values), 2**16)
            self.rows, self.cols, self.values = (
                torch.cat([buffer[: self.size], buffer.new_empty(capacity - self.size)])
                for buffer in (self.rows, self.cols, self.values)
            )
        self.rows[self.size : end] = rows
        self.cols[self.size : end] = cols
        self.values[self.size : end] = values
        self.size = end

    def finish(self) -> SparseRows:
        if self.waiting is not None:
            self._append(*self.waiting)
            self.waiting = None
        rows, cols, values = (b[: self.size] for b in (self.rows, self.cols, self.values))
        keys, where = torch.unique(rows * self.shape[1] + cols, return_inverse=True)
        summed = torch.zeros(len(keys), device=values.device).index_add_(0, where, values)
        self.rows = self.cols = self.values = None  # free the buffers before the caller goes on
        return SparseRows(keys // self.shape[1], keys % self.shape[1], summed, self.shape)


def _columns(sums: Tensor | SparseRows, mask: Tensor) -> Tensor:
    return sums.columns(mask) if isinstance(sums, SparseRows) else sums[:, mask]


@dataclass
class SAEStatistics:
    """Per-example sums of activations and SAE latents over the sequence positions.

    Every tensor is on the SAE's device.

    act_sum:   [B, D] activations summed over all positions (masked rows are zero), act dtype.
    count:     [B] number of valid positions, in the activation dtype (as the reference counts).
    valid_sum: [B, F] float32 latents summed over valid positions (dense, or `SparseRows`).
    scaled_sum: [B, F] float32 latents times each token's de-normalisation scale, summed over
               valid positions, for runtime-normalised SAEs; None otherwise (valid_sum serves).
               Dense or sparse as valid_sum is.
    n_masked:  [B] float32 number of masked positions (context length - count).
    at_zero:   [F] float32 latents of the zero vector (times its de-normalisation scale).
    """

    act_sum: Tensor
    count: Tensor
    valid_sum: Tensor | SparseRows
    scaled_sum: Tensor | SparseRows | None
    n_masked: Tensor
    at_zero: Tensor

    def __len__(self) -> int:
        return len(self.count)

    def all_sum_columns(self, mask: Tensor) -> Tensor:
        """[B, mask.sum()] float32: the `mask` latents summed over ALL positions (each token times
        its de-normalisation scale for runtime-normalised SAEs), what SAEBench's ablation
        subtracts."""
        return self.valid_sum_columns(mask) + self.padding_columns(mask)

    def valid_sum_columns(self, mask: Tensor) -> Tensor:
        """[B, mask.sum()] float32: the `mask` latents summed over the valid positions only (each
        token times its de-normalisation scale for runtime-normalised SAEs), what an ablation
        that leaves padding and BOS positions alone subtracts."""
        mask = mask.to(self.at_zero.device)
        sums = self.valid_sum if self.scaled_sum is None else self.scaled_sum
        return _columns(sums, mask)

    def padding_columns(self, mask: Tensor) -> Tensor:
        """[B, mask.sum()] float32: the `mask` latents summed over the masked positions only (the
        zero vector's latents times each text's count of them), the part of `all_sum_columns`
        that ablation adds at padding and BOS positions."""
        mask = mask.to(self.at_zero.device)
        return self.n_masked.unsqueeze(1) * self.at_zero[mask]

    @property
    def is_sparse(self) -> bool:
        return isinstance(self.valid_sum, SparseRows)

    def weighted_mean_latents(self, weights: Tensor) -> Tensor:
        """[F] float32: the sum over texts of weights[text] * the text's mean latent."""
        per_sum = weights.to(self.count.device) / self.count.to(torch.float32)
        if isinstance(self.valid_sum, SparseRows):
            return self.valid_sum.weighted_row_sum(per_sum)
        return per_sum @ self.valid_sum

    def mean_latents_fp32(self, rows: Tensor | None = None) -> Tensor:
        """Mean latent over valid positions in float32 of every text or of `rows` (the per-example
        means SCR/TPP attribute with, in get_effects_per_class_precomputed_acts). Dense sums
        only: with sparse ones, attribution reads `weighted_mean_latents`."""
        if isinstance(self.valid_sum, SparseRows):
            raise ValueError("mean_latents_fp32 needs dense sums; use weighted_mean_latents")
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
    sae: SAE, acts: TextActivations, with_scaled: bool, batch_rows: int | None, sparse: bool = False
) -> tuple[Tensor | SparseRows, Tensor | SparseRows | None]:
    """[n_texts, d_sae] float32 sums of each text's valid latents, and (when `with_scaled` and the
    SAE normalises at run time) of its latents times their de-normalisation scale; as
    `SparseRows` when `sparse`."""
    scaled_too = with_scaled and denormalisation_scale(sae, acts.rows[:1]) is not None
    if sparse:
        return _sparse_latent_sums(sae, acts, scaled_too, batch_rows)
    text_index = acts.text_index.to(sae.device)
    valid = torch.zeros(len(acts), sae.d_sae, device=sae.device)
    scaled = torch.zeros(len(acts), sae.d_sae, device=sae.device) if scaled_too else None

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


def _sparse_latent_sums(
    sae: SAE, acts: TextActivations, scaled_too: bool, batch_rows: int | None
) -> tuple[SparseRows, SparseRows | None]:
    """`_latent_sums` kept as non-zero entries: each batch's latents arrive as entries
    (`latent_entries_in_batches`) and are summed per text and latent in row order, as the
    dense sums are."""
    text_index = acts.text_index.to(sae.device)
    valid = _SparseSums(len(acts), sae.d_sae, sae.device)
    scaled = _SparseSums(len(acts), sae.d_sae, sae.device) if scaled_too else None
    for start, stop, entries in latent_entries_in_batches(sae, acts.rows, batch_rows):
        texts = text_index[start:stop][entries.rows]
        valid.add_entries(texts, entries.cols, entries.values.float())
        if scaled is not None:
            rows = acts.rows[start:stop].to(sae.device, sae.dtype)
            scale = denormalisation_scale(sae, rows).squeeze(-1)[entries.rows]
            scaled.add_entries(texts, entries.cols, (entries.values * scale).float())
        del entries
    return valid.finish(), scaled.finish() if scaled is not None else None


def sparse_latents_of_rows(
    sae: SAE, x: Tensor, batch_rows: int, max_entries: int
) -> SparseRows | None:
    """[n, d_sae] float32 latents of the rows of `x` [n, d_in] as their non-zero entries (values
    bit for bit as encoded), encoded in batches of at most `batch_rows` rows within the
    working-set budget; None as soon as they pass `max_entries` entries (an SAE too dense to
    keep this way), so the caller can encode as it goes instead."""
    entries = _SparseSums(len(x), sae.d_sae, sae.device)
    for start, _, batch in latent_entries_in_batches(sae, x, batch_rows):
        entries.add_entries(batch.rows + start, batch.cols, batch.values.float())
        del batch
        if entries.size > max_entries:
            return None
    return entries.finish()


def sums_are_kept_sparse(n_texts: int, d_sae: int) -> bool:
    """Whether a [n_texts, d_sae] float32 sum would take more than the working-set budget."""
    return n_texts * d_sae * FLOAT32_BYTES > working_set_bytes()


def pooled_latents_of_texts(
    sae: SAE, acts: TextActivations, batch_rows: int | None = None, sparse: bool | None = None
) -> Tensor | SparseRows:
    """[n_texts, d_sae] float32: each text's mean latent over its valid positions (SAEBench's
    get_sae_meaned_activations, the sparse-probing SAE input), divided in place; as `SparseRows`
    when `sparse`, by default when a dense one would not fit the budget."""
    if sparse is None:
        sparse = sums_are_kept_sparse(len(acts), sae.d_sae)
    valid, _ = _latent_sums(sae, acts, with_scaled=False, batch_rows=batch_rows, sparse=sparse)
    counts = acts.counts.to(sae.device).float()
    if sparse:
        return valid.rows_divided_by(counts)
    return valid.div_(counts.unsqueeze(1))


def sae_statistics_of_texts(
    sae: SAE, acts: TextActivations, batch_rows: int | None = None, sparse: bool | None = None
) -> SAEStatistics:
    """`SAEStatistics` of every text from one encoder pass over its unmasked rows, in batches of
    `batch_rows` (by default as many as the working-set budget allows). The sums are sparse when
    `sparse`, by default when dense ones would not fit the budget (`sums_are_kept_sparse`)."""
    if sparse is None:
        sparse = sums_are_kept_sparse(len(acts), sae.d_sae)
    valid, scaled = _latent_sums(sae, acts, True, batch_rows, sparse)
    with torch.no_grad():
        zero = torch.zeros(1, sae.d_in, device=sae.device, dtype=sae.dtype)
        at_zero = sae.encode(zero)
        zero_scale = denormalisation_scale(sae, zero)
        if zero_scale is not None:
            at_zero = at_zero * zero_scale
    counts = acts.counts.to(sae.device).float()
    return SAEStatistics(
        act_sum=acts.sums().to(sae.device),
        count=counts,
        valid_sum=valid,
        scaled_sum=scaled,
        n_masked=acts.context_length - counts,
        at_zero=at_zero.float().squeeze(0),
    )
