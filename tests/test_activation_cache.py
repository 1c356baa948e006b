"""The activation cache: content-addressed, chunked, resumable, shared by every SAE and eval."""

from __future__ import annotations

import torch
from tiny_models import tiny_model

from saeeval.activations import ActivationCache
from saeeval.data.contexts import ContextSet
from saeeval.data.text_datasets import TextDataset


def _contexts(n=40, ctx=16, seed=0) -> ContextSet:
    tokens = torch.randint(4, 100, (n, ctx), generator=torch.Generator().manual_seed(seed))
    tokens[:, 0] = 0
    return ContextSet(
        TextDataset("t", "sha256:t", "test", "text", 0), ctx, tokens, f"k{seed}", True
    )


def test_collected_activations_equal_a_direct_forward_pass(tmp_path):
    model, contexts = tiny_model("llama"), _contexts()
    cache = ActivationCache(tmp_path, chunk_contexts=16)
    hooks = ["blocks.0.hook_resid_post", "blocks.2.hook_mlp_out"]
    stored = cache.activations(model, contexts, 4, 30, hooks, batch_size=8)
    for hook in hooks:
        batches = list(stored[hook].batches(7))
        assert [t.shape[0] for t, _ in batches] == [7, 7, 7, 7, 2]
        tokens = torch.cat([t for t, _ in batches])
        acts = torch.cat([a for _, a in batches])
        assert torch.equal(tokens, contexts.tokens[4:34])
        direct = model.activations(tokens, [hook])[hook]
        torch.testing.assert_close(acts, direct, rtol=1e-5, atol=1e-5)


def test_second_request_reads_from_disk_without_running_the_model(tmp_path):
    model, contexts = tiny_model("llama"), _contexts()
    first = ActivationCache(tmp_path, chunk_contexts=16)
    first.activations(model, contexts, 0, 40, ["blocks.1.hook_resid_post"], batch_size=8)
    assert first.model_forward_passes == 5
    second = ActivationCache(tmp_path, chunk_contexts=16)  # a new process, the same folder
    second.activations(model, contexts, 0, 40, ["blocks.1.hook_resid_post"], batch_size=8)
    assert second.model_forward_passes == 0


def test_entries_are_keyed_by_everything_that_changes_the_activations(tmp_path):
    cache = ActivationCache(tmp_path, chunk_contexts=16)
    model, other_model = tiny_model("llama", seed=0), tiny_model("llama", seed=1)
    base = dict(start=0, count=16, batch_size=8)
    cache.activations(model, _contexts(), hooks=["blocks.1.hook_resid_post"], **base)
    cache.activations(model, _contexts(), hooks=["blocks.2.hook_resid_post"], **base)
    cache.activations(model, _contexts(seed=1), hooks=["blocks.1.hook_resid_post"], **base)
    cache.activations(other_model, _contexts(), hooks=["blocks.1.hook_resid_post"], **base)
    cache.activations(
        model, _contexts(), hooks=["blocks.1.hook_resid_post"], start=16, count=16, batch_size=8
    )
    assert len(list(cache.root.iterdir())) == 5
    assert cache.model_forward_passes == 10


def test_interrupted_collection_resumes_at_the_missing_chunks(tmp_path):
    model, contexts = tiny_model("llama"), _contexts()
    hook = "blocks.1.hook_resid_post"
    cache = ActivationCache(tmp_path, chunk_contexts=16)
    stored = cache.activations(model, contexts, 0, 40, [hook], batch_size=8)[hook]
    reference = torch.cat([a for _, a in stored.batches(40)])
    # Simulate a kill after the first chunk: completion marker and later chunks gone.
    (stored.entry.folder / "meta.json").unlink()
    for chunk in sorted(stored.entry.folder.glob("chunk_*"))[1:]:
        chunk.unlink()
    resumed = ActivationCache(tmp_path, chunk_contexts=16)
    again = resumed.activations(model, contexts, 0, 40, [hook], batch_size=8)[hook]
    assert resumed.model_forward_passes == 3  # chunks 1 (16 contexts) and 2 (8), batch size 8
    torch.testing.assert_close(torch.cat([a for _, a in again.batches(40)]), reference)
