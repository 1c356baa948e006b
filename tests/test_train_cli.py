"""`saeeval train` and `saeeval sweep` on the embedded model, as users run them."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import jsonschema
import pytest
from test_runner import core_schema
from typer.testing import CliRunner

from saeeval.cli import app

runner = CliRunner()
CUSTOM = Path(__file__).parent / "data" / "dictionary_style_trainer.py"
SMALL_EVAL = [
    "--set",
    "core.batch_size_prompts=4",
    "--set",
    "core.n_eval_reconstruction_batches=1",
    "--set",
    "core.n_eval_sparsity_variance_batches=2",
]
TINY = ["--d-sae", "1152", "--tokens", "8192", "--batch-size", "512", "--device", "cpu"]


def invoke(*args):
    result = runner.invoke(app, list(map(str, args)))
    return result.exit_code, result.output


def test_unknown_trainer_fails_before_loading_anything(tmp_path):
    code, out = invoke("train", "--trainer", "topkk", "--out", tmp_path)
    assert code == 2 and "unknown trainer 'topkk'" in out


def test_trainers_are_listed():
    code, out = invoke("trainers")
    names = [line.split()[0] for line in out.splitlines()]
    expected = ["adaptive_ortho", "batch_topk", "gated", "jumprelu", "matryoshka_batch_topk"]
    expected += ["p_anneal", "standard", "temperature", "topk"]
    assert code == 0 and names == sorted(expected)


@pytest.mark.embedded
@pytest.mark.parametrize(
    "args, message",
    [
        (["--trainer", "topk", "--k", "5000"], "k (5000) must not exceed d_sae (1152)"),
        (["--trainer", "standard", "--sparsity-penalty", "-0.1"], "greater than or equal to 0"),
        (
            ["--trainer", "temperature", "--param", "tau_start=0.05", "--param", "tau_end=0.3"],
            "tau_end (0.3) must not exceed tau_start (0.05)",
        ),
        (["--trainer", f"{CUSTOM}:Missing"], "defines no class 'Missing'"),
        (["--trainer", "topk", "--param", "k32"], "--param 'k32': expected NAME=VALUE"),
        (["--trainer", "topk", "--dtype", "float64"], "--dtype must be one of float32, float16"),
    ],
)
def test_bad_training_requests(tmp_path, embedded_model, args, message):
    code, out = invoke("train", "--out", tmp_path / "run", *TINY, *args)
    assert code == 2 and message in out, out
    assert not (tmp_path / "run" / "sae").exists()


@pytest.mark.embedded
def test_train_then_evaluate(tmp_path, embedded_model):
    out = tmp_path / "topk"
    code, text = invoke(
        "train",
        "--trainer",
        "topk",
        "--k",
        "16",
        "--out",
        out,
        "--eval",
        "core",
        *TINY,
        *SMALL_EVAL,
    )
    assert code == 0, text
    result = json.loads((out / "eval" / "core" / "topk_eval_results.json").read_text())
    jsonschema.validate(result, core_schema())
    assert result["sae_cfg_dict"]["training_tokens"] == 8192
    assert result["eval_result_metrics"]["sparsity"]["l0"] == pytest.approx(16)
    summary = json.loads((out / "final_info.json").read_text())
    assert list(summary) == ["training results for layer 6", "core evaluation results"]
    core = summary["core evaluation results"]
    assert core["sae_id"] == "topk" and core["metrics"] == result["eval_result_metrics"]
    training = summary["training results for layer 6"]
    assert training["config"]["trainer_class"] == "TopKTrainer"
    assert training["final_info"]["training_steps"] == 16


@pytest.mark.embedded
def test_train_on_a_bfloat16_model(tmp_path, embedded_model):
    """Activations come from the model in bfloat16, the SAE trains and is saved in float32, and
    its evals run on the same bfloat16 model; every record says so."""
    out = tmp_path / "bf16"
    args = ["--trainer", "topk", "--k", "16", "--out", out, "--dtype", "bfloat16"]
    code, text = invoke("train", *args, "--eval", "core", *TINY, *SMALL_EVAL)
    assert code == 0, text
    record = json.loads((out / "training_results.json").read_text())
    assert record["run"]["model_dtype"] == "bfloat16"
    cfg = json.loads((out / "sae" / "cfg.json").read_text())
    assert cfg["dtype"] == "float32" and cfg["metadata"]["model_dtype"] == "bfloat16"
    result = json.loads((out / "eval" / "core" / "bf16_eval_results.json").read_text())
    assert result["eval_config"]["llm_dtype"] == "bfloat16"
    assert 0 < result["eval_result_metrics"]["reconstruction_quality"]["explained_variance"] <= 1


@pytest.mark.embedded
def test_sweep_runs_a_grid_and_summarises(tmp_path, embedded_model):
    """The grid trains in one pass; a run that diverges is named and the others go on."""
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(
        "tokens: 4096\nbatch_size: 512\nd_sae: 1152\n"
        "eval_overrides: [core.batch_size_prompts=4, core.n_eval_reconstruction_batches=1,"
        " core.n_eval_sparsity_variance_batches=2]\n"
        "grid:\n  - trainer: topk\n    k: [8, 16]\n  - trainer: gated\n"
        "  - trainer: standard\n    lr: 1.0e+9\n"
    )
    out = tmp_path / "grid"
    code, text = invoke("sweep", sweep, "--out", out, "--device", "cpu")
    assert code == 1, text
    assert "training pass 1 of 1" in text and "training diverged" in text
    with open(out / "summary.csv") as f:
        rows = {row["run"]: row for row in csv.DictReader(f)}
    assert list(rows) == ["topk_k8", "topk_k16", "gated", "standard"]
    assert "training diverged" in rows["standard"]["training_failed"]
    for name in ("topk_k8", "topk_k16", "gated"):
        assert float(rows[name]["train_runs_in_pass"]) == 4 and not rows[name]["training_failed"]
        assert rows[name]["ce_loss_score"]
        assert (out / name / "final_info.json").is_file()
    row = r"\|\s*topk_k16\s*\|\s*topk\s*\|\s*1152\s*\|\s*16\s*\|"  # pandas pads cells
    assert re.search(row, (out / "summary.md").read_text())
    code, text = invoke("sweep", sweep, "--out", out, "--device", "cpu")  # only the failure reruns
    assert code == 1 and text.count("already trained") == 3 and "training diverged" in text

    # The report on the sweep's folder draws each trained run's curves, found through the runs'
    # manifests; the diverged run has no result and is not drawn.
    code, text = invoke("report", out)
    assert code == 0, text
    svg = (out / "report" / "training_curves.svg").read_text()
    assert all(name in svg for name in ("topk_k8", "topk_k16", "gated")) and "standard" not in svg
    assert "training_curves" in (out / "report" / "index.html").read_text()
