"""SAELens folders: `cfg.json` + `sae_weights.safetensors`. Our own SAE format is this one.

Reads both the SAELens 6 layout (hook and model under `metadata`) and the older flat layout, and
writes the SAELens 6 layout, so `sae_lens.SAE.load_from_disk` loads what we save.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from saeeval.errors import SaeevalError
from saeeval.files import atomic_path, atomic_write_json, read_json_object
from saeeval.saes.architectures import (
    ARCHITECTURE_SPECS,
    architecture_config_fields,
    architecture_spec,
)
from saeeval.saes.sae import NORMALIZATIONS, SAE, SAEConfig
from saeeval.saes.validation import check_config, read_safetensors

CFG_FILENAME = "cfg.json"
WEIGHTS_FILENAME = "sae_weights.safetensors"

# Keys config_from_dict reads itself (besides each architecture's own fields); the rest of a
# config is carried along in SAEConfig.extra.
_KNOWN_KEYS = {
    "architecture",
    "d_in",
    "d_sae",
    "hook_name",
    "hook_point",
    "model_name",
    "apply_b_dec_to_input",
    "normalize_activations",
    "dtype",
    "prepend_bos",
    "context_size",
    "dataset_path",
    "metadata",
    "device",
    "activation_fn",
    "activation_fn_str",
    "activation_fn_kwargs",
    "hook_head_index",
    "reshape_activations",
}


def is_saelens_folder(folder: Path) -> bool:
    return (folder / CFG_FILENAME).is_file() and (folder / WEIGHTS_FILENAME).is_file()


def config_from_dict(raw: dict[str, Any], source: Path) -> SAEConfig:
    """Our SAEConfig from a SAELens cfg.json dict, of either the 6.x or the older layout."""
    meta = raw.get("metadata") or {}
    flat = {**raw, **meta}
    architecture = flat.get("architecture") or "standard"
    activation = flat.get("activation_fn") or flat.get("activation_fn_str")
    if activation == "topk" and flat.get("k") is None:  # the older layout's TopK SAEs
        flat["k"] = (flat.get("activation_fn_kwargs") or {}).get("k")
        architecture = "topk"
    if not isinstance(architecture, str) or architecture not in ARCHITECTURE_SPECS:
        raise SaeevalError(
            f"{source}: architecture {architecture!r} is not supported; expected one of "
            f"{', '.join(ARCHITECTURE_SPECS)}"
        )
    spec = architecture_spec(architecture)
    hook_name = flat.get("hook_name") or flat.get("hook_point")
    if not hook_name:
        raise SaeevalError(f"{source}: the config names no hook (expected metadata.hook_name)")
    if flat.get("hook_head_index") is not None:
        raise SaeevalError(f"{source}: SAEs on a single attention head are not supported")
    normalize = flat.get("normalize_activations", "none")
    if isinstance(normalize, bool):  # older SAELens configs stored a flag
        normalize = "expected_average_only_in" if normalize else "none"
    normalize = normalize or "none"
    if normalize not in NORMALIZATIONS:
        raise SaeevalError(
            f"{source}: normalize_activations {normalize!r} is not supported; expected one of "
            f"{', '.join(NORMALIZATIONS)}"
        )
    for key in ("d_in", "d_sae"):
        if not isinstance(flat.get(key), int) or flat[key] <= 0:
            raise SaeevalError(f"{source}: {key} must be a positive integer, got {flat.get(key)!r}")
    known = _KNOWN_KEYS | architecture_config_fields()
    cfg = SAEConfig(
        architecture=architecture,
        d_in=flat["d_in"],
        d_sae=flat["d_sae"],
        hook_name=hook_name,
        model_name=flat.get("model_name") or None,
        apply_b_dec_to_input=bool(flat.get("apply_b_dec_to_input", True)),
        normalize_activations=normalize,
        dtype=flat.get("dtype") or "float32",
        prepend_bos=bool(flat.get("prepend_bos", True)),
        context_size=flat.get("context_size"),
        dataset_path=flat.get("dataset_path"),
        extra={key: value for key, value in flat.items() if key not in known},
        **spec.read_config(flat),
    )
    check_config(cfg, source)
    return cfg


def read_saelens_folder(folder: Path) -> tuple[SAEConfig, dict[str, torch.Tensor]]:
    cfg = config_from_dict(read_json_object(folder / CFG_FILENAME), folder / CFG_FILENAME)
    weights = read_safetensors(folder / WEIGHTS_FILENAME)
    scaling = weights.pop("scaling_factor", None)
    if scaling is not None and not torch.allclose(scaling, torch.ones_like(scaling)):
        raise SaeevalError(
            f"{folder / WEIGHTS_FILENAME}: a fine-tuning scaling factor other than 1 is not "
            f"supported"
        )
    return cfg, weights


def saelens_version() -> str:
    try:
        return version("sae-lens")
    except PackageNotFoundError:  # we write the 6.x layout either way
        return "6.0.0"


def config_to_saelens_dict(cfg: SAEConfig) -> dict[str, Any]:
    """The cfg.json that SAELens 6 writes for this SAE."""
    spec = architecture_spec(cfg.architecture)
    metadata = {
        "sae_lens_version": saelens_version(),
        "model_name": cfg.model_name,
        "hook_name": cfg.hook_name,
        "hook_head_index": None,
        "prepend_bos": cfg.prepend_bos,
        "context_size": cfg.context_size,
        "dataset_path": cfg.dataset_path,
        "model_class_name": "HookedTransformer",
        "model_from_pretrained_kwargs": {},
        **cfg.extra,
    }
    return {
        "d_in": cfg.d_in,
        "d_sae": cfg.d_sae,
        "dtype": cfg.dtype,
        "device": "cpu",
        "apply_b_dec_to_input": cfg.apply_b_dec_to_input,
        "normalize_activations": cfg.normalize_activations,
        "reshape_activations": "none",
        "metadata": metadata,
        "architecture": spec.saelens_architecture,
        **spec.write_config(cfg),
    }


def save_sae(sae: SAE, folder: str | Path) -> Path:
    """Write `sae` as a SAELens folder (atomically per file)."""
    folder = Path(folder)
    tensors = {name: p.detach().to("cpu").contiguous() for name, p in sae.named_parameters()}
    with atomic_path(folder / WEIGHTS_FILENAME) as tmp:
        save_file(tensors, str(tmp))
    atomic_write_json(folder / CFG_FILENAME, config_to_saelens_dict(sae.cfg))
    return folder
