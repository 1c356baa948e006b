"""`saeeval run` as a library call on tiny models: layout, schema, reuse, reruns, bad input."""

from __future__ import annotations

import json
from collections import Counter
from importlib.metadata import version
from pathlib import Path

import jsonschema
import pytest
import torch
from helpers import assert_intervals_match_headlines, random_sae, saebench_schema, saved
from tiny_models import tiny_model

from saeeval.activations import ActivationCache
from saeeval.errors import SaeevalError
from saeeval.models.hook_points import decoder_blocks
from saeeval.runner import RunRequest, parse_overrides, run

HOOK = "blocks.1.hook_resid_post"
SMALL = {
    "core": {
        "batch_size_prompts": 4,
        "n_eval_reconstruction_batches": 2,
        "n_eval_sparsity_variance_batches": 3,
        "context_size": 32,
    }
}


def core_schema() -> dict:
    return saebench_schema("core")


@pytest.fixture
def text_file(tmp_path) -> Path:
    path = tmp_path / "owt.jsonl"
    lines = [
        json.dumps({"text": f"Sentence {i}: the cat sat on mat number {i * 7 % 13}. " * 4})
        for i in range(200)
    ]
    path.write_text("\n".join(lines))
    return path


@pytest.fixture
def llama():
    return tiny_model("llama")


def _request(tmp_path, text_file, saes, **kw) -> RunRequest:
    defaults = dict(
        evals=["core"], out=tmp_path / "out", device="cpu", dataset=str(text_file), overrides=SMALL
    )
    return RunRequest(saes=[str(s) for s in saes], **{**defaults, **kw})


def _sae(tmp_path, name, arch="topk", seed=0, model_name="tiny-llama", **kw):
    return saved(
        random_sae(arch, 64, 128, HOOK, seed=seed, model_name=model_name, **kw),
        tmp_path / "saes" / name,
    )


def test_results_follow_saebench_layout_and_schema(tmp_path, text_file, llama, isolated_cache):
    from sae_bench.sae_bench_utils import graphing_utils

    saes = [_sae(tmp_path, "a"), _sae(tmp_path, "b", arch="standard", seed=1)]
    outcome = run(
        _request(
            tmp_path,
            text_file,
            saes,
            overrides={"core": {**SMALL["core"], "save_feature_details": True}},
        ),
        log=lambda m: None,
        model_loader=lambda *_: llama,
    )
    paths = sorted((tmp_path / "out" / "core").glob("*_eval_results.json"))
    assert [p.name for p in paths] == ["a_eval_results.json", "b_eval_results.json"]
    schema = core_schema()
    for path in paths:
        result = json.loads(path.read_text())
        jsonschema.validate(result, schema)
        assert len(result["eval_result_details"]) == 128
        assert result["eval_config"]["dataset"] == str(text_file)
        assert result["eval_config"]["dataset_fingerprint"].startswith("sha256:")
        assert_intervals_match_headlines(result, min_metrics=6)
    # SAEBench's own readers take our folder as it is.
    loaded = graphing_utils.get_eval_results([str(p) for p in paths])
    assert set(loaded) == {"a", "b"} and loaded["a"]["sae_class"] == "topk"
    assert len(outcome.written) == 2 and not outcome.skipped

    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["packages"]["torch"] == version("torch")
    assert manifest["models"]["tiny-llama"]["fingerprint"] == llama.fingerprint
    assert manifest["datasets"][str(text_file)]["fingerprint"].startswith("sha256:")
    assert manifest["hardware"]["cpu_count"] >= 1 and manifest["seed"] == 42
    entry = manifest["results"]["core/a"]
    assert entry["wall_time_s"] > 0 and entry["saes_in_call"] == 2


def test_saes_evaluated_together_get_the_numbers_they_get_alone(
    tmp_path, text_file, llama, isolated_cache
):
    saes = [_sae(tmp_path, "a"), _sae(tmp_path, "b", arch="gated", seed=1)]
    together = run(
        _request(tmp_path, text_file, saes), log=lambda m: None, model_loader=lambda *_: llama
    )
    alone = run(
        _request(tmp_path, text_file, saes[1:], out=tmp_path / "alone"),
        log=lambda m: None,
        model_loader=lambda *_: llama,
    )
    metrics_together = together.results[1]["eval_result_metrics"]
    assert together.results[1]["_sae_id"] == "b"
    assert metrics_together == alone.results[0]["eval_result_metrics"]


def test_second_sae_at_the_same_hook_reuses_activations_and_reference_runs(
    tmp_path, text_file, llama, isolated_cache
):
    blocks_run: list[int] = []  # the layer of each block that computed (on a batch)
    for layer, block in enumerate(decoder_blocks(llama.model, llama.model_type)):
        block.mlp.register_forward_hook(lambda *a, layer=layer: blocks_run.append(layer))
    llama.logits_from_hook(  # the adapter's one-off look at what form its blocks return
        torch.zeros(1, 2, dtype=torch.long), HOOK, torch.zeros(1, 2, llama.d_model)
    )
    blocks_run.clear()
    run(
        _request(tmp_path, text_file, [_sae(tmp_path, "a")]),
        log=lambda m: None,
        model_loader=lambda *_: llama,
    )
    first = Counter(blocks_run)
    blocks_run.clear()
    cache = ActivationCache()
    run(
        _request(tmp_path, text_file, [_sae(tmp_path, "b", seed=3)]),
        log=lambda m: None,
        model_loader=lambda *_: llama,
        cache=cache,
    )
    second = Counter(blocks_run)
    n_rc = SMALL["core"]["n_eval_reconstruction_batches"]
    n_sv = SMALL["core"]["n_eval_sparsity_variance_batches"]
    assert cache.model_forward_passes == 0  # no activation collection at all
    # Only the SAE-spliced pass per reconstruction batch remains (no clean or ablated pass), and
    # it runs the blocks after the hook (layer 1) only.
    assert second == {2: n_rc}
    # The first SAE: per reconstruction batch a clean pass (which reads the hook's activations on
    # its way), an ablated and a spliced pass from the hook; a pass up to the hook for each
    # further sparsity batch.
    assert first == {0: n_rc + (n_sv - n_rc), 1: n_rc + (n_sv - n_rc), 2: 3 * n_rc}


def test_rerun_skips_finished_pairs_unless_forced(tmp_path, text_file, llama, isolated_cache):
    saes = [_sae(tmp_path, "a")]
    run(_request(tmp_path, text_file, saes), log=lambda m: None, model_loader=lambda *_: llama)
    path = tmp_path / "out" / "core" / "a_eval_results.json"
    first_id = json.loads(path.read_text())["eval_id"]
    again = run(
        _request(tmp_path, text_file, saes), log=lambda m: None, model_loader=lambda *_: llama
    )
    assert again.written == [] and [s[1] for s in again.skipped] == ["a"]
    assert json.loads(path.read_text())["eval_id"] == first_id
    forced = run(
        _request(tmp_path, text_file, saes, force=True),
        log=lambda m: None,
        model_loader=lambda *_: llama,
    )
    assert len(forced.written) == 1 and json.loads(path.read_text())["eval_id"] != first_id


def test_interrupted_run_keeps_finished_results_and_leaves_no_partial_file(
    tmp_path, text_file, llama, isolated_cache
):
    saes = [
        _sae(tmp_path, "early"),
        saved(
            random_sae("topk", 64, 128, "blocks.2.hook_resid_post", model_name="tiny-llama"),
            tmp_path / "saes" / "late",
        ),
    ]
    calls = []

    def interrupt_late(module, args):
        calls.append(1)
        # The first hook takes 8 passes through the model's body (the adapter's first look at
        # its blocks included); the 10th is one of the second hook's reference passes.
        if len(calls) > 9:
            raise KeyboardInterrupt

    llama.model.base_model.register_forward_pre_hook(interrupt_late)
    with pytest.raises(KeyboardInterrupt):
        run(_request(tmp_path, text_file, saes), log=lambda m: None, model_loader=lambda *_: llama)
    out = tmp_path / "out"
    finished = json.loads((out / "core" / "early_eval_results.json").read_text())
    jsonschema.validate(finished, core_schema())
    assert not (out / "core" / "late_eval_results.json").exists()
    assert not list(out.rglob("*.tmp"))
    assert "core/early" in json.loads((out / "manifest.json").read_text())["results"]


def test_dense_sae_is_flagged(tmp_path, text_file, llama, isolated_cache):
    dense = saved(
        random_sae("topk", 64, 128, HOOK, model_name="tiny-llama", k=100),
        tmp_path / "saes" / "dense",
    )
    outcome = run(
        _request(tmp_path, text_file, [dense]), log=lambda m: None, model_loader=lambda *_: llama
    )
    assert any("not sparse: L0 is" in w[2] for w in outcome.warnings)
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert any("not sparse" in d for d in manifest["results"]["core/dense"]["diagnostics"])


def test_duplicate_folder_names_get_distinct_ids(tmp_path, text_file, llama, isolated_cache):
    a = saved(random_sae("topk", 64, 128, HOOK, model_name="tiny-llama"), tmp_path / "x" / "sae")
    b = saved(
        random_sae("topk", 64, 128, HOOK, model_name="tiny-llama", seed=2), tmp_path / "y" / "sae"
    )
    outcome = run(
        _request(tmp_path, text_file, [a, b]), log=lambda m: None, model_loader=lambda *_: llama
    )
    assert sorted(w[1] for w in outcome.written) == ["x_sae", "y_sae"]


# -- bad input ---------------------------------------------------------------------------------


def test_sae_whose_width_does_not_match_the_hook(tmp_path, text_file, llama):
    narrow = saved(random_sae("topk", 32, 64, HOOK, model_name="tiny-llama"), tmp_path / "narrow")
    with pytest.raises(
        SaeevalError, match=r"narrow: the SAE's d_in is 32, but 'tiny-llama' has width 64"
    ):
        run(
            _request(tmp_path, text_file, [narrow]),
            log=lambda m: None,
            model_loader=lambda *_: llama,
        )


def test_sae_at_a_hook_the_model_lacks(tmp_path, text_file, llama):
    deep = saved(
        random_sae("topk", 64, 128, "blocks.9.hook_resid_post", model_name="tiny-llama"),
        tmp_path / "deep",
    )
    with pytest.raises(SaeevalError, match=r"deep: hook 'blocks.9.hook_resid_post' names layer 9"):
        run(
            _request(tmp_path, text_file, [deep]), log=lambda m: None, model_loader=lambda *_: llama
        )


def test_sae_trained_on_another_model_than_requested(tmp_path, text_file, llama):
    sae = _sae(tmp_path, "a", model_name="gpt2-small")
    with pytest.raises(SaeevalError, match="trained on 'gpt2-small', but --model smollm2-135m"):
        run(
            _request(tmp_path, text_file, [sae], model="smollm2-135m"),
            log=lambda m: None,
            model_loader=lambda *_: llama,
        )


def test_unknown_eval_is_rejected_before_any_work(tmp_path, text_file):
    available = "core, absorption, sparse_probing, scr, tpp"
    with pytest.raises(SaeevalError, match=f"unknown eval 'cor'; available evals: {available}"):
        run(_request(tmp_path, text_file, [tmp_path / "missing"], evals=["cor"]))


def test_bad_overrides(tmp_path, text_file, llama):
    sae = _sae(tmp_path, "a")
    with pytest.raises(SaeevalError, match="expected EVAL.FIELD=VALUE"):
        parse_overrides(["context_size=3"])
    with pytest.raises(SaeevalError, match="core.*n_eval_reconstruction_batches.*greater than 0"):
        run(
            _request(
                tmp_path,
                text_file,
                [sae],
                overrides=parse_overrides(["core.n_eval_reconstruction_batches=0"]),
            ),
            log=lambda m: None,
            model_loader=lambda *_: llama,
        )
    with pytest.raises(SaeevalError, match="batch_sizes.*Extra inputs are not permitted"):
        run(
            _request(tmp_path, text_file, [sae], overrides=parse_overrides(["core.batch_sizes=4"])),
            log=lambda m: None,
            model_loader=lambda *_: llama,
        )


def test_sae_naming_a_model_that_cannot_be_loaded_here(tmp_path, text_file):
    """No silent fallback to the embedded model: the SAE's own model is loaded, or we stop."""
    sae = _sae(tmp_path, "g", model_name="gemma-2-2b")
    with pytest.raises(SaeevalError, match="could not load model 'google/gemma-2-2b'"):
        run(_request(tmp_path, text_file, [sae]), log=lambda m: None)
