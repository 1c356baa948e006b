"""Activation collection throughput at a hook, against a plain full forward pass.

    python benchmarks/activation_throughput.py [--hook blocks.6.hook_resid_post] [--contexts 32]

Runs on the embedded SmolLM2 with contexts from the built-in corpus. Reports tokens per second
for (a) a plain `transformers` forward pass of the whole model, (b) our adapter's activation pass,
which stops at the hook, and (c) a cold `ActivationCache` collection (the same pass plus writing
to disk), and the ratios of (b) and (c) to (a).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from _common import report, timed

from saeeval.activations import ActivationCache
from saeeval.data import load_contexts, load_text_dataset
from saeeval.models import load_model


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hook", default="blocks.6.hook_resid_post")
    parser.add_argument("--contexts", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args()

    model = load_model("smollm2-135m", "cpu")
    contexts = load_contexts(model.tokenizer, model.bos_token_id, load_text_dataset(None), 128, 1)
    tokens = contexts.tokens[: args.contexts]
    n_tokens = tokens.numel()
    batches = tokens.split(args.batch_size)

    def full_forward():
        with torch.no_grad():
            for batch in batches:
                model.model(input_ids=batch, use_cache=False)

    def adapter_pass():
        for batch in batches:
            model.activations(batch, [args.hook])

    def cold_cache():
        with tempfile.TemporaryDirectory() as folder:
            cache = ActivationCache(Path(folder))
            cache.activations(model, contexts, 0, args.contexts, [args.hook], args.batch_size)

    full, _ = timed(full_forward)
    ours, _ = timed(adapter_pass)
    cached, _ = timed(cold_cache)
    cache = ActivationCache(Path(tempfile.mkdtemp()))
    cache.activations(model, contexts, 0, args.contexts, [args.hook], args.batch_size)
    warm_start = time.perf_counter()
    stored = cache.activations(model, contexts, 0, args.contexts, [args.hook], args.batch_size)
    for _ in stored[args.hook].batches(args.batch_size):
        pass
    warm = time.perf_counter() - warm_start
    report(
        "activation_throughput",
        {
            "hook": args.hook,
            "tokens": n_tokens,
            "full_forward_tokens_per_s": round(n_tokens / full),
            "adapter_pass_tokens_per_s": round(n_tokens / ours),
            "cold_cache_tokens_per_s": round(n_tokens / cached),
            "warm_cache_read_tokens_per_s": round(n_tokens / warm),
            "adapter_pass_vs_full_forward": round(full / ours, 2),
            "cold_cache_vs_full_forward": round(full / cached, 2),
        },
    )


if __name__ == "__main__":
    main()
