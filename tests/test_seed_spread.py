"""`saeeval run --seeds N`: each eval that draws at random rerun under N seeds, the spread of each
headline metric recorded in the first seed's result, the reruns resumable and never read twice."""

from __future__ import annotations

import json

import jsonschema
import pytest
from helpers import random_sae, saebench_schema, saved
from tiny_models import tiny_model

from saeeval.errors import SaeevalError
from saeeval.evals import headline_metrics
from saeeval.reports.build import eval_table
from saeeval.results import load, read_result
from saeeval.runner import RunRequest, run
from saeeval.uncertainty import SEEDS_KEY

HOOK = "blocks.1.hook_resid_post"
SMALL = {
    "sparse_probing": {
        "dataset_names": ["LabHC/bias_in_bios_class_set1"],
        "probe_train_set_size": 60,
        "probe_test_set_size": 40,
        "k_values": [1, 5],
    },
    "core": {
        "batch_size_prompts": 4,
        "n_eval_reconstruction_batches": 2,
        "n_eval_sparsity_variance_batches": 2,
        "context_size": 32,
    },
}


@pytest.fixture
def setup(tmp_path, isolated_cache):
    model = tiny_model("llama")
    sae = saved(random_sae("topk", 64, 128, HOOK, model_name="tiny-llama", k=8), tmp_path / "a")
    out = tmp_path / "out"

    def go(seeds: int, evals=("sparse_probing",)):
        messages: list[str] = []
        outcome = run(
            RunRequest(
                saes=[str(sae)],
                evals=list(evals),
                out=out,
                device="cpu",
                overrides={name: SMALL[name] for name in evals},
                seeds=seeds,
            ),
            log=messages.append,
            model_loader=lambda *_: model,
        )
        return outcome, messages

    return go, out


def test_the_spread_over_seeds_is_recorded_in_the_first_seeds_result(setup):
    go, out = setup
    go(1)
    main = out / "sparse_probing" / "a_eval_results.json"
    plain = read_result(main)
    assert SEEDS_KEY not in plain["eval_result_unstructured"]

    outcome, messages = go(3)
    assert outcome.skipped and outcome.skipped[0][2] == main  # the first seed's run is kept
    result = read_result(main)
    jsonschema.validate(json.loads(main.read_text()), saebench_schema("sparse_probing"))
    spread = result["eval_result_unstructured"][SEEDS_KEY]
    assert spread["seeds"] == [42, 43, 44]
    reruns = {
        seed: read_result(out / "seed_runs" / f"random_seed_{seed}" / "sparse_probing" / main.name)
        for seed in (43, 44)
    }
    for seed, rerun in reruns.items():
        assert rerun["eval_config"]["random_seed"] == seed
    varied = 0
    for metric in headline_metrics("sparse_probing"):
        entry = spread["metrics"][metric.key]
        expected = [metric.value(plain)] + [metric.value(reruns[s]) for s in (43, 44)]
        assert entry["values"] == pytest.approx(expected)
        assert entry["mean"] == pytest.approx(sum(expected) / 3)
        varied += entry["sd"] > 0
    # Other seeds draw other texts and train other probes: the numbers move.
    assert varied >= 3, spread

    # The reruns are not read as results of their own; the table carries the spread.
    frame = load(out)
    assert len(frame) == len(headline_metrics("sparse_probing"))
    top1 = frame[frame.metric == "sae_top_1"].iloc[0]
    assert top1.n_seeds == 3
    assert top1.seed_sd == pytest.approx(spread["metrics"]["sae_top_1"]["sd"])
    assert "over 3 seeds" in eval_table(frame, "sparse_probing").iloc[0, -1]

    # A rerun of the same request recomputes nothing and records the same spread.
    again, _ = go(3)
    assert not again.written
    assert read_result(main)["eval_result_unstructured"][SEEDS_KEY] == spread


def test_an_eval_that_draws_nothing_at_random_runs_once(setup):
    go, out = setup
    outcome, messages = go(2, evals=("core",))
    assert any("core draws nothing at random" in m for m in messages), messages
    assert len(outcome.written) == 1 and not (out / "seed_runs").exists()
    core = read_result(outcome.written[0][2])
    assert SEEDS_KEY not in (core.get("eval_result_unstructured") or {})


def test_fewer_than_one_seed_is_refused(setup):
    go, _ = setup
    with pytest.raises(SaeevalError, match="--seeds must be at least 1"):
        go(0)
