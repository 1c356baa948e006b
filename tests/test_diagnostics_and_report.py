"""Sanity diagnostics on results, and the report built from a results folder."""

from __future__ import annotations

import copy
import json
import re

import pytest
from helpers import marker_pixels, random_sae, saved
from test_runner import SMALL, text_file  # noqa: F401  (fixture)
from tiny_models import tiny_model

from saeeval.activations import ActivationCache
from saeeval.data import load_contexts, load_text_dataset
from saeeval.diagnostics import diagnose
from saeeval.errors import SaeevalError
from saeeval.reports import build_report
from saeeval.runner import RunRequest, run
from saeeval.trainers.pca import fit_pca_sae

HOOK = "blocks.1.hook_resid_post"


@pytest.fixture
def results(tmp_path, text_file, isolated_cache):  # noqa: F811
    model = tiny_model("llama")
    saes = [
        saved(
            random_sae(
                "topk", 64, 128, "blocks.1.hook_resid_post", k=k, seed=k, model_name="tiny-llama"
            ),
            tmp_path / f"topk{k}",
        )
        for k in (4, 16)
    ]
    out = tmp_path / "out"
    outcome = run(
        RunRequest(
            saes=[str(s) for s in saes],
            evals=["core"],
            out=out,
            device="cpu",
            dataset=str(text_file),
            overrides=SMALL,
        ),
        log=lambda m: None,
        model_loader=lambda *_: model,
    )
    return out, outcome.results


def test_a_healthy_sae_gets_no_warning_and_random_ones_do(tmp_path, text_file, results):  # noqa: F811
    """The PCA baseline reconstructs well at half the width's L0: nothing to warn about. The
    random TopK SAEs of the fixture reconstruct worse than the mean, and are told so."""
    model = tiny_model("llama")
    dataset = load_text_dataset(str(text_file))
    contexts = load_contexts(model.tokenizer, model.bos_token_id, dataset, 32, 64, part="train")
    pca = fit_pca_sae(model, contexts, HOOK, ActivationCache(), k=32, n_contexts=len(contexts))
    outcome = run(
        RunRequest(
            saes=[str(saved(pca, tmp_path / "pca"))],
            evals=["core"],
            out=tmp_path / "pca-out",
            device="cpu",
            dataset=str(text_file),
            overrides=SMALL,
        ),
        log=lambda m: None,
        model_loader=lambda *_: model,
    )
    healthy = outcome.results[0]
    assert healthy["eval_result_metrics"]["reconstruction_quality"]["explained_variance"] > 0.5
    assert diagnose(healthy) == []
    _, random_saes = results
    for result in random_saes:
        assert any("explained variance is negative" in w for w in diagnose(result))


def test_each_failure_is_named(results):
    _, found = results
    broken = copy.deepcopy(found[0])
    metrics = broken["eval_result_metrics"]
    metrics["reconstruction_quality"]["explained_variance"] = -0.2
    metrics["model_performance_preservation"]["ce_loss_score"] = -1.5
    metrics["misc_metrics"]["frac_alive"] = 0.1
    metrics["sparsity"]["l0"] = 40.0  # of a 64-wide input
    metrics["shrinkage"]["l2_ratio"] = float("nan")
    broken["saeeval"]["non_finite"] = {"eval_result_metrics.shrinkage.l2_ratio": "nan"}
    warnings = "\n".join(diagnose(broken))
    assert "explained variance is negative" in warnings
    assert "CE-loss score is negative" in warnings
    assert "90% of latents never fired" in warnings
    assert "not sparse: L0 is 40 of 128 latents" in warnings
    assert "NaN or infinite (the file holds -1 in their place): shrinkage.l2_ratio" in warnings
    assert warnings.count("NaN or infinite") == 1


def test_report_has_a_row_per_sae_and_a_figure(results):
    from matplotlib.image import imread

    out, found = results
    report = build_report(out)
    text = report.read_text()
    for result in found:
        l0 = result["eval_result_metrics"]["sparsity"]["l0"]
        low, high = (
            result["eval_result_unstructured"]["saeeval_uncertainty"]["metrics"]["l0"]["ci_low"],
            result["eval_result_unstructured"]["saeeval_uncertainty"]["metrics"]["l0"]["ci_high"],
        )
        cells = rf"\|\s*{result['_sae_id']}\s*\|\s*128\s*\|\s*topk\s*\|"
        assert re.search(cells + rf"\s*{l0:.4g} \[{low:.4g}, {high:.4g}\]", text), text
    image = imread(report.parent / "all_saebench_view.png")
    # Both SAEs are TopK: one colour, the palette's first, in each panel.
    assert marker_pixels(image, 0) > 50 and marker_pixels(image, 1) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert "tiny-llama" in manifest["models"] and "- model file: tiny-llama (params-sha256:" in text


def test_report_of_an_empty_folder(tmp_path):
    with pytest.raises(SaeevalError, match="holds no \\*_eval_results.json files"):
        build_report(tmp_path)
