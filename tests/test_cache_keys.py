"""Every cached artifact is keyed by every input that changes it.

A stale cache is a wrong number with no error, so each test changes one input (model weights,
model dtype, hook, context length, seed, data size, the code's version) and asserts that every
cache entry depending on it is computed afresh rather than read back. The cache is the real one,
on disk; it only also records which entries were asked for and whether they were complete.

The model's device cannot change on a machine with one device. Every run here checks instead that
each entry's key names the model by its cache identity, which names the device type; the CUDA
tests run one cache on both devices.
"""

from __future__ import annotations

import pytest
import torch
from helpers import RecordingCache, random_sae, saved
from test_runner import SMALL as CORE_SMALL
from test_runner import text_file  # noqa: F401  (fixture)
from test_unlearning_eval import SMALL as UNLEARNING_SMALL
from tiny_models import tiny_model

import saeeval.evals.absorption.eval as absorption
import saeeval.evals.core as core
import saeeval.evals.probing.scr_tpp as scr_tpp
import saeeval.evals.probing.sparse_probing as sparse_probing
import saeeval.evals.unlearning.eval as unlearning
from saeeval.runner import RunRequest, run

PROBING = ["sparse_probing", "scr", "tpp"]
PROBING_KINDS = {"text-acts", "sparse-probing-llm", "scr-probes", "tpp-probes"}
CORE_KINDS = {"acts", "core-reference"}
# Small enough that the 8 probing runs take seconds: one dataset per eval, few texts.
PROBING_TINY = {
    "sparse_probing": {
        "dataset_names": ["fancyzhx/ag_news"],
        "probe_train_set_size": 40,
        "probe_test_set_size": 20,
        "k_values": [1],
    },
    "scr": {
        "dataset_names": ["LabHC/bias_in_bios_class_set1"],
        "column1_vals_lookup": {"LabHC/bias_in_bios_class_set1": [["professor", "nurse"]]},
        "train_set_size": 40,
        "test_set_size": 20,
        "n_values": [2],
        "probe_epochs": 2,
    },
    "tpp": {
        "dataset_names": ["fancyzhx/ag_news"],
        "train_set_size": 40,
        "test_set_size": 20,
        "n_values": [2],
        "probe_epochs": 2,
    },
}


def _run(tmp_path, model, hook, evals, overrides, cache, name, dataset=None):
    sae = saved(random_sae("topk", 64, 128, hook, model_name="tiny-llama", k=8), tmp_path / name)
    run(
        RunRequest(
            saes=[str(sae)],
            evals=evals,
            out=tmp_path / f"out-{name}",
            device="cpu",
            dataset=dataset,
            overrides=overrides,
        ),
        log=lambda m: None,
        model_loader=lambda *_: model,
        cache=cache,
    )
    cache.assert_keys_name(model)


def _assert_recomputed(cache: RecordingCache, before: dict, kinds: set[str]) -> None:
    for kind in kinds:
        assert cache.asked[kind], f"no {kind} entry was used"
        old = {folder for folder, _ in before[kind]}
        for folder, _ in cache.asked[kind]:
            assert folder not in old, f"{kind}: the changed input reused a cached entry"
            # Computed here: it was incomplete when first asked for (a later request in the same
            # run, e.g. TPP reading the texts sparse probing read, finds it complete: sharing).
            assert (folder, False) in cache.asked[kind], f"{kind}: found complete, not computed"


def _with(overrides: dict, **fields) -> dict:
    return {name: {**config, **fields} for name, config in overrides.items()}


def _bfloat16(model):
    model.model.to(torch.bfloat16)
    return model


@pytest.fixture(scope="module")
def probing_baseline(tmp_path_factory):
    """One cache folder for the module, filled by one baseline run of the probing evals."""
    folder = tmp_path_factory.mktemp("probing")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SAEEVAL_CACHE_DIR", str(folder / "cache"))
        cache = RecordingCache()
        hook = "blocks.1.hook_resid_post"
        _run(folder, tiny_model("llama"), hook, PROBING, PROBING_TINY, cache, "base")
        before = {kind: set(asked) for kind, asked in cache.asked.items()}
        assert PROBING_KINDS <= set(before)
        yield folder, before


@pytest.mark.parametrize(
    ("change", "kinds"),
    [
        ("weights", PROBING_KINDS),
        ("dtype", PROBING_KINDS),
        ("hook", PROBING_KINDS),
        ("context_length", PROBING_KINDS),
        ("seed", PROBING_KINDS),
        ("size", PROBING_KINDS),
        ("code", {"sparse-probing-llm", "scr-probes", "tpp-probes"}),
    ],
)
def test_probing_caches_follow_their_inputs(probing_baseline, monkeypatch, change, kinds):
    folder, before = probing_baseline
    monkeypatch.setenv("SAEEVAL_CACHE_DIR", str(folder / "cache"))
    cache = RecordingCache()
    hook = "blocks.1.hook_resid_post"
    model, overrides = tiny_model("llama"), PROBING_TINY
    if change == "weights":
        model = tiny_model("llama", seed=1)
    elif change == "dtype":
        model = _bfloat16(model)
    elif change == "hook":
        hook = "blocks.0.hook_resid_post"
    elif change == "context_length":
        overrides = _with(overrides, context_length=64)
    elif change == "seed":
        overrides = _with(overrides, random_seed=7)
    elif change == "size":
        overrides = {
            "sparse_probing": {**overrides["sparse_probing"], "probe_train_set_size": 30},
            "scr": {**overrides["scr"], "train_set_size": 30},
            "tpp": {**overrides["tpp"], "train_set_size": 30},
        }
    elif change == "code":
        monkeypatch.setattr(sparse_probing, "MODEL_SIDE_VERSION", 2)
        monkeypatch.setattr(scr_tpp, "MODEL_SIDE_VERSION", 2)
    _run(folder, model, hook, PROBING, overrides, cache, f"changed-{change}")
    _assert_recomputed(cache, before, kinds)


@pytest.mark.parametrize("change", ["weights", "dtype", "hook", "context_size", "code"])
def test_core_caches_follow_their_inputs(
    tmp_path,
    text_file,  # noqa: F811
    isolated_cache,
    monkeypatch,
    change,
):
    hook = "blocks.1.hook_resid_post"
    cache = RecordingCache()
    _run(tmp_path, tiny_model("llama"), hook, ["core"], CORE_SMALL, cache, "base", str(text_file))
    before = {kind: set(asked) for kind, asked in cache.asked.items()}
    cache.forget()
    model, overrides = tiny_model("llama"), CORE_SMALL
    if change == "weights":
        model = tiny_model("llama", seed=1)
    elif change == "dtype":
        model = _bfloat16(model)
    elif change == "hook":
        hook = "blocks.0.hook_resid_post"
    elif change == "context_size":
        overrides = _with(overrides, context_size=48)
    elif change == "code":  # what a reference entry holds: its layout names it
        monkeypatch.setattr(core, "REFERENCE_LAYOUT", core.REFERENCE_LAYOUT + 1)
    _run(tmp_path, model, hook, ["core"], overrides, cache, "changed", str(text_file))
    _assert_recomputed(cache, before, {"core-reference"} if change == "code" else CORE_KINDS)


def test_model_fingerprint_names_the_dtype():
    model = tiny_model("llama")
    fp32 = model.fingerprint
    assert fp32 != _bfloat16(model).fingerprint


def test_cache_identity_names_the_device():
    """Cache keys name the model by its fingerprint and its device type. No second device runs
    here, so the model goes to the meta device (its weights' hash is kept from before)."""
    model = tiny_model("llama")
    fingerprint, on_cpu = model.fingerprint, model.cache_identity
    assert on_cpu == f"{fingerprint} on cpu"
    model.model.to("meta")
    assert model.fingerprint == fingerprint
    assert model.cache_identity == f"{fingerprint} on meta"


@pytest.mark.parametrize(
    "change",
    ["model", "device", "hook", "seed", "template", "position", "words_cap", "words", "code"],
)
def test_letter_probe_key_follows_its_inputs(monkeypatch, change):
    """The absorption letter probe's cache key (the model's cache identity names weights, dtype
    and device)."""
    config = absorption.AbsorptionEvalConfig()
    model = "params-sha256:abc@float32 on cpu"
    args = [model, "blocks.1.hook_resid_post", config, ["apple", "berry"]]
    before = absorption.letter_probe_key(*args)
    updates = {
        "seed": {"random_seed": 1},
        "template": {"prompt_template": "{word} starts with:"},
        "position": {"prompt_token_pos": -5},
        "words_cap": {"max_words_per_letter": 10},
    }
    if change == "model":
        args[0] = "params-sha256:abc@bfloat16 on cpu"
    elif change == "device":
        args[0] = "params-sha256:abc@float32 on cuda"
    elif change == "hook":
        args[1] = "blocks.2.hook_resid_post"
    elif change == "words":
        args[3] = ["apple", "cherry"]
    elif change == "code":
        monkeypatch.setattr(absorption, "LETTER_PROBE_VERSION", absorption.LETTER_PROBE_VERSION + 1)
    else:
        args[2] = config.model_copy(update=updates[change])
    assert absorption.letter_probe_key(*args) != before


@pytest.mark.parametrize("change", ["weights", "dtype", "questions", "code"])
def test_known_questions_cache_follows_its_inputs(tmp_path, isolated_cache, monkeypatch, change):
    """Which questions the model knows (`unlearning-known`, one entry per question set)."""
    hook = "blocks.1.hook_resid_post"
    overrides = {"unlearning": UNLEARNING_SMALL}
    cache = RecordingCache()
    _run(tmp_path, tiny_model("llama"), hook, ["unlearning"], overrides, cache, "base")
    before = {kind: set(asked) for kind, asked in cache.asked.items()}
    assert len(before["unlearning-known"]) == 3  # one per question set
    cache.forget()
    model = tiny_model("llama")
    if change == "weights":
        model = tiny_model("llama", seed=1)
    elif change == "dtype":
        model = _bfloat16(model)
    elif change == "questions":
        overrides = _with(overrides, max_questions=20)
    elif change == "code":
        monkeypatch.setattr(unlearning, "KNOWN_VERSION", unlearning.KNOWN_VERSION + 1)
    _run(tmp_path, model, hook, ["unlearning"], overrides, cache, "changed")
    _assert_recomputed(cache, before, {"unlearning-known"})
