"""Small builders shared by tests: SAEs with chosen weights, saved to real folders."""

from __future__ import annotations

from pathlib import Path

import torch

from saeeval.saes import SAE, SAEConfig, save_sae


def random_sae(
    architecture: str,
    d_in: int,
    d_sae: int,
    hook: str,
    seed: int = 0,
    model_name: str | None = None,
    k: int = 8,
    scale: float = 0.3,
) -> SAE:
    """An SAE with random weights and unit-norm decoder rows (as trained SAEs have)."""
    generator = torch.Generator().manual_seed(seed)
    cfg = SAEConfig(
        architecture=architecture,
        d_in=d_in,
        d_sae=d_sae,
        hook_name=hook,
        model_name=model_name,
        k=k if architecture == "topk" else None,
    )
    sae = SAE(cfg)
    with torch.no_grad():
        for param in sae.parameters():
            param.copy_(torch.randn(param.shape, generator=generator) * scale)
        sae.W_dec.div_(sae.W_dec.norm(dim=-1, keepdim=True))
        if architecture == "jumprelu":
            sae.threshold.copy_(torch.rand(d_sae, generator=generator) * 0.5)
    return sae


def saved(sae: SAE, folder: Path) -> Path:
    save_sae(sae, folder)
    return folder
