"""Core eval parity: SAEBench's reference `run_evals` and ours on the same model, SAE and tokens.

The reference runs on a TransformerLens twin of the Hugging Face model (same weights), reading
the same token batches through SAELens' real ActivationsStore; the SAE it sees is SAELens' own
class loaded from the folder we wrote. Every deterministic metric must agree to 1e-5 relative.
"""

from __future__ import annotations

import math

import pytest
import torch
from helpers import random_sae, saved
from parity_core import ATOL, RTOL, _context_set, ours_and_reference
from reference_models import (
    hooked_transformer_twin,
    reference_sae,
    reference_store,
)
from tiny_models import tiny_model

from saeeval.activations import ActivationCache
from saeeval.evals.core import CoreEvalConfig, _encode_in_pieces, _with_reconstruction
from saeeval.evals.core_metrics import (
    Reconstruction,
    SparsityVariance,
    max_cosine_similarity,
    misc_metrics,
    per_token_kl,
)
from saeeval.models import per_token_ce_loss
from saeeval.tokens import token_mask
from saeeval.trainers.pca import fit_pca_sae

HOOK = "blocks.1.hook_resid_post"


def assert_metrics_agree(ours, metrics, features):
    compared = 0
    for group, values in metrics.items():
        for name, expected in values.items():
            got = ours["eval_result_metrics"][group][name]
            assert math.isclose(got, expected, rel_tol=RTOL, abs_tol=ATOL), (
                group,
                name,
                got,
                expected,
            )
            compared += 1
    assert compared == 26  # every scalar metric of the core output
    details = ours["eval_result_details"]
    for name, expected in features.items():
        got = torch.tensor([d[name] for d in details], dtype=torch.float64)
        want = torch.tensor(expected, dtype=torch.float64)
        # Per-feature values are rounded to 10 decimals in both outputs' JSON (the reference
        # rounds only when writing, so allow that rounding here). 0/0 densities are NaN in both.
        torch.testing.assert_close(got, want, rtol=RTOL, atol=1e-9, equal_nan=True)


def _tokens(n_contexts: int, context_size: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    tokens = torch.randint(4, 100, (n_contexts, context_size), generator=generator)
    tokens[:, 0] = 0  # BOS opens every context
    tokens[1, 9] = 1  # an EOS and a PAD mid-stream, which every metric must skip
    tokens[2, 17] = 2
    return tokens


@pytest.fixture(scope="module")
def llama():
    return tiny_model("llama")


# -- the arithmetic, on identical tensors ------------------------------------------------------
#
# These feed our accumulators exactly the tensors the reference computes internally (the twin's
# activations and logits), so they compare metric definitions alone. They use random SAEs, whose
# metrics can be ill-conditioned (mean(x . x_hat) near 0 makes the relative reconstruction bias a
# ratio of a small difference): there, the ~1e-7 float32 differences between two implementations
# of the same transformer would be amplified, which is why the end-to-end tests below use fitted
# SAEs with well-conditioned metrics.


@pytest.mark.parametrize("architecture", ["standard", "topk", "jumprelu", "gated"])
def test_sparsity_and_variance_arithmetic(tmp_path, llama, architecture):
    from sae_bench.evals.core.main import get_sparsity_and_variance_metrics

    ours_sae = random_sae(architecture, 64, 192, HOOK, seed=7, model_name=llama.name)
    folder = saved(ours_sae, tmp_path / "sae")
    twin, tokens, batch = hooked_transformer_twin(llama.model), _tokens(12, 32), 4
    sae = reference_sae(folder)
    expected, features = get_sparsity_and_variance_metrics(
        sae,
        twin,
        reference_store(twin, sae, tokens, batch),
        n_batches=3,
        compute_l2_norms=True,
        compute_sparsity_metrics=True,
        compute_variance_metrics=True,
        compute_featurewise_density_statistics=True,
        eval_batch_size_prompts=batch,
        model_kwargs={},
        ignore_tokens=llama.special_token_ids,
    )

    stats = SparsityVariance(192, torch.device("cpu"))
    for batch_tokens in tokens[: 3 * batch].split(batch):
        _, cache = twin.run_with_cache(batch_tokens, names_filter=[HOOK], stop_at_layer=2)
        x = cache[HOOK]
        mask = token_mask(batch_tokens, llama.special_token_ids)
        recon, latents = _encode_in_pieces(ours_sae, x, mask)
        stats.add(x, recon, mask, latents)
    got = stats.metrics()
    assert set(got) == set(expected)
    for name, value in expected.items():
        assert math.isclose(got[name], value, rel_tol=RTOL, abs_tol=ATOL), (name, got[name], value)
    torch.testing.assert_close(stats.feature_density(), torch.tensor(features["feature_density"]))
    torch.testing.assert_close(
        stats.consistent_activation_heuristic(),
        torch.tensor(features["consistent_activation_heuristic"]),
        equal_nan=True,
    )


@pytest.mark.parametrize("architecture", ["standard", "topk", "jumprelu", "gated"])
@pytest.mark.parametrize("exclude_special", [False, True])
def test_reconstruction_arithmetic(tmp_path, llama, architecture, exclude_special):
    from sae_bench.evals.core.main import get_downstream_reconstruction_metrics

    ours_sae = random_sae(architecture, 64, 192, HOOK, seed=7, model_name=llama.name)
    folder = saved(ours_sae, tmp_path / "sae")
    twin, tokens, batch = hooked_transformer_twin(llama.model), _tokens(12, 32), 4
    sae = reference_sae(folder)
    expected = get_downstream_reconstruction_metrics(
        sae,
        twin,
        reference_store(twin, sae, tokens, batch),
        compute_kl=True,
        compute_ce_loss=True,
        n_batches=3,
        eval_batch_size_prompts=batch,
        ignore_tokens=llama.special_token_ids,
        exclude_special_tokens_from_reconstruction=exclude_special,
    )

    recon = Reconstruction()
    for batch_tokens in tokens[: 3 * batch].split(batch):
        mask = token_mask(batch_tokens, llama.special_token_ids)
        keep = mask if exclude_special else None

        def splice(activation, keep=keep):
            reconstruction, _ = _encode_in_pieces(ours_sae, activation)
            return _with_reconstruction(activation, reconstruction, keep)

        clean, clean_ce = twin(batch_tokens, return_type="both", loss_per_token=True)
        spliced = twin.run_with_hooks(
            batch_tokens, fwd_hooks=[(HOOK, lambda a, hook, splice=splice: splice(a))]
        )
        ablated = twin.run_with_hooks(
            batch_tokens, fwd_hooks=[(HOOK, lambda a, hook: torch.zeros_like(a))]
        )
        recon.add(
            mask,
            kl_div_with_sae=per_token_kl(clean, spliced),
            kl_div_with_ablation=per_token_kl(clean, ablated),
            ce_loss_with_sae=per_token_ce_loss(spliced, batch_tokens),
            ce_loss_without_sae=per_token_ce_loss(clean, batch_tokens),
            ce_loss_with_ablation=per_token_ce_loss(ablated, batch_tokens),
        )
        torch.testing.assert_close(per_token_ce_loss(clean, batch_tokens), clean_ce)
    got = recon.metrics()
    assert set(got) == set(expected)
    for name, value in expected.items():
        assert math.isclose(got[name], value, rel_tol=RTOL, abs_tol=ATOL), (name, got[name], value)


# -- the whole eval, end to end -----------------------------------------------------------------


@pytest.mark.parametrize("exclude_special", [False, True])
def test_fitted_pca_sae_on_tiny_llama(tmp_path, llama, exclude_special):
    """Our adapter on the Hugging Face model against the reference on the twin, a fitted SAE."""
    tokens = _tokens(80, 32, seed=1)
    contexts = _context_set(tokens, part="train")  # fits read only the train part
    sae = fit_pca_sae(
        llama, contexts, HOOK, ActivationCache(tmp_path / "c"), k=12, n_contexts=64, start=16
    )
    folder = saved(sae, tmp_path / "pca")
    ours, metrics, features = ours_and_reference(
        llama, folder, tokens[:16], 4, 4, 4, exclude_special
    )
    assert ours["eval_result_metrics"]["reconstruction_quality"]["explained_variance"] > 0.5
    assert_metrics_agree(ours, metrics, features)


@pytest.mark.parametrize("family", ["gemma2", "gpt_neox", "gpt2"])
def test_fitted_pca_sae_on_family_twins(tmp_path, family):
    """The published SAEBench results are on Gemma-2 and Pythia: the same comparison on a tiny
    model of each family (soft caps, post-norms, partial rotary, parallel attention; see
    test_model_families.py for the twins), with the published special-token setting."""
    model = tiny_model(family)
    tokens = _tokens(48, 32, seed=1)
    contexts = _context_set(tokens, part="train")  # fits read only the train part
    sae = fit_pca_sae(
        model, contexts, HOOK, ActivationCache(tmp_path / "c"), k=12, n_contexts=32, start=16
    )
    folder = saved(sae, tmp_path / "pca")
    ours, metrics, features = ours_and_reference(model, folder, tokens[:16], 4, 4, 4, True)
    assert ours["eval_result_metrics"]["reconstruction_quality"]["explained_variance"] > 0.5
    assert_metrics_agree(ours, metrics, features)


def test_max_cosine_similarity_matches_reference():
    from sae_bench.evals.core.main import calculate_max_cosine_sim

    vectors = torch.randn(24, 300)
    torch.testing.assert_close(
        max_cosine_similarity(vectors, chunk=64), calculate_max_cosine_sim(vectors, batch_size=100)
    )


def test_misc_metrics_match_reference():
    from sae_bench.evals.core.main import calculate_misc_metrics

    density = torch.rand(500) ** 4
    density[:40] = 0
    enc, dec = torch.rand(500), torch.rand(500)
    expected = calculate_misc_metrics(
        {
            "feature_density": density.tolist(),
            "max_encoder_cosine_sim": enc.tolist(),
            "max_decoder_cosine_sim": dec.tolist(),
        }
    )
    assert misc_metrics(density, enc, dec) == pytest.approx(expected, rel=RTOL)


@pytest.mark.embedded
def test_pca_sae_on_embedded_smollm2(tmp_path, embedded_model):
    """End to end on the real model: SmolLM2 layer 6, a PCA TopK SAE, corpus contexts."""
    from saeeval.data import load_contexts, load_text_dataset

    hook = "blocks.6.hook_resid_post"
    model = embedded_model
    contexts = load_contexts(
        model.tokenizer, model.bos_token_id, load_text_dataset(None), 128, 1, part="train"
    )
    cache = ActivationCache(tmp_path / "c")
    # Fitted on contexts 8..39; both implementations are compared on contexts 0..7.
    sae = fit_pca_sae(model, contexts, hook, cache, k=32, n_contexts=32, start=8)
    folder = saved(sae, tmp_path / "pca")
    ours, metrics, features = ours_and_reference(model, folder, contexts.tokens[:8], 4, 2, 2, False)
    result = ours["eval_result_metrics"]
    assert 0.5 < result["reconstruction_quality"]["explained_variance"] < 1
    assert 0.5 < result["model_performance_preservation"]["ce_loss_score"] < 1
    assert_metrics_agree(ours, metrics, features)


def test_config_defaults_equal_saebench():
    """Same field names and defaults as SAEBench's CoreEvalConfig, except the compute flags,
    which SAEBench's runner switches on (and its output schema requires)."""
    import dataclasses

    from sae_bench.evals.core.eval_config import CoreEvalConfig as ReferenceConfig

    reference = dataclasses.asdict(ReferenceConfig())
    ours = CoreEvalConfig().model_dump()
    assert set(reference) <= set(ours)
    for name, default in reference.items():
        if name.startswith("compute_"):
            assert ours[name] is True, name
        else:
            assert ours[name] == default, name
