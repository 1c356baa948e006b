"""Sparse probing, SCR and TPP through `saeeval run`: SAEBench's layout and schemas, reuse of the
model side across SAEs, and the diagnostics."""

from __future__ import annotations

import json

import jsonschema
import pytest
from helpers import assert_intervals_match_headlines, random_sae, saebench_schema, saved
from tiny_models import tiny_model

from saeeval.activations import ActivationCache
from saeeval.comparison import compare
from saeeval.errors import SaeevalError
from saeeval.evals.probing.scr_tpp import SCR_CLASSES
from saeeval.runner import RunRequest, run

SMALL = {
    "sparse_probing": {
        "dataset_names": ["LabHC/bias_in_bios_class_set1", "Helsinki-NLP/europarl"],
        "probe_train_set_size": 80,
        "probe_test_set_size": 40,
        "k_values": [1, 5],
    },
    "scr": {
        "dataset_names": ["LabHC/bias_in_bios_class_set1"],
        "column1_vals_lookup": {"LabHC/bias_in_bios_class_set1": [["professor", "nurse"]]},
        "train_set_size": 80,
        "test_set_size": 40,
        "n_values": [2, 10, 20],
    },
    "tpp": {
        "dataset_names": ["canrager/amazon_reviews_mcauley_1and5"],
        "train_set_size": 80,
        "test_set_size": 40,
        "n_values": [2, 10, 20],
    },
}


def _run(tmp_path, model, saes, cache=None, evals=("sparse_probing", "scr", "tpp"), overrides=None):
    """The evals at SMALL sizes, with `overrides` (EVAL -> {field: value}) on top."""
    messages = []
    overrides = overrides or {}
    outcome = run(
        RunRequest(
            saes=[str(s) for s in saes],
            evals=list(evals),
            out=tmp_path / "out",
            device="cpu",
            overrides={name: {**SMALL[name], **overrides.get(name, {})} for name in evals},
        ),
        log=messages.append,
        model_loader=lambda *_: model,
        cache=cache,
    )
    return outcome, messages


def _check_results(outcome, n_saes: int) -> dict[str, list[dict]]:
    from sae_bench.sae_bench_utils import graphing_utils

    by_eval: dict[str, list[dict]] = {}
    for eval_name, _, path in outcome.written:
        result = json.loads(path.read_text())
        jsonschema.validate(result, saebench_schema(result["eval_type_id"]))
        by_eval.setdefault(eval_name, []).append(result)
    assert {name: len(results) for name, results in by_eval.items()} == {
        "sparse_probing": n_saes,
        "scr": n_saes,
        "tpp": n_saes,
    }
    paths = [str(p) for _, _, p in outcome.written if p.parent.name == "sparse_probing"]
    assert len(graphing_utils.get_eval_results(paths)) == n_saes  # SAEBench's reader takes them
    return by_eval


def test_probing_evals_on_a_tiny_model(tmp_path, isolated_cache):
    model = tiny_model("llama")
    hook = "blocks.1.hook_resid_post"
    sae = saved(random_sae("topk", 64, 128, hook, model_name="tiny-llama", k=8), tmp_path / "a")
    outcome, _ = _run(tmp_path, model, [sae])
    results = _check_results(outcome, 1)

    probing = results["sparse_probing"][0]
    # SCR has one class pair on the built-in data: its headlines have a unit but no interval.
    for name, with_interval in (("sparse_probing", 5), ("scr", 0), ("tpp", 2)):
        assert_intervals_match_headlines(results[name][0], min_metrics=with_interval)
    # Built-in data is recognisable from eval_config.dataset_names alone.
    for result in (probing, results["scr"][0], results["tpp"][0]):
        names = result["eval_config"]["dataset_names"]
        assert names and all(n.startswith("saeeval-builtin/") for n in names), names
    assert list(results["scr"][0]["eval_config"]["column1_vals_lookup"]) == [
        "saeeval-builtin/LabHC/bias_in_bios_class_set1"
    ]
    details = {d["dataset_name"]: d for d in probing["eval_result_details"]}
    assert set(details) == {
        "saeeval-builtin/LabHC/bias_in_bios_class_set1_results",
        "saeeval-builtin/Helsinki-NLP/europarl_results",
    }
    for name, row in details.items():
        # Each dataset's row is the mean of its per-class probes, kept in the unstructured part.
        per_class_of = probing["eval_result_unstructured"][name]
        for key in ("llm_test_accuracy", "llm_top_1_test_accuracy", "sae_top_5_test_accuracy"):
            classes = per_class_of[key].values()
            assert row[key] == pytest.approx(sum(classes) / len(classes)), key
        assert row["sae_top_2_test_accuracy"] is None  # k not asked for
    # Even a random character-level model's activations tell the five languages apart.
    europarl = details["saeeval-builtin/Helsinki-NLP/europarl_results"]
    assert europarl["llm_test_accuracy"] > 0.65
    per_class = probing["eval_result_unstructured"]["saeeval-builtin/Helsinki-NLP/europarl_results"]
    assert set(per_class["llm_test_accuracy"]) == {"en", "fr", "de", "es", "nl"}

    scr = results["scr"][0]
    assert [d["dataset_name"] for d in scr["eval_result_details"]] == [
        "saeeval-builtin/LabHC/bias_in_bios_class_set1_scr_professor_nurse_results"
    ]
    assert scr["eval_result_metrics"]["scr_metrics"]["scr_dir1_threshold_10"] is not None
    assert scr["eval_result_metrics"]["scr_metrics"]["scr_dir1_threshold_50"] is None
    clean = scr["eval_result_unstructured"][
        "saeeval-builtin/LabHC/bias_in_bios_class_set1_scr_professor_nurse"
    ]["clean_probe_accuracies"]
    assert set(SCR_CLASSES) <= set(clean)
    # Each is an accuracy on the 40 test texts: a whole number of them, not an average gone wrong.
    assert all(abs(a * 40 - round(a * 40)) < 1e-4 for a in clean.values()), clean

    tpp = results["tpp"][0]
    assert tpp["eval_result_details"][0]["dataset_name"] == (
        "saeeval-builtin/canrager/amazon_reviews_mcauley_1and5_tpp_results"
    )
    classes = tpp["eval_result_unstructured"][
        "saeeval-builtin/canrager/amazon_reviews_mcauley_1and5"
    ]
    assert set(classes) == {"1", "2", "3", "5", "6"}
    metrics = tpp["eval_result_metrics"]["tpp_metrics"]
    assert metrics["tpp_threshold_10_total_metric"] == pytest.approx(
        metrics["tpp_threshold_10_intended_diff_only"]
        - metrics["tpp_threshold_10_unintended_diff_only"]
    )


def test_probing_evals_run_with_a_bfloat16_model_and_sae(tmp_path, isolated_cache):
    """--dtype bfloat16 end to end on the CPU: the model and the SAE in bfloat16, the statistics,
    probes and ablations in float32, and the dtype recorded in every result."""
    import torch

    model = tiny_model("llama")
    model.model.to(torch.bfloat16)
    hook = "blocks.1.hook_resid_post"
    sae = saved(random_sae("topk", 64, 128, hook, model_name="tiny-llama", k=8), tmp_path / "a")
    outcome = run(
        RunRequest(
            saes=[str(sae)],
            evals=["sparse_probing", "scr", "tpp"],
            out=tmp_path / "out",
            device="cpu",
            dtype="bfloat16",
            overrides=SMALL,
        ),
        log=lambda message: None,
        model_loader=lambda *_: model,
    )
    results = _check_results(outcome, 1)
    for name, (result,) in results.items():
        assert result["eval_config"]["llm_dtype"] == "bfloat16", name
        assert result["sae_cfg_dict"]["dtype"] == "bfloat16", name
    europarl = results["sparse_probing"][0]["eval_result_unstructured"][
        "saeeval-builtin/Helsinki-NLP/europarl_results"
    ]
    assert sum(europarl["llm_test_accuracy"].values()) / 5 > 0.65  # as in float32


def test_sparse_probing_on_latents_kept_sparse_matches_the_dense_run(
    tmp_path, isolated_cache, monkeypatch
):
    """Past the working-set budget the pooled latents stay sparse (wide SAEs). With a budget small
    enough to force that here, every per-class SAE accuracy equals the dense run's, but for the
    full-width probe's, which may move by one test text (float32 summation order)."""
    from saeeval.evals.probing import sparse_probing

    model = tiny_model("llama")
    hook = "blocks.1.hook_resid_post"
    sae = saved(random_sae("topk", 64, 128, hook, model_name="tiny-llama", k=8), tmp_path / "a")
    dense, _ = _run(tmp_path / "dense", model, [sae], evals=("sparse_probing",))

    real, kept_sparse = sparse_probing.SparseClasses, []

    def counted(*args):
        kept_sparse.append(args)
        return real(*args)

    monkeypatch.setattr(sparse_probing, "SparseClasses", counted)
    monkeypatch.setenv("SAEEVAL_WORKING_SET_MB", "0.05")  # 52 KB: under 128 texts of sums
    sparse, _ = _run(tmp_path / "sparse", model, [sae], evals=("sparse_probing",))
    assert len(kept_sparse) == 2 * len(SMALL["sparse_probing"]["dataset_names"])  # train, test

    (dense_result,), (sparse_result,) = (
        [json.loads(p.read_text()) for _, _, p in o.written] for o in (dense, sparse)
    )
    jsonschema.validate(sparse_result, saebench_schema(sparse_result["eval_type_id"]))
    want = dense_result["eval_result_unstructured"]
    got = sparse_result["eval_result_unstructured"]
    # Each class's test probe set is its 20 test texts and 20 drawn from the others: 40 texts.
    one_text = 1 / SMALL["sparse_probing"]["probe_test_set_size"]
    compared = 0
    for dataset, metrics in want.items():
        if not dataset.endswith("_results"):
            continue
        for metric, per_class in metrics.items():
            if not metric.startswith("sae_"):
                continue
            for name, accuracy in per_class.items():
                tolerance = one_text + 1e-6 if metric == "sae_test_accuracy" else 0.0
                assert abs(got[dataset][metric][name] - accuracy) <= tolerance, (
                    dataset,
                    metric,
                    name,
                )
                compared += 1
    assert compared == 3 * (5 + 5)  # full, top-1, top-5 for the 5 classes of each dataset


def test_tpp_can_leave_padding_positions_alone(tmp_path, isolated_cache):
    """SAEBench's ablation by default, recorded; `ablate_padding_positions=false` changes the
    numbers of an SAE that fires on the zero vector (every TopK SAE does), is recorded too, is
    not answered by the default run's result file, and is not compared with it."""
    import shutil

    import torch

    model = tiny_model("llama")
    hook = "blocks.1.hook_resid_post"
    sae = random_sae("topk", 64, 128, hook, model_name="tiny-llama", k=8)
    with torch.no_grad():
        sae.b_enc.add_(1.0)  # the zero vector's k latents fire strongly
    folder = saved(sae, tmp_path / "sae")
    per_class = {}
    for flag in (True, False):
        outcome, _ = _run(
            tmp_path,
            model,
            [folder],
            evals=("tpp",),
            overrides={"tpp": {"ablate_padding_positions": flag}},
        )
        ((_, _, path),) = outcome.written  # a rerun, not the other setting's file
        result = json.loads(path.read_text())
        assert result["eval_config"]["ablate_padding_positions"] is flag
        per_class[flag] = result["eval_result_unstructured"][
            "saeeval-builtin/canrager/amazon_reviews_mcauley_1and5"
        ]
        if flag:
            shutil.copytree(tmp_path / "out", tmp_path / "saebench-ablation")
    assert per_class[True] != per_class[False]
    with pytest.raises(SaeevalError, match="tpp results and the baseline's differ in SCR/TPP"):
        compare([tmp_path / "out"], tmp_path / "saebench-ablation")
    assert not compare([tmp_path / "out"], tmp_path / "saebench-ablation", True).empty


def test_dead_sae_is_flagged(tmp_path, isolated_cache):
    """An SAE whose latents never fire: sparse probing at chance, SCR/TPP with nothing to ablate;
    each is reported, not passed off as a result."""
    import torch

    model = tiny_model("llama")
    hook = "blocks.1.hook_resid_post"
    sae = random_sae("standard", 64, 128, hook, model_name="tiny-llama")
    with torch.no_grad():
        sae.b_enc.fill_(-1e4)
    outcome, messages = _run(tmp_path, model, [saved(sae, tmp_path / "dead")])
    warnings = [w for _, _, w in outcome.warnings]
    assert any("at chance" in w for w in warnings)
    assert any("scr result is degenerate" in w for w in warnings)
    assert any("tpp result is degenerate" in w for w in warnings)
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert any("at chance" in d for d in manifest["results"]["sparse_probing/dead"]["diagnostics"])


@pytest.mark.embedded
def test_probing_evals_on_the_embedded_model(tmp_path, embedded_model, isolated_cache):
    """SmolLM2 on the built-in datasets: the model's probes read the classes well, and a second
    SAE at the hook reuses every activation and model-side probe."""
    hook = "blocks.6.hook_resid_post"
    saes = [
        saved(
            random_sae(arch, 576, 1152, hook, seed=i, model_name="smollm2-135m", k=32),
            tmp_path / arch,
        )
        for i, arch in enumerate(["topk", "standard"])
    ]
    first_cache, second_cache = ActivationCache(), ActivationCache()
    first, _ = _run(tmp_path, embedded_model, saes[:1], first_cache)
    second, _ = _run(tmp_path, embedded_model, saes[1:], second_cache)
    assert first_cache.model_forward_passes > 0
    assert second_cache.model_forward_passes == 0
    for outcome in (first, second):
        results = {e: json.loads(p.read_text()) for e, _, p in outcome.written}
        for result in results.values():
            jsonschema.validate(result, saebench_schema(result["eval_type_id"]))
        llm = results["sparse_probing"]["eval_result_metrics"]["llm"]
        assert llm["llm_test_accuracy"] > 0.8  # the built-in datasets carry signal
        assert llm["llm_top_1_test_accuracy"] < llm["llm_test_accuracy"]


def test_builtin_names_select_the_same_data(tmp_path, isolated_cache):
    """A result's own dataset names, fed back with --set, select exactly the same texts."""
    model = tiny_model("llama")
    hook = "blocks.1.hook_resid_post"
    sae = saved(random_sae("topk", 64, 128, hook, model_name="tiny-llama", k=8), tmp_path / "a")
    first, _ = _run(tmp_path / "plain", model, [sae], evals=("scr",))
    (result,) = first.results
    renamed = {
        "scr": {
            **SMALL["scr"],
            "dataset_names": result["eval_config"]["dataset_names"],
            "column1_vals_lookup": result["eval_config"]["column1_vals_lookup"],
        }
    }
    again = run(
        RunRequest(
            saes=[str(sae)],
            evals=["scr"],
            out=tmp_path / "renamed",
            device="cpu",
            overrides=renamed,
        ),
        log=lambda m: None,
        model_loader=lambda *_: model,
    )
    (second,) = again.results
    assert second["eval_result_metrics"] == result["eval_result_metrics"]
    assert second["eval_config"]["dataset_names"] == result["eval_config"]["dataset_names"]
