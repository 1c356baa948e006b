"""Wall time of sparse probing, SCR and TPP: saeeval against SAEBench's reference, same texts.

    python benchmarks/probing_vs_reference.py [--n-saes 4 | --saes DIR [DIR ...]]
        [--train-size N] [--test-size N] [--datasets NAME ...] [--scr-tpp-datasets NAME ...]
        [--scr-pairs K] [--keep]

Needs the test environment (sae-bench installed). On the embedded SmolLM2 at
blocks.6.hook_resid_post, with PCA TopK SAEs of different k (or the SAE folders given), it times
the three evals with the offline defaults of `saeeval run --evals sparse_probing,scr,tpp` (the
built-in datasets, the offline-cpu preset's set sizes 200 train / 100 test) unless the options
shrink them:

- saeeval: one `saeeval.runner.run` call with the three evals, cold (a fresh activation cache) for
  the first SAE alone, then cold again for all N SAEs. The marginal cost of a further SAE is taken
  two ways: (all - one) / (N - 1) over the two calls, and, within the N-SAE call, the time between
  an eval's first and last result divided by N - 1, summed over the evals (the manifest records
  when each result was written); the ratios use the second.
- the reference: per eval, per SAE, SAEBench's own per-SAE entry point
  (`sae_bench.evals.sparse_probing.main.run_eval_single_sae`, then
  `sae_bench.evals.scr_and_tpp.main.run_eval_single_sae` with perform_scr true and false), on a
  TransformerLens twin of the same weights and the SAEs as SAELens loads them, with an artifacts
  folder per eval as its `run_eval` lays out. As in SAEBench's normal configuration, the first SAE
  of each eval collects the model's activations, trains the model-side probes and saves both to
  the artifacts folder; every further SAE loads them back. Its one-SAE time is therefore the first
  SAE's calls (what a one-SAE run costs), its marginal cost the mean of the further SAEs' calls.

Only the reference's data source is replaced: `dataset_utils.get_multi_label_train_test_data` (used
by sparse probing and TPP) and `dataset_creation.get_train_test_data` (SCR's spuriously correlated
sets) return the texts that saeeval's evals read (`load_class_texts` / `load_spurious_texts` on the
built-in datasets, same sizes and seed), as the {class: [texts]} dicts the reference expects.
Tokenising, activation collection, probe training, caching in the artifacts folder, ablations and
metrics are the reference's own code, untouched. Its runtime shape checks (jaxtyping) are off, as
in the tests: with them on, its own sklearn probe path fails. Left out on both sides: loading the
model (one loaded model serves saeeval's runs, its twin the reference) and writing the reference's
result JSON (saeeval's timing includes writing its results). The built-in texts are generated
afresh in each timed section (their in-process cache is cleared first).

Both sides run in one process, one after the other; run it on an otherwise idle machine. The
reference's artifacts take about 4 GB at the default sizes; the work folder is deleted at the end
unless --keep is given. The report also holds each saeeval SAE's headline figures and the
reference's for the first SAE: comparable quantities, not equal numbers (the probes are trained
with different random streams).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from unittest import mock

# Before anything imports jaxtyping (see the docstring), and no hub access: everything is local.
os.environ.setdefault("JAXTYPING_DISABLE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
from _common import PeakResident, report, suite_row  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

HOOK = "blocks.6.hook_resid_post"
EVALS = ["sparse_probing", "scr", "tpp"]
# Sizes fields per eval: sparse probing calls them probe_*_set_size.
SIZE_FIELDS = {
    "sparse_probing": ("probe_train_set_size", "probe_test_set_size"),
    "scr": ("train_set_size", "test_set_size"),
    "tpp": ("train_set_size", "test_set_size"),
}
SP_KEYS = ["llm_test_accuracy", "llm_top_1_test_accuracy", "llm_top_5_test_accuracy"]
SP_KEYS += ["sae_test_accuracy", "sae_top_1_test_accuracy", "sae_top_5_test_accuracy"]
SCR_KEYS = [f"scr_{kind}_threshold_{n}" for n in (10, 20) for kind in ("metric", "dir1", "dir2")]
TPP_KEYS = [f"tpp_threshold_{n}_total_metric" for n in (10, 20)]


def _round(value, digits: int = 4):
    return None if value is None else round(float(value), digits)


def _headlines(eval_name: str, per_dataset: dict[str, dict], overall: dict) -> dict:
    """The figures the report shows: per-dataset accuracies for sparse probing, the n = 10 and
    20 scores for SCR and TPP. The same shape for both sides' results."""
    if eval_name == "sparse_probing":
        return {
            name.removesuffix("_results"): {key: _round(row.get(key)) for key in SP_KEYS}
            for name, row in per_dataset.items()
        }
    keys = SCR_KEYS if eval_name == "scr" else TPP_KEYS
    return {key: _round(overall.get(key)) for key in keys}


def _our_headlines(result: dict) -> dict:
    eval_name = result["eval_type_id"]
    per_dataset = {row["dataset_name"]: row for row in result["eval_result_details"]}
    metrics = result["eval_result_metrics"]
    overall = metrics.get(f"{eval_name}_metrics", {})
    return _headlines(eval_name, per_dataset, overall)


def _reference_headlines(eval_name: str, results: dict) -> dict:
    per_dataset = {k: v for k, v in results.items() if isinstance(v, dict)}
    overall = {k: v for k, v in results.items() if not isinstance(v, dict)}
    return _headlines(eval_name, per_dataset, overall)


def _config_summary(name: str, config) -> dict:
    """The settings that size the work: datasets (and SCR's class pairs), sizes, k's, n's."""
    values = config.model_dump(mode="json")
    keys = ["dataset_names", *SIZE_FIELDS[name], "k_values", "n_values", "size_preset"]
    summary = {key: values[key] for key in keys if key in values}
    if name == "scr":
        lookup = values["column1_vals_lookup"]
        summary["column1_vals_lookup"] = {d: lookup.get(d, []) for d in values["dataset_names"]}
    return summary


def _restricted(names: list[str], allowed: list[str], what: str) -> list[str]:
    unknown = [n for n in names if n not in allowed]
    if unknown:
        raise SystemExit(f"{what}: {', '.join(unknown)} not among {', '.join(allowed)}")
    return names


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n-saes", type=int, default=4, help="PCA SAEs to fit without --saes")
    parser.add_argument("--saes", nargs="+", type=Path, help="SAE folders (SAELens format)")
    parser.add_argument("--train-size", type=int, help="train set size (default: the preset)")
    parser.add_argument("--test-size", type=int, help="test set size (default: the preset)")
    parser.add_argument("--datasets", nargs="+", help="sparse probing's datasets")
    parser.add_argument("--scr-tpp-datasets", nargs="+", help="SCR's and TPP's datasets")
    parser.add_argument("--scr-pairs", type=int, help="SCR: only the first K class pairs per set")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args()
    # The reference passes penalty="l2", which sklearn 1.8+ deprecates, once per probe.
    warnings.filterwarnings("ignore", "'penalty' was deprecated", FutureWarning)

    import sae_bench.evals.scr_and_tpp.dataset_creation as dataset_creation
    import sae_bench.evals.scr_and_tpp.main as reference_scr_tpp
    import sae_bench.evals.sparse_probing.main as reference_sparse_probing
    import sae_bench.sae_bench_utils.dataset_utils as dataset_utils
    from reference_models import hooked_transformer_twin, reference_sae
    from sae_bench.evals.scr_and_tpp.eval_config import (
        ScrAndTppEvalConfig as ReferenceScrTppConfig,
    )
    from sae_bench.evals.sparse_probing.eval_config import (
        SparseProbingEvalConfig as ReferenceSparseProbingConfig,
    )

    from saeeval.activations import ActivationCache
    from saeeval.data import builtin_classification, load_contexts, load_text_dataset
    from saeeval.data.classification import load_class_texts, load_spurious_texts
    from saeeval.evals import EvalContext, get_eval
    from saeeval.models import load_model
    from saeeval.runner import RunRequest, run, unique_ids
    from saeeval.saes import save_sae
    from saeeval.trainers.pca import fit_pca_sae

    model = load_model("smollm2-135m", "cpu")
    work = Path(tempfile.mkdtemp(prefix="probing-bench-"))
    if args.saes:
        folders = list(args.saes)
    else:
        contexts = load_contexts(  # the baselines are fitted on text no eval reads
            model.tokenizer, model.bos_token_id, load_text_dataset(None), 128, 1, part="train"
        )
        folders = [
            save_sae(
                fit_pca_sae(model, contexts, HOOK, ActivationCache(work / "fit"), k=16 * (i + 1)),
                work / f"pca{i}",
            )
            for i in range(args.n_saes)
        ]
    n_saes = len(folders)
    sae_ids = unique_ids(folders)

    # The configs `saeeval run` would use offline, with the options applied.
    defaults_context = EvalContext(model=model, cache=ActivationCache(work / "defaults"))
    overrides: dict[str, dict] = {name: {} for name in EVALS}
    configs = {}
    for name in EVALS:
        eval_ = get_eval(name)
        default = eval_.default_config(defaults_context)
        train_field, test_field = SIZE_FIELDS[name]
        if args.train_size is not None:
            overrides[name][train_field] = args.train_size
        if args.test_size is not None:
            overrides[name][test_field] = args.test_size
        chosen = args.datasets if name == "sparse_probing" else args.scr_tpp_datasets
        if chosen:
            overrides[name]["dataset_names"] = _restricted(chosen, default.dataset_names, name)
        if name == "scr" and args.scr_pairs is not None:
            overrides[name]["column1_vals_lookup"] = {
                dataset: pairs[: args.scr_pairs]
                for dataset, pairs in default.column1_vals_lookup.items()
            }
        configs[name] = eval_.config_class(**{**default.model_dump(), **overrides[name]})

    def ours(paths: list[Path], tag: str) -> tuple[float, dict, list]:
        """One cold `run` call: total seconds, {eval: [when each SAE's result was written]} (from
        the eval's start), and the outcome."""
        builtin_classification._cached_rows.cache_clear()
        out = work / f"out-{tag}"
        start = time.perf_counter()
        outcome = run(
            RunRequest(
                saes=[str(p) for p in paths],
                evals=EVALS,
                out=out,
                device="cpu",
                overrides=overrides,
                sae_ids=sae_ids[: len(paths)],
            ),
            log=lambda message: print(message, file=sys.stderr),
            model_loader=lambda *_: model,
            cache=ActivationCache(work / f"cache-{tag}"),
        )
        total = time.perf_counter() - start
        manifest = json.loads((out / "manifest.json").read_text())["results"]
        arrivals = {
            name: [
                manifest[f"{get_eval(name).eval_type_id}/{sae_id}"]["wall_time_s"]
                for sae_id in sae_ids[: len(paths)]
            ]
            for name in EVALS
        }
        return total, arrivals, outcome

    with PeakResident() as ours_peak:
        ours_one, ours_one_arrivals, _ = ours(folders[:1], "one")
        ours_all, ours_arrivals, outcome = ours(folders, "all")
    our_results: dict[str, dict] = {sae_id: {} for sae_id in sae_ids}
    for (eval_name, sae_id, _), result in zip(outcome.written, outcome.results, strict=True):
        our_results[sae_id][eval_name] = _our_headlines(result)

    # -- the reference ------------------------------------------------------------------------

    def multi_label_texts(dataset_name, train_set_size, test_set_size, random_seed):
        source = configs["sparse_probing"].dataset_source
        texts = load_class_texts(
            dataset_name, train_set_size, test_set_size, seed=random_seed, source=source
        )
        return _copied(texts.train), _copied(texts.test)

    def train_test_texts(
        dataset_name,
        spurious_corr,
        train_set_size,
        test_set_size,
        random_seed,
        column1_vals=None,
        column2_vals=None,
    ):
        if not spurious_corr:
            return dataset_utils.get_multi_label_train_test_data(
                dataset_name, train_set_size, test_set_size, random_seed
            )
        texts = load_spurious_texts(
            dataset_name,
            tuple(column1_vals),
            tuple(column2_vals),
            train_size=train_set_size,
            test_size=test_set_size,
            seed=random_seed,
            source=configs["scr"].dataset_source,
        )
        return _copied(texts.train), _copied(texts.test)

    def reference_config(config_class, ours_config):
        values = ours_config.model_dump()
        return config_class(**{f.name: values[f.name] for f in dataclasses.fields(config_class)})

    reference = {
        "sparse_probing": (
            reference_sparse_probing,
            reference_config(ReferenceSparseProbingConfig, configs["sparse_probing"]),
        ),
        "scr": (reference_scr_tpp, reference_config(ReferenceScrTppConfig, configs["scr"])),
        "tpp": (reference_scr_tpp, reference_config(ReferenceScrTppConfig, configs["tpp"])),
    }
    assert reference["scr"][1].perform_scr and not reference["tpp"][1].perform_scr

    twin = hooked_transformer_twin(model.model, tokenizer=model.tokenizer)
    reference_saes = [reference_sae(f).to(device="cpu", dtype=model.dtype) for f in folders]
    reference_calls: dict[str, list[float]] = {name: [] for name in EVALS}
    reference_first: dict[str, dict] = {}
    builtin_classification._cached_rows.cache_clear()
    patches = [
        mock.patch.object(dataset_utils, "get_multi_label_train_test_data", multi_label_texts),
        mock.patch.object(dataset_creation, "get_train_test_data", train_test_texts),
    ]
    try:
        # The reference prints as it goes; stdout is kept for the report.
        with (
            contextlib.ExitStack() as stack,
            contextlib.redirect_stdout(sys.stderr),
            PeakResident() as reference_peak,
        ):
            for patch in patches:
                stack.enter_context(patch)
            for name in EVALS:  # as SAEBench runs them: one eval over every SAE, then the next
                module, config = reference[name]
                for sae in reference_saes:
                    eval_type_id, hook = get_eval(name).eval_type_id, sae.cfg.hook_name
                    artifacts = work / "artifacts" / eval_type_id / model.name / hook
                    start = time.perf_counter()
                    results, _ = module.run_eval_single_sae(
                        config, sae, twin, "cpu", str(artifacts), save_activations=True
                    )
                    reference_calls[name].append(time.perf_counter() - start)
                    reference_first.setdefault(name, _reference_headlines(name, results))
    finally:
        torch.set_grad_enabled(True)  # the reference's SCR/TPP switch gradients off globally

    reference_per_sae = [sum(reference_calls[name][i] for name in EVALS) for i in range(n_saes)]
    reference_one = reference_per_sae[0]
    reference_all = sum(reference_per_sae)
    reference_marginal = statistics.mean(reference_per_sae[1:]) if n_saes > 1 else None
    ours_marginal_totals = (ours_all - ours_one) / (n_saes - 1) if n_saes > 1 else None
    ours_marginal = (
        sum((ours_arrivals[n][-1] - ours_arrivals[n][0]) / (n_saes - 1) for n in EVALS)
        if n_saes > 1
        else None
    )

    def ratio(a, b):
        return None if a is None or not b else round(a / b, 2)

    def seconds(value):
        return None if value is None else round(value, 1)

    figures = {
        "hook": HOOK,
        "saes": n_saes,
        "sae_folders": [str(f) for f in folders] if args.saes else "PCA TopK, k = 16, 32, ...",
        "config": {name: _config_summary(name, configs[name]) for name in EVALS},
        "saeeval": {
            "one_sae_s": seconds(ours_one),
            "all_saes_s": seconds(ours_all),
            "marginal_sae_s": seconds(ours_marginal),
            "marginal_sae_from_totals_s": seconds(ours_marginal_totals),
            "one_sae_result_written_at_s": ours_one_arrivals,
            "all_saes_results_written_at_s": ours_arrivals,
        },
        "reference": {
            "one_sae_s": seconds(reference_one),
            "all_saes_s": seconds(reference_all),
            "marginal_sae_s": seconds(reference_marginal),
            "per_call_s": {name: [round(t, 1) for t in ts] for name, ts in reference_calls.items()},
        },
        "speedup": {
            "one_sae": ratio(reference_one, ours_one),
            "all_saes": ratio(reference_all, ours_all),
            "marginal_sae": ratio(reference_marginal, ours_marginal),
        },
        # Per eval: the one-SAE run's time for it, and the time between its first and last
        # result of the all-SAE run over N - 1; both sides' peaks cover all three evals.
        "suite": [
            suite_row(
                name,
                ours_one_arrivals[name][0],
                (ours_arrivals[name][-1] - ours_arrivals[name][0]) / (n_saes - 1)
                if n_saes > 1
                else None,
                ours_peak.mb,
                reference_calls[name][0],
                statistics.mean(reference_calls[name][1:]) if n_saes > 1 else None,
                reference_peak.mb,
            )
            for name in EVALS
        ],
        "saeeval_warnings": [f"{e} {s}: {m}" for e, s, m in outcome.warnings],
        "saeeval_results": our_results,
        "reference_first_sae_results": reference_first,
        "work_folder": str(work) if args.keep else None,
    }
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    report("probing_vs_reference", figures)


def _copied(split: dict[str, list[str]]) -> dict[str, list[str]]:
    """A fresh {class: [texts]} dict, so nothing the reference does reaches saeeval's data."""
    return {key: list(texts) for key, texts in split.items()}


if __name__ == "__main__":
    main()
