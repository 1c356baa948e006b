"""Trainer adapters: code that produces SAEs the eval suite can run.

Native trainers are looked up by name; `path/to/file.py:Class` loads a user's
dictionary_learning-style trainer (see `trainers.custom`).
"""

from __future__ import annotations

from saeeval.errors import SaeevalError
from trainers.adaptive_ortho import AdaptiveOrthoTrainer
from trainers.base import SAETrainer, TrainerConfig
from trainers.batch_topk import BatchTopKTrainer
from trainers.gated import GatedTrainer
from trainers.jumprelu import JumpReLUTrainer
from trainers.standard import StandardTrainer
from trainers.temperature import TemperatureTrainer
from trainers.topk import TopKTrainer

TRAINERS: dict[str, type[SAETrainer]] = {
    cls.name: cls
    for cls in (
        StandardTrainer,
        TopKTrainer,
        BatchTopKTrainer,
        JumpReLUTrainer,
        GatedTrainer,
        TemperatureTrainer,
        AdaptiveOrthoTrainer,
    )
}


def is_custom(name: str) -> bool:
    return ":" in name and name.rsplit(":", 1)[0].endswith(".py")


def native_trainer(name: str) -> type[SAETrainer]:
    try:
        return TRAINERS[name]
    except KeyError:
        raise SaeevalError(
            f"unknown trainer {name!r}; native trainers: {', '.join(sorted(TRAINERS))}, or "
            f"path/to/file.py:Class for your own"
        ) from None


__all__ = ["TRAINERS", "SAETrainer", "TrainerConfig", "is_custom", "native_trainer"]
