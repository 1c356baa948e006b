"""Sparse probing: how well do a few SAE latents classify texts, next to the model's own channels?

SAEBench's procedure per dataset: mean-pool the activations of each text, train one-vs-rest
probes per class on all model channels (a torch probe) and on the top-k channels by class mean
difference (logistic regression), then the same on the SAE's mean-pooled latents. Model
activations and every model-side probe are computed once per (model, hook, dataset) and cached;
each SAE costs one encoder pass over the cached activations and its own probes. Only one
dataset's activations and one [n_texts, d_sae] copy of its pooled latents are held at a time, and
past the working-set budget (wide SAEs) only that copy's non-zero entries (`sparse_rows`): the
top-k probes then read their k columns and the full-width probe sparse batches.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterator
from typing import Any, ClassVar

import torch
from pydantic import Field

from saeeval import uncertainty
from saeeval.data.dataset_names import result_name, selection_name
from saeeval.evals.base import (
    ConfigContext,
    EvalConfig,
    EvalContext,
    HeadlineMetric,
    preset_config,
)
from saeeval.evals.envelope import build_result
from saeeval.evals.probing.datasets import ProbingData, load_probing_data
from saeeval.evals.probing.probes import train_probes
from saeeval.evals.probing.sae_statistics import pooled_latents_of_texts
from saeeval.evals.probing.sparse_rows import SparseClasses, SparseRows
from saeeval.saes import LoadedSAE

EVAL_TYPE_ID = "sparse_probing"
SCHEMA_K_VALUES = (1, 2, 5, 10, 20, 50, 100)  # the k's SAEBench's output schema has fields for
# SAEBench's torch probe on all channels: mini-batches of 250, 100 epochs, lr 1e-2, patience 10.
FULL_PROBE = {"batch_size": 250, "epochs": 100, "lr": 1e-2, "patience": 10}

# Bump when the model-side probe code changes what it computes: cached results are then recomputed.
MODEL_SIDE_VERSION = 1

SAEBENCH_DATASETS = [
    "LabHC/bias_in_bios_class_set1",
    "LabHC/bias_in_bios_class_set2",
    "LabHC/bias_in_bios_class_set3",
    "canrager/amazon_reviews_mcauley_1and5",
    "canrager/amazon_reviews_mcauley_1and5_sentiment",
    "codeparrot/github-code",
    "fancyzhx/ag_news",
    "Helsinki-NLP/europarl",
]


class SparseProbingEvalConfig(EvalConfig):
    """SAEBench's `SparseProbingEvalConfig` (same fields and defaults) plus saeeval's additions."""

    random_seed: int = Field(42, description="seed of the text sampling and probe training")
    dataset_names: list[str] = Field(
        default_factory=lambda: list(SAEBENCH_DATASETS),
        description="classification datasets to probe (SAEBench names)",
    )
    probe_train_set_size: int = Field(
        4000, gt=0, description="texts per dataset for training probes"
    )
    probe_test_set_size: int = Field(1000, gt=0, description="texts per dataset for testing probes")
    context_length: int = Field(
        128, gt=1, description="tokens per text, BOS included (longer texts are truncated)"
    )
    sae_batch_size: int = Field(125, gt=0, description="texts per SAE encoding batch")
    llm_batch_size: int | None = Field(None, gt=0, description="texts per model batch")
    llm_dtype: str = Field(
        "", description="the model's dtype during the eval (filled in from --dtype)"
    )
    model_name: str = Field(
        "", description="the model the SAE is evaluated on (filled in from the loaded model)"
    )
    k_values: list[int] = Field(
        default_factory=lambda: [1, 2, 5],
        description="numbers of top latents each sparse probe may use",
    )
    lower_vram_usage: bool = Field(
        False, description="SAEBench's memory switch: skip the probe on all latents"
    )
    # saeeval's additions: where the texts come from ("offline": the built-in datasets, "hub",
    # or a local folder) and which size preset filled the sizes.
    dataset_source: str = Field(
        "offline",
        description="where the texts come from: 'offline' (built-in), 'hub', or a local folder",
    )
    size_preset: str = Field(
        "none",
        description=(
            "the size preset behind these settings: saebench (SAEBench's published results), "
            "offline (small CPU sizes) or none (this class's own defaults)"
        ),
    )


# SAEBench's runner used the config class's defaults (4,000 / 1,000 texts). Offline probes a tenth
# of its train set and a fifth of its test set: at 200 / 100 one test text moved a class's
# accuracy by 0.01 and the top-1 difference between the demo's SAE and random directions was
# +0.037 [-0.006, 0.081]; at 400 / 200 it is +0.063 [0.011, 0.113]
# (benchmarks/offline_discrimination.py). Model activations for the texts dominate the cost.
PRESETS: dict[str, dict[str, Any]] = {
    "saebench": {},
    "offline": {"probe_train_set_size": 400, "probe_test_set_size": 200},
}


def _mean(values) -> float:
    return statistics.mean(float(v) for v in values)


class SparseProbingEval:
    name: ClassVar[str] = "sparse_probing"
    eval_type_id: ClassVar[str] = EVAL_TYPE_ID
    version: ClassVar[int] = 1  # bump when a change alters the numbers
    config_class: ClassVar[type[EvalConfig]] = SparseProbingEvalConfig
    headline_metrics: ClassVar[tuple[HeadlineMetric, ...]] = (
        HeadlineMetric("llm_test_accuracy", "LLM accuracy", ("llm", "llm_test_accuracy"), True),
        HeadlineMetric("llm_top_1", "LLM top-1", ("llm", "llm_top_1_test_accuracy"), True),
        HeadlineMetric("sae_test_accuracy", "SAE accuracy", ("sae", "sae_test_accuracy"), True),
        HeadlineMetric("sae_top_1", "SAE top-1", ("sae", "sae_top_1_test_accuracy"), True),
        HeadlineMetric("sae_top_5", "SAE top-5", ("sae", "sae_top_5_test_accuracy"), True),
    )

    presets: ClassVar[dict[str, dict[str, Any]]] = PRESETS

    def default_config(self, context: EvalContext | ConfigContext) -> SparseProbingEvalConfig:
        return preset_config(
            SparseProbingEvalConfig,
            PRESETS,
            context,
            llm_batch_size=32,
            dataset_source="offline" if context.offline else "hub",
        )

    def run(
        self, context: EvalContext, saes: list[LoadedSAE], config: SparseProbingEvalConfig
    ) -> Iterator[tuple[LoadedSAE, dict[str, Any]]]:
        config = config.model_copy(
            update={"dataset_names": [selection_name(n) for n in config.dataset_names]}
        )
        groups: dict[str, list[LoadedSAE]] = defaultdict(list)
        for loaded in saes:
            groups[loaded.sae.hook_name].append(loaded)
        for hook, group in groups.items():
            for loaded in group:
                # One dataset's activations in memory at a time: the first SAE computes the
                # model side, later SAEs read it and the activations back from the cache.
                per_dataset = {}
                for name in config.dataset_names:
                    data = load_probing_data(context, hook, name, config)
                    llm = self._model_results(context, hook, data, config)
                    per_dataset[data.name] = {**self._sae_results(loaded, data, config), **llm}
                    del data
                _flag_chance(context, loaded, per_dataset)
                yield loaded, self._result(loaded, per_dataset, config)

    # -- the model side, once per (model, hook, dataset) --------------------------------------

    def _model_results(
        self, context: EvalContext, hook: str, data: ProbingData, config: SparseProbingEvalConfig
    ) -> dict[str, dict[str, float]]:
        entry = context.cache.entry(
            "sparse-probing-llm",
            {
                "model": context.model.cache_identity,
                "hook": hook,
                "data": data.fingerprint,
                "context_length": config.context_length,
                "k_values": config.k_values,
                "seed": config.random_seed,
                "recipe": FULL_PROBE,
                "code": MODEL_SIDE_VERSION,
            },
        )
        if entry.complete:
            return entry.meta["results"]
        train, test = data.pooled_model_activations(context.model.device)
        results = _probe_results("llm", train, test, config, data.generator(config.random_seed, 0))
        entry.mark_complete({"results": results})
        return results

    # -- the SAE side ---------------------------------------------------------------------------

    def _sae_results(
        self, loaded: LoadedSAE, data: ProbingData, config: SparseProbingEvalConfig
    ) -> dict[str, dict[str, float]]:
        pooled = pooled_latents_of_texts(loaded.sae, data.activations)
        if isinstance(pooled, SparseRows):  # wider than the budget: the rows stay sparse
            train = SparseClasses(pooled, data.train_rows)
            test = SparseClasses(pooled, data.test_rows)
        else:
            train, test = data.split_by_class(pooled)
        del pooled
        generator = data.generator(config.random_seed, 1)
        if config.lower_vram_usage:  # SAEBench skips the full-width SAE probe then
            results = {"sae_test_accuracy": {"-1": -1.0}}
            return results | _probe_results("sae", train, test, config, generator, full=False)
        return _probe_results("sae", train, test, config, generator)

    def _result(
        self,
        loaded: LoadedSAE,
        per_dataset: dict[str, dict[str, dict[str, float]]],
        config: SparseProbingEvalConfig,
    ) -> dict[str, Any]:
        means = {
            name: {metric: _mean(per_class.values()) for metric, per_class in results.items()}
            for name, results in per_dataset.items()
        }
        keys = ["test_accuracy"] + [f"top_{k}_test_accuracy" for k in SCHEMA_K_VALUES]

        def averaged(side: str) -> dict[str, float | None]:
            out = {}
            for key in keys:
                values = [m[f"{side}_{key}"] for m in means.values() if f"{side}_{key}" in m]
                out[f"{side}_{key}"] = _mean(values) if values else None
            return out

        source = config.dataset_source
        details = []
        for name, mean in means.items():
            row: dict[str, Any] = {"dataset_name": f"{result_name(name, source)}_results"}
            for side in ("llm", "sae"):
                for key in keys:
                    row[f"{side}_{key}"] = mean.get(f"{side}_{key}")
            details.append(row)
        unstructured: dict[str, Any] = {
            f"{result_name(name, source)}_results": results for name, results in per_dataset.items()
        }
        unstructured[uncertainty.KEY] = uncertainty.record(self._class_units(per_dataset, source))
        written = config.model_dump()
        written["dataset_names"] = [result_name(n, source) for n in config.dataset_names]
        return build_result(
            EVAL_TYPE_ID,
            written,
            {"llm": averaged("llm"), "sae": averaged("sae")},
            details,
            loaded,
            unstructured,
        )

    def _class_units(self, per_dataset, source) -> dict[str, uncertainty.UnitValues]:
        """Each headline accuracy is a mean over datasets of a mean over their classes: the unit
        is one class's probe."""
        units = {}
        for metric in self.headline_metrics:
            name = metric.path[-1]
            groups = {
                result_name(dataset, source): results[name]
                for dataset, results in per_dataset.items()
                # lower_vram_usage writes a -1 placeholder for the full-width probe
                if name in results and not any(v < 0 for v in results[name].values())
            }
            if groups:
                units[metric.key] = uncertainty.mean_of_group_means("class probe", groups)
        return units


# Every one-vs-rest probe set is balanced, so chance is 0.5; a little above it is still chance.
CHANCE_ACCURACY = 0.55


def _flag_chance(context: EvalContext, loaded: LoadedSAE, per_dataset) -> None:
    """The silent failure seen in practice: an SAE whose probes sit at chance everywhere."""
    sae_accuracies = [
        accuracy
        for results in per_dataset.values()
        for metric, per_class in results.items()
        if metric.startswith("sae_top_")
        for accuracy in per_class.values()
    ]
    if sae_accuracies and max(sae_accuracies) <= CHANCE_ACCURACY:
        context.note(
            loaded,
            f"sparse probing: every top-k probe on this SAE's latents is at chance (at most "
            f"{max(sae_accuracies):.2f} on every dataset and k); its latents may be dead, or it "
            f"may not read {loaded.sae.hook_name} of this model",
        )


def _probe_results(
    side: str,
    train: dict[str, torch.Tensor],
    test: dict[str, torch.Tensor],
    config: SparseProbingEvalConfig,
    generator: torch.Generator,
    full: bool = True,
) -> dict[str, dict[str, float]]:
    """{metric: {class: test accuracy}}: the full-width torch probe, then top-k sklearn probes."""
    results = {}
    if full:
        _, accuracies = train_probes(
            train, test, generator=generator, use_sklearn=False, **FULL_PROBE
        )
        results[f"{side}_test_accuracy"] = accuracies
    for k in config.k_values:
        _, accuracies = train_probes(train, test, generator=generator, k=k, use_sklearn=True)
        results[f"{side}_top_{k}_test_accuracy"] = accuracies
    return results
