"""dictionary_learning folders: `ae.pt` (a state dict) + `config.json` (the trainer's config).

Each trainer class stores its dictionary under its own parameter names and transposes; this
module maps them onto our SAE. BatchTopK dictionaries infer with a learned global threshold, which
is a JumpReLU with the same threshold for every latent.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from saeeval.errors import SaeevalError
from saeeval.saes.sae import SAE, SAEConfig

WEIGHTS_FILENAME = "ae.pt"
CFG_FILENAME = "config.json"

# trainer_class -> (our architecture, {our name: (their name, transpose)})
_NN_LINEAR = {
    "W_enc": ("encoder.weight", True),
    "b_enc": ("encoder.bias", False),
    "W_dec": ("decoder.weight", True),
}
_LAYOUTS: dict[str, tuple[str, dict[str, tuple[str, bool]]]] = {
    "StandardTrainer": ("standard", {**_NN_LINEAR, "b_dec": ("bias", False)}),
    "StandardTrainerAprilUpdate": ("standard", {**_NN_LINEAR, "b_dec": ("bias", False)}),
    "PAnnealTrainer": ("standard", {**_NN_LINEAR, "b_dec": ("bias", False)}),
    "TopKTrainer": ("topk", {**_NN_LINEAR, "b_dec": ("b_dec", False)}),
    "BatchTopKTrainer": ("jumprelu", {**_NN_LINEAR, "b_dec": ("b_dec", False)}),
    "JumpReluTrainer": (
        "jumprelu",
        {
            "W_enc": ("W_enc", False),
            "b_enc": ("b_enc", False),
            "W_dec": ("W_dec", False),
            "b_dec": ("b_dec", False),
            "threshold": ("threshold", False),
        },
    ),
    "MatryoshkaBatchTopKTrainer": (
        "jumprelu",
        {
            "W_enc": ("W_enc", False),
            "b_enc": ("b_enc", False),
            "W_dec": ("W_dec", False),
            "b_dec": ("b_dec", False),
        },
    ),
    "GatedSAETrainer": (
        "gated",
        {
            "W_enc": ("encoder.weight", True),
            "W_dec": ("decoder.weight", True),
            "b_dec": ("decoder_bias", False),
            "r_mag": ("r_mag", False),
            "b_gate": ("gate_bias", False),
            "b_mag": ("mag_bias", False),
        },
    ),
}

_SUBMODULE_RE = re.compile(r"^(resid_post|resid_pre|mlp_out|attn_out)_layer_(\d+)$")


def is_dictionary_learning_folder(folder: Path) -> bool:
    return (folder / WEIGHTS_FILENAME).is_file() and (folder / CFG_FILENAME).is_file()


def _hook_name(trainer: dict, source: Path) -> str:
    submodule = trainer.get("submodule_name") or ""
    match = _SUBMODULE_RE.match(submodule)
    if match:
        return f"blocks.{match.group(2)}.hook_{match.group(1)}"
    if isinstance(trainer.get("layer"), int):
        return f"blocks.{trainer['layer']}.hook_resid_post"
    raise SaeevalError(
        f"{source}: cannot tell the hook from trainer.submodule_name={submodule!r} or "
        f"trainer.layer; pass --hook"
    )


def read_dictionary_learning_folder(folder: Path) -> SAE:
    from saeeval.saes.saelens_format import _read_json
    from saeeval.saes.validation import build_sae, read_torch_state_dict

    config_path = folder / CFG_FILENAME
    raw = _read_json(config_path)
    trainer = raw.get("trainer")
    if not isinstance(trainer, dict):
        raise SaeevalError(
            f"{config_path}: expected a 'trainer' object (dictionary_learning layout)"
        )
    trainer_class = trainer.get("trainer_class")
    if trainer_class not in _LAYOUTS:
        raise SaeevalError(
            f"{config_path}: trainer_class {trainer_class!r} is not supported; expected one of "
            f"{', '.join(sorted(_LAYOUTS))}"
        )
    architecture, names = _LAYOUTS[trainer_class]
    state = read_torch_state_dict(folder / WEIGHTS_FILENAME)
    weights: dict[str, torch.Tensor] = {}
    for ours, (theirs, transpose) in names.items():
        if theirs not in state:
            raise SaeevalError(
                f"{folder / WEIGHTS_FILENAME}: parameter {theirs!r} is missing for {trainer_class} "
                f"(found {', '.join(sorted(state))})"
            )
        weights[ours] = state[theirs].T if transpose else state[theirs]
    d_in, d_sae = weights["W_enc"].shape
    if trainer_class in ("BatchTopKTrainer", "MatryoshkaBatchTopKTrainer"):
        threshold = state.get("threshold")
        if threshold is None or float(threshold.max()) < 0:
            raise SaeevalError(
                f"{folder / WEIGHTS_FILENAME}: a BatchTopK dictionary needs its learned inference "
                f"threshold (a non-negative 'threshold' tensor)"
            )
        weights["threshold"] = threshold.float().expand(d_sae).clone()
    cfg = SAEConfig(
        architecture=architecture,
        d_in=int(d_in),
        d_sae=int(d_sae),
        hook_name=_hook_name(trainer, config_path),
        model_name=trainer.get("lm_name") or None,
        k=int(trainer["k"]) if architecture == "topk" else None,
        # dictionary_learning's JumpReLU dictionaries encode x itself, not x - b_dec.
        apply_b_dec_to_input=trainer_class != "JumpReluTrainer",
        context_size=(raw.get("buffer") or {}).get("ctx_len"),
        extra={
            "training_architecture": trainer_class,
            **{k: v for k, v in trainer.items() if k not in ("lm_name",)},
        },
    )
    sae = build_sae(cfg, weights, folder)
    if architecture == "standard":
        fold_decoder_norms(sae)
    return sae


@torch.no_grad()
def fold_decoder_norms(sae: SAE) -> None:
    """Give every decoder row unit norm without changing reconstructions.

    Dictionaries trained with the April-2024 recipe keep unnormalised decoders; scaling each
    latent's encoder column and bias by its decoder norm (and the decoder row down by it) leaves
    x_hat unchanged and makes latent magnitudes comparable, as SAEBench's loader does.
    """
    norms = sae.W_dec.norm(dim=-1)
    if torch.allclose(norms, torch.ones_like(norms), atol=1e-5):
        return
    norms = norms.clamp(min=1e-8)
    sae.W_dec.div_(norms[:, None])
    sae.W_enc.mul_(norms[None, :])
    sae.b_enc.mul_(norms)
