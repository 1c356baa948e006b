"""Loading language models behind the `ModelAdapter` interface."""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from saeeval.errors import SaeevalError, one_line
from saeeval.models.adapter import ModelAdapter, per_token_ce_loss
from saeeval.models.embedded import EMBEDDED_MODEL_NAME, ensure_converted

__all__ = [
    "EMBEDDED_MODEL_NAME",
    "ModelAdapter",
    "canonical_model_name",
    "load_model",
    "per_token_ce_loss",
    "resolve_device",
]

# Short names used by TransformerLens (and therefore in SAELens/SAEBench SAE configs) for models
# whose Hugging Face id differs.
TRANSFORMER_LENS_ALIASES = {
    "gpt2-small": "gpt2",
    "gpt2": "gpt2",
    "gemma-2-2b": "google/gemma-2-2b",
    "gemma-2-2b-it": "google/gemma-2-2b-it",
    "gemma-2-9b": "google/gemma-2-9b",
    "gemma-2-9b-it": "google/gemma-2-9b-it",
    "pythia-70m": "EleutherAI/pythia-70m",
    "pythia-70m-deduped": "EleutherAI/pythia-70m-deduped",
    "pythia-160m": "EleutherAI/pythia-160m",
    "pythia-160m-deduped": "EleutherAI/pythia-160m-deduped",
    "pythia-410m-deduped": "EleutherAI/pythia-410m-deduped",
    "qwen2-0.5b": "Qwen/Qwen2-0.5B",
    "mistral-7b": "mistralai/Mistral-7B-v0.1",
    "llama-3.1-8b": "meta-llama/Llama-3.1-8B",
}

# What users type for the embedded model; every one is recorded under EMBEDDED_MODEL_NAME.
_EMBEDDED_ALIASES = {EMBEDDED_MODEL_NAME, "smollm2-135m", "smollm2-135m-instruct"}


def canonical_model_name(name: str) -> str:
    """The name a model is loaded (and recorded) under, whatever alias was used for it."""
    if name.lower() in _EMBEDDED_ALIASES:
        return EMBEDDED_MODEL_NAME
    return TRANSFORMER_LENS_ALIASES.get(name, name)


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise SaeevalError(f"--device {device} was given, but no CUDA device is available here")
    if device.split(":")[0] not in ("cpu", "cuda", "mps"):
        raise SaeevalError(f"--device must be cpu, cuda, cuda:N, mps or auto, not {device!r}")
    return torch.device(device)


def _dtype(dtype: str) -> torch.dtype:
    table = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
    if dtype not in table:
        raise SaeevalError(f"--dtype must be one of {', '.join(table)}, not {dtype!r}")
    return table[dtype]


def _local_fingerprint(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.iterdir()):
        if path.is_file():
            stat = path.stat()
            digest.update(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return "local:" + digest.hexdigest()[:32]


def load_model(name: str, device: str = "cpu", dtype: str = "float32") -> ModelAdapter:
    """Load a model by embedded name, TransformerLens alias, hub id or local folder."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    canonical = canonical_model_name(name)
    torch_device = resolve_device(device)
    torch_dtype = _dtype(dtype)
    if canonical == EMBEDDED_MODEL_NAME:
        folder, fingerprint = ensure_converted()
        source = str(folder)
    elif Path(name).is_dir():
        source, fingerprint = name, _local_fingerprint(Path(name))
    else:
        source, fingerprint = canonical, None
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
        model = AutoModelForCausalLM.from_pretrained(source, dtype=torch_dtype)
    except (OSError, ValueError) as exc:
        raise SaeevalError(
            f"could not load model {name!r} (looked for {source!r} locally and on the Hugging Face "
            f"hub): {one_line(exc)}. Without hub access, use --model {EMBEDDED_MODEL_NAME} "
            f"(the embedded model) or a local model folder"
        ) from None
    if fingerprint is None:
        commit = getattr(model.config, "_commit_hash", None)
        fingerprint = f"hub:{canonical}@{commit}" if commit else None
    model.to(torch_device)
    return ModelAdapter(model, tokenizer, name=canonical, fingerprint=fingerprint)
