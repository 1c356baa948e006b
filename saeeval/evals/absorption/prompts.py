"""Model activations at one token position of many prompts, cached on disk."""

from __future__ import annotations

import hashlib

import torch

from saeeval.activations import ActivationCache
from saeeval.models import ModelAdapter

CHUNK_PROMPTS = 512


def prompt_activations(
    model: ModelAdapter,
    prompts: list[str],
    hook: str,
    position: int,
    cache: ActivationCache,
    batch_size: int = 64,
    progress=None,
    description: str = "prompt activations",
) -> torch.Tensor:
    """[n_prompts, d] activations at `position` (counted from each prompt's end) at `hook`.

    Prompts are tokenised with the model's BOS in front, right-padded into batches (a causal
    model's activations before the padding do not depend on it), and run only up to the hook.
    """
    digest = hashlib.sha256("\x00".join(prompts).encode()).hexdigest()
    entry = cache.entry(
        "prompt-acts",
        {
            "model": model.cache_identity,
            "hook": hook,
            "position": position,
            "prompts": digest,
            "dtype": str(model.dtype),
            "chunk": CHUNK_PROMPTS,
        },
    )
    n_chunks = -(-len(prompts) // CHUNK_PROMPTS)
    missing = [i for i in range(n_chunks) if entry.needs_chunk(i)]
    task = progress.add_task(description, total=len(missing)) if progress and missing else None
    bos = model.bos_token_id
    pad = model.tokenizer.pad_token_id
    pad = pad if pad is not None else (bos if bos is not None else 0)
    for index in missing:
        chunk = prompts[index * CHUNK_PROMPTS : (index + 1) * CHUNK_PROMPTS]
        ids = [([bos] if bos is not None else []) + t for t in model.tokenize(chunk)]
        parts = []
        for start in range(0, len(ids), batch_size):
            batch = ids[start : start + batch_size]
            width = max(len(t) for t in batch)
            tokens = torch.tensor([t + [pad] * (width - len(t)) for t in batch])
            acts = model.activations(tokens, [hook])[hook]
            cache.model_forward_passes += 1
            rows = torch.arange(len(batch))
            columns = torch.tensor([len(t) + position for t in batch])
            parts.append(acts[rows, columns].cpu())
        entry.save_chunk(index, {"acts": torch.cat(parts)})
        if task is not None:
            progress.advance(task)
    if task is not None:
        progress.remove_task(task)
    if not entry.complete:
        entry.mark_complete({"model": model.name, "hook": hook, "prompts": len(prompts)})
    return torch.cat([entry.load_chunk(i)["acts"] for i in range(n_chunks)])
