"""Sanity diagnostics on results, and the report built from a results folder."""

from __future__ import annotations

import copy
import json

import pytest
from helpers import random_sae, saved
from test_runner import SMALL, text_file  # noqa: F401  (fixture)
from tiny_models import tiny_model

from saeeval.diagnostics import diagnose
from saeeval.errors import SaeevalError
from saeeval.reports import build_report
from saeeval.runner import RunRequest, run


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


def test_healthy_looking_result_has_no_warning_about_sparsity(results):
    _, found = results
    assert not any("not sparse" in w for w in diagnose(found[0]))


def test_each_failure_is_named(results):
    _, found = results
    broken = copy.deepcopy(found[0])
    metrics = broken["eval_result_metrics"]
    metrics["reconstruction_quality"]["explained_variance"] = -0.2
    metrics["model_performance_preservation"]["ce_loss_score"] = -1.5
    metrics["misc_metrics"]["frac_alive"] = 0.1
    metrics["shrinkage"]["l2_ratio"] = -1  # how a NaN is written
    warnings = "\n".join(diagnose(broken))
    assert "explained variance is negative" in warnings
    assert "CE-loss score is negative" in warnings
    assert "90% of latents never fired" in warnings
    assert "metrics came out NaN (written as -1): shrinkage.l2_ratio" in warnings


def test_report_has_a_row_per_sae_and_a_figure(results):
    from matplotlib.image import imread

    out, found = results
    report = build_report(out)
    text = report.read_text()
    for result in found:
        l0 = result["eval_result_metrics"]["sparsity"]["l0"]
        assert f"| {result['_sae_id']} | 128 | topk | {l0:.4g} |" in text
    image = imread(report.parent / "core_tradeoffs.png")
    assert image.shape[1] > 600 and image.std() > 0.01
    manifest = json.loads((out / "manifest.json").read_text())
    assert "tiny-llama" in manifest["models"] and "- model: `tiny-llama`" in text


def test_report_of_an_empty_folder(tmp_path):
    with pytest.raises(SaeevalError, match="holds no \\*_eval_results.json files"):
        build_report(tmp_path)
