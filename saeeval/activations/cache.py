"""An on-disk, content-addressed store of tensors computed from a model over contexts.

An entry is a folder named by a hash of everything that determines its contents (model weights,
hook, tokenised contexts, slice, dtype). Tensors are written in chunks as they are computed, each
chunk atomically, so an interrupted collection resumes where it stopped; `meta.json` marks an entry
complete. Every eval and every SAE at the same hook reads the same entries: the model runs once per
(dataset slice, hook), not once per eval or per SAE.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from saeeval.cache_dir import cache_root
from saeeval.data.contexts import ContextSet
from saeeval.files import atomic_path, atomic_write_json
from saeeval.models.adapter import ModelAdapter

CACHE_VERSION = 1


def content_key(fields: dict[str, Any]) -> str:
    payload = json.dumps({"v": CACHE_VERSION, **fields}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


class CacheEntry:
    """One cached computation, stored as numbered chunks of named tensors."""

    def __init__(self, folder: Path):
        self.folder = folder

    def _chunk_path(self, index: int) -> Path:
        return self.folder / f"chunk_{index:05d}.safetensors"

    @property
    def complete(self) -> bool:
        return (self.folder / "meta.json").is_file()

    @property
    def meta(self) -> dict[str, Any]:
        return json.loads((self.folder / "meta.json").read_text())

    def has_chunk(self, index: int) -> bool:
        return self._chunk_path(index).is_file()

    def needs_chunk(self, index: int) -> bool:
        """Chunk `index` is neither saved nor covered by a finished entry."""
        return not self.complete and not self.has_chunk(index)

    def save_chunk(self, index: int, tensors: dict[str, torch.Tensor]) -> None:
        with atomic_path(self._chunk_path(index)) as tmp:
            save_file({k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}, str(tmp))

    def load_chunk(self, index: int) -> dict[str, torch.Tensor]:
        return load_file(str(self._chunk_path(index)))

    def mark_complete(self, meta: dict[str, Any]) -> None:
        atomic_write_json(self.folder / "meta.json", meta)


class CachedActivations:
    """Activations at one hook for a slice of contexts, read back batch by batch."""

    def __init__(self, entry: CacheEntry, tokens: torch.Tensor, chunk_contexts: int):
        self.entry = entry
        self.tokens = tokens  # [n_contexts, context_size]
        self.chunk_contexts = chunk_contexts

    def __len__(self) -> int:
        return self.tokens.shape[0]

    def batches(self, batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """(tokens, activations) for consecutive batches of `batch_size` contexts."""
        buffer: list[torch.Tensor] = []
        buffered = 0
        start = 0
        n_chunks = -(-len(self) // self.chunk_contexts)
        for index in range(n_chunks):
            acts = self.entry.load_chunk(index)["acts"]
            buffer.append(acts)
            buffered += acts.shape[0]
            while buffered >= batch_size or (index == n_chunks - 1 and buffered > 0):
                joined = torch.cat(buffer) if len(buffer) > 1 else buffer[0]
                take = min(batch_size, buffered)
                yield self.tokens[start : start + take], joined[:take]
                start += take
                buffer = [joined[take:]]
                buffered -= take


class ActivationCache:
    """Collects activations through a `ModelAdapter` into cache entries and serves them."""

    def __init__(self, root: Path | None = None, chunk_contexts: int = 64):
        self.root = (root or cache_root()) / "activations"
        self.chunk_contexts = chunk_contexts
        self.model_forward_passes = 0  # how many batches this cache had to run the model on

    def entry(self, kind: str, fields: dict[str, Any]) -> CacheEntry:
        return CacheEntry(self.root / f"{kind}-{content_key({'kind': kind, **fields})}")

    def _activation_entry(
        self, model: ModelAdapter, hook: str, contexts: ContextSet, start: int, count: int
    ) -> CacheEntry:
        return self.entry(
            "acts",
            {
                "model": model.cache_identity,
                "hook": hook,
                "contexts": contexts.key,
                "start": start,
                "count": count,
                "dtype": str(model.dtype),
                "chunk": self.chunk_contexts,
            },
        )

    def activations(
        self,
        model: ModelAdapter,
        contexts: ContextSet,
        start: int,
        count: int,
        hooks: list[str],
        batch_size: int,
        progress=None,
    ) -> dict[str, CachedActivations]:
        """Activations at every hook in `hooks` for contexts [start, start+count).

        Missing chunks are computed with one forward pass per batch that captures all the hooks
        still needed and stops at the deepest of them.
        """
        tokens = contexts.take(start, count)
        entries = {h: self._activation_entry(model, h, contexts, start, count) for h in hooks}
        n_chunks = -(-count // self.chunk_contexts)
        todo = [i for i in range(n_chunks) if any(e.needs_chunk(i) for e in entries.values())]
        task = None
        if todo and progress is not None:
            task = progress.add_task(
                f"collecting activations ({', '.join(hooks)})",
                total=len(todo) * self.chunk_contexts,
            )
        for index in todo:
            chunk_tokens = tokens[index * self.chunk_contexts : (index + 1) * self.chunk_contexts]
            needed = [h for h, e in entries.items() if e.needs_chunk(index)]
            parts: dict[str, list[torch.Tensor]] = {h: [] for h in needed}
            for batch in chunk_tokens.split(batch_size):
                captured = model.activations(batch, needed)
                self.model_forward_passes += 1
                for h in needed:
                    parts[h].append(captured[h].to("cpu"))
                if task is not None:
                    progress.advance(task, batch.shape[0])
            for h in needed:
                entries[h].save_chunk(index, {"acts": torch.cat(parts[h])})
        if task is not None:
            progress.remove_task(task)
        for h, entry in entries.items():
            if not entry.complete:
                entry.mark_complete(
                    {
                        "model": model.name,
                        "model_fingerprint": model.fingerprint,
                        "hook": h,
                        "dataset": contexts.dataset.name,
                        "contexts": contexts.key,
                        "start": start,
                        "count": count,
                        "dtype": str(model.dtype),
                    }
                )
        return {h: CachedActivations(e, tokens, self.chunk_contexts) for h, e in entries.items()}
