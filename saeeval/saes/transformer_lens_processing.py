"""TransformerLens weight processing an SAE was trained under, applied where it is exact.

SAELens trains on a TransformerLens model loaded with `model_from_pretrained_kwargs` (the SAE
config's metadata); saeeval runs the plain Hugging Face model. Where those options change what a
hook carries, the SAE reads activations in another basis, so each option is either reproduced at
the hook, shown to change nothing there, or refused with what would differ:

- `center_writing_weights` subtracts its mean over d_model from every weight and bias that writes
  to the residual stream (W_E, W_pos, W_O, b_O, W_out, b_out). Every write is then mean-free,
  and so is their sum: the residual stream becomes r - mean(r), hook_attn_out and hook_mlp_out
  lose their means too. Nothing downstream sees the difference only because every reader of the
  residual stream starts with a LayerNorm, which removes the mean itself; so the block outputs
  are unchanged and centring the activation at the hook reproduces the processed model exactly
  (up to rounding), for reading and for splicing a reconstruction back in (the downstream
  LayerNorms ignore the mean either way). TransformerLens applies it to LayerNorm models only: on
  RMSNorm models (Llama, Gemma, Mistral, Qwen) it leaves the weights as they are, and so do we.
- `fold_ln` folds LayerNorm weights into the next layer's weights (the norms keep only their
  normalisation): the residual stream and every block output are unchanged.
- `center_unembed` centres W_U: logits move by one constant per token, log-probabilities and
  losses do not.
- `fold_value_biases` moves the value biases into b_O, and `refactor_factored_attn_matrices`
  refactors W_Q/W_K and W_V/W_O keeping their products: the attention output is unchanged
  (the per-head hook_v/hook_z would change, but saeeval reads no per-head hook).
- Options that only place or instrument the model (device, dtype, extra hook points) change no
  activation basis. Intermediate training checkpoints, truncated models and quantised weights
  would, and are refused; so is anything not listed here.

SAELens trains on `HookedTransformer.from_pretrained_no_processing(**kwargs)`, its runner's
default kwargs being `{"center_writing_weights": False}`: without options an SAE saw the plain
model's activations. SAEBench's core eval loads its model the same way, with the SAE's kwargs;
its other evals load it without them. saeeval reads every eval's activations in the SAE's
basis. In SAELens' pretrained directory three GPT-2 releases
set center_writing_weights (gpt2-small-res-jb, its feature-splitting set, gpt2-small-mlp-tm);
Gemma Scope, Llama Scope and the other converted releases set none.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from saeeval.errors import SaeevalError

if TYPE_CHECKING:  # annotations only
    from saeeval.models.adapter import ModelAdapter
    from saeeval.saes.sae import SAE, SAEConfig

# Options reproduced at the hook (where the model family needs it).
APPLIED = {"center_writing_weights"}
# Options that change nothing at the hooks saeeval reads, with why (for documentation and tests).
NO_EFFECT_AT_HOOKS: dict[str, str] = {
    "fold_ln": "folds LayerNorm weights into the next layers; block outputs are unchanged",
    "center_unembed": "centres W_U; log-probabilities and losses are unchanged",
    "fold_value_biases": "moves value biases into b_O; the attention output is unchanged",
    "refactor_factored_attn_matrices": "keeps the QK and OV products; attention is unchanged",
}
# Options that place, type or instrument the model without changing any activation's basis.
RUNTIME_ONLY = {
    "device",
    "n_devices",
    "move_to_device",
    "dtype",
    "torch_dtype",
    "n_ctx",
    "default_prepend_bos",
    "default_padding_side",
    "use_attn_result",
    "use_split_qkv_input",
    "use_hook_mlp_in",
    "use_attn_in",
    "trust_remote_code",
}
# Options that make the activations (or the model) differ, with what differs.
REFUSED: dict[str, str] = {
    "checkpoint_index": "the SAE was trained on an intermediate training checkpoint of the model, "
    "and saeeval loads only the final weights",
    "checkpoint_value": "the SAE was trained on an intermediate training checkpoint of the model, "
    "and saeeval loads only the final weights",
    "checkpoint_label": "the SAE was trained on an intermediate training checkpoint of the model, "
    "and saeeval loads only the final weights",
    "first_n_layers": "the SAE was trained with the model truncated to its first layers, so "
    "logits and losses differ from the full model's",
    "load_in_8bit": "the SAE was trained on a quantised model, whose activations differ",
    "load_in_4bit": "the SAE was trained on a quantised model, whose activations differ",
}
# Model families (Hugging Face model_type) by the norm before each residual-stream reader:
# TransformerLens centres writing weights for LayerNorm models only.
LAYER_NORM_FAMILIES = {"gpt2", "gpt_neox"}
RMS_NORM_FAMILIES = {"llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3_text"}

CENTRED = "centred"  # the hook transform's label (part of the adapter's fingerprint)
PLAIN = "plain"  # the activation as the Hugging Face model computes it


def _model_class(cfg: SAEConfig) -> str:
    return cfg.extra.get("model_class_name") or "HookedTransformer"


def check_processing_kwargs(cfg: SAEConfig, source: Path | str) -> None:
    """Refuse, when the SAE loads, a model_from_pretrained_kwargs saeeval cannot reproduce."""
    model_class = _model_class(cfg)
    if model_class == "AutoModelForCausalLM":
        return  # SAELens ran the Hugging Face model itself: its kwargs are loading options
    if model_class != "HookedTransformer":
        raise SaeevalError(
            f"{source}: the SAE was trained on a {model_class} model, which saeeval does not "
            f"run (it runs Hugging Face causal LMs as TransformerLens' HookedTransformer does)"
        )
    for key in cfg.model_from_pretrained_kwargs:
        if key in REFUSED:
            raise SaeevalError(
                f"{source}: model_from_pretrained_kwargs.{key} is not supported: {REFUSED[key]}"
            )
        if key not in APPLIED and key not in NO_EFFECT_AT_HOOKS and key not in RUNTIME_ONLY:
            raise SaeevalError(
                f"{source}: model_from_pretrained_kwargs.{key} is not supported: saeeval cannot "
                f"tell how it changes the activations at {cfg.hook_name}; expected only "
                f"center_writing_weights, {', '.join(NO_EFFECT_AT_HOOKS)} or loading options"
            )


def _centre(activation: torch.Tensor) -> torch.Tensor:
    return activation - activation.mean(dim=-1, keepdim=True)


def apply_processing(sae: SAE, model: ModelAdapter) -> str | None:
    """Make `model` read the SAE's hook the way the SAE's training model did; a line for the
    log saying what the SAE's TransformerLens options amount to here, or None without any.

    Every SAE claims its hook's basis, so a plain SAE and a centred one at the same hook of one
    model are refused (`ModelAdapter.set_hook_transform`) rather than one reading the other's.
    """
    cfg = sae.cfg
    kwargs: dict[str, Any] = cfg.model_from_pretrained_kwargs
    if _model_class(cfg) != "HookedTransformer":
        model.set_hook_transform(cfg.hook_name, PLAIN)
        return None
    inert = [key for key in NO_EFFECT_AT_HOOKS if kwargs.get(key)]
    aside = f"; {', '.join(inert)}: no effect at this hook" if inert else ""
    if not kwargs.get("center_writing_weights"):
        model.set_hook_transform(cfg.hook_name, PLAIN)
        return (
            f"{cfg.hook_name}: TransformerLens options {', '.join(inert)}: no effect at this hook"
            if inert
            else None
        )
    family = model.model_type
    if family in RMS_NORM_FAMILIES:
        model.set_hook_transform(cfg.hook_name, PLAIN)
        return (
            f"{cfg.hook_name}: center_writing_weights changes nothing on {family} (RMSNorm), "
            f"as in TransformerLens{aside}"
        )
    if family not in LAYER_NORM_FAMILIES:
        raise SaeevalError(
            f"the SAE at {cfg.hook_name} was trained with center_writing_weights, and saeeval "
            f"cannot tell whether {family!r} normalises with LayerNorm (where TransformerLens "
            f"centres the residual stream) or RMSNorm (where it does nothing)"
        )
    model.set_hook_transform(cfg.hook_name, CENTRED, _centre)
    return (
        f"{cfg.hook_name}: activations centred over d_model (TransformerLens' "
        f"center_writing_weights, which the SAE was trained with){aside}"
    )
