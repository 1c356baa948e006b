"""SAELens folders: `cfg.json` + `sae_weights.safetensors`. Our own SAE format is this one.

Reads every layout SAELens 3.x-6.x wrote: the SAELens 6 layout (hook and model under
`metadata`) as is, the older flat one (`hook_point`, `activation_fn_str`, `"dtype":
"torch.float32"`) through SAELens' own defaulting, and SAELens training checkpoints through
SAELens' own conversion to the inference form. Writes the SAELens 6 layout, so
`sae_lens.SAE.load_from_disk` loads what we save.
"""

from __future__ import annotations

import copy
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from saeeval.errors import SaeevalError, one_line
from saeeval.files import atomic_path, atomic_write_json, read_json_object
from saeeval.saes.architectures import (
    ARCHITECTURE_SPECS,
    UNSUPPORTED_ARCHITECTURES,
    ArchitectureSpec,
    architecture_config_fields,
    architecture_spec,
    spec_for_saelens,
)
from saeeval.saes.sae import NORMALIZATIONS, SAE, SAEConfig, dtype_name
from saeeval.saes.transformer_lens_processing import check_processing_kwargs
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
    "activation_fn_kwargs",
    "hook_head_index",
    "reshape_activations",
    "model_from_pretrained_kwargs",
}
# Keys of configs older SAELens versions wrote that its defaulting renames (hook_point ->
# hook_name, ...) or that the hook name already says (the layer); not carried along.
_SUPERSEDED_KEYS = {
    "hook_point",
    "hook_point_head_index",
    "activation_fn_str",
    "hook_point_layer",
    "hook_layer",
}
# Activation functions SAELens before 6.0 could name, of which 6.x (and saeeval) infer these.
_OLD_ACTIVATIONS = {None, "relu", "topk"}


def is_saelens_folder(folder: Path) -> bool:
    return (folder / CFG_FILENAME).is_file() and (folder / WEIGHTS_FILENAME).is_file()


def _written_before_6(raw: dict[str, Any]) -> bool:
    """True for a config from SAELens before 6.0: flat, with no version or one below 6 (the
    test SAELens' own `handle_config_defaulting` applies). A config with a `metadata` object is
    in the 6 layout already (SAELens' defaulting produces one, and no older version wrote it)."""
    if isinstance(raw.get("metadata"), dict) and not raw.get("sae_lens_version"):
        return False
    meta = raw.get("metadata") if isinstance(raw.get("metadata"), dict) else {}
    version_string = raw.get("sae_lens_version") or meta.get("sae_lens_version")
    major = str(version_string).split(".")[0] if version_string else ""
    return not (major.isdigit() and int(major) >= 6)


def saelens_6_layout(raw: dict[str, Any], source: Path | str) -> dict[str, Any]:
    """`raw` in the SAELens 6 layout.

    A config an older SAELens wrote (flat, `hook_point`, `activation_fn_str`, no version) goes
    through SAELens' own defaulting and renaming, so it means here what it means to SAELens.
    That keeps only the keys SAELens 6 reads; the others (training hyperparameters, training
    tokens) stay beside them, for SAEConfig.extra.
    """
    if not _written_before_6(raw):
        return raw
    activation = raw.get("activation_fn_str", raw.get("activation_fn"))
    if activation not in _OLD_ACTIVATIONS:
        raise SaeevalError(
            f"{source}: activation function {activation!r} is not supported; SAELens 6 and "
            f"saeeval infer only relu and topk SAEs"
        )
    if activation == "topk" and (raw.get("activation_fn_kwargs") or {}).get("k") is None:
        raise SaeevalError(f"{source}: a topk SAE needs activation_fn_kwargs.k")
    if raw.get("architecture") is not None:
        _spec(raw["architecture"], None, source)  # our refusal before SAELens' KeyError
    from sae_lens.loading.pretrained_sae_loaders import handle_config_defaulting

    try:
        converted = handle_config_defaulting(copy.deepcopy(raw))
    except Exception as exc:  # whatever SAELens raises for a config it cannot read
        raise SaeevalError(
            f"{source}: SAELens cannot read this config ({type(exc).__name__}: {one_line(exc)})"
        ) from exc
    kept = {key: value for key, value in raw.items() if key not in _SUPERSEDED_KEYS}
    return {**kept, **converted}


def _spec(architecture: Any, training_architecture: Any, source: Path | str) -> ArchitectureSpec:
    try:
        return spec_for_saelens(architecture, training_architecture)
    except SaeevalError as exc:
        raise SaeevalError(f"{source}: {exc}") from None


def config_from_dict(raw: dict[str, Any], source: Path | str) -> SAEConfig:
    """Our SAEConfig from a SAELens cfg.json dict, of any layout SAELens 3.x-6.x wrote."""
    raw = saelens_6_layout(raw, source)
    meta = raw.get("metadata") or {}
    flat = {**raw, **meta}
    spec = _spec(flat.get("architecture") or "standard", meta.get("training_architecture"), source)
    # SAELens keeps a training architecture's own fields in metadata.training_architecture_details.
    fields = {**flat, **(meta.get("training_architecture_details") or {})}
    hook_name = flat.get("hook_name")
    if not hook_name:
        raise SaeevalError(f"{source}: the config names no hook (expected metadata.hook_name)")
    if flat.get("hook_head_index") is not None:
        raise SaeevalError(f"{source}: SAEs on a single attention head are not supported")
    if flat.get("reshape_activations") not in (None, "none"):
        raise SaeevalError(
            f"{source}: reshape_activations {flat['reshape_activations']!r} (SAEs on attention "
            f"heads' concatenated outputs) is not supported"
        )
    normalize = flat.get("normalize_activations") or "none"
    if normalize not in NORMALIZATIONS:
        raise SaeevalError(
            f"{source}: normalize_activations {normalize!r} is not supported; expected one of "
            f"{', '.join(NORMALIZATIONS)}"
        )
    for key in ("d_in", "d_sae"):
        if not isinstance(flat.get(key), int) or flat[key] <= 0:
            raise SaeevalError(f"{source}: {key} must be a positive integer, got {flat.get(key)!r}")
    dtype = dtype_name(flat.get("dtype") or "float32")
    if dtype is None:
        raise SaeevalError(
            f"{source}: dtype {flat.get('dtype')!r} is not supported; expected float32, float64, "
            f"float16 or bfloat16 (with or without a 'torch.' prefix)"
        )
    model_kwargs = flat.get("model_from_pretrained_kwargs") or {}
    if not isinstance(model_kwargs, dict):
        raise SaeevalError(
            f"{source}: model_from_pretrained_kwargs must be an object, got {model_kwargs!r}"
        )
    known = _KNOWN_KEYS | _SUPERSEDED_KEYS | architecture_config_fields()
    cfg = SAEConfig(
        architecture=spec.name,  # type: ignore[arg-type]  # a registered name
        d_in=flat["d_in"],
        d_sae=flat["d_sae"],
        hook_name=hook_name,
        model_name=flat.get("model_name") or None,
        apply_b_dec_to_input=bool(flat.get("apply_b_dec_to_input", True)),
        normalize_activations=normalize,
        dtype=dtype,
        prepend_bos=bool(flat.get("prepend_bos", True)),
        context_size=flat.get("context_size"),
        dataset_path=flat.get("dataset_path"),
        model_from_pretrained_kwargs=dict(model_kwargs),
        extra={key: value for key, value in flat.items() if key not in known},
        **spec.read_config(fields),
    )
    check_config(cfg, source)
    check_processing_kwargs(cfg, source)
    return cfg


def _training_only_architecture(architecture: Any) -> bool:
    """True for an architecture SAELens trains but never saves for inference (its training
    checkpoints carry it: `batchtopk`, `matryoshka_batchtopk`)."""
    if not isinstance(architecture, str) or architecture in UNSUPPORTED_ARCHITECTURES:
        return False
    if any(spec.saelens_architecture == architecture for spec in ARCHITECTURE_SPECS.values()):
        return False
    import sae_lens  # noqa: F401  # registers SAELens' architectures
    from sae_lens.registry import SAE_CLASS_REGISTRY, SAE_TRAINING_CLASS_REGISTRY

    return architecture in SAE_TRAINING_CLASS_REGISTRY and architecture not in SAE_CLASS_REGISTRY


def _inference_form_of_checkpoint(folder: Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """A SAELens training checkpoint as SAELens itself would save it for inference (a BatchTopK
    checkpoint's running threshold becomes a JumpReLU threshold, decoder norms are folded)."""
    from sae_lens import TrainingSAE

    try:
        training = TrainingSAE.load_from_disk(folder, device="cpu")
        state = training.state_dict()
        training.process_state_dict_for_saving_inference(state)
        raw = training.cfg.get_inference_sae_cfg_dict()
    except Exception as exc:  # whatever SAELens raises for a checkpoint it cannot read
        raise SaeevalError(
            f"{folder}: SAELens cannot load this training checkpoint "
            f"({type(exc).__name__}: {one_line(exc)})"
        ) from exc
    return raw, {name: tensor.detach().clone() for name, tensor in state.items()}


def _fold_finetuning_scale(cfg: SAEConfig, weights: dict[str, torch.Tensor], source: Path) -> None:
    """Fold SAELens' (before 6.0) fine-tuning scale into the decoder rows.

    Those versions decoded (f * scale) @ W_dec, which is f @ (scale[:, None] * W_dec); SAELens
    wrote the scale as `scaling_factor` (all ones when unused) or `finetuning_scaling_factor`.
    """
    for key in ("scaling_factor", "finetuning_scaling_factor"):
        scale = weights.pop(key, None)
        if scale is None or torch.allclose(scale.float(), torch.ones_like(scale.float())):
            continue
        if not cfg.extra.get("finetuning_scaling_factor"):
            raise SaeevalError(
                f"{source}: holds a fine-tuning scale {key!r} other than 1, but the config's "
                f"finetuning_scaling_factor is not set"
            )
        if tuple(scale.shape) != (cfg.d_sae,) or "W_dec" not in weights:
            raise SaeevalError(
                f"{source}: {key!r} has shape {tuple(scale.shape)}, expected ({cfg.d_sae},)"
            )
        w_dec = weights["W_dec"]
        weights["W_dec"] = (w_dec.float() * scale.float()[:, None]).to(w_dec.dtype)
        cfg.extra["finetuning_scaling_factor"] = False  # folded: decode is f @ W_dec again


def read_saelens_folder(folder: Path) -> tuple[SAEConfig, dict[str, torch.Tensor]]:
    cfg_path = folder / CFG_FILENAME
    raw = read_json_object(cfg_path)
    if _training_only_architecture(raw.get("architecture")):
        raw, weights = _inference_form_of_checkpoint(folder)
    else:
        weights = read_safetensors(folder / WEIGHTS_FILENAME)
    cfg = config_from_dict(raw, cfg_path)
    _fold_finetuning_scale(cfg, weights, folder / WEIGHTS_FILENAME)
    return cfg, weights


def saelens_version() -> str:
    """The installed SAELens version (a dependency of saeeval), as results and configs record."""
    try:
        return version("sae-lens")
    except PackageNotFoundError:
        raise SaeevalError(
            "sae-lens is not installed, but saeeval depends on it; reinstall saeeval "
            "(pip install saeeval) or install it with: pip install 'sae-lens>=6,<7'"
        ) from None


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
        "model_from_pretrained_kwargs": dict(cfg.model_from_pretrained_kwargs),
        **cfg.extra,
    }
    fields = spec.write_config(cfg)
    if spec.training_architecture is not None:  # where SAELens keeps them, under its name
        details = metadata.get("training_architecture_details") or {}
        metadata["training_architecture"] = spec.training_architecture
        metadata["training_architecture_details"] = {
            **details,
            **{name: value for name, value in fields.items() if value is not None},
        }
        fields = {}
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
        **fields,
    }


def save_sae(sae: SAE, folder: str | Path) -> Path:
    """Write `sae` as a SAELens folder (atomically per file)."""
    folder = Path(folder)
    tensors = {name: p.detach().to("cpu").contiguous() for name, p in sae.named_parameters()}
    with atomic_path(folder / WEIGHTS_FILENAME) as tmp:
        save_file(tensors, str(tmp))
    atomic_write_json(folder / CFG_FILENAME, config_to_saelens_dict(sae.cfg))
    return folder
