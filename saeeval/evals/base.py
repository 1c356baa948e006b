"""What every eval is made of, and the context it runs in.

An eval is a small object with a name, SAEBench's `eval_type_id`, a pydantic config class whose
defaults equal SAEBench's (every field with a one-line description), the headline metrics its
results carry, and `run(context, saes, config)`, which takes one or more SAEs at once (so shared
work is done once) and yields one SAEBench-schema result per SAE as each finishes. `Eval` below is
the whole protocol; a user's own eval implements it and is run with `--evals path/to/file.py:Cls`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from pydantic import BaseModel, ConfigDict

from saeeval.activations import ActivationCache
from saeeval.data import ContextSet, TextDataset, load_contexts, load_text_dataset
from saeeval.data.text_datasets import OFFLINE_ALIASES
from saeeval.models import ModelAdapter
from saeeval.saes import LoadedSAE


class EvalConfig(BaseModel):
    """Base of every eval config: unknown keys are errors, values are checked on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


@dataclass(frozen=True)
class HeadlineMetric:
    """One number an eval's tables, summaries and figures lead with."""

    key: str  # a column name: "explained_variance"
    title: str  # how tables and figures label it: "explained variance"
    path: tuple[str, ...]  # where it sits in the result's eval_result_metrics
    higher_is_better: bool | None  # None where neither direction is better (L0, counts)

    def value(self, result: dict[str, Any]) -> Any:
        """The metric's value in a result, or None if the result does not carry it."""
        data: Any = result.get("eval_result_metrics", {})
        for key in self.path:
            data = data.get(key) if isinstance(data, dict) else None
        return None if isinstance(data, dict) else data


@dataclass
class EvalContext:
    """Everything an eval may use: the model, the activation cache and the text data."""

    model: ModelAdapter
    cache: ActivationCache
    dataset_spec: str | None = None  # --dataset: None for the built-in offline corpus
    text_column: str = "text"
    seed: int = 42
    progress: Any = None  # a rich Progress, or None for silence
    # Things an eval wants the user to know about an SAE beyond its result (or instead of one).
    notes: list[tuple[str, str]] = field(default_factory=list)
    _dataset: TextDataset | None = field(default=None, repr=False)
    _contexts: dict[tuple, ContextSet] = field(default_factory=dict, repr=False)

    @property
    def offline(self) -> bool:
        return self.dataset_spec is None or self.dataset_spec in OFFLINE_ALIASES

    def text_dataset(self) -> TextDataset:
        if self._dataset is None:
            self._dataset = load_text_dataset(self.dataset_spec, self.text_column, self.seed)
        return self._dataset

    def note(self, sae: LoadedSAE, message: str) -> None:
        self.notes.append((sae.sae_id, message))

    def contexts(
        self, context_size: int, min_contexts: int, prepend_bos: bool = True
    ) -> ContextSet:
        bos = self.model.bos_token_id if prepend_bos else None
        key = (context_size, bos)
        cached = self._contexts.get(key)
        if cached is None or (len(cached) < min_contexts and not cached.exhausted):
            cached = load_contexts(
                self.model.tokenizer,
                bos,
                self.text_dataset(),
                context_size,
                min_contexts,
                self.progress,
            )
            self._contexts[key] = cached
        return cached


class Eval(Protocol):
    """The protocol of an eval. A minimal user eval:

        class MyEval:
            name = "my_eval"                  # what users type: --evals my_eval
            eval_type_id = "my_eval"          # the results folder and the result's eval_type_id
            config_class = MyEvalConfig       # an EvalConfig subclass, fields with descriptions
            headline_metrics = (HeadlineMetric("score", "score", ("group", "score"), True),)

            def default_config(self, context): return MyEvalConfig(...)
            def run(self, context, saes, config):
                for loaded in saes:
                    yield loaded, build_result("my_eval", config.model_dump(), metrics, [], loaded)

    `saeeval.evals.envelope.build_result` wraps metrics in SAEBench's result envelope.
    """

    name: ClassVar[str]  # the name users type: `--evals core`
    eval_type_id: ClassVar[str]  # SAEBench's id, also the output folder name
    config_class: ClassVar[type[EvalConfig]]
    headline_metrics: ClassVar[tuple[HeadlineMetric, ...]]  # what tables and summaries show

    def default_config(self, context: EvalContext) -> EvalConfig:
        """SAEBench's defaults, scaled down (and saying so) on the offline default."""
        ...

    def run(
        self, context: EvalContext, saes: list[LoadedSAE], config: EvalConfig
    ) -> Iterator[tuple[LoadedSAE, dict[str, Any]]]:
        """Yield (sae, result) for each SAE, each result in SAEBench's output schema."""
        ...
