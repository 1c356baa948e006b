"""Model activations of classification texts, prepared the way SAEBench prepares them, cached once
per (model, hook, texts, context length).

SAEBench tokenises every text to exactly `context_length` ids (BOS first, truncated, right-padded),
runs the model up to the hook and zeroes the positions holding BOS, PAD or EOS ids. Every later
step (mean pooling, SAE latents, ablations) only reads the unmasked positions plus how many
positions were masked, so that is all we keep: the unmasked rows of all texts one after another
and a count per text. Batches are cut to their longest text, because right padding cannot change
the activations at earlier positions of a causal model.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import torch

from saeeval.activations import ActivationCache
from saeeval.models import ModelAdapter

CHUNK_TEXTS = 256


@dataclass
class TextActivations:
    rows: torch.Tensor  # [n_unmasked_total, d]: the unmasked positions of every text, in order
    counts: torch.Tensor  # [n_texts]: unmasked positions per text
    context_length: int

    def __len__(self) -> int:
        return len(self.counts)

    @property
    def text_index(self) -> torch.Tensor:
        """[n_unmasked_total]: which text each row belongs to."""
        return torch.repeat_interleave(torch.arange(len(self.counts)), self.counts)

    def sums(self) -> torch.Tensor:
        """[n_texts, d]: each text's activations summed over its unmasked positions."""
        out = torch.zeros(len(self.counts), self.rows.shape[1], dtype=self.rows.dtype)
        return out.index_add_(0, self.text_index, self.rows)

    def pooled(self) -> torch.Tensor:
        """SAEBench's mean pooling: the mean over the unmasked positions."""
        return self.sums() / self.counts.unsqueeze(1).to(self.rows.dtype)


def context_ids(model: ModelAdapter, texts: list[str], context_length: int) -> list[list[int]]:
    """Each text's ids as SAEBench feeds them: BOS (when the model has one), then the text,
    truncated to `context_length`. Padding is left out; it is masked anyway."""
    bos = model.bos_token_id
    prefix = [bos] if bos is not None else []
    return [(prefix + ids)[:context_length] for ids in model.tokenize(texts)]


def text_activations(
    model: ModelAdapter,
    texts: list[str],
    hook: str,
    context_length: int,
    cache: ActivationCache,
    batch_size: int = 32,
    progress=None,
    description: str = "text activations",
) -> TextActivations:
    """The unmasked activations of `texts` at `hook`, from the cache or the model."""
    digest = hashlib.sha256("\x00".join(texts).encode()).hexdigest()
    entry = cache.entry(
        "text-acts",
        {
            "model": model.cache_identity,
            "hook": hook,
            "context_length": context_length,
            "texts": digest,
            "dtype": str(model.dtype),
            "chunk": CHUNK_TEXTS,
        },
    )
    n_chunks = -(-len(texts) // CHUNK_TEXTS)
    missing = [i for i in range(n_chunks) if entry.needs_chunk(i)]
    task = None
    if progress is not None and missing:
        task = progress.add_task(description, total=len(missing) * CHUNK_TEXTS)
    masked_ids = torch.tensor(sorted(model.special_token_ids))
    pad = model.tokenizer.pad_token_id
    pad = pad if pad is not None else model.tokenizer.eos_token_id
    for index in missing:
        ids = context_ids(
            model, texts[index * CHUNK_TEXTS : (index + 1) * CHUNK_TEXTS], context_length
        )
        # Similar lengths together wastes less padding; rows go back to text order below.
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        rows: list[torch.Tensor] = [torch.empty(0)] * len(ids)
        for start in range(0, len(order), batch_size):
            members = order[start : start + batch_size]
            width = max(len(ids[i]) for i in members)
            tokens = torch.tensor([ids[i] + [pad] * (width - len(ids[i])) for i in members])
            acts = model.activations(tokens, [hook])[hook].float().cpu()
            cache.model_forward_passes += 1
            keep = ~torch.isin(tokens, masked_ids)
            for row, member in enumerate(members):
                length = len(ids[member])
                rows[member] = acts[row, :length][keep[row, :length]]
            if task is not None:
                progress.advance(task, len(members))
        counts = torch.tensor([len(r) for r in rows])
        entry.save_chunk(index, {"rows": torch.cat(rows), "counts": counts})
    if task is not None:
        progress.remove_task(task)
    if not entry.complete:
        entry.mark_complete({"model": model.name, "hook": hook, "texts": len(texts)})
    chunks = [entry.load_chunk(i) for i in range(n_chunks)]
    return TextActivations(
        torch.cat([c["rows"] for c in chunks]),
        torch.cat([c["counts"] for c in chunks]),
        context_length,
    )
