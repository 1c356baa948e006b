"""SAE loading and saving, checked against SAELens and SAEBench's own loaders."""

from __future__ import annotations

import json

import pytest
import torch
from helpers import random_sae, saved

from saeeval.errors import SaeevalError
from saeeval.saes import ARCHITECTURES, detect_format, fold_decoder_norms, load_sae, save_sae

HOOK = "blocks.1.hook_resid_post"


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_saelens_loads_what_we_save_and_computes_the_same(tmp_path, architecture):
    from sae_lens import SAE as SAELensSAE

    ours = random_sae(architecture, 32, 96, HOOK, model_name="tiny-llama")
    folder = saved(ours, tmp_path / architecture)
    theirs = SAELensSAE.load_from_disk(folder)
    assert theirs.cfg.metadata.hook_name == HOOK and theirs.cfg.metadata.model_name == "tiny-llama"
    x = torch.randn(5, 7, 32)
    torch.testing.assert_close(ours.encode(x), theirs.encode(x), rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(ours(x), theirs(x), rtol=1e-6, atol=1e-6)


def _saelens_saved(folder, architecture):
    """A random SAE of `architecture` as SAELens 6 writes it for inference, and SAELens' SAE."""
    import sae_lens

    if architecture == "matryoshka_batchtopk":  # trained under that name, saved as a JumpReLU
        from sae_lens.saes.matryoshka_batchtopk_sae import (
            MatryoshkaBatchTopKTrainingSAE,
            MatryoshkaBatchTopKTrainingSAEConfig,
        )

        training_cfg = MatryoshkaBatchTopKTrainingSAEConfig(
            d_in=24, d_sae=80, k=6, matryoshka_widths=[16, 40, 80]
        )
        training_cfg.metadata.hook_name = HOOK
        training_cfg.metadata.model_name = "tiny-llama"
        torch.manual_seed(0)
        training = MatryoshkaBatchTopKTrainingSAE(training_cfg)
        with torch.no_grad():
            for param in training.parameters():
                param.add_(torch.randn_like(param) * 0.1)
        training.topk_threshold = torch.tensor(0.05, dtype=torch.double)
        training.save_inference_model(folder)
        return sae_lens.SAE.load_from_disk(folder)
    config_class, sae_class = {
        "standard": (sae_lens.StandardSAEConfig, sae_lens.StandardSAE),
        "topk": (sae_lens.TopKSAEConfig, sae_lens.TopKSAE),
        "jumprelu": (sae_lens.JumpReLUSAEConfig, sae_lens.JumpReLUSAE),
        "gated": (sae_lens.GatedSAEConfig, sae_lens.GatedSAE),
        "abstopk": (sae_lens.AbsTopKSAEConfig, sae_lens.AbsTopKSAE),
        "matching_pursuit": (sae_lens.MatchingPursuitSAEConfig, sae_lens.MatchingPursuitSAE),
    }[architecture]
    extra = {"k": 6} if architecture in ("topk", "abstopk") else {}
    cfg = config_class(d_in=24, d_sae=80, **extra)
    cfg.metadata.hook_name = HOOK
    cfg.metadata.model_name = "tiny-llama"
    torch.manual_seed(0)
    theirs = sae_class(cfg)
    with torch.no_grad():
        for param in theirs.parameters():
            param.add_(torch.randn_like(param) * 0.1)
    theirs.save_model(folder)
    return theirs


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_we_load_what_saelens_saves(tmp_path, architecture):
    theirs = _saelens_saved(tmp_path, architecture)
    loaded = load_sae(tmp_path)
    assert loaded.format == "saelens" and loaded.sae.cfg.architecture == architecture
    x = torch.randn(4, 24)
    torch.testing.assert_close(loaded.sae.encode(x), theirs.encode(x), rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(loaded.sae(x), theirs(x), rtol=1e-6, atol=1e-6)


def test_older_flat_saelens_config_is_read(tmp_path):
    sae = random_sae("topk", 16, 48, HOOK, k=4)
    save_sae(sae, tmp_path)
    flat = {
        "d_in": 16,
        "d_sae": 48,
        "hook_point": HOOK,
        "model_name": "gpt2-small",
        "activation_fn_str": "topk",
        "activation_fn_kwargs": {"k": 4},
        "dtype": "float32",
        "apply_b_dec_to_input": True,
        "normalize_activations": False,
        "context_size": 128,
    }
    (tmp_path / "cfg.json").write_text(json.dumps(flat))
    loaded = load_sae(tmp_path)
    assert (loaded.sae.cfg.architecture, loaded.sae.cfg.k, loaded.sae.hook_name) == (
        "topk",
        4,
        HOOK,
    )
    assert loaded.sae.cfg.model_name == "gpt2-small"
    x = torch.randn(3, 16)
    torch.testing.assert_close(loaded.sae(x), sae(x))


def test_constant_norm_rescale_matches_saelens(tmp_path):
    from sae_lens import SAE as SAELensSAE

    sae = random_sae("standard", 16, 40, HOOK)
    sae.cfg.normalize_activations = "constant_norm_rescale"
    folder = saved(sae, tmp_path)
    theirs = SAELensSAE.load_from_disk(folder)
    x = torch.randn(6, 16) * 5
    torch.testing.assert_close(load_sae(folder).sae(x), theirs(x), rtol=1e-5, atol=1e-5)


# -- dictionary_learning folders, against SAEBench's loaders for them ---------------------------


def _dictionary_learning_folder(root, trainer_class, state, d_in, extra=None):
    folder = root / "trainer_0"
    folder.mkdir(parents=True)
    torch.save(state, folder / "ae.pt")
    trainer = {
        "trainer_class": trainer_class,
        "activation_dim": d_in,
        "dict_size": 64,
        "layer": 3,
        "lm_name": "EleutherAI/pythia-70m-deduped",
        "submodule_name": "resid_post_layer_3",
        **(extra or {}),
    }
    (folder / "config.json").write_text(
        json.dumps({"trainer": trainer, "buffer": {"ctx_len": 128}})
    )
    return folder


def _unit_rows(n, d, generator):
    w = torch.randn(n, d, generator=generator)
    return w / w.norm(dim=-1, keepdim=True)


def _dictionary_state(trainer_class, d_in, d_sae, generator):
    dec = _unit_rows(d_sae, d_in, generator)  # [d_sae, d_in], unit rows
    enc = torch.randn(d_sae, d_in, generator=generator) * 0.3
    bias_s, bias_i = (
        torch.randn(d_sae, generator=generator) * 0.1,
        torch.randn(d_in, generator=generator),
    )
    if trainer_class == "StandardTrainerAprilUpdate":  # unnormalised decoder, folded on load
        return {
            "encoder.weight": enc,
            "encoder.bias": bias_s,
            "bias": bias_i,
            "decoder.weight": (dec * torch.rand(d_sae, 1, generator=generator) * 3).T.contiguous(),
        }
    if trainer_class in ("TopKTrainer", "BatchTopKTrainer"):
        return {
            "encoder.weight": enc,
            "encoder.bias": bias_s,
            "b_dec": bias_i,
            "decoder.weight": dec.T.contiguous(),
            "k": torch.tensor(8),
            "threshold": torch.tensor(0.05),
        }
    if trainer_class == "MatryoshkaBatchTopKTrainer":  # W_enc/W_dec as is, nested group sizes
        return {
            "W_enc": enc.T.contiguous(),
            "b_enc": bias_s,
            "W_dec": dec,
            "b_dec": bias_i,
            "k": torch.tensor(8),
            "threshold": torch.tensor(0.05),
            "group_sizes": torch.tensor([8, 24, d_sae - 32]),
        }
    if trainer_class == "JumpReluTrainer":
        return {
            "W_enc": enc.T.contiguous(),
            "b_enc": bias_s,
            "W_dec": dec,
            "b_dec": bias_i,
            "threshold": torch.rand(d_sae, generator=generator) * 0.2,
        }
    if trainer_class == "GatedSAETrainer":
        return {
            "encoder.weight": enc,
            "decoder.weight": dec.T.contiguous(),
            "decoder_bias": bias_i,
            "r_mag": torch.randn(d_sae, generator=generator) * 0.1,
            "gate_bias": bias_s,
            "mag_bias": torch.randn(d_sae, generator=generator) * 0.1,
        }
    raise ValueError(trainer_class)


@pytest.mark.parametrize(
    "trainer_class, loader_name",
    [
        ("StandardTrainerAprilUpdate", "relu_sae.load_dictionary_learning_relu_sae"),
        ("TopKTrainer", "topk_sae.load_dictionary_learning_topk_sae"),
        ("BatchTopKTrainer", "batch_topk_sae.load_dictionary_learning_batch_topk_sae"),
        (
            "MatryoshkaBatchTopKTrainer",
            "batch_topk_sae.load_dictionary_learning_matryoshka_batch_topk_sae",
        ),
        ("JumpReluTrainer", "jumprelu_sae.load_dictionary_learning_jump_relu_sae"),
        ("GatedSAETrainer", "gated_sae.load_dictionary_learning_gated_sae"),
    ],
)
def test_dictionary_learning_folders_match_saebench_loaders(tmp_path, trainer_class, loader_name):
    import importlib

    d_in, d_sae = 24, 64
    state = _dictionary_state(trainer_class, d_in, d_sae, torch.Generator().manual_seed(3))
    folder = _dictionary_learning_folder(tmp_path, trainer_class, state, d_in, {"k": 8})
    ours = load_sae(folder)
    assert ours.format == "dictionary_learning" and ours.sae.hook_name == "blocks.3.hook_resid_post"
    assert ours.sae.cfg.model_name == "EleutherAI/pythia-70m-deduped"

    module_name, function_name = loader_name.split(".")
    loader = getattr(importlib.import_module(f"sae_bench.custom_saes.{module_name}"), function_name)
    # SAEBench's loaders fetch through the hub client; offline, it serves the local copy.
    theirs = loader(
        repo_id="local/dictionaries",
        filename="trainer_0/ae.pt",
        model_name="pythia-70m-deduped",
        device="cpu",
        dtype=torch.float32,
        local_dir=str(tmp_path),
    )
    x = torch.randn(10, d_in)
    torch.testing.assert_close(ours.sae.encode(x), theirs.encode(x), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(ours.sae(x), theirs(x), rtol=1e-5, atol=1e-5)
    if trainer_class == "MatryoshkaBatchTopKTrainer":
        assert ours.sae.cfg.architecture == "matryoshka_batchtopk"
        assert ours.sae.cfg.matryoshka_widths == [8, 32, d_sae]  # the groups' running sums


def test_folding_decoder_norms_keeps_reconstructions():
    sae = random_sae("standard", 16, 40, HOOK)
    with torch.no_grad():
        sae.W_dec.mul_(torch.rand(40, 1) * 3 + 0.1)
    x = torch.randn(8, 16)
    before = sae(x)
    fold_decoder_norms(sae)
    torch.testing.assert_close(sae(x), before, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(sae.W_dec.norm(dim=-1), torch.ones(40))


# -- detection and bad input -------------------------------------------------------------------


def test_format_is_detected_and_can_be_overridden(tmp_path):
    folder = saved(random_sae("standard", 8, 16, HOOK), tmp_path / "a")
    assert detect_format(folder) == "saelens"
    assert load_sae(folder / "cfg.json").path == folder  # a file inside the folder works too
    with pytest.raises(SaeevalError, match="no ae.pt"):
        load_sae(folder, format="dictionary_learning")
    with pytest.raises(SaeevalError, match="--format must be one of"):
        load_sae(folder, format="onnx")


def test_missing_path(tmp_path):
    with pytest.raises(SaeevalError, match="does not exist"):
        load_sae(tmp_path / "nope")


def test_folder_in_no_known_format(tmp_path):
    (tmp_path / "weights.bin").write_bytes(b"\0" * 8)
    with pytest.raises(SaeevalError, match="not an SAE folder in a known format"):
        load_sae(tmp_path)


def test_truncated_safetensors(tmp_path):
    folder = saved(random_sae("standard", 8, 16, HOOK), tmp_path)
    weights = folder / "sae_weights.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(SaeevalError, match="sae_weights.safetensors is not a readable safetensors"):
        load_sae(folder)


def test_corrupt_dictionary_learning_weights(tmp_path):
    state = _dictionary_state("TopKTrainer", 8, 64, torch.Generator().manual_seed(0))
    folder = _dictionary_learning_folder(tmp_path, "TopKTrainer", state, 8, {"k": 4})
    (folder / "ae.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(SaeevalError, match="ae.pt is not a readable PyTorch state dict"):
        load_sae(folder)


def test_corrupt_config_json(tmp_path):
    folder = saved(random_sae("standard", 8, 16, HOOK), tmp_path)
    (folder / "cfg.json").write_text("{not json")
    with pytest.raises(SaeevalError, match="cfg.json is not a readable JSON file"):
        load_sae(folder)


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_nan_or_inf_weights(tmp_path, value):
    sae = random_sae("standard", 8, 16, HOOK)
    with torch.no_grad():
        sae.W_dec[3, 2] = value
    folder = saved(sae, tmp_path)
    with pytest.raises(SaeevalError, match="weight 'W_dec' holds 1 NaN or infinite values"):
        load_sae(folder)


def test_weight_shape_disagreeing_with_config(tmp_path):
    folder = saved(random_sae("standard", 8, 16, HOOK), tmp_path)
    cfg = json.loads((folder / "cfg.json").read_text())
    cfg["d_sae"] = 32
    (folder / "cfg.json").write_text(json.dumps(cfg))
    with pytest.raises(SaeevalError, match=r"'W_enc' has shape \(8, 16\), expected \(8, 32\)"):
        load_sae(folder)


def test_topk_with_k_larger_than_d_sae(tmp_path):
    folder = saved(random_sae("topk", 8, 16, HOOK, k=4), tmp_path)
    cfg = json.loads((folder / "cfg.json").read_text())
    cfg["k"] = 17
    (folder / "cfg.json").write_text(json.dumps(cfg))
    with pytest.raises(SaeevalError, match="needs an integer k in 1..d_sae, got 17"):
        load_sae(folder)


def test_unknown_architecture(tmp_path):
    folder = saved(random_sae("standard", 8, 16, HOOK), tmp_path)
    cfg = json.loads((folder / "cfg.json").read_text())
    cfg["architecture"] = "temporal"
    (folder / "cfg.json").write_text(json.dumps(cfg))
    with pytest.raises(SaeevalError, match="architecture 'temporal' is not supported: it is a"):
        load_sae(folder)
