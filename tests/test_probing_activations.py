"""Text activations for the probing evals against SAEBench's activation collection, pooling and
ablation, on a tiny Llama and its TransformerLens twin."""

from __future__ import annotations

import pytest
import torch
from helpers import random_sae, saved
from reference_models import hooked_transformer_twin, reference_sae
from tiny_models import tiny_model

from saeeval.activations import ActivationCache
from saeeval.evals.probing.ablation import ablated_pooled, decoder_matrix
from saeeval.evals.probing.sae_statistics import (
    pooled_latents_of_texts,
    sae_statistics_of_texts,
)
from saeeval.evals.probing.text_activations import context_ids, text_activations

HOOK, LAYER, CONTEXT = "blocks.1.hook_resid_post", 1, 48


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    model = tiny_model("llama")
    twin = hooked_transformer_twin(model.model, tokenizer=model.tokenizer)
    texts = [f"text {i}: " + "the cat sat on the mat. " * (i % 5) + "end" for i in range(23)]
    ours = text_activations(
        model, texts, HOOK, CONTEXT, ActivationCache(tmp_path_factory.mktemp("c")), batch_size=4
    )
    # SAEBench's tokens: BOS, the text, truncated and right-padded to the context length.
    pad = model.tokenizer.pad_token_id
    ids = context_ids(model, texts, CONTEXT)
    tokens = torch.tensor([t + [pad] * (CONTEXT - len(t)) for t in ids])
    return model, twin, texts, ours, tokens


def _reference_acts(twin, tokens):
    from sae_bench.sae_bench_utils.activation_collection import get_llm_activations

    return get_llm_activations(
        tokens, twin, 8, LAYER, HOOK, mask_bos_pad_eos_tokens=True, show_progress=False
    )


def test_pooled_activations_match_saebench(setup):
    from sae_bench.sae_bench_utils.activation_collection import create_meaned_model_activations

    _, twin, texts, ours, tokens = setup
    assert any(len(t) >= CONTEXT for t in context_ids(setup[0], texts, CONTEXT))  # truncation
    expected = create_meaned_model_activations({"all": _reference_acts(twin, tokens)})["all"]
    torch.testing.assert_close(ours.pooled(), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("architecture", ["standard", "topk", "jumprelu"])
def test_sae_pooling_and_ablation_match_saebench(setup, tmp_path, architecture):
    """Pooled latents, and ablation computed from per-text latent sums, against SAEBench's
    per-token encode/decode (which also counts what the SAE makes of masked positions)."""
    from sae_bench.evals.scr_and_tpp.main import ablated_precomputed_activations
    from sae_bench.sae_bench_utils.activation_collection import get_sae_meaned_activations

    _, twin, _, ours, tokens = setup
    sae = random_sae(architecture, 64, 96, HOOK, seed=4, model_name="tiny-llama", k=6)
    with torch.no_grad():
        sae.b_enc.add_(0.5)  # latents fire on the zero vector, so masked positions count
    theirs = reference_sae(saved(sae, tmp_path / "sae"))
    acts = _reference_acts(twin, tokens)
    stats = sae_statistics_of_texts(sae, ours)

    expected = get_sae_meaned_activations({"all": acts}, theirs, 8)["all"]
    torch.testing.assert_close(pooled_latents_of_texts(sae, ours), expected, rtol=1e-5, atol=1e-5)

    mask = torch.zeros(96, dtype=torch.bool)
    mask[torch.randperm(96, generator=torch.Generator().manual_seed(0))[:20]] = True
    with torch.no_grad():
        expected = ablated_precomputed_activations(acts, theirs, mask, 8)
    sums, W = stats.all_sum_columns(mask), decoder_matrix(sae)[mask]
    got = ablated_pooled(stats.act_sum, stats.count, sums, W)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)
    assert not torch.allclose(got, ours.pooled(), atol=1e-3)  # the ablation did something


def test_second_call_reads_the_cache(setup, tmp_path):
    model, _, texts, _, _ = setup
    cache = ActivationCache(tmp_path)
    first = text_activations(model, texts, HOOK, CONTEXT, cache, batch_size=4)
    again = ActivationCache(tmp_path)
    second = text_activations(model, texts, HOOK, CONTEXT, again, batch_size=4)
    assert cache.model_forward_passes > 0 and again.model_forward_passes == 0
    torch.testing.assert_close(first.rows, second.rows)
