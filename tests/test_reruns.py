"""Runs that are rerun, changed, broken or partly failing, on tiny models: provenance in every
result, resume by content, damaged files, per-SAE failures, checks before the model loads, SAEs
that name no model, and NaN metrics that no reader mistakes for numbers."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import torch
from helpers import random_sae, saebench_schema, saved
from test_runner import SMALL
from tiny_models import tiny_model
from typer.testing import CliRunner

from saeeval import __version__
from saeeval.cli import app
from saeeval.diagnostics import diagnose
from saeeval.errors import SaeevalError
from saeeval.evals.core import CoreEval
from saeeval.files import atomic_write_json
from saeeval.models import EMBEDDED_MODEL_NAME
from saeeval.provenance import code_id, source_revision
from saeeval.reports import build_report
from saeeval.results import read_result, read_results
from saeeval.runner import RunRequest, run

HOOK = "blocks.1.hook_resid_post"
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def corpus(tmp_path) -> Path:
    """A small local text dataset (a .jsonl file of short documents)."""
    path = tmp_path / "owt.jsonl"
    rows = [
        {"text": f"Sentence {i}: the cat sat on mat number {i * 7 % 13}. " * 4} for i in range(200)
    ]
    path.write_text("\n".join(json.dumps(row) for row in rows))
    return path


@pytest.fixture(scope="module")
def llama():
    return tiny_model("llama")


def _sae(tmp_path, name, seed=0, model_name="tiny-llama", **kw):
    sae = random_sae("topk", 64, 128, HOOK, seed=seed, model_name=model_name, **kw)
    return saved(sae, tmp_path / "saes" / name)


def _run(tmp_path, corpus, saes, llama, log=None, **kw):
    request = RunRequest(
        saes=[str(s) for s in saes],
        **{
            "evals": ["core"],
            "out": tmp_path / "out",
            "device": "cpu",
            "dataset": str(corpus),
            "overrides": SMALL,
            **kw,
        },
    )
    return run(
        request, log=log if log is not None else (lambda m: None), model_loader=lambda *_: llama
    )


def _core(overrides=None):
    return {"core": {**SMALL["core"], **(overrides or {})}}


# -- provenance --------------------------------------------------------------------------------


def test_results_and_manifest_record_the_code_the_eval_and_the_overrides(
    tmp_path,
    corpus,
    llama,
    isolated_cache,
):
    _run(tmp_path, corpus, [_sae(tmp_path, "a")], llama)
    result = json.loads((tmp_path / "out" / "core" / "a_eval_results.json").read_text())
    jsonschema.validate(result, saebench_schema("core"))  # the stamp is allowed by the schema
    stamp = result["saeeval"]
    # The code that ran: from an installed wheel (as tox installs it) a version and no revision,
    # from an editable install of this checkout its commit too (the next test checks that case).
    assert stamp["saeeval_version"] == __version__
    assert stamp["source_revision"] == source_revision()
    assert result["sae_bench_commit_hash"] == code_id()
    assert stamp["eval_version"] == CoreEval.version == 1
    assert stamp["overrides"] == SMALL["core"]
    assert stamp["requested_config"]["n_eval_reconstruction_batches"] == 2
    assert stamp["sae_fingerprint"].startswith("sha256:")
    assert stamp["inputs"]["dataset"] == str(corpus) and stamp["inputs"]["seed"] == 42

    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    entry = manifest["results"]["core/a"]
    assert entry["eval_version"] == 1 and entry["overrides"] == SMALL["core"]
    assert entry["sae_fingerprint"] == stamp["sae_fingerprint"]
    assert manifest["runs"][-1]["source_revision"] == source_revision()
    assert manifest["runs"][-1]["saeeval_version"] == __version__


def test_a_checkout_records_its_commit_and_whether_it_is_dirty(tmp_path):
    """saeeval imported from this checkout (as an editable install or PYTHONPATH gives it)."""
    commit = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    probe = (
        "import json, saeeval.provenance as p; print(json.dumps("
        "{'file': p.__file__, 'revision': p.source_revision(), 'id': p.code_id()}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    seen = json.loads(done.stdout)
    assert Path(seen["file"]).resolve().parent.parent == REPO.resolve()
    assert seen["revision"]["commit"] == commit
    assert isinstance(seen["revision"]["dirty"], bool)
    assert seen["id"].startswith(f"saeeval-{__version__}+g{commit[:12]}")


def test_an_installed_wheel_has_a_version_but_no_revision(monkeypatch, tmp_path):
    import saeeval.provenance as provenance

    source_revision.cache_clear()
    monkeypatch.setattr(provenance, "_CHECKOUT", tmp_path / "site-packages")
    try:
        assert provenance.source_revision() is None
        assert provenance.code_id() == f"saeeval-{__version__}"
    finally:
        source_revision.cache_clear()


# -- resume by content -------------------------------------------------------------------------


def test_a_rerun_keeps_only_results_of_the_same_request(
    tmp_path,
    corpus,
    llama,
    isolated_cache,
    monkeypatch,
):
    folder = _sae(tmp_path, "a")
    path = tmp_path / "out" / "core" / "a_eval_results.json"

    def eval_id() -> str:
        return json.loads(path.read_text())["eval_id"]

    def rerun(**kw):
        messages: list[str] = []
        outcome = _run(tmp_path, corpus, [folder], llama, log=messages.append, **kw)
        return outcome, "\n".join(messages)

    _run(tmp_path, corpus, [folder], llama)
    first = eval_id()
    outcome, _ = rerun()
    assert [s[1] for s in outcome.skipped] == ["a"] and eval_id() == first

    outcome, log = rerun(overrides=_core({"n_eval_reconstruction_batches": 3}))
    assert "rerunning core for a: the eval config changed" in log
    assert "n_eval_reconstruction_batches: 2 -> 3" in log and eval_id() != first
    outcome, log = rerun(overrides=_core({"n_eval_reconstruction_batches": 3}))
    assert outcome.skipped and not outcome.written  # the new config is now the finished one

    saved(random_sae("topk", 64, 128, HOOK, seed=5, model_name="tiny-llama"), folder)
    outcome, log = rerun(overrides=_core({"n_eval_reconstruction_batches": 3}))
    assert "the SAE's weights or config changed" in log and len(outcome.written) == 1

    outcome, log = rerun(overrides=_core({"n_eval_reconstruction_batches": 3}), seed=7)
    assert "the model, data or seed changed (seed: 42 -> 7)" in log

    # Local data defaults to the saebench preset; --set keeps the sizes, the preset still counts.
    outcome, log = rerun(
        overrides=_core({"n_eval_reconstruction_batches": 3}), seed=7, preset="offline"
    )
    assert "the eval config changed (size_preset: 'saebench' -> 'offline')" in log

    monkeypatch.setattr(CoreEval, "version", 2)
    outcome, log = rerun(
        overrides=_core({"n_eval_reconstruction_batches": 3}), seed=7, preset="offline"
    )
    assert "the eval's version changed (1 -> 2)" in log and len(outcome.written) == 1


def test_a_damaged_result_is_reported_rerun_and_never_stops_a_report(
    tmp_path,
    corpus,
    llama,
    isolated_cache,
):
    folders = [_sae(tmp_path, "a"), _sae(tmp_path, "b", seed=1)]
    _run(tmp_path, corpus, folders, llama)
    damaged = tmp_path / "out" / "core" / "a_eval_results.json"
    damaged.write_text('{"eval_type_id": "core", "eval_res')  # a crash mid-copy, say
    stray = tmp_path / "out" / "core" / "stray_eval_results.json"
    stray.write_text("[1, 2]")

    report = build_report(tmp_path / "out").read_text()  # the report goes on without them
    assert re.search(r"\|\s*b\s*\|", report) and not re.search(r"\|\s*a\s*\|", report)
    assert "## Files left out" in report and "stray_eval_results.json" in report
    unreadable: list = []
    assert [r["_sae_id"] for r in read_results(tmp_path / "out", unreadable)] == ["b"]
    assert sorted(p.name for p, _ in unreadable) == [damaged.name, stray.name]

    messages: list[str] = []
    outcome = _run(tmp_path, corpus, folders, llama, log=messages.append)
    assert any(
        "rerunning core for a: the result file is damaged" in m and "not a readable" in m
        for m in messages
    )
    assert [w[1] for w in outcome.written] == ["a"] and [s[1] for s in outcome.skipped] == ["b"]
    jsonschema.validate(json.loads(damaged.read_text()), saebench_schema("core"))


def test_an_unreadable_manifest_is_kept_aside_and_said(
    tmp_path,
    corpus,
    llama,
    isolated_cache,
):
    out = tmp_path / "out"
    out.mkdir()
    (out / "manifest.json").write_text("{ not json")
    messages: list[str] = []
    _run(tmp_path, corpus, [_sae(tmp_path, "a")], llama, log=messages.append)
    kept = list(out.glob("manifest.json.unreadable-*"))
    assert len(kept) == 1 and kept[0].read_text() == "{ not json"
    assert any(f"it is kept as {kept[0].name}" in m for m in messages)
    assert "core/a" in json.loads((out / "manifest.json").read_text())["results"]


# -- keep going --------------------------------------------------------------------------------

# A user's eval that fails on some SAEs: the log-determinant of the decoder's Gram matrix exists
# only when the latents' directions are linearly independent (d_sae <= d_in), and it says so.
GRAM_EVAL = """
import torch
from pydantic import Field
from saeeval.evals import EvalConfig, HeadlineMetric
from saeeval.evals.envelope import build_result


class GramConfig(EvalConfig):
    model_name: str = Field("", description="the model")


class GramEval:
    name = "gram"
    eval_type_id = "gram"
    version = 1
    config_class = GramConfig
    headline_metrics = (HeadlineMetric("logdet", "log det", ("gram", "logdet"), None),)

    def default_config(self, context):
        return GramConfig(model_name=context.model.name)

    def run(self, context, saes, config):
        for loaded in saes:
            w = loaded.sae.W_dec.detach().double()
            rank = int(torch.linalg.matrix_rank(w))
            if rank < w.shape[0]:
                raise ValueError(f"{w.shape[0]} decoder directions span only {rank} dimensions")
            logdet = float(torch.linalg.slogdet(w @ w.T).logabsdet)
            yield loaded, build_result("gram", config.model_dump(), {"gram": {"logdet": logdet}},
                                       [], loaded)
"""


def _tiny_model_folder(folder: Path) -> Path:
    model = tiny_model("llama")
    model.model.save_pretrained(folder)
    model.tokenizer.save_pretrained(folder)
    return folder


def test_one_failing_sae_is_recorded_and_the_rest_go_on(tmp_path, isolated_cache):
    eval_file = tmp_path / "gram_eval.py"
    eval_file.write_text(GRAM_EVAL)
    model_dir = _tiny_model_folder(tmp_path / "tiny")
    saes = [
        saved(random_sae("topk", 64, 128, HOOK, k=8), tmp_path / "wide"),  # 128 > 64: fails
        saved(random_sae("topk", 64, 32, HOOK, k=8, seed=1), tmp_path / "narrow"),
        saved(random_sae("topk", 64, 48, HOOK, k=8, seed=2), tmp_path / "narrower"),
    ]
    out = tmp_path / "out"
    args = ["run", "--evals", f"{eval_file}:GramEval", "--model", model_dir, "--out", out]
    for sae in saes:
        args += ["--sae", sae]
    result = CliRunner().invoke(app, [*map(str, args), "--device", "cpu"])
    assert result.exit_code == 1, result.output  # 1: the run went on past a failure
    assert "1 (SAE, eval) pair(s) failed" in result.output
    assert "wide / gram: ValueError: 128 decoder directions span only 64" in result.output
    assert (out / "gram" / "narrow_eval_results.json").is_file()
    assert (out / "gram" / "narrower_eval_results.json").is_file()
    assert not (out / "gram" / "wide_eval_results.json").exists()
    manifest = json.loads((out / "manifest.json").read_text())
    entry = manifest["results"]["gram/wide"]
    assert entry["result"] is None and entry["failed"].startswith("ValueError")
    assert "gram_eval.py" in entry["traceback"]
    assert manifest["runs"][-1]["failures"] == [
        {"eval": "gram", "sae_id": "wide", "reason": entry["failed"]}
    ]
    # Usage errors keep their own exit code.
    bad = CliRunner().invoke(app, [*map(str, args), "--set", "gram.nope=1"])
    assert bad.exit_code == 2 and "nope" in bad.output


# -- check before the long part ----------------------------------------------------------------


@pytest.mark.parametrize(
    "change, message",
    [
        ({"overrides": {"core": {"n_eval_reconstruction_batches": 0}}}, "greater than 0"),
        ({"overrides": {"core": {"n_eval_reconstrution_batches": 4}}}, "Extra inputs"),
        ({"overrides": {"scr": {"k": 4}}}, "--set names eval 'scr', which is not in --evals"),
        ({"hook": "blocks.1.resid_post"}, "is not a supported hook name"),
        ({"dtype": "float8"}, "--dtype must be one of"),
    ],
)
def test_bad_requests_fail_before_the_model_loads(tmp_path, corpus, change, message):
    loaded = []

    def loader(*args):
        loaded.append(args)
        return tiny_model("llama")

    request = RunRequest(
        saes=[str(_sae(tmp_path, "a"))],
        evals=["core"],
        out=tmp_path / "out",
        device="cpu",
        dataset=str(corpus),
        **change,
    )
    with pytest.raises(SaeevalError, match=message):
        run(request, log=lambda m: None, model_loader=loader)
    assert loaded == []  # the model never loaded
    assert not (tmp_path / "out").exists()


def test_an_sae_hook_the_parser_rejects_fails_before_the_model_loads(tmp_path, corpus):
    folder = _sae(tmp_path, "a")
    cfg = json.loads((folder / "cfg.json").read_text())
    cfg["metadata"]["hook_name"] = "blocks.1.hook_resid"
    (folder / "cfg.json").write_text(json.dumps(cfg))
    request = RunRequest(saes=[str(folder)], evals=["core"], out=tmp_path / "out", device="cpu")
    with pytest.raises(SaeevalError, match=r"saes/a.*not a supported hook name|hook"):
        run(request, log=lambda m: None, model_loader=lambda *_: pytest.fail("model loaded"))


# -- SAEs with no model name -------------------------------------------------------------------


def test_an_sae_that_names_no_model_is_said_to_run_on_the_embedded_one(
    tmp_path,
    corpus,
    llama,
    isolated_cache,
):
    folder = _sae(tmp_path, "anon", model_name=None)
    asked, messages = [], []

    def loader(name, device, dtype):
        asked.append(name)
        return llama  # a stand-in of the same width, to keep the test fast

    request = RunRequest(
        saes=[str(folder)],
        evals=["core"],
        out=tmp_path / "out",
        device="cpu",
        dataset=str(corpus),
        overrides=SMALL,
    )
    run(request, log=messages.append, model_loader=loader)
    assert asked == [EMBEDDED_MODEL_NAME]
    said = [m for m in messages if "names no model" in m]
    assert len(said) == 1 and said[0].startswith("warning:")
    assert f"the embedded {EMBEDDED_MODEL_NAME}" in said[0] and "Q4_1" in said[0]
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["results"]["core/anon"]["model_chosen_by"].startswith("default")
    stamp = json.loads((tmp_path / "out" / "core" / "anon_eval_results.json").read_text())
    assert stamp["saeeval"]["model_chosen_by"].startswith("default")


# -- honest values -----------------------------------------------------------------------------


def test_non_finite_metrics_are_listed_and_never_read_as_numbers(
    tmp_path,
    corpus,
    llama,
    isolated_cache,
):
    """A standard SAE whose reconstruction overflows float32: several core metrics are NaN or
    infinite. The file holds SAEBench's -1 there and lists each place; readers get NaN back."""
    sae = random_sae("standard", 64, 128, HOOK, model_name="tiny-llama")
    with torch.no_grad():
        sae.W_enc.mul_(1e19)
        sae.W_dec.mul_(1e19)
    out = _run(tmp_path, corpus, [saved(sae, tmp_path / "saes" / "huge")], llama)
    path = tmp_path / "out" / "core" / "huge_eval_results.json"
    raw = json.loads(path.read_text())
    jsonschema.validate(raw, saebench_schema("core"))  # still numbers where the schema says so
    listed = raw["saeeval"]["non_finite"]
    metrics = [p for p in listed if p.startswith("eval_result_metrics.")]
    assert "eval_result_metrics.reconstruction_quality.mse" in metrics
    for place in metrics:
        group, name = place.split(".")[1:]
        assert raw["eval_result_metrics"][group][name] == -1
        assert listed[place] in ("nan", "inf", "-inf")
    read = read_result(path)
    for place in metrics:
        group, name = place.split(".")[1:]
        assert math.isnan(read["eval_result_metrics"][group][name]) or math.isinf(
            read["eval_result_metrics"][group][name]
        )
    warning = [w for w in diagnose(read) if "NaN or infinite" in w]
    assert warning and all(p.split(".", 1)[1] in warning[0] for p in metrics)
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["results"]["core/huge"]["non_finite_metrics"] == [
        p.split(".", 1)[1] for p in metrics
    ]
    assert any("NaN or infinite" in w[2] for w in out.warnings)


def test_a_measured_minus_one_is_not_taken_for_a_missing_value(
    tmp_path,
    corpus,
    llama,
    isolated_cache,
):
    _run(tmp_path, corpus, [_sae(tmp_path, "a")], llama)
    result = read_result(tmp_path / "out" / "core" / "a_eval_results.json")
    result["eval_result_metrics"]["reconstruction_quality"]["cossim"] = -1.0  # measured: opposite
    assert not any("NaN" in w for w in diagnose(result))


def test_other_files_write_missing_values_as_null(tmp_path):
    atomic_write_json(tmp_path / "x.json", {"loss": float("nan"), "best": [1.0, float("inf")]})
    assert json.loads((tmp_path / "x.json").read_text()) == {"loss": None, "best": [1.0, None]}
