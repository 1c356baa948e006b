"""Trainer adapters: code that produces SAEs the eval suite can run.

Native trainers are looked up by name; `path/to/file.py:Class` loads a user's
dictionary_learning-style trainer (see `saeeval.trainers.custom`).
"""

from __future__ import annotations

from saeeval.errors import SaeevalError
from saeeval.plugins import is_file_spec
from saeeval.trainers.adaptive_ortho import AdaptiveOrthoTrainer
from saeeval.trainers.base import SAETrainer, TrainerConfig
from saeeval.trainers.batch_topk import BatchTopKTrainer
from saeeval.trainers.gated import GatedTrainer
from saeeval.trainers.jumprelu import JumpReLUTrainer
from saeeval.trainers.matryoshka import MatryoshkaBatchTopKTrainer
from saeeval.trainers.p_anneal import PAnnealTrainer
from saeeval.trainers.standard import StandardTrainer
from saeeval.trainers.temperature import TemperatureTrainer
from saeeval.trainers.topk import TopKTrainer

TRAINERS: dict[str, type[SAETrainer]] = {
    cls.name: cls
    for cls in (
        StandardTrainer,
        TopKTrainer,
        BatchTopKTrainer,
        MatryoshkaBatchTopKTrainer,
        JumpReLUTrainer,
        GatedTrainer,
        PAnnealTrainer,
        TemperatureTrainer,
        AdaptiveOrthoTrainer,
    )
}


def is_custom(name: str) -> bool:
    """`path/to/file.py:Class` names a user's trainer; anything else a native one."""
    return is_file_spec(name)


def native_trainer(name: str) -> type[SAETrainer]:
    try:
        return TRAINERS[name]
    except KeyError:
        raise SaeevalError(
            f"unknown trainer {name!r}; native trainers: {', '.join(sorted(TRAINERS))}, or "
            f"path/to/file.py:Class for your own"
        ) from None


__all__ = ["TRAINERS", "SAETrainer", "TrainerConfig", "is_custom", "native_trainer"]
