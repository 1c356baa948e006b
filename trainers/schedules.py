"""Learning-rate and coefficient schedules, as functions of the step."""

from __future__ import annotations

import math


def warmup_then_decay(step: int, total_steps: int, warmup_steps: int, decay_start: float) -> float:
    """Multiplier for the learning rate: linear warm-up from 0, constant, then linear decay to 0.

    `decay_start` is the fraction of training after which the decay begins (1.0: no decay).
    """
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    decay_from = int(decay_start * total_steps)
    if step >= decay_from and total_steps > decay_from:
        return max(0.0, (total_steps - step) / (total_steps - decay_from))
    return 1.0


def linear_warmup(step: int, warmup_steps: int) -> float:
    """0 -> 1 over `warmup_steps` (e.g. a sparsity penalty switched on gradually)."""
    return 1.0 if warmup_steps <= 0 else min(1.0, step / warmup_steps)


def anneal(step: int, start: float, end: float, span: int, shape: str) -> float:
    """From `start` at step 0 to `end` at step span - 1 (cosine or linear), then held."""
    progress = 1.0 if span <= 1 else min(1.0, step / (span - 1))
    if shape == "cosine":
        return end + 0.5 * (start - end) * (1 + math.cos(math.pi * progress))
    if shape == "linear":
        return start + (end - start) * progress
    raise ValueError(f"unknown annealing shape {shape!r}; expected 'cosine' or 'linear'")
