"""`saeeval compare` and `saeeval.results.load`: known-answer SAEs through a real core eval on a
tiny model, matched-L0 interpolation on a family written as SAEBench writes results, refusals."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import torch
from helpers import random_sae, saved
from tiny_models import tiny_model
from typer.testing import CliRunner

import saeeval.results
from saeeval.cli import app
from saeeval.comparison import compare
from saeeval.errors import SaeevalError
from saeeval.runner import RunRequest, run

HOOK = "blocks.1.hook_resid_post"
SMALL = {
    "core": {
        "batch_size_prompts": 4,
        "n_eval_reconstruction_batches": 4,
        "n_eval_sparsity_variance_batches": 4,
        "context_size": 32,
    }
}


def _known_answer_sae(kind: str, hook: str = HOOK):
    """identity: reconstructs exactly (ReLU of +x and -x); half: the same at half scale; zero:
    reconstructs nothing."""
    sae = random_sae("standard", 64, 128, hook, model_name="tiny-llama")
    eye = torch.eye(64)
    scale = {"identity": 1.0, "half": 0.5, "zero": 0.0}[kind]
    with torch.no_grad():
        sae.W_enc.copy_(torch.cat([eye, -eye], dim=1))
        sae.b_enc.zero_()
        sae.W_dec.copy_(torch.cat([eye, -eye], dim=0) * scale)
        sae.b_dec.zero_()
    return sae


@pytest.fixture(scope="module")
def text_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "owt.jsonl"
    lines = [
        json.dumps({"text": f"Line {i}: a dog ran past tree {i * 5 % 17}. " * 4})
        for i in range(200)
    ]
    path.write_text("\n".join(lines))
    return path


@pytest.fixture(scope="module")
def known_results(tmp_path_factory, text_file) -> Path:
    root = tmp_path_factory.mktemp("known")
    saes = [
        saved(_known_answer_sae(kind), root / "saes" / name)
        for name, kind in (
            ("identity", "identity"),
            ("identity_again", "identity"),
            ("half", "half"),
            ("zero", "zero"),
        )
    ]
    model = tiny_model("llama")
    request = RunRequest(
        saes=[str(s) for s in saes],
        evals=["core"],
        out=root / "results",
        device="cpu",
        dataset=str(text_file),
        overrides=SMALL,
    )
    outcome = run(request, log=lambda m: None, model_loader=lambda *_: model)
    assert len(outcome.written) == 4
    return root / "results"


def _row(frame: pd.DataFrame, sae_id: str, metric: str) -> pd.Series:
    rows = frame[(frame.sae_id == sae_id) & (frame.metric == metric)]
    assert len(rows) == 1, (sae_id, metric)
    return rows.iloc[0]


def test_load_gives_one_row_per_sae_eval_and_metric_with_intervals(known_results):
    frame = saeeval.results.load(known_results)
    assert set(frame.sae_id) == {"identity", "identity_again", "half", "zero"}
    assert set(frame.columns) >= {"value", "ci_low", "ci_high", "model", "hook", "size_preset"}
    identity = _row(frame, "identity", "explained_variance")
    assert identity.value == pytest.approx(1.0, abs=1e-5)
    assert identity.unit == "batch" and identity.n_units == 4
    assert (identity.model, identity.hook) == ("tiny-llama", HOOK)
    # A local file is not the built-in data: the published sizes apply (cut down by SMALL).
    assert (identity.data_source, identity.size_preset) == ("local", "saebench")
    assert _row(frame, "identity", "ce_loss_score").value == pytest.approx(1.0, abs=1e-4)
    zero = _row(frame, "zero", "explained_variance")
    assert zero.value <= 0 and zero.ci_low <= zero.value <= zero.ci_high
    assert _row(frame, "half", "l0").l0 == _row(frame, "half", "l0").value


def test_known_answer_differences(known_results):
    frame = compare([known_results], "zero")
    assert set(frame.sae_id) == {"identity", "identity_again", "half"}
    # The output's norm over the input's: 1, 1/2 and 0 by construction.
    for sae_id, delta in (("identity", 1.0), ("half", 0.5)):
        ratio = _row(frame, sae_id, "l2_ratio")
        assert ratio.delta == pytest.approx(delta, abs=1e-5) and ratio.paired
        assert ratio.significant and ratio.ci_low == pytest.approx(delta, abs=1e-5)
    ev = _row(frame, "identity", "explained_variance")
    assert ev.significant and ev.ci_low > 0.5

    against_half = compare([known_results], "half")
    ev = _row(against_half, "identity", "explained_variance")
    assert ev.delta > 0 and ev.significant


def test_an_sae_compared_with_itself_differs_by_nothing(known_results):
    frame = compare([known_results], "identity")
    for metric in ("explained_variance", "ce_loss_score", "kl_div_score", "l0"):
        row = _row(frame, "identity_again", metric)
        assert row.delta == pytest.approx(0.0, abs=1e-9), metric
        assert row.ci_low <= 0 <= row.ci_high and not row.significant, metric


def test_compare_cli_writes_csv_markdown_and_latex(known_results, tmp_path):
    result = CliRunner().invoke(
        app, ["compare", str(known_results), "--baseline", "zero", "--out", str(tmp_path / "c")]
    )
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(tmp_path / "c" / "comparison.csv")
    assert list(frame.columns[:9]) == [
        "sae_id",
        "baseline_id",
        "eval_type_id",
        "metric",
        "value",
        "baseline_value",
        "delta",
        "ci_low",
        "ci_high",
    ]
    assert (tmp_path / "c" / "comparison.md").read_text().count("*") >= 3
    assert "\\begin{tabular}" in (tmp_path / "c" / "comparison.tex").read_text()
    assert "excludes 0" in result.output


def _saebench_core_result(folder: Path, sae_id: str, l0: float, ev: float, arch="topk") -> None:
    """A core result as SAEBench's runner writes it (no saeeval stamp, no units)."""
    path = folder / "core" / f"{sae_id}_eval_results.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "eval_type_id": "core",
        "eval_config": {"model_name": "gemma-2-2b", "n_eval_reconstruction_batches": 200},
        "eval_id": sae_id,
        "datetime_epoch_millis": 0,
        "eval_result_metrics": {
            "sparsity": {"l0": l0, "l1": 1.0},
            "reconstruction_quality": {"explained_variance": ev, "cossim": 0.9},
        },
        "eval_result_details": [],
        "sae_bench_commit_hash": "abc",
        "sae_lens_id": sae_id,
        "sae_lens_release_id": "release",
        "sae_lens_version": "5.3.0",
        "sae_cfg_dict": {
            "architecture": arch,
            "d_sae": 16384,
            "model_name": "gemma-2-2b",
            "hook_name": "blocks.12.hook_resid_post",
        },
        "eval_result_unstructured": None,
    }
    path.write_text(json.dumps(result))


def test_a_family_baseline_is_interpolated_in_log_l0(tmp_path):
    family = tmp_path / "family"
    for i, (l0, ev) in enumerate([(10, 0.80), (40, 0.90), (160, 0.96)]):
        _saebench_core_result(family, f"topk_{i}", l0, ev)
    mine = tmp_path / "mine"
    _saebench_core_result(mine, "new", 20, 0.87, arch="matryoshka")
    _saebench_core_result(mine, "sparse", 5, 0.70, arch="matryoshka")
    frame = compare([mine], family)
    row = _row(frame, "new", "explained_variance")
    assert row.baseline_value == pytest.approx(0.85)  # halfway in log L0 from 10 to 40
    assert row.delta == pytest.approx(0.02)
    assert "interpolated in log L0" in row.note and "topk_0" in row.note
    assert pd.isna(row.ci_low) and "no units" in row.note  # SAEBench's files carry none
    outside = _row(frame, "sparse", "explained_variance")
    assert pd.isna(outside.delta) and "outside the family's 10.0-160.0" in outside.note


def test_a_baseline_of_two_families_is_refused(tmp_path):
    family = tmp_path / "family"
    _saebench_core_result(family, "a", 10, 0.8)
    _saebench_core_result(family, "b", 20, 0.85, arch="relu")
    mine = tmp_path / "mine"
    _saebench_core_result(mine, "new", 15, 0.82)
    with pytest.raises(SaeevalError, match="more than one family"):
        compare([mine], family)


def test_mismatched_conditions_are_refused_unless_allowed(known_results, tmp_path, text_file):
    model = tiny_model("llama")

    def results_of(name: str, **kw) -> Path:
        sae = saved(_known_answer_sae("identity", kw.pop("hook", HOOK)), tmp_path / name / "sae")
        request = RunRequest(
            saes=[str(sae)],
            evals=["core"],
            out=tmp_path / name / "results",
            device="cpu",
            overrides=SMALL,
            **{"dataset": str(text_file), **kw},
        )
        run(request, log=lambda m: None, model_loader=lambda *_: model)
        return tmp_path / name / "results"

    cases = {
        "hook": results_of("other_hook", hook="blocks.0.hook_resid_post"),
        "data source": results_of("builtin", dataset=None, preset="saebench"),
        "size preset": results_of("offline_preset", preset="offline"),
    }
    for difference, folder in cases.items():
        with pytest.raises(SaeevalError, match=f"differ in {difference}"):
            compare([folder], known_results)
        assert not compare([folder], known_results, allow_mismatch=True).empty

    renamed = tmp_path / "other_model"
    shutil.copytree(known_results, renamed)
    for path in renamed.rglob("identity_eval_results.json"):
        data = json.loads(path.read_text())
        data["saeeval"]["inputs"]["model"] = "another-model"
        path.write_text(json.dumps(data))
    with pytest.raises(SaeevalError, match="differ in model"):
        compare([renamed], known_results / "core")


def test_a_baseline_that_is_neither_a_folder_nor_an_sae(known_results):
    with pytest.raises(SaeevalError, match="neither a results folder nor an SAE.*identity"):
        compare([known_results], "nonexistent")


def test_final_info_of_the_research_loop_is_read(tmp_path):
    run_dir = tmp_path / "run_3"
    run_dir.mkdir()
    core = {
        "unique_id": "google/gemma-2-2b_layer_19_sae_custom_sae",
        "sae_set": "google/gemma-2-2b_layer_19_sae",
        "sae_id": "custom_sae",
        "eval_cfg": {"model_name": "google/gemma-2-2b", "n_eval_reconstruction_batches": 200},
        "metrics": {
            "model_performance_preservation": {"ce_loss_score": 0.9868},
            "reconstruction_quality": {"explained_variance": 0.8203},
            "sparsity": {"l0": 1639.48},
        },
    }
    info = {
        "training results for layer 19": {
            "config": {"trainer_class": "JumpReLUTrainer", "dict_size": 2304, "lm_name": "g2"},
            "final_info": {"training_steps": 4882},
        },
        "core evaluation results": core,
    }
    (run_dir / "final_info.json").write_text(json.dumps(info))
    frame = saeeval.results.load(tmp_path)
    ev = _row(frame, "run_3", "explained_variance")
    assert ev.value == pytest.approx(0.8203) and ev.l0 == pytest.approx(1639.48)
    assert ev.architecture == "JumpReLUTrainer" and ev.d_sae == 2304


def test_a_baseline_folder_may_reuse_the_compared_saes_names(known_results, tmp_path):
    # The baseline folder holds the zero SAE's result under the name "half" (an older run of an
    # SAE of that name, say): each side's units must come from its own file.
    baseline = tmp_path / "older" / "core"
    baseline.mkdir(parents=True)
    shutil.copy(
        known_results / "core" / "zero_eval_results.json", baseline / "half_eval_results.json"
    )
    frame = compare([known_results], baseline.parent)
    ratio = _row(frame, "half", "l2_ratio")
    assert ratio.baseline_value == pytest.approx(0.0, abs=1e-6) and ratio.paired
    assert ratio.ci_low == pytest.approx(0.5, abs=1e-5) and ratio.ci_high == pytest.approx(
        0.5, abs=1e-5
    )
