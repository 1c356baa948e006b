"""Every cfg.json layout SAELens 3.x-6.x wrote loads, means what it means to SAELens 6, and
what saeeval cannot run is refused in one sentence naming it.

The configs below are written key for key the way those versions wrote them: the flat runner
config of the first GPT-2 residual releases (`hook_point`, `"dtype": "torch.float32"`, a CUDA
device, no version), the SAELens 3.x/4.x inference config (`hook_name`, `activation_fn_str`,
`finetuning_scaling_factor`, `sae_lens_training_version`), the 5.x one (string normalisation,
`seqpos_slice`, TopK as `activation_fn_str: "topk"`), and 6.x's nested `metadata`. Each is read
by SAELens 6 (`SAE.load_from_disk`, through its own `handle_config_defaulting`) beside ours.
"""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file

from saeeval.errors import SaeevalError
from saeeval.saes import load_sae, save_sae

HOOK = "blocks.1.hook_resid_post"
D_IN, D_SAE = 16, 48

# The training runner's config as the first residual-stream releases shipped it (no version,
# hook_point/hook_point_layer, dtype as str(torch.float32), trained on CUDA).
RUNNER_CFG = {
    "model_name": "gpt2-small",
    "hook_point": HOOK,
    "hook_point_layer": 1,
    "hook_point_head_index": None,
    "dataset_path": "Skylion007/openwebtext",
    "is_dataset_tokenized": False,
    "context_size": 128,
    "use_cached_activations": False,
    "cached_activations_path": "activations/Skylion007_openwebtext/gpt2-small/" + HOOK,
    "d_in": D_IN,
    "n_batches_in_buffer": 128,
    "total_training_tokens": 300000000,
    "store_batch_size": 32,
    "device": "cuda",
    "seed": 42,
    "dtype": "torch.float32",
    "b_dec_init_method": "geometric_median",
    "expansion_factor": 3,
    "from_pretrained_path": None,
    "l1_coefficient": 8e-05,
    "lr": 0.0004,
    "lr_scheduler_name": None,
    "lr_warm_up_steps": 5000,
    "train_batch_size": 4096,
    "use_ghost_grads": False,
    "feature_sampling_window": 1000,
    "feature_sampling_method": None,
    "resample_batches": 1028,
    "feature_reinit_scale": 0.2,
    "dead_feature_window": 5000,
    "dead_feature_estimation_method": "no_fire",
    "dead_feature_threshold": 1e-08,
    "log_to_wandb": True,
    "wandb_project": "mats_sae_training_gpt2_small_resid_post_5",
    "wandb_entity": None,
    "wandb_log_frequency": 100,
    "n_checkpoints": 10,
    "checkpoint_path": "checkpoints/y1t51byy",
    "d_sae": D_SAE,
    "tokens_per_buffer": 67108864,
    "run_name": "48-L1-8e-05-LR-0.0004-Tokens-3.000e+08",
}

# SAELens 3.x/4.x: the inference SAE's config (SAEConfig.to_dict), flat, hook_point still named
# so by the releases converted in that period, dtype as str(torch.float32).
SAELENS_3_4_CFG = {
    "architecture": "standard",
    "d_in": D_IN,
    "d_sae": D_SAE,
    "dtype": "torch.float32",
    "device": "cuda",
    "model_name": "pythia-70m-deduped",
    "hook_point": HOOK,
    "hook_point_layer": 1,
    "hook_point_head_index": None,
    "activation_fn_str": "relu",
    "activation_fn_kwargs": {},
    "apply_b_dec_to_input": True,
    "finetuning_scaling_factor": False,
    "sae_lens_training_version": "3.5.0",
    "prepend_bos": True,
    "dataset_path": "EleutherAI/the_pile_deduplicated",
    "dataset_trust_remote_code": True,
    "context_size": 128,
    "normalize_activations": False,
    "neuronpedia_id": None,
    "model_from_pretrained_kwargs": {"center_writing_weights": False},
    "l1_coefficient": 5.0,
    "lp_norm": 1.0,
    "use_ghost_grads": False,
    "normalize_sae_decoder": False,
    "noise_scale": 0.0,
    "decoder_orthogonal_init": False,
    "mse_loss_normalization": None,
    "decoder_heuristic_init": True,
    "init_encoder_as_decoder_transpose": True,
    "scale_sparsity_penalty_by_decoder_norm": True,
}

# SAELens 5.x: hook_name/hook_layer, string normalisation, dtype "float32", seqpos_slice.
SAELENS_5_CFG = {
    "architecture": "jumprelu",
    "d_in": D_IN,
    "d_sae": D_SAE,
    "dtype": "float32",
    "device": "cuda",
    "model_name": "gemma-2-2b",
    "hook_name": HOOK,
    "hook_layer": 1,
    "hook_head_index": None,
    "activation_fn_str": "relu",
    "activation_fn_kwargs": {},
    "apply_b_dec_to_input": True,
    "finetuning_scaling_factor": False,
    "sae_lens_training_version": "5.9.1",
    "prepend_bos": True,
    "dataset_path": "monology/pile-uncopyrighted",
    "dataset_trust_remote_code": True,
    "context_size": 1024,
    "normalize_activations": "none",
    "neuronpedia_id": None,
    "model_from_pretrained_kwargs": {"center_writing_weights": False},
    "seqpos_slice": [None],
}

# SAELens 6.x: hook and model under metadata, with the version that wrote it.
SAELENS_6_CFG = {
    "d_in": D_IN,
    "d_sae": D_SAE,
    "dtype": "float32",
    "device": "cuda",
    "apply_b_dec_to_input": False,
    "normalize_activations": "none",
    "reshape_activations": "none",
    "metadata": {
        "sae_lens_version": "6.5.1",
        "sae_lens_training_version": "6.5.1",
        "model_name": "gemma-2-2b",
        "hook_name": HOOK,
        "hook_head_index": None,
        "model_class_name": "HookedTransformer",
        "model_from_pretrained_kwargs": {"center_writing_weights": False},
        "prepend_bos": True,
        "context_size": 1024,
        "dataset_path": "monology/pile-uncopyrighted",
        "seqpos_slice": [None],
        "exclude_special_tokens": True,
    },
    "architecture": "jumprelu",
}


def _weights(architecture: str, dtype=torch.float32, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    w_dec = torch.randn(D_SAE, D_IN, generator=g)
    tensors = {
        "W_enc": torch.randn(D_IN, D_SAE, generator=g) * 0.3,
        "W_dec": w_dec / w_dec.norm(dim=-1, keepdim=True),
        "b_dec": torch.randn(D_IN, generator=g) * 0.1,
        "b_enc": torch.randn(D_SAE, generator=g) * 0.1,
    }
    if architecture == "jumprelu":
        tensors["threshold"] = torch.rand(D_SAE, generator=g) * 0.3
    return {name: t.to(dtype) for name, t in tensors.items()}


def _folder(tmp_path, cfg: dict, weights: dict[str, torch.Tensor]):
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "cfg.json").write_text(json.dumps(cfg))
    save_file(weights, str(tmp_path / "sae_weights.safetensors"))
    return tmp_path


def _saelens(folder):
    from sae_lens import SAE as SAELensSAE

    return SAELensSAE.load_from_disk(folder, device="cpu")


def _same_as_saelens(ours, theirs, dtype=torch.float32):
    x = torch.randn(3, 5, D_IN, generator=torch.Generator().manual_seed(7)).to(dtype)
    latents = ours.encode(x)
    assert latents.count_nonzero() > 0
    torch.testing.assert_close(latents, theirs.encode(x).to(latents.dtype))
    torch.testing.assert_close(ours(x), theirs(x).to(latents.dtype))


LAYOUTS = {
    "runner (no version)": (RUNNER_CFG, "standard"),
    "3.x/4.x": (SAELENS_3_4_CFG, "standard"),
    "5.x": (SAELENS_5_CFG, "jumprelu"),
    "6.x": (SAELENS_6_CFG, "jumprelu"),
}


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_every_layout_loads_as_saelens_6_reads_it(tmp_path, layout):
    cfg, architecture = LAYOUTS[layout]
    folder = _folder(tmp_path / "sae", cfg, _weights(architecture))
    loaded = load_sae(folder)
    sae = loaded.sae
    assert (sae.cfg.architecture, sae.hook_name, sae.cfg.dtype) == (architecture, HOOK, "float32")
    assert sae.cfg.model_name == (cfg.get("model_name") or cfg["metadata"]["model_name"])
    assert sae.cfg.apply_b_dec_to_input is (layout != "6.x")
    _same_as_saelens(sae, _saelens(folder))
    # Renamed and derived keys are not carried along; training facts are.
    assert not {"hook_point", "hook_point_layer", "hook_layer", "activation_fn_str"} & set(
        sae.cfg.extra
    )
    if layout == "runner (no version)":
        assert sae.cfg.extra["total_training_tokens"] == 300000000
        assert sae.cfg.extra["l1_coefficient"] == 8e-05
    if layout == "3.x/4.x":
        assert sae.cfg.extra["sae_lens_training_version"] == "3.5.0"
        assert sae.cfg.normalize_activations == "none"  # the old False flag


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_an_old_layout_saved_again_is_the_6_layout_saelens_loads(tmp_path, layout):
    cfg, architecture = LAYOUTS[layout]
    folder = _folder(tmp_path / "old", cfg, _weights(architecture))
    ours = load_sae(folder).sae
    save_sae(ours, tmp_path / "new")
    written = json.loads((tmp_path / "new" / "cfg.json").read_text())
    assert written["metadata"]["hook_name"] == HOOK and written["dtype"] == "float32"
    _same_as_saelens(load_sae(tmp_path / "new").sae, _saelens(tmp_path / "new"))
    _same_as_saelens(ours, _saelens(tmp_path / "new"))


def test_topk_as_saelens_5_wrote_it(tmp_path):
    cfg = {
        **SAELENS_5_CFG,
        "architecture": "standard",
        "activation_fn_str": "topk",
        "activation_fn_kwargs": {"k": 6},
    }
    folder = _folder(tmp_path, cfg, _weights("standard"))
    sae = load_sae(folder).sae
    assert (sae.cfg.architecture, sae.cfg.k) == ("topk", 6)
    assert int((sae.encode(torch.randn(4, D_IN)) != 0).sum(dim=-1).max()) <= 6
    _same_as_saelens(sae, _saelens(folder))


def test_bfloat16_as_old_saelens_wrote_it(tmp_path):
    cfg = {**SAELENS_3_4_CFG, "dtype": "torch.bfloat16"}
    weights = _weights("standard", dtype=torch.bfloat16)
    folder = _folder(tmp_path, cfg, weights)
    in_bf16 = load_sae(folder, dtype="bfloat16").sae
    assert in_bf16.dtype == torch.bfloat16 and in_bf16.cfg.dtype == "bfloat16"
    assert torch.equal(in_bf16.W_enc, weights["W_enc"])
    _same_as_saelens(in_bf16, _saelens(folder), dtype=torch.bfloat16)
    in_fp32 = load_sae(folder).sae  # the default run dtype: bfloat16 values widened exactly
    assert in_fp32.dtype == torch.float32 and torch.equal(in_fp32.W_dec, weights["W_dec"].float())


def test_an_unknown_dtype_is_one_clear_error(tmp_path):
    folder = _folder(tmp_path, {**SAELENS_3_4_CFG, "dtype": "torch.int8"}, _weights("standard"))
    with pytest.raises(SaeevalError, match=r"cfg.json: dtype 'torch.int8' is not supported"):
        load_sae(folder)


def test_fine_tuning_scale_is_folded_into_the_decoder(tmp_path):
    """SAELens before 6.0 decoded (f * scale) @ W_dec + b_dec (SAELens 6 cannot load these)."""
    weights = _weights("standard")
    scale = torch.rand(D_SAE, generator=torch.Generator().manual_seed(3)) + 0.5
    cfg = {**SAELENS_3_4_CFG, "finetuning_scaling_factor": True}
    folder = _folder(tmp_path, cfg, {**weights, "finetuning_scaling_factor": scale})
    sae = load_sae(folder).sae
    x = torch.randn(6, D_IN)
    f = torch.relu((x - weights["b_dec"]) @ weights["W_enc"] + weights["b_enc"])
    torch.testing.assert_close(sae.encode(x), f)
    torch.testing.assert_close(sae(x), (f * scale) @ weights["W_dec"] + weights["b_dec"])


def test_an_all_ones_scaling_factor_is_dropped_and_any_other_needs_the_flag(tmp_path):
    weights = _weights("standard")
    ones = _folder(
        tmp_path / "ones", SAELENS_3_4_CFG, {**weights, "scaling_factor": torch.ones(D_SAE)}
    )
    _same_as_saelens(load_sae(ones).sae, _saelens(ones))
    bad = _folder(
        tmp_path / "bad", SAELENS_3_4_CFG, {**weights, "scaling_factor": torch.rand(D_SAE)}
    )
    with pytest.raises(SaeevalError, match="fine-tuning scale 'scaling_factor' other than 1"):
        load_sae(bad)


def test_an_activation_saelens_6_does_not_infer_is_refused(tmp_path):
    cfg = {**SAELENS_3_4_CFG, "activation_fn_str": "tanh-relu"}
    folder = _folder(tmp_path, cfg, _weights("standard"))
    with pytest.raises(SaeevalError, match="activation function 'tanh-relu' is not supported"):
        load_sae(folder)


# -- training checkpoints: SAELens' own conversion to the inference SAE ---------------------------


def _matryoshka_training_sae(threshold: float = 0.05):
    from sae_lens.saes.matryoshka_batchtopk_sae import (
        MatryoshkaBatchTopKTrainingSAE,
        MatryoshkaBatchTopKTrainingSAEConfig,
    )

    cfg = MatryoshkaBatchTopKTrainingSAEConfig(
        d_in=D_IN, d_sae=D_SAE, k=5, matryoshka_widths=[8, 24, D_SAE]
    )
    cfg.metadata.hook_name = HOOK
    torch.manual_seed(1)
    sae = MatryoshkaBatchTopKTrainingSAE(cfg)
    with torch.no_grad():
        for param in sae.parameters():
            param.add_(torch.randn_like(param) * 0.2)
    sae.topk_threshold = torch.tensor(threshold, dtype=torch.double)
    return sae


def test_a_matryoshka_training_checkpoint_loads_as_saelens_would_save_it(tmp_path):
    training = _matryoshka_training_sae()
    training.save_model(tmp_path / "checkpoint")  # what SAELens' trainer writes mid-run
    assert json.loads((tmp_path / "checkpoint" / "cfg.json").read_text())["architecture"] == (
        "matryoshka_batchtopk"
    )
    training.save_inference_model(tmp_path / "final")  # what it writes at the end
    ours = load_sae(tmp_path / "checkpoint").sae
    assert ours.cfg.architecture == "matryoshka_batchtopk"
    assert ours.cfg.matryoshka_widths == [8, 24, D_SAE]
    theirs = _saelens(tmp_path / "final")
    x = torch.randn(5, 4, D_IN, generator=torch.Generator().manual_seed(2))
    assert torch.equal(ours.encode(x), theirs.encode(x))
    assert torch.equal(ours(x), theirs(x))


def test_a_batchtopk_training_checkpoint_loads_as_its_jumprelu(tmp_path):
    from sae_lens.saes.batchtopk_sae import BatchTopKTrainingSAE, BatchTopKTrainingSAEConfig

    cfg = BatchTopKTrainingSAEConfig(d_in=D_IN, d_sae=D_SAE, k=5)
    cfg.metadata.hook_name = HOOK
    training = BatchTopKTrainingSAE(cfg)
    with torch.no_grad():
        for param in training.parameters():
            param.add_(torch.randn_like(param) * 0.2)
    training.topk_threshold = torch.tensor(0.1, dtype=torch.double)
    training.save_model(tmp_path / "checkpoint")
    training.save_inference_model(tmp_path / "final")
    ours = load_sae(tmp_path / "checkpoint").sae
    assert ours.cfg.architecture == "jumprelu"
    x = torch.randn(7, D_IN, generator=torch.Generator().manual_seed(4))
    assert torch.equal(ours.encode(x), _saelens(tmp_path / "final").encode(x))


# -- what saeeval refuses, each in one sentence naming it ----------------------------------------


def _saved_by_saelens(folder, architecture: str):
    import sae_lens

    if architecture == "jumprelu_transcoder":
        sae = sae_lens.JumpReLUTranscoder(
            sae_lens.JumpReLUTranscoderConfig(
                d_in=D_IN, d_sae=D_SAE, d_out=D_IN, apply_b_dec_to_input=False
            )
        )
    elif architecture == "skip_transcoder":
        sae = sae_lens.SkipTranscoder(
            sae_lens.SkipTranscoderConfig(
                d_in=D_IN, d_sae=D_SAE, d_out=D_IN, apply_b_dec_to_input=False
            )
        )
    elif architecture == "temporal":
        sae = sae_lens.TemporalSAE(
            sae_lens.TemporalSAEConfig(
                d_in=D_IN, d_sae=D_SAE, n_heads=2, bottleneck_factor=4, kval_topk=4
            )
        )
    else:
        raise ValueError(architecture)
    sae.cfg.metadata.hook_name = HOOK
    sae.save_model(folder)
    return folder


@pytest.mark.parametrize(
    "architecture, reason",
    [
        ("jumprelu_transcoder", "it is a transcoder"),
        ("skip_transcoder", "it is a transcoder"),
        ("temporal", "it is a temporal SAE"),
    ],
)
def test_saelens_architectures_we_do_not_run_are_refused_by_name(tmp_path, architecture, reason):
    folder = _saved_by_saelens(tmp_path, architecture)
    with pytest.raises(
        SaeevalError, match=rf"architecture '{architecture}' is not supported: {reason}"
    ):
        load_sae(folder)


def test_an_unknown_architecture_in_an_old_layout_is_refused_before_saelens_reads_it(tmp_path):
    folder = _folder(tmp_path, {**SAELENS_5_CFG, "architecture": "spline"}, _weights("standard"))
    with pytest.raises(
        SaeevalError, match=r"cfg.json: architecture 'spline' is not supported; expected one of"
    ):
        load_sae(folder)
