"""Cutting a token stream into fixed-length contexts, the way SAELens' activation store does.

Documents are concatenated; every context starts with the model's BOS token, and a BOS separates
two documents that share a context. Tokenised contexts are cached on disk per (dataset content,
tokenizer, context length, BOS policy, shuffle seed, part).

Training and evaluation read disjoint documents by construction: before contexts are cut, each
document goes to the "eval" or the "train" part by a hash of its own text, whatever the seed, the
dataset's order or the number of contexts asked for. Evals read the eval part (a quarter of the
documents), training and baseline fits the train part; "all" (every document) is for tools that
compare implementations on the same text.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import torch
from safetensors.torch import load_file, save_file

from saeeval.cache_dir import cache_root
from saeeval.data.text_datasets import TextDataset
from saeeval.errors import SaeevalError
from saeeval.files import atomic_path, atomic_write_json

CONTEXTS_VERSION = 1
TEXT_PARTS = ("eval", "train", "all")
# A document is held out for evals when the first byte of its hash is below this (64/256: 25%).
EVAL_PART_BYTE_BELOW = 64


def document_part(text: str) -> str:
    """The part ("eval" or "train") a document belongs to, decided by its content alone."""
    digest = hashlib.sha256(b"saeeval-text-part\x00" + text.encode("utf-8")).digest()
    return "eval" if digest[0] < EVAL_PART_BYTE_BELOW else "train"


def iter_contexts(
    documents: Iterable[list[int]], context_size: int, bos_token_id: int | None
) -> Iterator[list[int]]:
    """Yield contexts of exactly `context_size` tokens from tokenised documents."""
    context: list[int] = []
    for doc in documents:
        pos = 0
        while pos < len(doc):
            # A BOS opens every context and separates documents inside one.
            opens_context = not context
            if (
                (opens_context or pos == 0)
                and bos_token_id is not None
                and doc[pos] != bos_token_id
            ):
                context.append(bos_token_id)
            take = context_size - len(context)
            context.extend(doc[pos : pos + take])
            pos += take
            if len(context) == context_size:
                yield context
                context = []


def tokenizer_fingerprint(tokenizer) -> str:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    text = backend.to_str() if backend is not None else repr(sorted(tokenizer.get_vocab().items()))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


@dataclass
class ContextSet:
    """Tokenised contexts of one dataset for one tokenizer; `key` content-addresses them."""

    dataset: TextDataset
    context_size: int
    tokens: torch.Tensor  # [n_contexts, context_size], int64
    key: str
    exhausted: bool  # True when the dataset had no more text beyond these contexts
    part: str = "all"  # which documents: "eval", "train" or "all" (see document_part)

    def __len__(self) -> int:
        return self.tokens.shape[0]

    def take(self, start: int, count: int) -> torch.Tensor:
        if start + count > len(self):
            where = "" if self.part == "all" else f" from its {self.part} part"
            held = " (the quarter of its documents held out from training)"
            raise SaeevalError(
                f"dataset {self.dataset.name} yields only {len(self)} contexts of "
                f"{self.context_size} tokens{where}{held if self.part == 'eval' else ''}, but "
                f"{start + count} are needed; use fewer batches or a larger dataset"
            )
        return self.tokens[start : start + count]


def load_contexts(
    tokenizer,
    bos_token_id: int | None,
    dataset: TextDataset,
    context_size: int,
    min_contexts: int,
    progress=None,
    part: str = "all",
) -> ContextSet:
    """At least `min_contexts` contexts (all of them for a finite dataset) cut from the documents
    of `part`, cached on disk."""
    if part not in TEXT_PARTS:
        raise ValueError(f"part must be one of {TEXT_PARTS}, not {part!r}")
    fields = {
        "v": CONTEXTS_VERSION,
        "dataset": dataset.fingerprint,
        "column": dataset.text_column,
        "seed": dataset.seed,
        "tokenizer": tokenizer_fingerprint(tokenizer),
        "context_size": context_size,
        "bos": bos_token_id,
    }
    if part != "all":  # "all" keeps the keys contexts had before parts existed
        fields["part"] = part
    key = hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:24]
    folder = cache_root() / "contexts" / key
    meta_path = folder / "meta.json"
    if meta_path.is_file():
        meta = json.loads(meta_path.read_text())
        if meta["exhausted"] or meta["n_contexts"] >= min_contexts:
            tokens = load_file(str(folder / "tokens.safetensors"))["tokens"].long()
            return ContextSet(dataset, context_size, tokens, key, meta["exhausted"], part)

    # Finite datasets are tokenised whole; streamed ones only as far as needed (plus headroom).
    target = None if not dataset.fingerprint.startswith("hub:") else max(min_contexts, 1) * 2
    contexts: list[list[int]] = []
    exhausted = True
    task = progress.add_task(f"tokenising {dataset.name}", total=target) if progress else None

    def documents() -> Iterator[list[int]]:
        batch: list[str] = []
        for text in dataset.texts():
            if part != "all" and document_part(text) != part:
                continue
            batch.append(text)
            if len(batch) == 256:
                yield from tokenizer(batch, add_special_tokens=False)["input_ids"]
                batch = []
        if batch:
            yield from tokenizer(batch, add_special_tokens=False)["input_ids"]

    for context in iter_contexts(documents(), context_size, bos_token_id):
        contexts.append(context)
        if progress is not None:
            progress.advance(task)
        if target is not None and len(contexts) >= target:
            exhausted = False
            break
    if progress is not None:
        progress.remove_task(task)
    if not contexts:
        raise SaeevalError(
            f"dataset {dataset.name} produced no full context of {context_size} tokens"
            + ("" if part == "all" else f" in its {part} part")
        )
    tokens = torch.tensor(contexts, dtype=torch.int32)
    with atomic_path(folder / "tokens.safetensors") as tmp:
        save_file({"tokens": tokens}, str(tmp))
    atomic_write_json(
        meta_path,
        {
            "n_contexts": len(contexts),
            "exhausted": exhausted,
            "dataset": dataset.name,
            "fingerprint": dataset.fingerprint,
            "context_size": context_size,
            "part": part,
        },
    )
    return ContextSet(dataset, context_size, tokens.long(), key, exhausted, part)
