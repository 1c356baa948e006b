"""SCR (spurious correlation removal) and TPP (targeted probe perturbation).

Both train probes on the model's mean-pooled activations, rank the SAE's latents by how much they
carry a probe's class (mean latent difference times the probe's reading of the latent's decoder
row), zero-ablate the top n latents inside the SAE reconstruction (keeping the SAE's error) and
measure the probes again:

- SCR: a probe trained where profession and gender (or category and rating) always coincide picks
  up both; ablating the latents of the spurious attribute should restore its accuracy on the
  other one. The score is the fraction of the gap to an unbiased probe that ablation closes.
- TPP: ablating one class's latents should hurt that class's probe and leave the others alone.

Model activations, probes and clean accuracies are computed once per (model, hook, texts) and
cached. An SAE then costs one encoder pass over the cached activations: ablation is computed from
per-text latent sums (see `ablation.ablated_pooled`), not by re-running the SAE per ablation.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import Any, ClassVar

import torch
from pydantic import Field, field_validator

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
from saeeval.evals.probing.ablation import (
    ablated_pooled,
    average_over,
    class_effects,
    decoder_matrix,
    probe_test_accuracies,
    scr_scores,
    select_top_n,
    tpp_scores,
)
from saeeval.evals.probing.datasets import ProbingData, load_probing_data
from saeeval.evals.probing.probes import Probe, train_probes
from saeeval.evals.probing.sae_statistics import sae_statistics_of_texts
from saeeval.saes import LoadedSAE

SCHEMA_N_VALUES = (2, 5, 10, 20, 50, 100, 500)  # the n's SAEBench's output schemas have fields for
# Bump when the model-side probe code changes what it computes: cached probes are then retrained.
MODEL_SIDE_VERSION = 1
SCR_CLASSES = ["male / female", "professor / nurse", "male_professor / female_nurse"]


def _default_pairs() -> dict[str, list[tuple[str, str]]]:
    return {
        "LabHC/bias_in_bios_class_set1": [
            ("professor", "nurse"),
            ("architect", "journalist"),
            ("surgeon", "psychologist"),
            ("attorney", "teacher"),
        ],
        "canrager/amazon_reviews_mcauley_1and5": [
            ("Books", "CDs_and_Vinyl"),
            ("Software", "Electronics"),
            ("Pet_Supplies", "Office_Products"),
            ("Industrial_and_Scientific", "Toys_and_Games"),
        ],
    }


class ScrAndTppEvalConfig(EvalConfig):
    """SAEBench's `ScrAndTppEvalConfig` (same fields, same defaults) plus saeeval's additions."""

    random_seed: int = Field(42, description="seed of the text sampling and probe training")
    dataset_names: list[str] = Field(
        default_factory=lambda: [
            "LabHC/bias_in_bios_class_set1",
            "canrager/amazon_reviews_mcauley_1and5",
        ],
        description="classification datasets to use (SAEBench names)",
    )
    perform_scr: bool = Field(True, description="True for SCR, False for TPP (set by the eval)")
    early_stopping_patience: int = Field(
        20, gt=0, description="epochs without improvement before probe training stops"
    )
    train_set_size: int = Field(4000, gt=0, description="texts per dataset for training probes")
    test_set_size: int = Field(1000, gt=0, description="texts per dataset for testing probes")
    context_length: int = Field(
        128, gt=1, description="tokens per text, BOS included (longer texts are truncated)"
    )
    probe_train_batch_size: int = Field(16, gt=0, description="batch size for probe training")
    probe_test_batch_size: int = Field(
        500, gt=0, description="batch size for probe testing (at most 500, as SAEBench)"
    )
    probe_epochs: int = Field(20, gt=0, description="maximum epochs of probe training")
    probe_lr: float = Field(1e-3, gt=0, description="learning rate of probe training")
    probe_l1_penalty: float = Field(1e-3, ge=0, description="L1 penalty on the probe weights")
    sae_batch_size: int = Field(125, gt=0, description="texts per SAE encoding batch")
    llm_batch_size: int = Field(32, gt=0, description="texts per model batch")
    llm_dtype: str = Field(
        "", description="the model's dtype during the eval (filled in from --dtype)"
    )
    lower_vram_usage: bool = Field(
        False, description="SAEBench's memory switch (kept for compatibility)"
    )
    model_name: str = Field(
        "", description="the model the SAE is evaluated on (filled in from the loaded model)"
    )
    n_values: list[int] = Field(
        default_factory=lambda: list(SCHEMA_N_VALUES),
        description="numbers of ablated latents at which the metric is reported",
    )
    column1_vals_lookup: dict[str, list[tuple[str, str]]] = Field(
        default_factory=_default_pairs,
        description="per dataset, the class pairs whose spurious correlation is removed",
    )
    # saeeval's additions (see the sparse probing config).
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
    ablate_padding_positions: bool = Field(
        True,
        description=(
            "ablate at the zeroed padding and BOS positions too, as SAEBench does (its published "
            "numbers); false leaves them alone, so the latents an SAE fires on the zero vector "
            "do not shift every text's pooled activation (not SAEBench's metric)"
        ),
    )

    @field_validator("probe_test_batch_size")
    @classmethod
    def _cap_test_batch(cls, value: int) -> int:
        return min(value, 500)  # SAEBench caps it at 500


# SAEBench's runner used the config class's defaults. Offline uses a quarter of its train set and
# half its test set: at a twentieth (200 / 100) one test text moved SCR by about 0.03, and neither
# SCR nor TPP told a trained SAE from random directions by more than that noise
# (benchmarks/offline_discrimination.py measures it).
PRESETS: dict[str, dict[str, Any]] = {
    "saebench": {},
    "offline": {"train_set_size": 1000, "test_set_size": 500},
}


class _ScrTppEval:
    name: ClassVar[str]
    eval_type_id: ClassVar[str]
    version: ClassVar[int] = 1  # SCR and TPP share their code: bump when either's numbers change
    config_class: ClassVar[type[EvalConfig]] = ScrAndTppEvalConfig
    scr: ClassVar[bool]

    presets: ClassVar[dict[str, dict[str, Any]]] = PRESETS

    def default_config(self, context: EvalContext | ConfigContext) -> ScrAndTppEvalConfig:
        return preset_config(
            ScrAndTppEvalConfig,
            PRESETS,
            context,
            perform_scr=self.scr,
            dataset_source="offline" if context.offline else "hub",
        )

    def run(
        self, context: EvalContext, saes: list[LoadedSAE], config: ScrAndTppEvalConfig
    ) -> Iterator[tuple[LoadedSAE, dict[str, Any]]]:
        if config.perform_scr != self.scr:
            config = config.model_copy(update={"perform_scr": self.scr})
        config = config.model_copy(
            update={
                "dataset_names": [selection_name(n) for n in config.dataset_names],
                "column1_vals_lookup": {
                    selection_name(k): v for k, v in config.column1_vals_lookup.items()
                },
            }
        )
        groups: dict[str, list[LoadedSAE]] = defaultdict(list)
        for loaded in saes:
            groups[loaded.sae.hook_name].append(loaded)
        for hook, group in groups.items():
            for loaded in group:
                runs = self._runs(context, hook, config)
                yield loaded, self._evaluate(context, loaded, runs, config)

    def _runs(self, context, hook, config) -> Iterator[tuple[ProbingData, list[str], Any]]:
        """(texts and activations, classes, model-side probes and accuracies) per dataset, one at
        a time: only one dataset's activations are in memory. The first SAE computes the model
        side; later SAEs read it and the activations back from the cache."""
        for data in self._datasets(context, hook, config):
            classes = SCR_CLASSES if self.scr else list(data.texts.train)
            yield data, classes, self._model_side(context, hook, data, classes, config)

    def _datasets(self, context, hook, config) -> Iterator[ProbingData]:
        for name in config.dataset_names:
            if not self.scr:
                yield load_probing_data(context, hook, name, config)
                continue
            for pair in config.column1_vals_lookup.get(name, []):
                yield load_probing_data(context, hook, name, config, spurious_pair=tuple(pair))

    # -- the model side: probes and clean accuracies, once per (model, hook, texts) ------------

    def _model_side(self, context, hook, data: ProbingData, classes, config):
        recipe = config.model_dump(
            include={
                "random_seed",
                "probe_train_batch_size",
                "probe_test_batch_size",
                "probe_epochs",
                "probe_lr",
                "probe_l1_penalty",
                "early_stopping_patience",
            }
        )
        entry = context.cache.entry(
            f"{self.eval_type_id}-probes",
            {
                "model": context.model.cache_identity,
                "hook": hook,
                "data": data.fingerprint,
                "context_length": config.context_length,
                "code": MODEL_SIDE_VERSION,
                **recipe,
            },
        )
        keys = list(data.texts.train)
        if entry.complete:
            stored = entry.load_chunk(0)
            probes = {}
            for i, key in enumerate(keys):
                probe = Probe(stored[f"weight_{i}"].shape[1], torch.Generator())
                probe.load_state_dict(
                    {"net.weight": stored[f"weight_{i}"], "net.bias": stored[f"bias_{i}"]}
                )
                probes[key] = probe.to(context.model.device)
            return probes, entry.meta["clean"]
        generator = data.generator(config.random_seed, 0)
        train, test = data.pooled_model_activations(context.model.device)
        probes, _ = train_probes(
            train,
            test,
            generator=generator,
            use_sklearn=False,
            batch_size=config.probe_train_batch_size,
            epochs=config.probe_epochs,
            lr=config.probe_lr,
            patience=config.early_stopping_patience,
            paired=self.scr,
            l1_penalty=config.probe_l1_penalty,
        )
        with torch.no_grad():
            clean = probe_test_accuracies(
                probes, classes, test, config.probe_test_batch_size, generator, self.scr
            )
        tensors = {}
        for i, key in enumerate(keys):
            tensors[f"weight_{i}"] = probes[key].net.weight.detach().cpu()
            tensors[f"bias_{i}"] = probes[key].net.bias.detach().cpu()
        entry.save_chunk(0, tensors)
        entry.mark_complete({"clean": clean, "classes": keys})
        return probes, clean

    # -- the SAE side -------------------------------------------------------------------------

    def _evaluate(self, context, loaded: LoadedSAE, runs, config) -> dict[str, Any]:
        sae = loaded.sae
        n_values = [n for n in config.n_values if n <= sae.d_sae]
        if len(n_values) < len(config.n_values):
            context.note(
                loaded,
                f"{self.name}: n values above the SAE's {sae.d_sae} latents left out "
                f"({', '.join(str(n) for n in config.n_values if n > sae.d_sae)})",
            )
        per_run, unstructured, degenerate, per_class = {}, {}, [], {}
        for data, classes, (probes, clean) in runs:
            any_effect, accuracies = self._ablated_accuracies(
                sae, data, classes, probes, n_values, config
            )
            if not any_effect:
                degenerate.append(f"{data.name}: no latent has a non-zero effect on any probe")
            elif all(acc == clean for per_n in accuracies.values() for acc in per_n.values()):
                degenerate.append(f"{data.name}: no ablation changed any probe accuracy")
            if self.scr:
                per_run[data.name] = scr_scores(accuracies, clean)
                # The model-side probes' own accuracies: is each attribute decodable at all?
                unstructured[data.name] = {"clean_probe_accuracies": dict(clean)}
            else:
                per_run[data.name], per_class[data.name] = tpp_scores(accuracies, clean)
                unstructured[data.texts.name] = per_class[data.name]
        for message in degenerate:
            context.note(loaded, f"{self.name} result is degenerate: {message}")
        units = self._units(per_run, per_class, config.dataset_source)
        return self._result(loaded, per_run, unstructured, units, config)

    def _ablated_accuracies(
        self, sae, data: ProbingData, classes, probes, n_values, config
    ) -> tuple[bool, dict[str, dict[int, dict[str, float]]]]:
        """Whether any latent has a non-zero effect on any probe, and the probes' accuracies with
        each class's top-n latents ablated: accuracies[ablated class][n][measured key]. The
        [n_texts, d_sae] statistics live only while this runs."""
        stats = sae_statistics_of_texts(sae, data.activations)  # on the SAE's device
        probes = {key: probe.to(sae.device) for key, probe in probes.items()}
        generator = data.generator(config.random_seed, 1)
        with torch.no_grad():
            effects = class_effects(
                stats, data.train_rows, probes, classes, sae.W_dec.detach(), generator, self.scr
            )
            decoder = decoder_matrix(sae).detach()
            # What ablating a set of latents subtracts from each text's summed activations.
            if config.ablate_padding_positions:
                ablated_sums = stats.all_sum_columns  # SAEBench's: padding positions too
            else:
                ablated_sums = stats.valid_sum_columns
            test = {
                key: (rows, stats.act_sum[rows], stats.count[rows])
                for key, rows in data.test_rows.items()
            }
            accuracies: dict[str, dict[int, dict[str, float]]] = {}
            for ablated in classes:
                accuracies[ablated] = {}
                for n in n_values:
                    mask = select_top_n(effects[ablated], n)
                    sums, rows_of_decoder = ablated_sums(mask), decoder[mask]
                    pooled = {
                        key: ablated_pooled(act_sum, count, sums[rows], rows_of_decoder)
                        for key, (rows, act_sum, count) in test.items()
                    }
                    accuracies[ablated][n] = probe_test_accuracies(
                        probes, classes, pooled, config.probe_test_batch_size, generator, self.scr
                    )
        return any(effects[c].any() for c in classes), accuracies

    def _units(self, per_run, per_class, source) -> dict[str, uncertainty.UnitValues]:
        """SCR averages over class pairs (one run each); TPP over datasets of a mean over their
        classes, so its unit is one ablated class, weighted 1 / (its dataset's classes)."""
        units = {}
        for metric in self.headline_metrics:
            name = metric.path[-1]
            if self.scr:
                runs = {k: v[name] for k, v in per_run.items() if name in v}
                ids = [result_name(k, source) for k in runs]
                columns = {"value": list(runs.values())}
                units[metric.key] = uncertainty.UnitValues("class pair", ids, columns, "mean")
                continue
            groups = {
                result_name(run, source): {label: v[name] for label, v in classes.items()}
                for run, classes in per_class.items()
            }
            units[metric.key] = uncertainty.mean_of_group_means("ablated class", groups)
        return {k: v for k, v in units.items() if v.ids}

    def _result(self, loaded, per_run, unstructured, units, config) -> dict[str, Any]:
        keys = self._metric_keys()
        overall = average_over(per_run.values())
        metrics = {key: overall.get(key) for key in keys}
        source = config.dataset_source
        details = []
        for name, run_metrics in per_run.items():
            suffix = "_results" if self.scr else "_tpp_results"
            details.append(
                {
                    "dataset_name": f"{result_name(name, source)}{suffix}",
                    **{k: run_metrics.get(k) for k in keys},
                }
            )
        written = config.model_dump(mode="json")
        written["dataset_names"] = [result_name(n, source) for n in config.dataset_names]
        written["column1_vals_lookup"] = {
            result_name(k, source): v for k, v in written["column1_vals_lookup"].items()
        }
        unstructured = {result_name(k, source): v for k, v in unstructured.items()}
        unstructured[uncertainty.KEY] = uncertainty.record(units)
        return build_result(
            self.eval_type_id,
            written,
            {f"{self.eval_type_id}_metrics": metrics},
            details,
            loaded,
            unstructured,
        )

    def _metric_keys(self) -> list[str]:
        if self.scr:
            return [
                f"scr_{kind}_threshold_{n}"
                for n in SCHEMA_N_VALUES
                for kind in ("dir1", "metric", "dir2")
            ]
        return [
            f"tpp_threshold_{n}_{kind}"
            for n in SCHEMA_N_VALUES
            for kind in ("total_metric", "intended_diff_only", "unintended_diff_only")
        ]


class ScrEval(_ScrTppEval):
    """SCR: does ablating an attribute's latents undo a probe's spurious correlation?"""

    name = "scr"
    eval_type_id = "scr"
    scr = True
    headline_metrics = (
        HeadlineMetric("scr_10", "SCR n=10", ("scr_metrics", "scr_metric_threshold_10"), True),
        HeadlineMetric("scr_20", "SCR n=20", ("scr_metrics", "scr_metric_threshold_20"), True),
    )


class TppEval(_ScrTppEval):
    """TPP: does ablating a class's latents hurt only that class's probe?"""

    name = "tpp"
    eval_type_id = "tpp"
    scr = False
    headline_metrics = (
        HeadlineMetric(
            "tpp_10", "TPP n=10", ("tpp_metrics", "tpp_threshold_10_total_metric"), True
        ),
        HeadlineMetric(
            "tpp_20", "TPP n=20", ("tpp_metrics", "tpp_threshold_20_total_metric"), True
        ),
    )


__all__ = ["ScrAndTppEvalConfig", "ScrEval", "TppEval"]
