"""Size presets: `saebench` equals the settings behind SAEBench's published results, field by field,
as the installed package's runner and config classes set them; `saeeval config` shows them."""

from __future__ import annotations

import ast
import dataclasses
import functools
import importlib
import importlib.util
import inspect
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from saeeval.cli import app
from saeeval.errors import SaeevalError
from saeeval.runner import effective_config

HUB = "Skylion007/openwebtext"
# Filled in at run time from the model, the device and --dtype, not by a preset.
RUNTIME_FIELDS = {"model_name", "llm_dtype", "llm_batch_size", "dataset", "verbose"}
# saeeval's own fields, which SAEBench's configs do not have.
OURS = {"size_preset", "dataset_source", "dataset_fingerprint", "dataset_provenance"}
# ... and the options saeeval adds, each at a default that leaves SAEBench's metric as it is.
OPTIONS = {
    "dataset_part",  # core: which part of the corpus was read
    "save_feature_details",  # core: per-latent statistics in the details
    "max_words_per_letter",  # absorption: a cap for small runs (None: every word, as SAEBench)
    "ablate_padding_positions",  # SCR/TPP: SAEBench's ablation (true) or valid positions only
}


@functools.cache
def _runner_calls() -> dict[str, dict[str, Any]]:
    """Keyword arguments with constant values in SAEBench's run-all-evals runner, per callee (read
    from its source: importing it would import every SAEBench eval)."""
    (package,) = importlib.util.find_spec("sae_bench").submodule_search_locations
    source = Path(package) / "custom_saes" / "run_all_evals_custom_saes.py"
    calls: dict[str, dict[str, Any]] = {}
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            constants = {
                kw.arg: kw.value.value
                for kw in node.keywords
                if kw.arg and isinstance(kw.value, ast.Constant)
            }
            key = node.func.attr
            if key == "ScrAndTppEvalConfig":
                key += "/scr" if constants.get("perform_scr") else "/tpp"
            calls[key] = constants
    return calls


def _published(reference_config_class, runner_kwargs: dict[str, Any]) -> dict[str, Any]:
    """A SAEBench config class's defaults, overridden by what its runner passes."""
    return {**dataclasses.asdict(reference_config_class()), **runner_kwargs}


def _compare(ours: dict[str, Any], published: dict[str, Any], renamed=None) -> None:
    renamed = renamed or {}
    published = {renamed.get(k, k): v for k, v in published.items()}
    shared = (set(published) & set(ours)) - RUNTIME_FIELDS
    assert shared, "no field in common"
    differing = {k: (ours[k], published[k]) for k in shared if ours[k] != published[k]}
    assert not differing, f"saebench preset differs from SAEBench's published settings: {differing}"
    # Every field of ours is either SAEBench's or one of our documented additions.
    extra = set(ours) - set(published) - OURS - OPTIONS - RUNTIME_FIELDS
    assert not extra, f"fields neither SAEBench's nor documented additions: {sorted(extra)}"


def test_core_saebench_preset_is_the_published_core_settings():
    import sae_bench.evals.core.main as core

    signature = inspect.signature(core.multiple_evals)
    defaults = {
        name: p.default for name, p in signature.parameters.items() if p.default is not p.empty
    }
    called = {**defaults, **_runner_calls()["multiple_evals"]}
    # `multiple_evals` builds its config with every metric switched on, from three of its
    # arguments; the runner's arguments and its other defaults come on top.
    switches = core.get_multiple_evals_everything_config(
        batch_size_prompts=called["eval_batch_size_prompts"],
        n_eval_reconstruction_batches=called["n_eval_reconstruction_batches"],
        n_eval_sparsity_variance_batches=called["n_eval_sparsity_variance_batches"],
    )
    published = {**dataclasses.asdict(switches), **called}
    ours = effective_config("core", dataset=HUB)
    assert ours["size_preset"] == "saebench"
    _compare(ours, published, renamed={"eval_batch_size_prompts": "batch_size_prompts"})
    # The four numbers the published results rest on, spelled out.
    assert ours["n_eval_reconstruction_batches"] == 200
    assert ours["n_eval_sparsity_variance_batches"] == 2000
    assert ours["exclude_special_tokens_from_reconstruction"] is True
    assert ours["compute_featurewise_density_statistics"] is True


@pytest.mark.parametrize(
    ("eval_name", "module", "class_name", "call"),
    [
        ("absorption", "absorption", "AbsorptionEvalConfig", "AbsorptionEvalConfig"),
        ("sparse_probing", "sparse_probing", "SparseProbingEvalConfig", "SparseProbingEvalConfig"),
        ("scr", "scr_and_tpp", "ScrAndTppEvalConfig", "ScrAndTppEvalConfig/scr"),
        ("tpp", "scr_and_tpp", "ScrAndTppEvalConfig", "ScrAndTppEvalConfig/tpp"),
    ],
)
def test_saebench_preset_is_the_published_settings(eval_name, module, class_name, call):
    reference = getattr(
        importlib.import_module(f"sae_bench.evals.{module}.eval_config"), class_name
    )
    published = _published(reference, _runner_calls()[call])
    ours = effective_config(eval_name, dataset=HUB)
    assert ours["size_preset"] == "saebench"
    published["random_seed"] = 42  # the runner passes its RANDOM_SEED constant by name
    _compare(ours, published)


@pytest.mark.parametrize("eval_name", ["core", "absorption", "sparse_probing", "scr", "tpp"])
def test_offline_preset_is_named_and_smaller(eval_name):
    offline = effective_config(eval_name)
    published = effective_config(eval_name, dataset=HUB)
    assert offline["size_preset"] == "offline"
    smaller = {k for k in offline if offline[k] != published[k]} - RUNTIME_FIELDS - OURS
    assert smaller, "the offline preset must change some size"
    # A preset can be chosen anywhere: the published sizes on the built-in data, and back.
    assert effective_config(eval_name, preset="saebench")["size_preset"] == "saebench"
    assert effective_config(eval_name, dataset=HUB, preset="offline") == {
        **offline,
        **{k: published[k] for k in ("dataset", "dataset_source") if k in published},
    }


def test_config_command_prints_the_run_config():
    runner = CliRunner()
    result = runner.invoke(app, ["config", "core", "--dataset", HUB])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert shown["n_eval_reconstruction_batches"] == 200
    assert shown["n_eval_sparsity_variance_batches"] == 2000
    assert shown["exclude_special_tokens_from_reconstruction"] is True
    offline = json.loads(runner.invoke(app, ["config", "core"]).output)
    assert offline["size_preset"] == "offline" and offline["dataset"] == "saeeval/offline-text"
    overridden = runner.invoke(app, ["config", "core", "--set", "core.context_size=64"])
    assert json.loads(overridden.output)["context_size"] == 64
    bad = runner.invoke(app, ["config", "core", "--preset", "huge"])
    assert bad.exit_code == 2 and "expected one of saebench, offline" in bad.output


def test_unknown_preset_fails_before_any_work(tmp_path):
    from saeeval.runner import RunRequest, run

    with pytest.raises(SaeevalError, match="--preset 'large'"):
        run(
            RunRequest(
                saes=[str(tmp_path / "missing")], evals=["core"], out=tmp_path, preset="large"
            )
        )
