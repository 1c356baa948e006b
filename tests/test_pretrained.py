"""`--sae RELEASE/SAE_ID`: SAELens' pretrained directory and loaders, read from a Hugging Face hub
cache this test lays out exactly as `huggingface_hub` does (`models--ORG--REPO/blobs`,
`snapshots/<commit>/...` links, `refs/main`), with downloads off (HF_HUB_OFFLINE=1).

The files are tiny but carry the real names and layouts each release's loader reads: a SAELens
folder (`cfg.json` in the flat layout those releases shipped, `sae_weights.safetensors`,
`sparsity.safetensors`) and a dictionary_learning trainer folder (`ae.pt` + `config.json`).
Nothing of the loading is replaced: SAELens' own functions resolve and read them, and the
reference for every number is SAEBench's own `load_and_format_sae`.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path

import pytest
import torch
from helpers import random_sae, saved
from safetensors.torch import save as safetensors_bytes
from tiny_models import tiny_model
from typer.testing import CliRunner

from saeeval.cli import app
from saeeval.errors import SaeevalError
from saeeval.runner import RunRequest, run
from saeeval.saes import load_sae

COMMIT = "3f2a9c0d5e6b7a8c9d0e1f2a3b4c5d6e7f8a9b0c"
PYTHIA = ("pythia-70m-deduped-res-sm", "blocks.2.hook_resid_post")
PYTHIA_REPO, PYTHIA_FOLDER = "ctigges/pythia-70m-deduped__res-sm_processed", "2-res-sm"
GPT2 = ("gpt2-small-res-jb", "blocks.1.hook_resid_pre")
GPT2_REPO = "jbloom/GPT2-Small-SAEs-Reformatted"
DICT_LEARNING = (
    "sae_bench_gemma-2-2b_topk_width-2pow12_date-1109",
    "blocks.12.hook_resid_post__trainer_0",
)
DICT_LEARNING_REPO = "canrager/saebench_gemma-2-2b_width-2pow12_date-1109"
DICT_LEARNING_FOLDER = "gemma-2-2b_topk_width-2pow12_date-1109/resid_post_layer_12/trainer_0"


class HubCache:
    """A Hugging Face hub cache folder, written the way huggingface_hub writes one."""

    def __init__(self, root: Path):
        self.root = root

    def add(self, repo_id: str, path_in_repo: str, data: bytes) -> None:
        repo = self.root / f"models--{repo_id.replace('/', '--')}"
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
        link = repo / "snapshots" / COMMIT / path_in_repo
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
        (repo / "refs").mkdir(exist_ok=True)
        (repo / "refs" / "main").write_text(COMMIT)


@pytest.fixture
def hub_cache(tmp_path, monkeypatch) -> HubCache:
    """An empty hub cache that huggingface_hub reads, offline (it reads its settings at import,
    so the module's constants are pointed at the folder too)."""
    from huggingface_hub import constants

    root = tmp_path / "hf-cache"
    root.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(root))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(root))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return HubCache(root)


def _saelens_weights(d_in: int, d_sae: int, seed: int) -> dict[str, torch.Tensor]:
    """Random standard-SAE weights with decoder rows of assorted norms (as trained SAEs without a
    norm constraint have), so folding the norms, as SAEBench does, changes the latents."""
    g = torch.Generator().manual_seed(seed)
    w_dec = torch.randn(d_sae, d_in, generator=g)
    w_dec = w_dec / w_dec.norm(dim=-1, keepdim=True) * (torch.rand(d_sae, 1, generator=g) + 0.5)
    return {
        "W_enc": torch.randn(d_in, d_sae, generator=g) * 0.3,
        "b_enc": torch.randn(d_sae, generator=g) * 0.1,
        "W_dec": w_dec,
        "b_dec": torch.randn(d_in, generator=g) * 0.1,
    }


def _flat_cfg(model_name: str, hook: str, d_in: int, d_sae: int) -> dict:
    """The flat cfg.json of those releases (no version, hook_point, dtype "torch.float32")."""
    return {
        "model_name": model_name,
        "hook_point": hook,
        "hook_point_layer": int(hook.split(".")[1]),
        "hook_point_head_index": None,
        "dataset_path": "EleutherAI/the_pile_deduplicated",
        "is_dataset_tokenized": False,
        "context_size": 128,
        "d_in": d_in,
        "d_sae": d_sae,
        "device": "cuda",
        "seed": 42,
        "dtype": "torch.float32",
        "b_dec_init_method": "geometric_median",
        "expansion_factor": d_sae // d_in,
        "l1_coefficient": 0.00025,
        "lr": 0.0004,
        "train_batch_size": 4096,
        "use_ghost_grads": False,
        "total_training_tokens": 100000000,
    }


def _add_saelens_release(cache, repo_id, folder, cfg, seed=0) -> dict[str, torch.Tensor]:
    weights = _saelens_weights(cfg["d_in"], cfg["d_sae"], seed)
    cache.add(repo_id, f"{folder}/cfg.json", json.dumps(cfg).encode())
    cache.add(repo_id, f"{folder}/sae_weights.safetensors", safetensors_bytes(weights))
    sparsity = {"sparsity": torch.full((cfg["d_sae"],), -3.0)}
    cache.add(repo_id, f"{folder}/sparsity.safetensors", safetensors_bytes(sparsity))
    return weights


def _saebench_reference(release: str, sae_id: str):
    """The SAE exactly as SAEBench's evals load a pretrained SAE."""
    from sae_bench.sae_bench_utils.general_utils import load_and_format_sae

    return load_and_format_sae(release, sae_id, "cpu")[1]


def _same_numbers(ours, theirs, d_in: int):
    x = torch.randn(6, 4, d_in, generator=torch.Generator().manual_seed(11))
    latents = ours.encode(x)
    assert latents.count_nonzero() > 0
    torch.testing.assert_close(latents, theirs.encode(x), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(ours(x), theirs(x), rtol=1e-5, atol=1e-6)


def test_a_saelens_release_loads_from_the_hub_cache_as_saebench_loads_it(hub_cache):
    release, sae_id = PYTHIA
    cfg = _flat_cfg("pythia-70m-deduped", sae_id, 32, 96)
    weights = _add_saelens_release(hub_cache, PYTHIA_REPO, PYTHIA_FOLDER, cfg)
    loaded = load_sae(f"{release}/{sae_id}")
    assert (loaded.release, loaded.release_sae_id, loaded.format) == (release, sae_id, "pretrained")
    assert loaded.sae_id == "pythia-70m-deduped-res-sm_blocks.2.hook_resid_post"
    sae = loaded.sae
    assert (sae.hook_name, sae.cfg.model_name, sae.d_sae) == (sae_id, "pythia-70m-deduped", 96)
    assert sae.cfg.extra["neuronpedia_id"] == "pythia-70m-deduped/2-res-sm"  # the directory's
    # Decoder norms folded as SAEBench folds them: unit rows, same reconstructions.
    torch.testing.assert_close(sae.W_dec.norm(dim=-1), torch.ones(96))
    assert not torch.allclose(sae.W_dec, weights["W_dec"])
    _same_numbers(sae, _saebench_reference(release, sae_id), 32)


def test_a_release_with_its_own_loader_loads_as_saebench_loads_it(hub_cache):
    """A dictionary_learning release: SAELens' dictionary_learning_1 loader reads ae.pt."""
    release, sae_id = DICT_LEARNING
    d_in, d_sae, k = 24, 64, 6
    g = torch.Generator().manual_seed(5)
    decoder = torch.randn(d_sae, d_in, generator=g)
    decoder = decoder / decoder.norm(dim=-1, keepdim=True)
    state = {
        "encoder.weight": torch.randn(d_sae, d_in, generator=g) * 0.3,
        "encoder.bias": torch.randn(d_sae, generator=g) * 0.1,
        "decoder.weight": decoder.T.contiguous(),
        "b_dec": torch.randn(d_in, generator=g) * 0.1,
        "k": torch.tensor(k),
        "threshold": torch.tensor(-1.0),
    }
    buffer = io.BytesIO()
    torch.save(state, buffer)
    config = {
        "trainer": {
            "dict_class": "AutoEncoderTopK",
            "trainer_class": "TopKTrainer",
            "activation_dim": d_in,
            "dict_size": d_sae,
            "k": k,
            "layer": 12,
            "lm_name": "google/gemma-2-2b",
            "submodule_name": "resid_post_layer_12",
        },
        "buffer": {"d_submodule": d_in, "ctx_len": 128},
    }
    hub_cache.add(DICT_LEARNING_REPO, f"{DICT_LEARNING_FOLDER}/ae.pt", buffer.getvalue())
    hub_cache.add(
        DICT_LEARNING_REPO, f"{DICT_LEARNING_FOLDER}/config.json", json.dumps(config).encode()
    )
    loaded = load_sae(f"{release}/{sae_id}")
    sae = loaded.sae
    assert (sae.cfg.architecture, sae.cfg.k, sae.hook_name) == (
        "topk",
        k,
        "blocks.12.hook_resid_post",
    )
    assert loaded.sae_id == f"{release}_{sae_id}"
    _same_numbers(sae, _saebench_reference(release, sae_id), d_in)


def test_run_files_and_records_a_release_as_saebench_does(hub_cache, tmp_path, isolated_cache):
    """Through `run`: SAEBench's result file name, its release and id fields, and the release's
    TransformerLens option (GPT-2 residual SAEs were trained with centred writing weights)."""
    from sae_bench.sae_bench_utils.general_utils import get_results_filepath

    release, sae_id = GPT2
    _add_saelens_release(hub_cache, GPT2_REPO, sae_id, _flat_cfg("gpt2-small", sae_id, 64, 128))
    text = tmp_path / "owt.jsonl"
    text.write_text(
        "\n".join(json.dumps({"text": f"Line {i}: the cat sat. " * 6}) for i in range(80))
    )
    gpt2 = tiny_model("gpt2")
    messages: list[str] = []
    outcome = run(
        RunRequest(
            saes=[f"{release}/{sae_id}"],
            evals=["core"],
            out=tmp_path / "out",
            device="cpu",
            dataset=str(text),
            overrides={
                "core": {
                    "batch_size_prompts": 4,
                    "n_eval_reconstruction_batches": 1,
                    "n_eval_sparsity_variance_batches": 2,
                    "context_size": 32,
                }
            },
        ),
        log=messages.append,
        model_loader=lambda *_: gpt2,
    )
    (path,) = [p for _, _, p in outcome.written]
    assert path == Path(get_results_filepath(str(tmp_path / "out" / "core"), release, sae_id))
    result = json.loads(path.read_text())
    assert (result["sae_lens_release_id"], result["sae_lens_id"]) == (release, sae_id)
    assert result["sae_cfg_dict"]["model_from_pretrained_kwargs"] == {
        "center_writing_weights": True
    }
    assert any("activations centred" in m for m in messages)
    assert gpt2.fingerprint.endswith(f"+{sae_id}=centred")


# -- what goes wrong, each in one sentence -----------------------------------------------------


def test_an_unknown_release_is_named_with_close_ones(hub_cache):
    with pytest.raises(SaeevalError) as info:
        load_sae("gemma-scope-2b-pt-res-canonicl/layer_12/width_16k/canonical")
    message = str(info.value)
    assert "is neither an existing path nor RELEASE/SAE_ID" in message
    assert "'gemma-scope-2b-pt-res-canonicl' is not a release there" in message
    assert "did you mean gemma-scope-2b-pt-res-canonical" in message


def test_an_unknown_id_lists_valid_ones_closest_first(hub_cache):
    with pytest.raises(SaeevalError) as info:
        load_sae("gemma-scope-2b-pt-res-canonical/layer_12/width_16k/canonicl")
    message = str(info.value)
    assert "has no SAE 'layer_12/width_16k/canonicl'" in message
    assert "its ids include layer_12/width_16k/canonical" in message and "more)" in message


def test_a_release_missing_from_the_offline_cache_says_how_to_get_it(hub_cache):
    with pytest.raises(SaeevalError) as info:
        load_sae("gemma-scope-2b-pt-res-canonical/layer_12/width_16k/canonical")
    message = str(info.value)
    assert "google/gemma-scope-2b-pt-res" in message and "layer_12/width_16k/average_l0_" in message
    assert "not in the local Hugging Face cache" in message and str(hub_cache.root) in message
    assert "HF_HUB_OFFLINE=1" in message and "hf download google/gemma-scope-2b-pt-res" in message


def test_the_cli_reports_release_problems_without_a_traceback(hub_cache, tmp_path):
    result = CliRunner().invoke(
        app,
        [
            "run",
            "--sae",
            "pythia-70m-deduped-res-sm/blocks.9.hook_resid_post",
            "--out",
            str(tmp_path / "o"),
        ],
    )
    assert result.exit_code == 2
    assert "has no SAE 'blocks.9.hook_resid_post'" in result.output
    assert "Traceback" not in result.output


def test_an_existing_path_wins_over_a_release_name(hub_cache, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    release, sae_id = PYTHIA
    saved(random_sae("standard", 8, 16, "blocks.2.hook_resid_post"), Path(release) / sae_id)
    loaded = load_sae(f"{release}/{sae_id}")
    assert loaded.format == "saelens" and loaded.release is None and loaded.sae.d_in == 8


def test_format_is_for_folders_only(hub_cache):
    with pytest.raises(SaeevalError, match="--format applies to SAE folders"):
        load_sae("/".join(PYTHIA), format="saelens")
