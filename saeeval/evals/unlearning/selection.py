"""Which latents the unlearning eval clamps: firing frequencies on the forget and retain texts,
and SAEBench's ranking of the latents that fire on the forget text but rarely on the retain text.

The texts are cut into contexts the way SAEBench's `tokenize_and_concat_dataset` cuts them, and
their activations at the SAE's hook come from the activation cache, so every SAE at that hook
(in this run or a later one) reads the same activations and only runs its encoder.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable

import numpy as np
import torch

from saeeval.activations import ActivationCache
from saeeval.data import ContextSet, TextDataset
from saeeval.data.unlearning import TextCorpus
from saeeval.models import ModelAdapter
from saeeval.saes import SAE
from saeeval.tokens import token_mask

# Bumped when the way contexts are cut or frequencies are counted changes.
SELECTION_VERSION = 1
_TOKENIZE_CHUNKS = 20  # SAEBench tokenises the joined text in 20 pieces


def concat_tokens(tokenizer, texts: list[str], seq_len: int, bos_token_id: int) -> torch.Tensor:
    """Texts joined by the EOS token, tokenised, pad tokens dropped, cut into full rows of
    `seq_len` whose first token is replaced by BOS: SAEBench's `tokenize_and_concat_dataset`.

    SAEBench tokenises the joined text in 20 equal character slices (with the tokenizer's
    special tokens, as a padded batch); the same slices are tokenised here, one by one."""
    full_text = tokenizer.eos_token.join(texts)
    length = (len(full_text) - 1) // _TOKENIZE_CHUNKS + 1
    pieces = [full_text[i * length : (i + 1) * length] for i in range(_TOKENIZE_CHUNKS)]
    ids = [token for ids in tokenizer(pieces)["input_ids"] for token in ids]
    flat = torch.tensor(ids, dtype=torch.long)
    if tokenizer.pad_token_id is not None:
        flat = flat[flat != tokenizer.pad_token_id]
    rows = flat.numel() // seq_len
    tokens = flat[: rows * seq_len].reshape(rows, seq_len).clone()
    tokens[:, 0] = bos_token_id
    return tokens


def frequency_tokens(
    model: ModelAdapter, corpus: TextCorpus, n_contexts: int, seq_len: int, seed: int, sample: bool
) -> torch.Tensor:
    """The contexts SAEBench measures frequencies on: for the forget text, `n_contexts` documents
    drawn with Python's `random` seeded with `seed` (as SAEBench's `random.seed` then
    `random.sample`); every document of the retain text; then the rows shuffled and the first
    `n_contexts` kept. SAEBench shuffles with torch's global generator after loading its model,
    whose state is not reproducible here, so a generator seeded with `seed` shuffles instead."""
    texts = corpus.texts
    if sample:
        texts = random.Random(seed).sample(texts, min(n_contexts, len(texts)))
    tokens = concat_tokens(model.tokenizer, texts, seq_len, model.bos_token_id)
    order = torch.randperm(tokens.shape[0], generator=torch.Generator().manual_seed(seed))
    return tokens[order][:n_contexts]


def context_set(corpus: TextCorpus, tokens: torch.Tensor, seed: int) -> ContextSet:
    """The contexts as a `ContextSet`, content-addressed by their tokens, for the cache."""
    digest = hashlib.sha256(f"unlearning-frequency-v{SELECTION_VERSION}".encode())
    digest.update(str(tuple(tokens.shape)).encode())
    digest.update(tokens.to(torch.int64).numpy().tobytes())
    dataset = TextDataset(corpus.name, corpus.fingerprint, corpus.provenance, "text", seed)
    return ContextSet(dataset, tokens.shape[1], tokens, digest.hexdigest()[:24], True)


@torch.no_grad()
def firing_frequencies(
    model: ModelAdapter,
    cache: ActivationCache,
    contexts: ContextSet,
    hook: str,
    saes: Iterable[SAE],
    batch_size: int,
    progress=None,
) -> list[np.ndarray]:
    """For each SAE, the fraction of tokens (BOS, EOS and pad left out) on which each latent
    is positive, as SAEBench's `get_feature_activation_sparsity` counts it, from one read of the
    cached activations at `hook` for all the SAEs."""
    saes = list(saes)
    counts = [torch.zeros(s.d_sae, dtype=torch.float32, device=s.device) for s in saes]
    total = 0
    acts = cache.activations(model, contexts, 0, len(contexts), [hook], batch_size, progress)[hook]
    ignore = model.special_token_ids
    for tokens, x in acts.batches(batch_size):
        mask = token_mask(tokens, ignore)
        total += int(mask.sum())
        for sae, count in zip(saes, counts, strict=True):
            latents = sae.encode(x.to(sae.device))
            fired = (latents > 0).to(torch.float32) * mask.to(latents.device)[:, :, None]
            count += fired.sum(dim=(0, 1))
    # SAEBench saves the frequencies with np.savetxt("%f") and reads them back, so the values it
    # ranks are rounded to six decimals; the same round trip keeps its thresholds and ties.
    return [_six_decimals((c / max(total, 1)).cpu().numpy()) for c in counts]


def _six_decimals(values: np.ndarray) -> np.ndarray:
    return np.array([float(f"{v:f}") for v in values.tolist()], dtype=np.float64)


def top_features(
    forget_frequency: np.ndarray, retain_frequency: np.ndarray, retain_threshold: float
) -> np.ndarray:
    """Latents firing on the forget text, most often first, leaving out every latent that fires
    on at least `retain_threshold` of the retain text (SAEBench's `get_top_features`)."""
    score = np.where(retain_frequency >= retain_threshold, 0.0, forget_frequency)
    # numpy's default sort, reversed, orders tied latents exactly as the reference does.
    order = np.argsort(score)[::-1]
    return order[: np.count_nonzero(score)]
