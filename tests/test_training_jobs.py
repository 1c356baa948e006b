"""Training jobs around the loop, on a tiny model saved as a local model folder: held-out
evaluation text, reuse of finished runs only for the same job, and checks before the model loads.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from tiny_models import tiny_model
from typer.testing import CliRunner

from saeeval.cli import app
from saeeval.data.contexts import document_part
from saeeval.errors import SaeevalError
from saeeval.evals import EvalContext
from saeeval.trainers.loop import TrainingPlan
from saeeval.trainers.record import TRAINING_RESULTS
from saeeval.workflows import load_training_inputs, the_model, train_and_evaluate

HOOK = "blocks.1.hook_resid_post"
N_DOCUMENTS = 20_000


def _model_folder(folder: Path, seed: int = 0) -> Path:
    model = tiny_model("llama", seed=seed)
    model.model.save_pretrained(folder)
    model.tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """Two tiny models as local folders, and a text file of documents that each name themselves
    (`doc01234 ` repeated), so a context shows which documents it was cut from."""
    root = tmp_path_factory.mktemp("jobs")
    path = root / "docs.jsonl"
    path.write_text(
        "\n".join(json.dumps({"text": f"doc{i:05d} " * 11}) for i in range(N_DOCUMENTS))
    )
    return _model_folder(root / "model-a"), _model_folder(root / "model-b", seed=1), path


def _documents(model, tokens) -> set[str]:
    text = "".join(model.tokenizer.convert_ids_to_tokens(tokens.reshape(-1).tolist()))
    return set(re.findall(r"doc(\d{5}) ", text))


@pytest.mark.parametrize("seed", [42, 7])
def test_training_and_evals_read_disjoint_documents(setup, seed, isolated_cache):
    """At SAEBench's 3,200 reconstruction contexts and with any seed, no eval context comes from
    a document that training reads."""
    model_a, _, data = setup
    inputs = load_training_inputs(str(model_a), HOOK, "cpu", str(data), n_contexts=4000)
    trained_on = _documents(inputs.model, inputs.contexts.tokens)
    context = EvalContext(model=inputs.model, cache=inputs.cache, dataset_spec=str(data), seed=seed)
    evaluated = context.contexts(128, 3200)
    read_by_eval = _documents(inputs.model, evaluated.take(0, 3200))
    assert len(trained_on) > 5000 and len(read_by_eval) > 3000
    assert trained_on.isdisjoint(read_by_eval)
    assert (inputs.contexts.part, evaluated.part) == ("train", "eval")
    # The split is the documents' own: a quarter of them, whatever the seed.
    held_out = {
        f"{i:05d}" for i in range(N_DOCUMENTS) if document_part(f"doc{i:05d} " * 11) == "eval"
    }
    assert read_by_eval <= held_out and 0.2 < len(held_out) / N_DOCUMENTS < 0.3
    with pytest.raises(SaeevalError, match=r"from its eval part \(the quarter of its documents"):
        evaluated.take(0, 32_000)  # SAEBench's sparsity contexts: more than this file holds


def _plan(**kw) -> TrainingPlan:
    defaults = dict(trainer="topk", d_sae=128, tokens=2048, batch_size=256)
    return TrainingPlan(**{**defaults, "hyperparameters": {"k": 8}, **kw})


def test_a_finished_run_is_reused_only_for_the_same_job(tmp_path, setup, isolated_cache):
    model_a, model_b, data = setup
    out = tmp_path / "run"
    quiet = lambda m: None  # noqa: E731
    inputs_a = load_training_inputs(str(model_a), HOOK, "cpu", str(data), n_contexts=64)
    train_and_evaluate(_plan(), out, inputs_a, HOOK, [], str(data), log=quiet)
    record = json.loads((out / TRAINING_RESULTS).read_text())["run"]
    assert record["dataset_part"] == "train" and record["hook"] == HOOK
    assert record["model_fingerprint"] == inputs_a.model.fingerprint

    said = []
    train_and_evaluate(_plan(), out, inputs_a, HOOK, [], str(data), log=said.append)
    assert any("already trained" in m for m in said)

    inputs_b = load_training_inputs(str(model_b), HOOK, "cpu", str(data), n_contexts=64)
    with pytest.raises(SaeevalError, match="holds a finished run of another job.*model"):
        train_and_evaluate(_plan(), out, inputs_b, HOOK, [], str(data), log=quiet)
    other_hook = "blocks.2.hook_resid_post"
    with pytest.raises(SaeevalError, match=f"hook: '{HOOK}' there, '{other_hook}' now"):
        train_and_evaluate(_plan(), out, inputs_a, other_hook, [], str(data), log=quiet)
    with pytest.raises(SaeevalError, match="plan:"):
        train_and_evaluate(_plan(d_sae=256), out, inputs_a, HOOK, [], str(data), log=quiet)


def test_an_eval_inside_a_job_runs_only_on_the_jobs_model(setup):
    model_a, _, data = setup
    model = load_training_inputs(str(model_a), HOOK, "cpu", str(data), n_contexts=8).model
    load = the_model(model)
    assert load(model.name, "cpu", "float32") is model
    with pytest.raises(SaeevalError, match="holds model .* but the eval asked for 'gpt2'"):
        load("gpt2", "cpu", "float32")
    with pytest.raises(SaeevalError, match=r"\(bfloat16\)"):
        load(model.name, "cpu", "bfloat16")


@pytest.mark.parametrize(
    "args, message",
    [
        (["--eval", "core", "--set", "core.n_eval_reconstruction_batches=0"], "greater than 0"),
        (["--eval", "core", "--set", "core.batch_size=4"], "Extra inputs are not permitted"),
        (["--eval", "core", "--set", "scr.k=4"], "--set names eval 'scr'"),
        (["--eval", "cor"], "unknown eval 'cor'"),
        (["--hook", "blocks.6.resid"], "is not a supported hook name"),
    ],
)
def test_train_checks_everything_before_the_model_loads(tmp_path, args, message):
    """The model named here does not exist: each error below comes before anyone looks for it."""
    missing = tmp_path / "no-such-model"
    result = CliRunner().invoke(
        app,
        ["train", "--trainer", "topk", "--out", str(tmp_path / "o"), "--model", str(missing)]
        + args,
    )
    assert result.exit_code == 2 and message in result.output, result.output
    assert "could not load model" not in result.output


def test_sweep_checks_its_evals_before_the_model_loads(tmp_path):
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(
        f"model: {tmp_path / 'no-such-model'}\n"
        "eval_overrides: [core.n_eval_sparsity_variance_batches=-1]\n"
        "grid:\n  - trainer: topk\n"
    )
    result = CliRunner().invoke(app, ["sweep", str(sweep), "--out", str(tmp_path / "grid")])
    assert result.exit_code == 2 and "n_eval_sparsity_variance_batches" in result.output
    assert "could not load model" not in result.output
