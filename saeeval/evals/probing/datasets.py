"""The texts of one probing dataset, their model activations, and per-class views of both.

Sparse probing, SCR and TPP all start the same way: texts per class (train and test), each text's
activations at the SAE's hook, mean-pooled. A text that appears under several classes (SCR's
spuriously correlated sets reuse rows) is run through the model once.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import torch

from saeeval.data.classification import (
    SCR_COLUMN2_VALUES,
    ClassTexts,
    load_class_texts,
    load_spurious_texts,
)
from saeeval.evals.base import EvalContext
from saeeval.evals.probing.text_activations import TextActivations, text_activations


@dataclass
class ProbingData:
    name: str  # the dataset, or for SCR "{dataset}_scr_{class1}_{class2}"
    texts: ClassTexts
    activations: TextActivations  # one row per distinct text
    train_rows: dict[str, torch.Tensor]  # class -> indices into the distinct texts
    test_rows: dict[str, torch.Tensor]

    @property
    def fingerprint(self) -> str:
        return self.texts.fingerprint

    @property
    def seed_offset(self) -> int:
        """A per-dataset offset for random streams that does not depend on the dataset order."""
        return zlib.crc32(self.name.encode()) % 1_000_000

    def generator(self, seed: int, side: int) -> torch.Generator:
        """One seeded stream per (dataset, side: 0 model, 1 SAE), so a number never depends on
        what ran before it (SAEBench seeds once per SAE, which makes its numbers depend on its
        cache state)."""
        return torch.Generator().manual_seed(seed + 1000 * self.seed_offset + side)

    def split_by_class(
        self, per_text: torch.Tensor
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """Rows of a per-text tensor, grouped as the train and test classes."""
        return (
            {key: per_text[rows] for key, rows in self.train_rows.items()},
            {key: per_text[rows] for key, rows in self.test_rows.items()},
        )

    def pooled_model_activations(self, device: torch.device | str = "cpu"):
        """The pooled model activations of every text, grouped as the train and test classes, on
        `device` (the model's: probes train where their inputs are)."""
        return self.split_by_class(self.activations.pooled().to(device))


def load_probing_data(
    context: EvalContext,
    hook: str,
    name: str,
    config,
    spurious_pair: tuple[str, str] | None = None,
) -> ProbingData:
    """Texts of `name` as the config sizes them (SCR's biased sets when `spurious_pair` is given),
    and their activations at `hook`, from the cache or the model."""
    seed, source = config.random_seed, config.dataset_source
    if spurious_pair is None:
        sizes = _sizes(config)
        texts = load_class_texts(name, *sizes, seed=seed, source=source)
        label = name
    else:
        texts = load_spurious_texts(
            name,
            spurious_pair,
            SCR_COLUMN2_VALUES.get(name, ()),
            train_size=config.train_set_size,
            test_size=config.test_set_size,
            seed=seed,
            source=source,
        )
        label = f"{name}_scr_{spurious_pair[0]}_{spurious_pair[1]}"
    distinct: dict[str, int] = {}
    for split in (texts.train, texts.test):
        for members in split.values():
            for text in members:
                distinct.setdefault(text, len(distinct))

    def rows(split: dict[str, list[str]]) -> dict[str, torch.Tensor]:
        return {key: torch.tensor([distinct[t] for t in members]) for key, members in split.items()}

    activations = text_activations(
        context.model,
        list(distinct),
        hook,
        config.context_length,
        context.cache,
        batch_size=config.llm_batch_size or 32,
        progress=context.progress,
        description=f"activations: {label}",
    )
    return ProbingData(label, texts, activations, rows(texts.train), rows(texts.test))


def _sizes(config) -> tuple[int, int]:
    if hasattr(config, "probe_train_set_size"):  # sparse probing names them so
        return config.probe_train_set_size, config.probe_test_set_size
    return config.train_set_size, config.test_set_size
