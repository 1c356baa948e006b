"""Token activations for training, streamed through a shuffling buffer.

The source reads activations of a slice of contexts at one hook, either from the activation cache
(collected once, then shared by every run of a sweep) or straight from the model when the slice is
too large to keep on disk. Special-token positions (BOS and friends) are dropped. A buffer of
`buffer_tokens` activations is shuffled before batches are drawn from it, and chunks are visited
in a seeded random order each epoch, so batches mix many documents. Given the seed, the stream is
deterministic: resuming at step s replays it and skips s batches. Training reads the "train" part
of a dataset's documents, which evals never read (`saeeval.data.contexts.document_part`).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from saeeval.activations import ActivationCache
from saeeval.data import ContextSet
from saeeval.errors import SaeevalError
from saeeval.models import ModelAdapter
from saeeval.tokens import token_mask

# Above this many bytes of activations, the stream runs the model live instead of caching.
CACHE_LIMIT_BYTES = 40 * 2**30


def require_train_part(contexts: ContextSet) -> None:
    """Training and fitting read only the train part, so that no eval reads their text."""
    if contexts.part != "train":
        raise SaeevalError(
            f"training reads the train part of {contexts.dataset.name}'s documents, but these "
            f"contexts are from the {contexts.part!r} part; load them with part='train'"
        )


class ActivationStream:
    def __init__(
        self,
        model: ModelAdapter,
        contexts: ContextSet,
        hook: str,
        start: int,
        n_contexts: int,
        cache: ActivationCache,
        llm_batch_size: int = 16,
        buffer_tokens: int = 65_536,
        seed: int = 0,
        progress=None,
    ):
        self.model, self.contexts, self.hook = model, contexts, hook
        self.start, self.n_contexts = start, n_contexts
        self.llm_batch_size, self.buffer_tokens, self.seed = llm_batch_size, buffer_tokens, seed
        self.d_in = model.hook_width(hook)
        tokens = contexts.take(start, n_contexts)
        self.mask = token_mask(tokens, model.special_token_ids)
        self.n_tokens = int(self.mask.sum())
        size = n_contexts * contexts.context_size * self.d_in * 4
        self._cached = None
        if size <= CACHE_LIMIT_BYTES:
            stored = cache.activations(
                model, contexts, start, n_contexts, [hook], llm_batch_size, progress
            )
            self._cached = stored[hook]

    def _chunks(self, generator: torch.Generator) -> Iterator[torch.Tensor]:
        """[n, d_in] blocks of non-special-token activations, chunk order shuffled per epoch."""
        if self._cached is not None:
            n_chunks = -(-self.n_contexts // self._cached.chunk_contexts)
            for index in torch.randperm(n_chunks, generator=generator).tolist():
                acts = self._cached.entry.load_chunk(index)["acts"].float()
                first = index * self._cached.chunk_contexts
                yield acts[self.mask[first : first + acts.shape[0]]]
            return
        order = torch.randperm(self.n_contexts, generator=generator)
        for batch in order.split(self.llm_batch_size):
            tokens = self.contexts.tokens[self.start + batch]
            acts = self.model.activations(tokens, [self.hook])[self.hook].float().cpu()
            yield acts[self.mask[batch]]

    def batches(self, batch_size: int, skip: int = 0) -> Iterator[torch.Tensor]:
        """An endless stream of [batch_size, d_in] batches (epoch after epoch), skipping `skip`."""
        generator = torch.Generator().manual_seed(self.seed)
        produced = 0
        while True:
            buffer: list[torch.Tensor] = []
            buffered = 0
            for chunk in self._chunks(generator):
                buffer.append(chunk)
                buffered += chunk.shape[0]
                if buffered < self.buffer_tokens:
                    continue
                block = torch.cat(buffer)
                block = block[torch.randperm(block.shape[0], generator=generator)]
                usable = (block.shape[0] // batch_size) * batch_size
                for batch in block[:usable].split(batch_size):
                    if produced >= skip:
                        yield batch
                    produced += 1
                buffer, buffered = [block[usable:]], block.shape[0] - usable
            if buffered >= batch_size:
                block = torch.cat(buffer)
                block = block[torch.randperm(block.shape[0], generator=generator)]
                for batch in block[: (block.shape[0] // batch_size) * batch_size].split(batch_size):
                    if produced >= skip:
                        yield batch
                    produced += 1
