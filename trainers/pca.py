"""A PCA dictionary as a TopK SAE: a baseline fitted in seconds, no gradient steps.

SAEBench ships PCA and identity baselines. Ours keeps every principal component twice, as +p and
-p, so a ReLU latent can carry either sign; with TopK over those 2*d_in latents the SAE
reconstructs each token from its k largest principal-component coordinates. Special tokens (BOS
and friends) are left out of the fit: their activations are outliers that would dominate it.
"""

from __future__ import annotations

import torch

from saeeval.activations import ActivationCache
from saeeval.data import ContextSet
from saeeval.errors import SaeevalError
from saeeval.models import ModelAdapter
from saeeval.saes import SAE, SAEConfig
from saeeval.tokens import token_mask
from saeeval.trainers.stream import require_train_part


@torch.no_grad()
def fit_pca_sae(
    model: ModelAdapter,
    contexts: ContextSet,
    hook: str,
    cache: ActivationCache,
    k: int = 32,
    n_contexts: int = 256,
    start: int = 0,
    batch_size: int = 16,
    progress=None,
) -> SAE:
    d_in = model.hook_width(hook)
    require_train_part(contexts)
    if not 0 < k <= 2 * d_in:
        raise SaeevalError(
            f"--k must be between 1 and {2 * d_in} (twice the width at {hook}), not {k}"
        )
    acts = cache.activations(model, contexts, start, n_contexts, [hook], batch_size, progress)[hook]
    ignore = model.special_token_ids
    count = 0
    total = torch.zeros(d_in, dtype=torch.float64)
    outer = torch.zeros(d_in, d_in, dtype=torch.float64)
    for tokens, x in acts.batches(batch_size):
        rows = x[token_mask(tokens, ignore)].double()
        count += rows.shape[0]
        total += rows.sum(dim=0)
        outer += rows.T @ rows
    mean = total / count
    covariance = outer / count - torch.outer(mean, mean)
    _, vectors = torch.linalg.eigh(covariance)  # ascending eigenvalues
    components = vectors.flip(dims=[1])  # [d_in, d_in], columns by decreasing variance

    cfg = SAEConfig(
        architecture="topk",
        d_in=d_in,
        d_sae=2 * d_in,
        hook_name=hook,
        model_name=model.name,
        k=k,
        context_size=contexts.context_size,
        dataset_path=contexts.dataset.name,
        extra={
            "training_architecture": "pca_topk",
            "training_tokens": count,
            "trainer": "saeeval.trainers.pca",
        },
    )
    sae = SAE(cfg)
    signed = torch.cat([components, -components], dim=1).float()  # [d_in, 2 d_in]
    sae.W_enc.copy_(signed)
    sae.W_dec.copy_(signed.T)
    sae.b_dec.copy_(mean.float())
    return sae
