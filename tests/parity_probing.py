"""Whole-eval parity of sparse probing, SCR and TPP with SAEBench's own per-SAE entry points.

saeeval runs through `saeeval.runner.run`; the reference through
`sae_bench.evals.sparse_probing.main.run_eval_single_sae` and
`sae_bench.evals.scr_and_tpp.main.run_eval_single_sae`, on a TransformerLens twin of the same
weights, with the SAE as SAELens loads it. Only the reference's data source is replaced, so both
sides read the same built-in texts (see benchmarks/probing_vs_reference.py, which times this).

Two kinds of comparison:

- Aligned (one value a side, a tolerance). saeeval seeds one generator per (unit, side), a unit
  being a dataset (SCR: a class pair), side 0 the model-side probes, side 1 the SAE side
  (`ProbingData.generator`). The reference seeds the global RNG once per call with its config's
  `random_seed` and then draws, in the same order, for the model side of a unit it has not cached
  and for the SAE side. So per unit the reference is called twice on one artifacts folder: cold
  with `random_seed` = our side-0 seed (it computes and caches activations, model-side probes and
  clean accuracies from our model-side stream), then warm with our side-1 seed (it loads them and
  the SAE side draws our SAE-side stream). Every random draw then agrees; what is left is float32
  arithmetic: the twin computes the same activations in another order (at most 3.5e-6 relative
  per position, 1e-6 after pooling, measured at layers 3 and 6). The torch probes (full width;
  SCR's and TPP's probes) and the ablations carry that through as rounding, so these metrics must
  agree to `EXACT`: an accuracy counts test texts, and one text classified differently moves it
  by at least 1 / (probe-set size), thousands of times more.
- Per class probe (>= 2 values a side). Sparse probing's top-k probes are sklearn's L-BFGS on
  float32 inputs, which may stop early, far from the optimum, depending on input rounding (found
  on this model: see `LBFGS_WHY`). On the same aligned draws, each class's top-k accuracy is
  compared as a sample: the means over the class probes must agree within two pooled standard
  errors (the class probe is also the unit of saeeval's own intervals for these metrics).
- Seeds (>= 2 values a side). As each side runs by design, in one call over every unit: the
  reference's one global stream runs through its units in turn, ours restarts per unit. Both are
  run with `random_seed` = each seed, and the headline means must agree within two pooled
  standard errors.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import io
import pickle
import statistics
import warnings
from pathlib import Path
from unittest import mock

import torch
from parity import Comparison
from reference_models import hooked_transformer_twin, reference_sae

from saeeval.activations import ActivationCache
from saeeval.data.classification import load_class_texts, load_spurious_texts
from saeeval.data.dataset_names import result_name
from saeeval.evals import EvalContext, get_eval
from saeeval.evals.probing.datasets import ProbingData
from saeeval.runner import RunRequest, run

# Float32 rounding of equal counts and ratios; one test text is at least 1 / (probe-set size).
EXACT = 1e-6
SP_METRICS = ["llm_test_accuracy", "sae_test_accuracy"]
TPP_PARTS = ["total_metric", "intended_diff_only", "unintended_diff_only"]


@dataclasses.dataclass
class Setup:
    """One SAE on both sides, and where the runs keep their files."""

    model: object  # saeeval's ModelAdapter
    sae_folder: Path
    work_dir: Path

    @functools.cached_property
    def twin(self):
        return _twin(self.model)

    @functools.cached_property
    def reference_sae(self):
        return reference_sae(self.sae_folder).to(device="cpu", dtype=self.model.dtype)

    @functools.cached_property
    def cache(self) -> ActivationCache:
        # One cache for all our runs: activations depend on the texts only, probes on the seed.
        return ActivationCache(self.work_dir / "cache")


@functools.cache
def _twin(model):
    return hooked_transformer_twin(model.model, tokenizer=model.tokenizer)


def unit_seed(unit: str, seed: int, side: int) -> int:
    """The seed of saeeval's generator for one unit and side (0 model, 1 SAE)."""
    return ProbingData(unit, None, None, None, None).generator(seed, side).initial_seed()


# -- the two sides ---------------------------------------------------------------------------


def _config(setup: Setup, eval_name: str, fields: dict):
    """saeeval's offline config of the eval with `fields` set (what `saeeval run` would use)."""
    eval_ = get_eval(eval_name)
    context = EvalContext(model=setup.model, cache=setup.cache)
    default = eval_.default_config(context)
    return eval_.config_class(**{**default.model_dump(), **fields})


def ours(setup: Setup, eval_name: str, fields: dict, tag: str) -> dict:
    """saeeval's result JSON for the SAE, from one `saeeval.runner.run` call."""
    outcome = run(
        RunRequest(
            saes=[str(setup.sae_folder)],
            evals=[eval_name],
            out=setup.work_dir / f"ours-{eval_name}-{tag}",
            device="cpu",
            overrides={eval_name: fields},
        ),
        log=lambda message: None,
        model_loader=lambda *_: setup.model,
        cache=setup.cache,
    )
    if outcome.failed:
        raise AssertionError(f"saeeval {eval_name} failed: {outcome.failed}")
    (result,) = outcome.results
    return result


def _reference_config(eval_name: str, config, **fields):
    if eval_name == "sparse_probing":
        from sae_bench.evals.sparse_probing.eval_config import SparseProbingEvalConfig as Config
    else:
        from sae_bench.evals.scr_and_tpp.eval_config import ScrAndTppEvalConfig as Config
    values = {**config.model_dump(), **fields}
    return Config(**{f.name: values[f.name] for f in dataclasses.fields(Config)})


def _copied(split: dict[str, list[str]]) -> dict[str, list[str]]:
    return {key: list(texts) for key, texts in split.items()}


@contextlib.contextmanager
def _reference_reads_our_texts(text_seed: int, source: str):
    """The reference's two data sources return saeeval's texts for `text_seed`, whatever seed the
    reference passes (it passes its config's `random_seed`, which the aligned runs set to our
    generator seeds)."""
    import sae_bench.evals.scr_and_tpp.dataset_creation as dataset_creation
    import sae_bench.sae_bench_utils.dataset_utils as dataset_utils

    def multi_label(dataset_name, train_set_size, test_set_size, random_seed):
        texts = load_class_texts(
            dataset_name, train_set_size, test_set_size, seed=text_seed, source=source
        )
        return _copied(texts.train), _copied(texts.test)

    def train_test(
        dataset_name, spurious_corr, train_set_size, test_set_size, random_seed,
        column1_vals=None, column2_vals=None,
    ):  # fmt: skip
        if not spurious_corr:
            return multi_label(dataset_name, train_set_size, test_set_size, random_seed)
        texts = load_spurious_texts(
            dataset_name, tuple(column1_vals), tuple(column2_vals), train_size=train_set_size,
            test_size=test_set_size, seed=text_seed, source=source,
        )  # fmt: skip
        return _copied(texts.train), _copied(texts.test)

    with (
        mock.patch.object(dataset_utils, "get_multi_label_train_test_data", multi_label),
        mock.patch.object(dataset_creation, "get_train_test_data", train_test),
    ):
        yield


def reference(
    setup: Setup, eval_name: str, config, artifacts: Path, text_seed: int
) -> tuple[dict, dict]:
    """What SAEBench's per-SAE entry point returns for `config` (a reference config): its results
    and its per-class results."""
    if eval_name == "sparse_probing":
        import sae_bench.evals.sparse_probing.main as module
    else:
        import sae_bench.evals.scr_and_tpp.main as module
    try:
        with (
            _reference_reads_our_texts(text_seed, "offline"),
            contextlib.redirect_stdout(io.StringIO()),  # it prints as it goes
            warnings.catch_warnings(),
        ):
            # It passes penalty="l2", which sklearn 1.8+ deprecates, once per probe.
            warnings.filterwarnings("ignore", "'penalty' was deprecated", FutureWarning)
            results, per_class = module.run_eval_single_sae(
                config, setup.reference_sae, setup.twin, "cpu", str(artifacts),
                save_activations=True,
            )  # fmt: skip
    finally:
        torch.set_grad_enabled(True)  # its SCR/TPP switch gradients off globally
    return results, per_class


def _aligned_reference(setup, eval_name, config, unit, dataset, seed, extra=None):
    """The reference's model side (cold call) and SAE side (warm call) of one unit, each on our
    stream for that side: (cold call's results, warm call's results, artifacts folder), each
    results and per-class results."""
    extra = extra or {}
    artifacts = setup.work_dir / f"reference-{eval_name}-{seed}" / unit.replace("/", "_")
    # The cold call's SAE side is discarded, so it is made cheap without touching its model side:
    # sparse probing's lower_vram_usage skips only the SAE's full-width probe, and SCR/TPP's
    # n_values only size the ablations.
    cheap = {"lower_vram_usage": True} if eval_name == "sparse_probing" else {"n_values": [2]}
    calls = []
    for side, trim in ((0, cheap), (1, {})):
        ref_config = _reference_config(
            eval_name, config, dataset_names=[dataset], random_seed=unit_seed(unit, seed, side),
            **extra, **trim,
        )  # fmt: skip
        calls.append(reference(setup, eval_name, ref_config, artifacts, text_seed=seed))
    return calls[0], calls[1], artifacts


# -- sparse probing ----------------------------------------------------------------------------


def _sp_fields(datasets, train_size, test_size, context_length, k_values, seed) -> dict:
    return {
        "dataset_names": list(datasets),
        "probe_train_set_size": train_size,
        "probe_test_set_size": test_size,
        "context_length": context_length,
        "k_values": list(k_values),
        "random_seed": seed,
    }


def sparse_probing_comparisons(
    model,
    sae_folder: Path,
    work_dir: Path,
    *,
    seeds: list[int],
    train_size: int,
    test_size: int,
    datasets: list[str],
    context_length: int = 128,
    k_values: tuple[int, ...] = (1, 2, 5),
) -> list[Comparison]:
    """Per dataset, aligned on seeds[0]: the model's and the SAE's full-width probe accuracy and
    top-k accuracies. With several seeds, also the dataset-averaged headlines as each side runs
    them, seed against seed."""
    setup = Setup(model, Path(sae_folder), Path(work_dir))
    metrics = [*SP_METRICS] + [
        f"{side}_top_{k}_test_accuracy" for side in ("llm", "sae") for k in k_values
    ]
    comparisons = []
    seed = seeds[0]
    fields = _sp_fields(datasets, train_size, test_size, context_length, k_values, seed)
    config = _config(setup, "sparse_probing", fields)
    result = ours(setup, "sparse_probing", fields, f"aligned-{seed}")
    for dataset in datasets:
        key = f"{dataset}_results"
        # {metric: {class: accuracy}} on each side; the reference's model side is its cold call's.
        our_classes = result["eval_result_unstructured"][
            f"{result_name(dataset, config.dataset_source)}_results"
        ]
        cold, warm, _ = _aligned_reference(setup, "sparse_probing", config, dataset, dataset, seed)
        for metric in metrics:
            theirs = (cold if metric.startswith("llm") else warm)[1][key][metric]
            ours_ = our_classes[metric]
            label = f"{metric} [{_short(dataset)}]"
            if metric in SP_METRICS:  # the torch probes: aligned to rounding
                comparisons.append(
                    Comparison(
                        "sparse_probing", label, [statistics.fmean(ours_.values())],
                        [statistics.fmean(theirs.values())], tolerance=EXACT, why=ALIGNED_WHY,
                    )
                )  # fmt: skip
            else:  # the sklearn top-k probes: one value per class probe
                comparisons.append(
                    Comparison(
                        "sparse_probing", label, list(ours_.values()), list(theirs.values()),
                        why=LBFGS_WHY, unit="class probes",
                    )
                )  # fmt: skip
    if len(seeds) > 1:
        comparisons += _seed_comparisons(
            setup, "sparse_probing", seeds,
            lambda s: _sp_fields(datasets, train_size, test_size, context_length, k_values, s),
            headline=["llm_test_accuracy", "sae_test_accuracy", "sae_top_1_test_accuracy",
                      f"sae_top_{max(k_values)}_test_accuracy"],
        )  # fmt: skip
    return comparisons


LBFGS_WHY = (
    "same texts and draws, but SAEBench's top-k probe is sklearn's L-BFGS on float32 inputs, "
    "which can stop early at a point well short of the optimum depending on input rounding "
    "(seen: 8 iterations and an objective 2% above the float64 optimum on the twin's inputs, "
    "31 iterations and the optimum on ours, 2.6e-7 relative apart): a class probe's accuracy "
    "can move by whole texts, so the class probes' means are compared against their spread"
)
ALIGNED_WHY = (
    "same texts and same random draws on both sides (the reference's global RNG seeded with our "
    "per-unit generator seeds); only float32 rounding differs (HF model vs TransformerLens twin, "
    "1e-6 relative after pooling), so values agree to rounding, while one test text classified "
    "differently would move a value by at least 1 / (probe-set size)"
)


def _short(name: str) -> str:
    return name.rsplit("/", 1)[-1]


# -- SCR and TPP -------------------------------------------------------------------------------


def _scr_tpp_fields(
    eval_name, datasets, pairs, train_size, test_size, context_length, n_values, seed
):
    fields = {
        "dataset_names": list(datasets),
        "train_set_size": train_size,
        "test_set_size": test_size,
        "context_length": context_length,
        "n_values": list(n_values),
        "random_seed": seed,
    }
    if eval_name == "scr":
        fields["column1_vals_lookup"] = {d: [list(p) for p in pairs[d]] for d in datasets}
    return fields


def _clean_accuracies(artifacts: Path, unit_file: str) -> dict[str, float]:
    with open(artifacts / f"{unit_file}_probes.pkl".replace("/", "_"), "rb") as f:
        return pickle.load(f)["llm_test_accuracies"]


def scr_tpp_comparisons(
    eval_name: str,
    model,
    sae_folder: Path,
    work_dir: Path,
    *,
    seeds: list[int],
    train_size: int,
    test_size: int,
    datasets: list[str] | None = None,
    pairs: dict[str, list[tuple[str, str]]] | None = None,
    context_length: int = 128,
    n_values: tuple[int, ...] = (2, 5, 10, 20, 50, 100, 500),
) -> list[Comparison]:
    """SCR (`eval_name` "scr", per class pair of `pairs`, default: the config's first pair of each
    dataset) or TPP ("tpp", per dataset; default datasets: the eval's), aligned on seeds[0]: SCR's
    model-side clean accuracies, and at each n SCR's metric and both directions or TPP's metric
    and its two parts. With several seeds, also the n = 10 and 20 headlines as each side runs
    them (every unit in one call), seed against seed."""
    setup = Setup(model, Path(sae_folder), Path(work_dir))
    scr = eval_name == "scr"
    datasets = datasets or _config(setup, eval_name, {}).dataset_names
    if scr and pairs is None:
        lookup = _config(setup, "scr", {}).column1_vals_lookup
        pairs = {d: [tuple(lookup[d][0])] for d in datasets}

    def fields(s):
        return _scr_tpp_fields(
            eval_name, datasets, pairs, train_size, test_size, context_length, n_values, s
        )

    seed = seeds[0]
    config = _config(setup, eval_name, fields(seed))
    result = ours(setup, eval_name, fields(seed), f"aligned-{seed}")
    rows = {row["dataset_name"]: row for row in result["eval_result_details"]}
    source = config.dataset_source
    units = []  # (unit name, dataset, reference config fields, artifacts file stem)
    for dataset in datasets:
        if scr:
            for c1, c2 in pairs[dataset]:
                unit = f"{dataset}_scr_{c1}_{c2}"
                extra = {"column1_vals_lookup": {dataset: [(c1, c2)]}}
                units.append((unit, dataset, extra, f"{dataset}_{c1}_{c2}"))
        else:
            units.append((dataset, dataset, {}, dataset))
    # SCR: the reported direction and both directions (the metric is the one whose biased probe
    # is weaker); TPP: the metric and its two parts, which locate a disagreement.
    kinds = (
        ["scr_metric_threshold_{n}", "scr_dir1_threshold_{n}", "scr_dir2_threshold_{n}"]
        if scr
        else [f"tpp_threshold_{{n}}_{part}" for part in TPP_PARTS]
    )
    comparisons = []
    for unit, dataset, extra, stem in units:
        _, warm, artifacts = _aligned_reference(
            setup, eval_name, config, unit, dataset, seed, extra
        )
        suffix = "_results" if scr else "_tpp_results"
        theirs = warm[0][unit + suffix]
        row = rows[result_name(unit, source) + suffix]
        label = _short(unit)
        if scr:  # the model side: the probes' clean accuracies (TPP's results do not hold them)
            our_clean = result["eval_result_unstructured"][result_name(unit, source)]
            their_clean = _clean_accuracies(artifacts, stem)
            comparisons.append(
                Comparison(
                    eval_name, f"clean probe accuracy [{label}]",
                    [statistics.fmean(our_clean["clean_probe_accuracies"].values())],
                    [statistics.fmean(their_clean.values())], tolerance=EXACT, why=ALIGNED_WHY,
                )
            )  # fmt: skip
        for n in config.n_values:
            for kind in kinds:
                key = kind.format(n=n)
                mine, their = row.get(key), theirs.get(key)
                if mine is None and their is None:
                    continue  # SCR leaves the metric out when both biased accuracies tie
                comparisons.append(
                    Comparison(
                        eval_name, f"{key} [{label}]", [_number(mine)], [_number(their)],
                        tolerance=EXACT, why=ALIGNED_WHY,
                    )
                )  # fmt: skip
    if len(seeds) > 1:
        headline = [kinds[0].format(n=n) for n in (10, 20) if n in n_values]
        comparisons += _seed_comparisons(setup, eval_name, seeds, fields, headline)
    return comparisons


def _number(value) -> float:
    """A missing value (on one side only) as NaN, which agrees with nothing."""
    return float("nan") if value is None else value


# -- seed comparisons --------------------------------------------------------------------------


def _seed_comparisons(setup, eval_name, seeds, fields_of_seed, headline) -> list[Comparison]:
    """Each side as it runs by design, once per seed: the headline means over all units."""
    ours_values = {key: [] for key in headline}
    theirs_values = {key: [] for key in headline}
    for seed in seeds:
        fields = fields_of_seed(seed)
        result = ours(setup, eval_name, fields, f"seed-{seed}")
        metrics = result["eval_result_metrics"]
        config = _config(setup, eval_name, fields)
        artifacts = setup.work_dir / f"reference-{eval_name}-as-designed-{seed}"
        theirs, _ = reference(
            setup, eval_name, _reference_config(eval_name, config), artifacts, text_seed=seed
        )
        for key in headline:
            mine, their = metrics[_section(eval_name, key)].get(key), theirs.get(key)
            # SCR reports no metric where both biased accuracies tie, which either side's draws
            # may give: such a seed says nothing about that metric, on either side.
            if mine is not None and their is not None:
                ours_values[key].append(mine)
                theirs_values[key].append(their)
    why = (
        "the reference draws every unit from one global stream seeded once per call, saeeval from "
        "a generator per unit and side: different draws by design, so seed against seed"
    )
    return [
        Comparison(
            eval_name, f"{key} (mean over units)", ours_values[key], theirs_values[key], why=why
        )
        for key in headline
    ]


def _section(eval_name: str, key: str) -> str:
    if eval_name == "sparse_probing":
        return key.split("_", 1)[0]  # llm / sae
    return f"{eval_name}_metrics"
