"""The training loop on a tiny model: records, normalisation, checkpoints, resume, divergence,
user-written trainers and sweeps."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
from tiny_models import tiny_model

from saeeval.activations import ActivationCache
from saeeval.data.contexts import ContextSet
from saeeval.data.text_datasets import TextDataset
from saeeval.errors import SaeevalError
from saeeval.saes import load_sae
from saeeval.trainers.grid import training_bytes, training_passes
from saeeval.trainers.loop import TrainingPlan, train, train_together
from saeeval.trainers.record import write_final_info
from saeeval.trainers.sweep import SweepFile

HOOK = "blocks.1.hook_resid_post"
CUSTOM = Path(__file__).parent / "data" / "dictionary_style_trainer.py"


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    model = tiny_model("llama")
    n = 64
    tokens = torch.randint(4, 100, (n, 16), generator=torch.Generator().manual_seed(0))
    tokens[:, 0] = 0
    dataset = TextDataset("t", "sha256:t", "t", "text", 0)
    contexts = ContextSet(dataset, 16, tokens, "loop", True, part="train")
    return model, contexts, ActivationCache(tmp_path_factory.mktemp("cache"))


def plan(trainer="topk", **kw):
    defaults = dict(
        d_sae=128,
        tokens=8192,
        batch_size=256,
        checkpoint_every=8,
        log_every=2,
        context_size=16,
        hyperparameters={"k": 8, "lr": 2e-3},
    )
    return TrainingPlan(trainer=trainer, **{**defaults, **kw})


def test_training_writes_sae_record_curves_and_summary(tmp_path, setup):
    model, contexts, cache = setup
    outcome = train(plan(), tmp_path, model, HOOK, contexts, cache, log=lambda m: None)
    loaded = load_sae(outcome.sae_dir)
    cfg = loaded.sae.cfg
    assert (cfg.architecture, cfg.k, cfg.hook_name, cfg.model_name) == (
        "topk",
        8,
        HOOK,
        "tiny-llama",
    )
    assert cfg.extra["training_tokens"] == 32 * 256 and cfg.extra["trainer_class"] == "TopKTrainer"
    record = json.loads((tmp_path / "training_results.json").read_text())
    for key in (
        "trainer_class",
        "activation_dim",
        "dict_size",
        "lr",
        "sparsity_penalty",
        "warmup_steps",
        "resample_steps",
        "device",
        "layer",
        "lm_name",
        "submodule_name",
    ):
        assert key in record["config"], key
    assert record["final_info"] == {
        "training_steps": 32,
        "final_loss": record["final_info"]["final_loss"],
        "layer": 1,
        "dict_size": 128,
        "learning_rate": 2e-3,
        "sparsity_penalty": 8,
    }
    with open(tmp_path / "training_curves.csv") as f:
        rows = list(csv.DictReader(f))
    assert rows[0]["step"] == "0" and rows[-1]["step"] == "31"
    assert {"loss", "l0", "dead_fraction", "lr", "auxk"} <= rows[0].keys()
    assert float(rows[-1]["loss"]) < float(rows[0]["loss"])
    assert (tmp_path / "training_curves.png").stat().st_size > 10_000
    summary = write_final_info(tmp_path, 1, record, [])
    assert list(summary) == ["training results for layer 1"]


def test_saved_sae_takes_raw_activations(tmp_path, setup):
    """Training saw scaled inputs; the saved SAE must reconstruct the unscaled ones."""
    model, contexts, cache = setup
    train(plan(tokens=16384), tmp_path, model, HOOK, contexts, cache, log=lambda m: None)
    sae = load_sae(tmp_path / "sae").sae
    x = model.activations(contexts.tokens[:8], [HOOK])[HOOK][:, 1:]
    ev = 1 - (x - sae(x)).pow(2).sum() / (x - x.mean((0, 1))).pow(2).sum()
    assert ev > 0.5
    assert sae.cfg.extra["activation_norm_scaling_factor"] != pytest.approx(1.0, abs=0.05)


def test_interrupted_training_resumes_to_the_same_result(tmp_path, setup):
    model, contexts, cache = setup
    train(plan(), tmp_path / "straight", model, HOOK, contexts, cache, log=lambda m: None)

    calls = []

    def stop_after_twenty(module, args):
        calls.append(1)
        if len(calls) == 20:
            raise KeyboardInterrupt

    import saeeval.trainers.topk

    original = saeeval.trainers.topk.TopKTrainer.update

    def counting_update(self, step, activations):
        stop_after_twenty(None, None)
        return original(self, step, activations)

    saeeval.trainers.topk.TopKTrainer.update = counting_update
    try:
        with pytest.raises(KeyboardInterrupt):
            train(plan(), tmp_path / "resumed", model, HOOK, contexts, cache, log=lambda m: None)
    finally:
        saeeval.trainers.topk.TopKTrainer.update = original
    assert not (tmp_path / "resumed" / "sae").exists()
    messages = []
    outcome = train(plan(), tmp_path / "resumed", model, HOOK, contexts, cache, log=messages.append)
    assert outcome.resumed_from == 16 and "resuming from step 16 of 32" in messages
    a = load_sae(tmp_path / "straight" / "sae").sae
    b = load_sae(tmp_path / "resumed" / "sae").sae
    for name, param in a.named_parameters():
        torch.testing.assert_close(getattr(b, name), param, rtol=0, atol=0, msg=name)


def test_checkpoint_from_another_configuration_is_refused(tmp_path, setup):
    model, contexts, cache = setup
    train(plan(), tmp_path, model, HOOK, contexts, cache, log=lambda m: None)
    with pytest.raises(SaeevalError, match="belongs to a different training configuration"):
        train(
            plan(hyperparameters={"k": 4, "lr": 2e-3}),
            tmp_path,
            model,
            HOOK,
            contexts,
            cache,
            log=lambda m: None,
        )


def test_divergence_stops_with_the_last_good_checkpoint_kept(tmp_path, setup):
    model, contexts, cache = setup
    bad = plan(
        "standard",
        hyperparameters={"lr": 1e9, "sparsity_penalty": 0.1},
        checkpoint_every=1,
        tokens=256 * 20,
    )
    with pytest.raises(
        SaeevalError,
        match=r"training diverged at step \d+: the loss is (nan|inf)"
        r".*last good checkpoint is .*last.pt",
    ):
        train(bad, tmp_path, model, HOOK, contexts, cache, log=lambda m: None)
    state = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=False)
    assert all(torch.isfinite(v).all() for v in state["trainer"]["ae"].values())
    assert not (tmp_path / "sae").exists()


def test_dictionary_style_custom_trainer(tmp_path, setup):
    model, contexts, cache = setup
    custom = plan(
        f"{CUSTOM}:PlainL1Trainer", hyperparameters={"lr": 3e-3, "sparsity_penalty": 0.01}
    )
    outcome = train(custom, tmp_path, model, HOOK, contexts, cache, log=lambda m: None)
    record = json.loads((tmp_path / "training_results.json").read_text())
    assert record["config"]["trainer_class"] == "PlainL1Trainer"
    assert record["config"]["l1_penalty"] == 0.01  # passed under the trainer's own name
    sae = load_sae(outcome.sae_dir).sae
    assert sae.cfg.architecture == "standard" and sae.cfg.apply_b_dec_to_input
    x = model.activations(contexts.tokens[-4:], [HOOK])[HOOK]
    assert ((x - sae(x)).pow(2).sum() / (x - x.mean((0, 1))).pow(2).sum()) < 1.0


@pytest.mark.parametrize(
    "spec, message",
    [
        (
            f"{CUSTOM}:Missing",
            "defines no class 'Missing' .classes there: NoAutoencoder, NoUpdate, "
            "PlainL1Trainer, TiedReLUAutoEncoder",
        ),
        (f"{CUSTOM}:NoUpdate", "has no update"),
        (f"{CUSTOM}:NoAutoencoder", "has no `ae` module with encode/decode"),
        ("nowhere/trainer.py:X", "file nowhere/trainer.py does not exist"),
    ],
)
def test_bad_custom_trainers(tmp_path, setup, spec, message):
    model, contexts, cache = setup
    with pytest.raises(SaeevalError, match=message):
        train(plan(spec), tmp_path, model, HOOK, contexts, cache, log=lambda m: None)


def test_unknown_trainer_and_bad_hyperparameters(tmp_path, setup):
    model, contexts, cache = setup
    with pytest.raises(SaeevalError, match="unknown trainer 'topkk'; native trainers:"):
        train(plan("topkk"), tmp_path, model, HOOK, contexts, cache, log=lambda m: None)
    with pytest.raises(SaeevalError, match=r"trainer 'topk': config: Value error, k \(200\)"):
        train(
            plan(hyperparameters={"k": 200}),
            tmp_path,
            model,
            HOOK,
            contexts,
            cache,
            log=lambda m: None,
        )


def test_sweep_grid_expands_to_named_runs():
    spec = SweepFile(
        defaults={"lr": 1e-3},
        grid=[
            {"trainer": "topk", "k": [16, 32]},
            {"trainer": "temperature", "tau_end": [0.05, 0.1], "sparsity_penalty": [0.02, 0.04]},
            {"trainer": "gated", "d_sae": 2304},
        ],
    )
    runs = spec.runs()
    assert [r.name for r in runs] == [
        "topk_k16",
        "topk_k32",
        "temperature_tau_end0.05_sparsity_penalty0.02",
        "temperature_tau_end0.05_sparsity_penalty0.04",
        "temperature_tau_end0.1_sparsity_penalty0.02",
        "temperature_tau_end0.1_sparsity_penalty0.04",
        "gated",
    ]
    assert runs[0].hyperparameters == {"lr": 1e-3, "k": 16} and runs[0].d_sae == 4608
    assert runs[-1].d_sae == 2304 and runs[-1].hyperparameters == {"lr": 1e-3}
    with pytest.raises(SaeevalError, match="would share the names topk"):
        SweepFile(grid=[{"trainer": "topk"}, {"trainer": "topk"}]).runs()


def test_training_never_reads_the_text_evals_read(tmp_path, setup):
    model, contexts, cache = setup
    for part in ("eval", "all"):
        other = ContextSet(contexts.dataset, 16, contexts.tokens, "loop", True, part=part)
        with pytest.raises(SaeevalError, match=f"these contexts are from the {part!r} part"):
            train(plan(), tmp_path / part, model, HOOK, other, cache, log=lambda m: None)


def test_the_record_names_everything_that_defines_the_run(tmp_path, setup):
    model, contexts, cache = setup
    outcome = train(plan(), tmp_path, model, HOOK, contexts, cache, log=lambda m: None)
    run = outcome.record["run"]
    assert run["fingerprint"] == plan().fingerprint(model, HOOK, contexts)
    assert (run["model"], run["hook"], run["dataset_part"], run["contexts"]) == (
        model.name,
        HOOK,
        "train",
        contexts.key,
    )


def _same_training(a: Path, b: Path) -> None:
    """Two run folders hold the same trained SAE and the same training curves."""
    sae_a, sae_b = load_sae(a / "sae").sae, load_sae(b / "sae").sae
    for name, param in sae_a.named_parameters():
        torch.testing.assert_close(getattr(sae_b, name), param, rtol=0, atol=0, msg=name)
    with open(a / "training_curves.csv") as fa, open(b / "training_curves.csv") as fb:
        assert list(csv.DictReader(fa)) == list(csv.DictReader(fb))


GRID = {
    "topk": plan(),
    "standard": plan("standard", hyperparameters={"lr": 2e-3, "sparsity_penalty": 0.05}),
    "matryoshka": plan(
        "matryoshka_batch_topk",
        hyperparameters={"k": 8, "lr": 2e-3, "group_fractions": [0.25, 0.75]},
    ),
    "custom": plan(
        f"{CUSTOM}:PlainL1Trainer", hyperparameters={"lr": 3e-3, "sparsity_penalty": 0.01}
    ),
}


def test_runs_trained_together_equal_runs_trained_alone(tmp_path, setup):
    model, contexts, cache = setup
    names = list(GRID)
    outcomes = train_together(
        [GRID[n] for n in names],
        [tmp_path / "together" / n for n in names],
        model,
        HOOK,
        contexts,
        cache,
        log=lambda m: None,
    )
    assert all(not isinstance(o, SaeevalError) for o in outcomes)
    for name in names:
        alone = tmp_path / "alone" / name
        train(GRID[name], alone, model, HOOK, contexts, cache, log=lambda m: None)
        _same_training(alone, tmp_path / "together" / name)
        record = json.loads((tmp_path / "together" / name / "training_results.json").read_text())
        assert record["run"]["runs_in_pass"] == len(names)


def test_runs_trained_together_resume_each_from_its_own_checkpoint(tmp_path, setup, monkeypatch):
    """Interrupted mid-pass, two runs hold checkpoints at different steps; the rerun replays the
    stream from the earlier one and each run ends as it would have alone."""
    model, contexts, cache = setup
    plans = [
        plan(checkpoint_every=8),
        plan(hyperparameters={"k": 4, "lr": 2e-3}, checkpoint_every=5),
    ]
    outs = [tmp_path / "k8", tmp_path / "k4"]
    for p, out in zip(plans, outs, strict=True):
        train(p, tmp_path / "alone" / out.name, model, HOOK, contexts, cache, log=lambda m: None)

    import saeeval.trainers.topk

    original = saeeval.trainers.topk.TopKTrainer.update
    calls = []

    def interrupted_update(self, step, activations):
        calls.append(step)
        if len(calls) == 21:  # the first run's step 10: checkpoints at 8 and 10
            raise KeyboardInterrupt
        return original(self, step, activations)

    monkeypatch.setattr(saeeval.trainers.topk.TopKTrainer, "update", interrupted_update)
    with pytest.raises(KeyboardInterrupt):
        train_together(plans, outs, model, HOOK, contexts, cache, log=lambda m: None)
    monkeypatch.setattr(saeeval.trainers.topk.TopKTrainer, "update", original)
    steps = [torch.load(o / "checkpoints" / "last.pt", weights_only=False)["step"] for o in outs]
    assert steps == [8, 10]
    messages = []
    outcomes = train_together(plans, outs, model, HOOK, contexts, cache, log=messages.append)
    assert [o.resumed_from for o in outcomes] == [8, 10]
    assert "k4: resuming from step 10 of 32" in messages
    for out in outs:
        _same_training(tmp_path / "alone" / out.name, out)


def test_a_run_that_diverges_stops_alone(tmp_path, setup):
    model, contexts, cache = setup
    bad = plan("standard", hyperparameters={"lr": 1e9, "sparsity_penalty": 0.1})
    outcomes = train_together(
        [bad, plan()],
        [tmp_path / "bad", tmp_path / "good"],
        model,
        HOOK,
        contexts,
        cache,
        log=lambda m: None,
    )
    assert isinstance(outcomes[0], SaeevalError) and "training diverged" in str(outcomes[0])
    assert not (tmp_path / "bad" / "sae").exists()
    train(plan(), tmp_path / "alone", model, HOOK, contexts, cache, log=lambda m: None)
    _same_training(tmp_path / "alone", tmp_path / "good")


def test_runs_that_read_different_streams_are_not_trained_together(tmp_path, setup):
    model, contexts, cache = setup
    with pytest.raises(SaeevalError, match="must share tokens, batch size, seed and context"):
        train_together(
            [plan(), plan(seed=1)], [tmp_path / "a", tmp_path / "b"], model, HOOK, contexts, cache
        )


def test_training_passes_fit_the_budget_and_keep_streams_apart():
    small, large = plan(d_sae=128), plan(d_sae=4096)
    d_in = 64
    one = training_bytes(small, d_in)
    assert training_bytes(large, d_in) > 30 * one  # grows with d_sae
    assert training_passes([small] * 4, d_in, 4 * one) == [[0, 1, 2, 3]]
    assert training_passes([small] * 4, d_in, 2 * one) == [[0, 1], [2, 3]]
    # A run over the budget trains alone; runs of another stream never join a pass.
    assert training_passes([small, large, small], d_in, 3 * one) == [[0, 2], [1]]
    assert training_passes([small, plan(seed=1), small], d_in, 10 * one) == [[0, 2], [1]]
    assert training_passes([small, plan(batch_size=128), small], d_in, 10 * one) == [[0, 2], [1]]


def test_training_on_a_bfloat16_model_trains_a_float32_sae_and_says_so(tmp_path, setup):
    _, contexts, cache = setup
    model = tiny_model("llama")
    model.model.to(torch.bfloat16)
    outcome = train(plan(), tmp_path, model, HOOK, contexts, cache, log=lambda m: None)
    run = outcome.record["run"]
    assert run["model_dtype"] == "bfloat16" and run["model_fingerprint"].endswith("@bfloat16")
    sae = load_sae(outcome.sae_dir).sae
    assert sae.cfg.extra["model_dtype"] == "bfloat16"
    assert all(p.dtype == torch.float32 for p in sae.parameters())
    x = model.activations(contexts.tokens[:4], [HOOK])[HOOK][:, 1:].float()
    assert ((x - sae(x)).pow(2).sum() / (x - x.mean((0, 1))).pow(2).sum()) < 1.0
    # The dtype is part of what defines the run: the float32 model cannot resume this one.
    with pytest.raises(SaeevalError, match="belongs to a different training configuration"):
        train(plan(), tmp_path, setup[0], HOOK, contexts, cache, log=lambda m: None)


def test_the_dead_latent_window_is_the_run_s_unless_asked_for_or_the_trainer_s_own():
    """The loop's default window (a tenth of the run) gives way to a given value and to a
    trainer's own default: JumpReLU with a target L0 keeps its 20,000 tokens (with the loop's
    window there it ended with a quarter of its latents dead in the core eval)."""
    from saeeval.trainers.jumprelu import TARGET_L0_DEFAULTS
    from saeeval.trainers.loop import _trainer_factory

    first_batch = torch.randn(64, 64)

    def window(trainer, **hyperparameters):
        run = plan(trainer, tokens=10_240, hyperparameters=hyperparameters)
        return _trainer_factory(run, 64, "cpu", None, HOOK)(first_batch).cfg.dead_after_tokens

    assert window("topk", k=4) == 10 * 256  # a tenth of the run, but at least ten batches
    assert window("jumprelu", target_l0=4) == TARGET_L0_DEFAULTS["dead_after_tokens"] == 20_000
    assert window("jumprelu", target_l0=4, dead_after_tokens=5_000) == 5_000
    assert window("jumprelu") == 10 * 256  # without a target, the loop's
