"""The unlearning intervention: at the SAE's hook, clamp selected latents to -multiplier wherever
they are active, keeping the SAE's reconstruction error (SAEBench's
`anthropic_clamp_resid_SAE_features`).

Each row of a batch may carry its own setting (latents and multiplier), so every setting of a
sweep can share one batched pass over a question set.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from saeeval.saes import SAE


@torch.no_grad()
def clamp_latents(
    resid: torch.Tensor,
    sae: SAE,
    selected: torch.Tensor,
    multipliers: torch.Tensor,
    first_is_bos: bool = True,
    exact_where_unclamped: bool = False,
) -> torch.Tensor:
    """`resid` [batch, pos, d] with, in row b, every latent with `selected[b]` set clamped to
    `-multipliers[b]` where it is positive. As in SAEBench, the latents at position 0 (BOS) are
    zeroed before both reconstructions, so that position passes through unchanged, and the
    result is (resid - decode(latents)) + decode(clamped latents). `first_is_bos=False` is for
    the continuation of a cached prompt, whose first position is not the sequence's BOS.

    `exact_where_unclamped=True` returns `resid` itself at positions where no latent is
    clamped (the recomposition above only rounds there): a sweep that runs some rows from
    before their first clamped position then gets exactly what running them from it gives."""
    latents, state = sae.encode_with_norm_state(resid)
    if first_is_bos:
        latents[:, 0, :] = 0.0
    error = resid - sae.decode(latents, state)
    clamp = selected[:, None, :] & (latents > 0)
    value = -multipliers.to(latents.dtype)[:, None, None]
    clamped = torch.where(clamp, value, latents)
    out = error + sae.decode(clamped, state)
    if exact_where_unclamped:
        out = torch.where(clamp.any(dim=2, keepdim=True), out, resid)
    return out


def clamp_features(
    resid: torch.Tensor,
    sae: SAE,
    features: Sequence[int],
    multiplier: float,
) -> torch.Tensor | None:
    """One setting for the whole batch, with the reference's signature: None (leave the
    activation alone) when no latent is selected."""
    if len(features) == 0:
        return None
    selected = torch.zeros(resid.shape[0], sae.d_sae, dtype=torch.bool, device=resid.device)
    selected[:, torch.as_tensor(list(features), dtype=torch.long)] = True
    multipliers = torch.full((resid.shape[0],), float(multiplier), device=resid.device)
    return clamp_latents(resid, sae, selected, multipliers)
