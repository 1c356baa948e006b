"""Token-level helpers shared by evals and trainers (at the bottom of the layers)."""

from __future__ import annotations

import torch


def token_mask(tokens: torch.Tensor, ignore_ids: set[int]) -> torch.Tensor:
    """True where the token is not one of the special tokens the metrics leave out."""
    if not ignore_ids:
        return torch.ones_like(tokens, dtype=torch.bool)
    return ~torch.isin(tokens, torch.tensor(sorted(ignore_ids), device=tokens.device))
