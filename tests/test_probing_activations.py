"""Text activations for the probing evals against SAEBench's activation collection, pooling and
ablation, on a tiny Llama and its TransformerLens twin."""

from __future__ import annotations

import pytest
import torch
from helpers import random_sae, saved
from reference_models import hooked_transformer_twin, reference_sae
from tiny_models import tiny_model

from saeeval.activations import ActivationCache
from saeeval.data.classification import PAIRED_CLASS_KEYS
from saeeval.evals.probing.ablation import (
    ablated_pooled,
    decoder_matrix,
    node_effects,
    node_effects_from_statistics,
)
from saeeval.evals.probing.sae_statistics import (
    SparseRows,
    pooled_latents_of_texts,
    sae_statistics_of_texts,
    sums_are_kept_sparse,
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


@pytest.mark.parametrize("sparse", [False, True], ids=["dense-sums", "sparse-sums"])
@pytest.mark.parametrize("architecture", ["standard", "topk", "jumprelu"])
def test_sae_pooling_and_ablation_match_saebench(setup, tmp_path, architecture, sparse):
    """Pooled latents, and ablation computed from per-text latent sums (dense, or kept sparse as
    for wide SAEs), against SAEBench's per-token encode/decode (which also counts what the SAE
    makes of masked positions)."""
    from sae_bench.evals.scr_and_tpp.main import ablated_precomputed_activations
    from sae_bench.sae_bench_utils.activation_collection import get_sae_meaned_activations

    _, twin, _, ours, tokens = setup
    sae = random_sae(architecture, 64, 96, HOOK, seed=4, model_name="tiny-llama", k=6)
    with torch.no_grad():
        sae.b_enc.add_(0.5)  # latents fire on the zero vector, so masked positions count
    theirs = reference_sae(saved(sae, tmp_path / "sae"))
    acts = _reference_acts(twin, tokens)
    stats = sae_statistics_of_texts(sae, ours, sparse=sparse)
    assert stats.is_sparse == sparse

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


@pytest.mark.parametrize("normalised", [False, True], ids=["plain", "layer-norm"])
def test_sparse_sums_hold_the_dense_sums(setup, normalised):
    """Kept sparse, the per-text sums are the dense ones bit for bit, however the batches split
    the texts: a text split between batches is still summed in one sequence (batches of 7 rows
    split most texts here, 13 rows split them elsewhere)."""
    _, _, _, ours, _ = setup
    sae = random_sae("topk", 64, 96, HOOK, seed=4, model_name="tiny-llama", k=6)
    if normalised:
        sae.cfg.normalize_activations = "layer_norm"
    mask = torch.arange(96) % 3 == 0
    for rows in (7, 13, len(ours.rows)):
        # The same batches on both sides: a matrix product's rounding may depend on its rows.
        dense = sae_statistics_of_texts(sae, ours, batch_rows=rows, sparse=False)
        assert (dense.scaled_sum is not None) == normalised and not dense.is_sparse
        sparse = sae_statistics_of_texts(sae, ours, batch_rows=rows, sparse=True)
        assert isinstance(sparse.valid_sum, SparseRows) and sparse.is_sparse
        assert len(sparse.valid_sum.values) == int((dense.valid_sum != 0).sum())  # non-zeros
        assert torch.equal(sparse.valid_sum.to_dense(), dense.valid_sum), rows
        if normalised:
            assert torch.equal(sparse.scaled_sum.to_dense(), dense.scaled_sum), rows
        assert torch.equal(sparse.all_sum_columns(mask), dense.all_sum_columns(mask))


@pytest.mark.parametrize("architecture", ["topk", "jumprelu"])
def test_sparse_sums_of_latents_encoded_in_blocks(setup, monkeypatch, architecture):
    """With a budget too small for 128 dense rows, the wide-SAE path: 1,024 rows at a time, a
    block of latents at a time. Its sums are the dense ones to rounding (a narrow block's matrix
    product may sum its 64 products in another order: see tests/test_column_blocks.py)."""
    import saeeval.evals.working_set as working_set

    _, _, _, ours, _ = setup
    sae = random_sae(architecture, 64, 96, HOOK, seed=4, model_name="tiny-llama", k=6)
    sae.cfg.normalize_activations = "layer_norm"  # the scaled sums too
    dense = sae_statistics_of_texts(sae, ours, sparse=False)
    widths = []
    encode = working_set.encode_entries
    monkeypatch.setattr(
        working_set, "encode_entries", lambda *a, **kw: widths.append(a[2]) or encode(*a, **kw)
    )
    monkeypatch.setenv("SAEEVAL_WORKING_SET_MB", "0.1")  # 91 dense rows of 96 latents
    blocked = sae_statistics_of_texts(sae, ours, sparse=True)
    assert widths and set(widths) == {8} and blocked.is_sparse
    for got, want in ((blocked.valid_sum, dense.valid_sum), (blocked.scaled_sum, dense.scaled_sum)):
        torch.testing.assert_close(got.to_dense(), want, rtol=1e-5, atol=1e-5)
        assert len(got.values) == int((want != 0).sum())


def test_sparse_latents_of_rows_are_the_encoded_rows(setup):
    """Absorption's wide-SAE store: the non-zero entries of `encoded_rows`' dense matrix, bit for
    bit (the same batches), and nothing once an SAE is too dense for the entry limit."""
    from saeeval.evals.probing.sae_statistics import sparse_latents_of_rows
    from saeeval.evals.working_set import encoded_rows

    _, _, _, ours, _ = setup
    sae = random_sae("topk", 64, 96, HOOK, seed=4, model_name="tiny-llama", k=6)
    rows = ours.rows[:50]
    dense = encoded_rows(sae, rows, max_rows=7)
    sparse = sparse_latents_of_rows(sae, rows, 7, max_entries=50 * 6)
    assert isinstance(sparse, SparseRows) and sparse.shape == (50, 96)
    assert len(sparse.values) == int((dense != 0).sum()) <= 50 * 6  # TopK: at most k a row
    assert torch.equal(sparse.to_dense(), dense)
    picked = torch.tensor([3, 41, 0, 17])
    assert torch.equal(sparse.sparse_rows(picked).to_dense(), dense[picked])
    assert sparse_latents_of_rows(sae, rows, 7, max_entries=50 * 6 - 10) is None


@pytest.mark.parametrize("scr", [True, False], ids=["scr", "tpp"])
def test_attribution_from_sparse_sums_is_node_effects(setup, scr):
    """node_effects_from_statistics draws the probe set node_effects draws (the generator ends
    in the same state) and gives its effects up to float32 summation order."""
    _, _, _, ours, _ = setup
    sae = random_sae("topk", 64, 96, HOOK, seed=5, model_name="tiny-llama", k=6)
    classes = list(PAIRED_CLASS_KEYS) if scr else ["0", "1", "2"]
    keys = classes + list(PAIRED_CLASS_KEYS.values()) if scr else classes
    order = torch.randperm(len(ours), generator=torch.Generator().manual_seed(1))
    per_key = len(ours) // len(keys)  # SCR's paired keys must be the same size
    train_rows = {key: order[i * per_key : (i + 1) * per_key] for i, key in enumerate(keys)}
    dense = sae_statistics_of_texts(sae, ours, sparse=False)
    sparse = sae_statistics_of_texts(sae, ours, batch_rows=7, sparse=True)
    means = {key: dense.mean_latents_fp32(rows) for key, rows in train_rows.items()}
    probe_weight = torch.randn(1, 64, generator=torch.Generator().manual_seed(2))
    for name in classes:
        g_dense, g_sparse = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
        want = node_effects(means, name, probe_weight, sae.W_dec.detach(), g_dense, scr)
        got = node_effects_from_statistics(
            sparse, train_rows, name, probe_weight, sae.W_dec.detach(), g_sparse, scr
        )
        # Rounding error is relative to the class means, not to their difference, which can
        # cancel: so each latent's tolerance is ~100 float32 ulps of |mean| x |probe . W_dec|.
        # Leaving one text out of a side would be off by about |mean| / 4 x |probe . W_dec|.
        dot = (probe_weight @ sae.W_dec.detach().T).squeeze(0).abs()
        scale = dense.mean_latents_fp32().abs().max(dim=0).values * dot
        assert ((got - want).abs() <= 1e-5 * scale + 1e-12).all()
        assert want.abs().sum() > 0
        from_dense = node_effects_from_statistics(  # the same reading of dense sums
            dense,
            train_rows,
            name,
            probe_weight,
            sae.W_dec.detach(),
            torch.Generator().manual_seed(3),
            scr,
        )
        assert ((from_dense - want).abs() <= 1e-5 * scale + 1e-12).all()
        assert torch.equal(
            torch.randperm(50, generator=g_dense), torch.randperm(50, generator=g_sparse)
        )


def test_sums_are_sparse_when_dense_ones_would_exceed_the_budget(monkeypatch):
    monkeypatch.setenv("SAEEVAL_WORKING_SET_MB", "1")
    assert not sums_are_kept_sparse(100, 2048)  # 0.8 MB
    assert sums_are_kept_sparse(100, 4096)  # 1.6 MB


def test_second_call_reads_the_cache(setup, tmp_path):
    model, _, texts, _, _ = setup
    cache = ActivationCache(tmp_path)
    first = text_activations(model, texts, HOOK, CONTEXT, cache, batch_size=4)
    again = ActivationCache(tmp_path)
    second = text_activations(model, texts, HOOK, CONTEXT, again, batch_size=4)
    assert cache.model_forward_passes > 0 and again.model_forward_passes == 0
    torch.testing.assert_close(first.rows, second.rows)
