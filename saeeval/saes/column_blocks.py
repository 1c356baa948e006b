"""Encoding a wide SAE a block of latents at a time, keeping only the latents that are not zero.

A dense encode of n rows makes [n, d_sae] pre-activations. For a wide SAE that caps n at a few
dozen rows in any memory budget (21 at 1M latents in 256 MiB), and each such batch reads the whole
encoder matrix (2.4 GB at 1M) for a few dozen rows: the encoder then runs at a quarter of what
the same matrix product reaches on hundreds of rows. Here many rows go through the encoder one
block of latents at a time, so each block of W_enc is read once per many rows and only
[rows, block] pre-activations exist at once.

- Architectures whose latents are independent (standard, JumpReLU, gated) encode each block with
  their own encoder on that block's parameters and keep its non-zero latents.
- TopK-style architectures keep each block's k largest candidates and then pick the row's k
  largest among them: every latent the row keeps is among its block's k largest. Where the row's
  k-th value ties with a latent left out, which of the two the dense encoder keeps is up to its
  top-k kernel (on a CPU, not always the lower index), so such a row (2 of 20,638 rows of real
  activations in a 1M-latent SAE) is encoded again whole, to keep what the dense encoder keeps.

A block's pre-activations are the products of the full matrix product's columns, but their last
bits are up to the matrix-product kernels, which may sum a narrow block's products in another
order. The dense encoder's own last bits already depend on its batch's row count the same way:
on this project's CPU at 1M latents (benchmarks/wide_encoder.py, 2,048 random rows), the blocks
gave 85 of 65,536 latent values a few ulps off the dense 21-row batches (relative 1e-6), and
10-row dense batches gave 12,009. The latents kept are the same.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from saeeval.saes.architectures import COMMON_PARAMETERS

if TYPE_CHECKING:
    from saeeval.saes.sae import SAE


@dataclass
class LatentEntries:
    """The non-zero latents of a batch of rows: latent `cols[i]` of row `rows[i]` is `values[i]`
    (in the SAE's dtype), ordered by row within each block of latents."""

    rows: Tensor
    cols: Tensor
    values: Tensor


def encodes_in_column_blocks(sae: SAE) -> bool:
    """Whether `sae`'s architecture can be encoded a block of latents at a time."""
    spec = sae.spec
    return not spec.tied_encoder and (spec.independent_latents or spec.top_k_entries is not None)


class _ColumnBlock:
    """Latents [start, stop) of an SAE, with the attributes its architecture's encoder reads:
    each per-latent parameter narrowed along its d_sae dimension, and a config of the block's
    width."""

    def __init__(self, sae: SAE, start: int, stop: int):
        width = stop - start
        k = sae.cfg.k if sae.cfg.k is None else min(sae.cfg.k, width)
        self.cfg = replace(sae.cfg, d_sae=width, k=k)
        named = {**COMMON_PARAMETERS, **sae.spec.parameters}
        for name, dims in named.items():
            value = getattr(sae, name)
            if "d_sae" in dims:
                value = value.narrow(dims.index("d_sae"), start, width)
            setattr(self, name, value)


class TooManyEntries(MemoryError):
    """A batch's non-zero latents would pass the entry limit (an SAE far from sparse): a
    `MemoryError`, so batch loops that back off on running out of memory retry fewer rows."""


def encode_entries(
    sae: SAE, x: Tensor, block_width: int, max_entries: int | None = None
) -> LatentEntries:
    """The non-zero latents of the rows of `x` [n, d_in], computed `block_width` latents at a time
    (only [n, block_width] pre-activations at once). Raises `TooManyEntries` once they pass
    `max_entries` (a TopK SAE keeps at most k a row, so only other architectures can)."""
    if not encodes_in_column_blocks(sae):
        raise ValueError(f"a {sae.cfg.architecture} SAE cannot be encoded in blocks of latents")
    sae_in, _ = sae.encoder_input(x)
    spec, d_sae = sae.spec, sae.d_sae
    blocks = [(start, min(d_sae, start + block_width)) for start in range(0, d_sae, block_width)]
    if spec.top_k_entries is None:
        rows, cols, values, count = [], [], [], 0
        for start, stop in blocks:
            latents = spec.encode(_ColumnBlock(sae, start, stop), sae_in)
            block_rows, block_cols = latents.nonzero(as_tuple=True)
            count += len(block_rows)
            if max_entries is not None and count > max_entries:
                raise TooManyEntries(
                    f"{len(x)} rows of a {sae.cfg.architecture} SAE have over {max_entries} "
                    f"non-zero latents"
                )
            rows.append(block_rows)
            cols.append(block_cols + start)
            values.append(latents[block_rows, block_cols])
        return LatentEntries(torch.cat(rows), torch.cat(cols), torch.cat(values))
    values, indices, cut = [], [], []
    for start, stop in blocks:
        block_values, block_indices = spec.top_k_entries(_ColumnBlock(sae, start, stop), sae_in)
        values.append(block_values)
        indices.append(block_indices + start)
        if stop - start > sae.cfg.k:  # the block left latents out: its k-th kept score
            cut.append(block_values.abs().min(dim=1).values)
    candidates, candidate_ids = torch.cat(values, dim=1), torch.cat(indices, dim=1)
    scores = candidates.abs()
    top, best = torch.topk(scores, k=sae.cfg.k, dim=1, sorted=False)
    kept, kept_ids = candidates.gather(1, best), candidate_ids.gather(1, best)
    kth = top.min(dim=1).values
    tied = (scores >= kth[:, None]).sum(dim=1) > sae.cfg.k
    if cut:
        tied |= (torch.stack(cut, dim=1) == kth[:, None]).any(dim=1)
    tied &= kth > 0  # latents that tie at zero are not kept either way
    for rows in tied.nonzero().squeeze(1).split(max(1, len(x) * block_width // d_sae)):
        kept[rows], kept_ids[rows] = spec.top_k_entries(sae, sae_in[rows])
    rows, slot = (kept != 0).nonzero(as_tuple=True)
    return LatentEntries(rows, kept_ids[rows, slot], kept[rows, slot])
