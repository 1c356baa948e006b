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
from typing import Any, ClassVar, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict

from saeeval.activations import ActivationCache
from saeeval.data import ContextSet, TextDataset, load_contexts, load_text_dataset
from saeeval.data.text_datasets import OFFLINE_ALIASES
from saeeval.errors import SaeevalError
from saeeval.models import ModelAdapter
from saeeval.saes import LoadedSAE

# Every number is produced under a named size preset:
#   saebench  the settings behind SAEBench's published results (the default on hub data)
#   offline   small sizes for a CPU (the default on the built-in data)
SIZE_PRESETS = ("saebench", "offline")


def resolve_preset(requested: str | None, offline: bool) -> str:
    """The size preset in force: the one asked for, else the default for the data source."""
    if requested is None:
        return "offline" if offline else "saebench"
    if requested not in SIZE_PRESETS:
        raise SaeevalError(f"--preset {requested!r}: expected one of {', '.join(SIZE_PRESETS)}")
    return requested


class EvalConfig(BaseModel):
    """Base of every eval config: unknown keys are errors, values are checked on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


EvalConfigT = TypeVar("EvalConfigT", bound=EvalConfig)


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

    def number(self, result: dict[str, Any]) -> float | None:
        """The metric's value as a float, or None where the result holds no number there."""
        value = self.value(result)
        is_number = isinstance(value, int | float) and not isinstance(value, bool)
        return float(value) if is_number else None


class _DataChoice:
    """What both contexts know before any work: the data source and the size preset."""

    dataset_spec: str | None
    preset: str | None

    @property
    def offline(self) -> bool:
        """True on the built-in offline data (the default), False on hub or local data."""
        return self.dataset_spec is None or self.dataset_spec in OFFLINE_ALIASES

    @property
    def size_preset(self) -> str:
        return resolve_preset(self.preset, self.offline)


def preset_config(
    config_class: type[EvalConfigT],
    presets: dict[str, dict[str, Any]],
    context: EvalContext | ConfigContext,
    **fields: Any,
) -> EvalConfigT:
    """`config_class` under the context's size preset, for the context's model and dtype."""
    preset = context.size_preset
    return config_class(
        model_name=context.model.name,
        llm_dtype=context.model.dtype_name,
        size_preset=preset,
        **fields,
        **presets[preset],
    )


@dataclass(frozen=True)
class ModelInfo:
    """What an eval's defaults read of a model; known before the model loads."""

    name: str
    dtype_name: str


@dataclass
class ConfigContext(_DataChoice):
    """Enough to build an eval's default config without loading anything (`saeeval config`)."""

    model: ModelInfo
    dataset_spec: str | None = None
    preset: str | None = None


@dataclass
class EvalContext(_DataChoice):
    """Everything an eval may use: the model, the activation cache and the text data."""

    model: ModelAdapter
    cache: ActivationCache
    dataset_spec: str | None = None  # --dataset: None for the built-in offline corpus
    preset: str | None = None  # --preset: None for the data source's default
    text_column: str = "text"
    seed: int = 42
    progress: Any = None  # a rich Progress, or None for silence
    # Things an eval wants the user to know about an SAE beyond its result (or instead of one).
    notes: list[tuple[str, str]] = field(default_factory=list)
    _dataset: TextDataset | None = field(default=None, repr=False)
    _contexts: dict[tuple, ContextSet] = field(default_factory=dict, repr=False)

    def text_dataset(self) -> TextDataset:
        if self._dataset is None:
            self._dataset = load_text_dataset(self.dataset_spec, self.text_column, self.seed)
        return self._dataset

    def note(self, sae: LoadedSAE, message: str) -> None:
        self.notes.append((sae.sae_id, message))

    def contexts(
        self, context_size: int, min_contexts: int, prepend_bos: bool = True, part: str = "eval"
    ) -> ContextSet:
        """Contexts of the text dataset. Evals read the "eval" part, the documents held out from
        training (`saeeval.data.contexts.document_part`); training asks for "train"."""
        bos = self.model.bos_token_id if prepend_bos else None
        key = (context_size, bos, part)
        cached = self._contexts.get(key)
        if cached is None or (len(cached) < min_contexts and not cached.exhausted):
            cached = load_contexts(
                self.model.tokenizer,
                bos,
                self.text_dataset(),
                context_size,
                min_contexts,
                self.progress,
                part=part,
            )
            self._contexts[key] = cached
        return cached


def eval_version(eval_: Any) -> int:
    """An eval's `version` (0 for a user eval that declares none)."""
    value = getattr(eval_, "version", 0)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise SaeevalError(
            f"eval {getattr(eval_, 'name', type(eval_).__name__)!r}: version must be a "
            f"non-negative integer, not {value!r}"
        )
    return value


class Eval(Protocol):
    """The protocol of an eval. A minimal user eval:

        class MyEval:
            name = "my_eval"                  # what users type: --evals my_eval
            eval_type_id = "my_eval"          # the results folder and the result's eval_type_id
            config_class = MyEvalConfig       # an EvalConfig subclass, fields with descriptions
            headline_metrics = (HeadlineMetric("score", "score", ("group", "score"), True),)
            version = 1                       # bump it when a change alters the numbers

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
    # Bumped whenever a change makes the eval's numbers differ; a rerun recomputes results of an
    # older version. A user eval without one counts as version 0.
    version: ClassVar[int]

    def default_config(self, context: EvalContext | ConfigContext) -> EvalConfig:
        """The config under `context.size_preset`, which the config records as `size_preset`.

        Reads only `context.model.name`, `context.model.dtype_name`, `context.offline` and
        `context.size_preset`, so that `saeeval config` can show it before anything loads."""
        ...

    def run(
        self, context: EvalContext, saes: list[LoadedSAE], config: EvalConfig
    ) -> Iterator[tuple[LoadedSAE, dict[str, Any]]]:
        """Yield (sae, result) for each SAE, each result in SAEBench's output schema."""
        ...
