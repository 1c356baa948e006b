"""The PCA baseline SAE."""

from __future__ import annotations

import pytest
import torch
from tiny_models import tiny_model

from saeeval.activations import ActivationCache
from saeeval.data.contexts import ContextSet
from saeeval.data.text_datasets import TextDataset
from saeeval.errors import SaeevalError
from saeeval.trainers.pca import fit_pca_sae

HOOK = "blocks.1.hook_resid_post"


@pytest.fixture
def setup(tmp_path):
    model = tiny_model("llama")
    tokens = torch.randint(4, 100, (48, 24), generator=torch.Generator().manual_seed(0))
    tokens[:, 0] = 0
    dataset = TextDataset("t", "sha256:t", "t", "text", 0)
    contexts = ContextSet(dataset, 24, tokens, "pca", True, part="train")
    return model, contexts, ActivationCache(tmp_path)


def _explained(sae, x):
    return 1 - (x - sae(x)).pow(2).sum() / (x - x.mean(0)).pow(2).sum()


def test_all_components_reconstruct_exactly_and_fewer_lose_variance(setup):
    model, contexts, cache = setup
    x = model.activations(contexts.tokens[:8], [HOOK])[HOOK][:, 1:].reshape(-1, 64)
    full = fit_pca_sae(model, contexts, HOOK, cache, k=64, n_contexts=40, start=8)
    assert full.cfg.architecture == "topk" and full.d_sae == 128
    torch.testing.assert_close(full(x), x, rtol=1e-4, atol=1e-4)
    few = fit_pca_sae(model, contexts, HOOK, cache, k=8, n_contexts=40, start=8)
    assert 0.2 < _explained(few, x) < 0.99
    assert torch.equal((few.encode(x) > 0).sum(-1), torch.full((x.shape[0],), 8))


def test_decoder_rows_are_unit_principal_directions(setup):
    model, contexts, cache = setup
    sae = fit_pca_sae(model, contexts, HOOK, cache, k=8, n_contexts=40, start=8)
    torch.testing.assert_close(sae.W_dec.norm(dim=-1), torch.ones(128))
    gram = sae.W_dec[:64] @ sae.W_dec[:64].T
    torch.testing.assert_close(gram, torch.eye(64), rtol=1e-4, atol=1e-4)


def test_the_baseline_is_never_fitted_on_text_evals_read(setup):
    model, contexts, cache = setup
    for part in ("eval", "all"):
        held_out = ContextSet(contexts.dataset, 24, contexts.tokens, "pca", True, part=part)
        with pytest.raises(SaeevalError, match=f"the {part!r} part"):
            fit_pca_sae(model, held_out, HOOK, cache, k=8, n_contexts=8)


def test_k_out_of_range(setup):
    model, contexts, cache = setup
    with pytest.raises(SaeevalError, match="--k must be between 1 and 128"):
        fit_pca_sae(model, contexts, HOOK, cache, k=129, n_contexts=8, start=0)
