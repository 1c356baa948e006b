"""The core eval end to end: ours and SAEBench's `run_evals` on the same model, SAE and tokens.

The reference runs on a TransformerLens twin of the Hugging Face model (same weights), reading
the same token batches through SAELens' real ActivationsStore; the SAE it sees is SAELens' own
class loaded from the folder we wrote. Core draws nothing at random, so the two agree to float32
rounding: 1e-5 relative, or 1e-6 absolute for values within rounding of zero.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import torch
from parity import Comparison
from reference_models import (
    hooked_transformer_twin,
    reference_core_config,
    reference_sae,
    reference_store,
)

from saeeval.activations import ActivationCache
from saeeval.data.contexts import ContextSet
from saeeval.data.text_datasets import TextDataset
from saeeval.evals import EvalContext, get_eval
from saeeval.evals.core import CoreEvalConfig
from saeeval.saes import load_sae

RTOL = 1e-5
# Values within float32 rounding of zero (e.g. the max cosine between orthogonal PCA directions,
# ~5e-8) cannot agree relatively; below this absolute size they must agree absolutely.
ATOL = 1e-6
# The metrics a report shows (every scalar is compared by the tests).
REPORTED = [
    ("reconstruction_quality", "explained_variance"),
    ("reconstruction_quality", "cossim"),
    ("model_behavior_preservation", "kl_div_score"),
    ("model_performance_preservation", "ce_loss_score"),
    ("sparsity", "l0"),
    ("shrinkage", "relative_reconstruction_bias"),
]


def _context_set(tokens: torch.Tensor, part: str = "all") -> ContextSet:
    dataset = TextDataset("parity-tokens", "sha256:parity", "random tokens", "text", 0)
    return ContextSet(
        dataset,
        tokens.shape[1],
        tokens,
        key="parity-" + hashlib.sha256(tokens.numpy().tobytes()).hexdigest()[:16],
        exhausted=True,
        part=part,
    )


@dataclass
class FixedContexts(EvalContext):
    """An eval context that serves given tokens instead of tokenising a dataset."""

    fixed: ContextSet | None = None

    def contexts(self, context_size: int, min_contexts: int, prepend_bos: bool = True):
        return self.fixed


def ours_and_reference(model, sae_folder, tokens, batch_size, n_recon, n_sv, exclude_special):
    import sae_bench.evals.core.main as reference

    context = FixedContexts(model=model, cache=ActivationCache(), fixed=_context_set(tokens))
    config = CoreEvalConfig(
        batch_size_prompts=batch_size,
        n_eval_reconstruction_batches=n_recon,
        n_eval_sparsity_variance_batches=n_sv,
        context_size=tokens.shape[1],
        exclude_special_tokens_from_reconstruction=exclude_special,
        save_feature_details=True,
    )
    ((_, ours),) = get_eval("core").run(context, [load_sae(sae_folder)], config)

    twin = hooked_transformer_twin(model.model)
    sae = reference_sae(sae_folder)
    metrics, features = reference.run_evals(
        sae,
        reference_store(twin, sae, tokens, batch_size),
        twin,
        reference_core_config(batch_size, n_recon, n_sv, tokens.shape[1], exclude_special),
        ignore_tokens=model.special_token_ids,
    )
    metrics["misc_metrics"] = reference.calculate_misc_metrics(features)
    return ours, metrics, features


def core_comparisons(model, sae_folder, tokens, batch_size, n_recon, n_sv, exclude_special):
    """The reported core metrics of both sides, each with its float32 tolerance."""
    ours, metrics, _ = ours_and_reference(
        model, sae_folder, tokens, batch_size, n_recon, n_sv, exclude_special
    )
    return [
        Comparison(
            "core",
            name,
            [ours["eval_result_metrics"][group][name]],
            [metrics[group][name]],
            tolerance=max(ATOL, RTOL * abs(metrics[group][name])),
            why="deterministic: float32 rounding of two implementations of the same model",
        )
        for group, name in REPORTED
    ]
