"""The unlearning eval through `saeeval run`: SAEBench's result layout and schema, the shared
work, the warnings that keep a score of 0 from passing for a measurement, the hub path on local
files, and the offline default on the embedded model."""

from __future__ import annotations

import dataclasses
import json
from types import SimpleNamespace

import jsonschema
import numpy as np
import pytest
import torch
from helpers import assert_intervals_match_headlines, random_sae, saebench_schema, saved
from test_unlearning_parity import letter_tokenizer
from tiny_models import tiny_model
from unlearning_files import write_forget_corpus, write_mmlu, write_wikitext, write_wmdp

from saeeval.activations import ActivationCache
from saeeval.data.builtin_unlearning import BUILTIN_BANKS
from saeeval.errors import SaeevalError
from saeeval.evals import get_eval
from saeeval.evals.unlearning.config import UnlearningEvalConfig
from saeeval.evals.unlearning.eval import _note_sweep
from saeeval.models import ModelAdapter
from saeeval.runner import RunRequest, effective_config, run

HOOK = "blocks.1.hook_resid_post"
# The built-in data on a tiny model, small: 24 questions a bank, 8 settings.
SMALL = {
    "dataset_source": "offline",
    "scoring": "cloze",
    "dataset_names": list(BUILTIN_BANKS),
    "max_questions": 24,
    "dataset_size": 16,
    "seq_len": 64,
    "llm_batch_size": 8,
    "n_features_list": [2, 5],
    "multipliers": [25, 200],
}


def _run(tmp_path, model, saes, overrides=None, cache=None, force=False):
    messages: list[str] = []
    outcome = run(
        RunRequest(
            saes=[str(s) for s in saes],
            evals=["unlearning"],
            out=tmp_path / "out",
            device="cpu",
            force=force,
            overrides={"unlearning": {**SMALL, **(overrides or {})}},
        ),
        log=messages.append,
        model_loader=lambda *_: model,
        cache=cache or ActivationCache(tmp_path / "cache"),
    )
    return outcome, messages


def test_offline_run_writes_saebench_results_with_a_row_per_setting(tmp_path, isolated_cache):
    from sae_bench.sae_bench_utils import graphing_utils

    model = tiny_model("llama")
    saes = [
        saved(
            random_sae("topk", 64, 128, HOOK, model_name="tiny-llama", k=8, seed=2), tmp_path / "a"
        ),
        saved(
            random_sae("standard", 64, 128, HOOK, model_name="tiny-llama", seed=3), tmp_path / "b"
        ),
    ]
    cache = ActivationCache(tmp_path / "cache")
    outcome, messages = _run(tmp_path, model, saes, cache=cache)
    assert [sae_id for _, sae_id, _ in outcome.written] == ["a", "b"]
    paths = [str(path) for _, _, path in outcome.written]
    assert all(
        p.endswith(f"unlearning/{i}_eval_results.json") for p, i in zip(paths, "ab", strict=True)
    )
    with_intervals = 0
    for path in paths:
        result = json.loads(open(path).read())
        jsonschema.validate(result, saebench_schema("unlearning"))
        config = result["eval_config"]
        assert config["scoring"] == "cloze" and config["dataset_source"] == "offline"
        assert config["data_fingerprint"].startswith("sha256:")
        rows = result["eval_result_details"]
        assert len(rows) == 2 * 2 * 2  # thresholds x N x multipliers
        for row in rows:
            assert len(row["features"]) == row["n_features_selected"] <= row["n_features"]
            assert row["qualifies"] == (row["retain_accuracy"] >= 0.99)
            assert set(row["accuracies"]) == set(BUILTIN_BANKS)
        score = result["eval_result_metrics"]["unlearning"]["unlearning_score"]
        qualifying = [r["forget_accuracy"] for r in rows if r["qualifies"]]
        assert score == pytest.approx(1 - min(qualifying + [1.0]))
        if qualifying:  # the score's unit is a known forget question under the best row
            assert_intervals_match_headlines(result)
            with_intervals += 1
        unstructured = result["eval_result_unstructured"]
        for name, counts in unstructured["questions"].items():
            assert counts["n_questions"] == 24 and 0 < counts["n_known"] <= 24, name
            assert counts["baseline_accuracy_known"] == 1.0
        assert unstructured["frequency_contexts"] == {"forget": [16, 64], "retain": [16, 64]}
        # Each clamped latent's known questions fired on bound how many questions its settings
        # ran: at least as many as its busiest latent, at most all its latents' together.
        for row in rows:
            top = unstructured["latents"]["top_latents"][str(row["retain_threshold"])]
            fired = {t["latent"]: t["known_questions_fired"] for t in top}
            for name, n_run in row["questions_run"].items():
                per_latent = [fired[f][name]["anywhere"] for f in row["features"]]
                assert max(per_latent, default=0) <= n_run <= sum(per_latent), (row, name)
                assert all(
                    fired[f][name]["at_answer_position"] <= fired[f][name]["anywhere"]
                    for f in row["features"]
                )
    assert with_intervals >= 1
    # Something was clamped, and some clamp changed an answer.
    rows = [r for p in paths for r in json.loads(open(p).read())["eval_result_details"]]
    assert any(r["n_features_selected"] for r in rows)
    assert any(r["answers_changed"] for r in rows)
    assert len(graphing_utils.get_eval_results(paths)) == 2  # SAEBench's reader takes them

    # Which questions the model knows is cached per model; the texts' activations per hook.
    known = sorted(p.name for p in cache.root.iterdir() if p.name.startswith("unlearning-known"))
    assert len(known) == 3
    passes = cache.model_forward_passes
    assert passes > 0
    again, _ = _run(tmp_path, model, saes[:1], cache=cache, force=True)
    assert cache.model_forward_passes == passes  # nothing collected again
    assert sorted(
        p.name for p in cache.root.iterdir() if p.name.startswith("unlearning-known")
    ) == (known)
    first = json.loads(open(paths[0]).read())
    second = json.loads(again.written[0][2].read_text())
    assert second["eval_result_details"] == first["eval_result_details"]


def test_a_second_sae_at_the_hook_adds_no_activation_pass(tmp_path, isolated_cache):
    model = tiny_model("llama")
    one = saved(
        random_sae("topk", 64, 128, HOOK, model_name="tiny-llama", seed=4), tmp_path / "one"
    )
    two = saved(
        random_sae("topk", 64, 128, HOOK, model_name="tiny-llama", seed=5), tmp_path / "two"
    )
    single = ActivationCache(tmp_path / "c1")
    _run(tmp_path / "r1", model, [one], cache=single)
    both = ActivationCache(tmp_path / "c2")
    outcome, _ = _run(tmp_path / "r2", model, [one, two], cache=both)
    assert len(outcome.written) == 2
    assert both.model_forward_passes == single.model_forward_passes > 0


def test_an_sae_that_changes_nothing_is_flagged_not_silently_zero(tmp_path, isolated_cache):
    model = tiny_model("llama")
    mute = random_sae("standard", 64, 128, HOOK, model_name="tiny-llama", seed=6)
    with torch.no_grad():
        mute.W_dec.zero_()  # clamping its latents cannot change the residual stream
    dense = random_sae("standard", 64, 128, HOOK, model_name="tiny-llama", seed=7)
    with torch.no_grad():
        dense.b_enc.fill_(50.0)  # every latent fires on every token
    folders = [saved(mute, tmp_path / "mute"), saved(dense, tmp_path / "dense")]
    outcome, messages = _run(tmp_path, model, folders, {"retain_thresholds": [0.0, 0.01]})
    warnings = {
        sae_id: [m for e, s, m in outcome.warnings if s == sae_id] for sae_id in ("mute", "dense")
    }
    assert any("clamping changed no answer" in m for m in warnings["mute"]), warnings
    assert any("no latent selected at retain threshold 0.0" in m for m in warnings["mute"])
    (result,) = outcome.results
    assert result["eval_result_metrics"]["unlearning"]["unlearning_score"] == 0.0
    assert all(r["answers_changed"] == 0 for r in result["eval_result_details"])
    # Dense latents pass no threshold: nothing is measured, so no result, and the manifest says why.
    assert any("latents are dense" in m for m in warnings["dense"])
    assert any("unlearning not measured" in m for m in warnings["dense"])
    assert [sae_id for _, sae_id, _ in outcome.written] == ["mute"]
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    entry = next(e for key, e in manifest["results"].items() if "dense" in key)
    assert entry["result"] is None and any("not measured" in m for m in entry["diagnostics"])
    assert any("warning: dense (unlearning)" in m for m in messages)


def test_a_zero_score_from_settings_that_changed_answers_says_why():
    notes: list[str] = []
    context = SimpleNamespace(note=lambda loaded, message: notes.append(message))
    known = {"f": np.ones(120, dtype=bool), "r": np.ones(150, dtype=bool)}
    sets = {
        name: SimpleNamespace(known=np.arange(len(c)), clean_correct=c) for name, c in known.items()
    }
    config = SimpleNamespace(forget_set="f", retain_sets=["r"], multipliers=[25])
    selection = SimpleNamespace(fires={"f": torch.ones(120, 1, dtype=torch.bool)})
    row = {"answers_changed": 9, "n_features_selected": 3, "qualifies": False}
    rows = [{**row, "forget_accuracy": 0.5, "retain_accuracy": 0.95}]
    _note_sweep(context, None, rows, selection, sets, config)
    assert len(notes) == 1 and "also lowered the retain accuracy below 0.99" in notes[0]
    assert "at best 0.950" in notes[0]
    notes.clear()
    rows.append({**row, "forget_accuracy": 0.9, "retain_accuracy": 1.0, "qualifies": True})
    rest = (selection, sets, config)
    _note_sweep(context, None, rows, *rest)
    assert notes == []  # a qualifying row that unlearned something: a real score
    _note_sweep(context, None, [{**row, "forget_accuracy": 1.0, "retain_accuracy": 0.9}], *rest)
    assert len(notes) == 1 and "on the retain sets only" in notes[0]


def test_hub_path_reads_local_copies_with_letter_scoring(tmp_path, isolated_cache):
    tiny = tiny_model("llama")
    model = ModelAdapter(tiny.model, letter_tokenizer(), name="tiny-llama-it")
    sae = saved(random_sae("topk", 64, 128, HOOK, model_name="tiny-llama", seed=8), tmp_path / "s")
    texts = [
        f"forget paper {i} " + "about proteins and pathogens in the lab " * 8 for i in range(6)
    ]
    overrides = {
        "dataset_source": "hub",
        "scoring": "letter",
        "dataset_names": ["wmdp-bio", "human_aging", "college_biology"],
        "wmdp_dataset": str(write_wmdp(tmp_path / "wmdp", 6)),
        "mmlu_dataset": str(
            write_mmlu(tmp_path / "mmlu", {"human_aging": 4, "college_biology": 2})
        ),
        "retain_corpus": str(write_wikitext(tmp_path / "wikitext", ["a retain line " * 6] * 20)),
        "forget_corpus": str(write_forget_corpus(tmp_path / "bio-forget-corpus.jsonl", texts)),
        "max_questions": None,
    }
    cache = ActivationCache(tmp_path / "cache")
    outcome, _ = _run(tmp_path, model, [sae], overrides, cache=cache)
    # A random model gets no question right under all 24 orderings: nothing to measure, said so.
    assert outcome.written == []
    (message,) = [m for _, _, m in outcome.warnings]
    assert "none of the 6 wmdp-bio questions correctly under every ordering" in message
    entries = [p for p in cache.root.iterdir() if p.name.startswith("unlearning-known")]
    assert len(entries) == 3
    wmdp = next(
        json.loads((p / "meta.json").read_text())
        for p in entries
        if "wmdp" in (p / "meta.json").read_text()
    )
    assert wmdp["n_questions"] == 6 and wmdp["provenance"].startswith(str(tmp_path / "wmdp"))

    # Without the gated forget corpus the run fails for this eval, saying how to get it.
    missing = {**overrides, "forget_corpus": None}
    again, _ = _run(tmp_path / "again", model, [sae], missing, cache=cache)
    ((eval_name, sae_id, reason),) = again.failed
    assert (eval_name, sae_id) == ("unlearning", "s") and again.written == []
    assert "cais/wmdp-bio-forget-corpus" in reason and "unlearning.forget_corpus=PATH" in reason


def test_defaults_are_saebench_on_hub_data_and_builtin_offline():
    from sae_bench.evals.unlearning.eval_config import UnlearningEvalConfig as Reference

    reference = dataclasses.asdict(Reference())
    hub = effective_config("unlearning", model="gemma-2-2b-it")  # any model but the embedded one
    assert hub["dataset_source"] == "hub" and hub["scoring"] == "letter"
    assert hub["size_preset"] == "saebench"
    runtime = {"model_name", "llm_batch_size", "llm_dtype"}
    assert {k: hub[k] for k in reference if k not in runtime} == {
        k: v for k, v in reference.items() if k not in runtime
    }
    assert hub["llm_batch_size"] == 4  # SAEBench's runner: 32 // 8 for Gemma-2-2B
    offline = effective_config("unlearning")
    assert offline["dataset_source"] == "offline" and offline["scoring"] == "cloze"
    assert offline["dataset_names"] == list(BUILTIN_BANKS) and offline["size_preset"] == "offline"
    assert (offline["dataset_size"], offline["seq_len"]) == (64, 256)
    sweep = ("retain_thresholds", "n_features_list", "multipliers")
    assert {k: offline[k] for k in sweep} == {k: reference[k] for k in sweep}
    eval_ = get_eval("unlearning")
    assert eval_.config_class is UnlearningEvalConfig
    with pytest.raises(SaeevalError, match="has no forget set"):
        list(eval_.run(None, [], UnlearningEvalConfig(dataset_names=["human_aging"])))


def test_an_sae_for_the_base_model_runs_on_its_instruct_variant(tmp_path, isolated_cache):
    model = tiny_model("llama")
    sae = saved(random_sae("topk", 64, 128, HOOK, model_name="tiny-llama", seed=9), tmp_path / "s")
    request = RunRequest(saes=[str(sae)], evals=["unlearning"], out=tmp_path / "out", device="cpu")
    loaded_as = []

    def loader(name, *_):
        loaded_as.append(name)
        return model

    run(
        dataclasses.replace(request, model="tiny-llama-it", overrides={"unlearning": SMALL}),
        log=lambda m: None,
        model_loader=loader,
        cache=ActivationCache(tmp_path / "cache"),
    )
    assert loaded_as == ["tiny-llama-it"]
    with pytest.raises(SaeevalError, match="trained on 'tiny-llama', but --model tiny-gpt2"):
        run(
            dataclasses.replace(request, model="tiny-gpt2"), log=lambda m: None, model_loader=loader
        )


@pytest.mark.embedded
def test_the_embedded_model_knows_enough_builtin_questions(embedded_model, tmp_path):
    """Each built-in bank gives the offline score a resolution of 1% or better."""
    from saeeval.data.unlearning import load_question_set
    from saeeval.evals.unlearning.scoring import Scorer, known_by_permutation, predict

    scorer = Scorer(embedded_model, "cloze")
    counts = {}
    for bank in BUILTIN_BANKS:
        questions = load_question_set(bank, "offline")
        items = scorer.items(questions, range(len(questions)), scorer.orderings)
        correct = predict(embedded_model, scorer, items, 32) == np.array([i.answer for i in items])
        counts[bank] = len(known_by_permutation(correct, 1))
    assert min(counts.values()) >= 100, counts
    assert max(counts[b] / len(load_question_set(b, "offline")) for b in BUILTIN_BANKS) < 0.95


@pytest.mark.embedded
def test_offline_default_end_to_end_on_the_embedded_model(embedded_model, tmp_path):
    """The offline default's code path on the real model and tokenizer, at a tiny size."""
    hook = "blocks.6.hook_resid_post"
    sae = random_sae("topk", 576, 1152, hook, model_name=embedded_model.name, k=16, seed=10)
    folder = saved(sae, tmp_path / "sae")
    small = {
        "max_questions": 40,
        "dataset_size": 8,
        "seq_len": 128,
        "n_features_list": [5],
        "multipliers": [50, 200],
    }
    outcome = run(
        RunRequest(
            saes=[str(folder)],
            evals=["unlearning"],
            out=tmp_path / "out",
            device="cpu",
            overrides={"unlearning": small},
        ),
        log=lambda m: None,
        model_loader=lambda *_: embedded_model,
        cache=ActivationCache(tmp_path / "cache"),
    )
    (result,) = outcome.results
    jsonschema.validate(result, saebench_schema("unlearning"))
    config = result["eval_config"]
    assert (config["dataset_source"], config["scoring"], config["size_preset"]) == (
        "offline",
        "cloze",
        "offline",
    )
    questions = result["eval_result_unstructured"]["questions"]
    assert all(q["n_known"] >= 10 for q in questions.values()), questions
    assert len(result["eval_result_details"]) == 4
    assert result["eval_result_unstructured"]["frequency_contexts"]["forget"] == [8, 128]
