"""dictionary_learning folders: `ae.pt` (a state dict) + `config.json` (the trainer's config).

Each trainer class stores its dictionary under its own parameter names and transposes; this
module maps them onto our SAE. BatchTopK dictionaries infer with a learned global threshold, which
is a JumpReLU with the same threshold for every latent; Matryoshka BatchTopK ones infer the same
way and keep their nested group sizes as `matryoshka_widths` (their running sums).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from saeeval.errors import SaeevalError
from saeeval.files import read_json_object
from saeeval.saes.architectures import ArchitectureName, architecture_spec
from saeeval.saes.sae import SAE, SAEConfig, fold_decoder_norms
from saeeval.saes.validation import build_sae, read_torch_state_dict

WEIGHTS_FILENAME = "ae.pt"
CFG_FILENAME = "config.json"


@dataclass(frozen=True)
class _Layout:
    """How one trainer class stores its dictionary.

    names:                our parameter name -> (theirs, whether to transpose it).
    global_threshold:     BatchTopK-style: one learned inference threshold for every latent.
    fold_norms:           unnormalised decoders are folded to unit rows on load, as SAEBench's
                          ReLU loader does.
    apply_b_dec_to_input: False where the dictionary encodes x itself, not x - b_dec.
    group_sizes:          Matryoshka: the state's `group_sizes` give the nested widths.
    """

    architecture: ArchitectureName
    names: Mapping[str, tuple[str, bool]]
    global_threshold: bool = False
    fold_norms: bool = False
    apply_b_dec_to_input: bool = True
    group_sizes: bool = False


_NN_LINEAR = {
    "W_enc": ("encoder.weight", True),
    "b_enc": ("encoder.bias", False),
    "W_dec": ("decoder.weight", True),
}
_AS_IS = {name: (name, False) for name in ("W_enc", "b_enc", "W_dec", "b_dec")}
_RELU = _Layout("standard", {**_NN_LINEAR, "b_dec": ("bias", False)}, fold_norms=True)
_LAYOUTS: dict[str, _Layout] = {
    "StandardTrainer": _RELU,
    "StandardTrainerAprilUpdate": _RELU,
    "PAnnealTrainer": _RELU,
    "TopKTrainer": _Layout("topk", {**_NN_LINEAR, "b_dec": ("b_dec", False)}),
    "BatchTopKTrainer": _Layout(
        "jumprelu", {**_NN_LINEAR, "b_dec": ("b_dec", False)}, global_threshold=True
    ),
    # dictionary_learning's JumpReLU dictionaries encode x itself, not x - b_dec.
    "JumpReluTrainer": _Layout(
        "jumprelu",
        {**_AS_IS, "threshold": ("threshold", False)},
        apply_b_dec_to_input=False,
    ),
    "MatryoshkaBatchTopKTrainer": _Layout(
        "matryoshka_batchtopk", _AS_IS, global_threshold=True, group_sizes=True
    ),
    "GatedSAETrainer": _Layout(
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
    config_path = folder / CFG_FILENAME
    raw = read_json_object(config_path)
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
    layout = _LAYOUTS[trainer_class]
    state = read_torch_state_dict(folder / WEIGHTS_FILENAME)
    weights: dict[str, torch.Tensor] = {}
    for ours, (theirs, transpose) in layout.names.items():
        if theirs not in state:
            raise SaeevalError(
                f"{folder / WEIGHTS_FILENAME}: parameter {theirs!r} is missing for {trainer_class} "
                f"(found {', '.join(sorted(state))})"
            )
        weights[ours] = state[theirs].T if transpose else state[theirs]
    d_in, d_sae = weights["W_enc"].shape
    if layout.global_threshold:
        threshold = state.get("threshold")
        if threshold is None or float(threshold.max()) < 0:
            raise SaeevalError(
                f"{folder / WEIGHTS_FILENAME}: a BatchTopK dictionary needs its learned inference "
                f"threshold (a non-negative 'threshold' tensor)"
            )
        weights["threshold"] = threshold.float().expand(d_sae).clone()
    nested: dict[str, Any] = {}
    if layout.group_sizes and state.get("group_sizes") is not None:
        nested["matryoshka_widths"] = [int(w) for w in state["group_sizes"].cumsum(0).tolist()]
    extra: dict[str, Any] = {
        "training_architecture": trainer_class,
        **{k: v for k, v in trainer.items() if k not in ("lm_name",)},
    }
    cfg = SAEConfig(
        architecture=layout.architecture,
        d_in=int(d_in),
        d_sae=int(d_sae),
        hook_name=_hook_name(trainer, config_path),
        model_name=trainer.get("lm_name") or None,
        apply_b_dec_to_input=layout.apply_b_dec_to_input,
        context_size=(raw.get("buffer") or {}).get("ctx_len"),
        extra=extra,
        # The trainer config carries the architecture's own fields (a TopK dictionary's k).
        **architecture_spec(layout.architecture).read_config({**trainer, **nested}),
    )
    sae = build_sae(cfg, weights, folder)
    if layout.fold_norms:
        fold_decoder_norms(sae)
    return sae
