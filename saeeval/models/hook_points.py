"""TransformerLens hook names mapped onto Hugging Face module trees.

SAELens and SAEBench configs name hook points the TransformerLens way
(`blocks.6.hook_resid_post`); Hugging Face models have their own module names per family. This
module parses the former and finds the module (and which side of it) that carries the same tensor.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from saeeval.errors import SaeevalError

HOOK_KINDS = ("hook_resid_pre", "hook_resid_post", "hook_attn_out", "hook_mlp_out")
_HOOK_RE = re.compile(r"^blocks\.(\d+)\.(" + "|".join(HOOK_KINDS) + r")$")


@dataclass(frozen=True)
class HookPoint:
    name: str
    layer: int
    kind: str  # one of HOOK_KINDS


def parse_hook(name: str) -> HookPoint:
    match = _HOOK_RE.match(name)
    if match is None:
        raise SaeevalError(
            f"hook {name!r} is not a supported hook name; expected blocks.<layer>.<kind> with kind "
            f"one of {', '.join(HOOK_KINDS)} (for example blocks.6.hook_resid_post)"
        )
    return HookPoint(name=name, layer=int(match.group(1)), kind=match.group(2))


@dataclass(frozen=True)
class ModuleLayout:
    """Where one model family keeps its decoder blocks and per-block write-outs."""

    layers: str  # dotted path from the *ForCausalLM module to the list of blocks
    attn_out: str  # module (relative to a block) whose output the block adds to the residual
    mlp_out: str


_LLAMA_LIKE = ModuleLayout(layers="model.layers", attn_out="self_attn", mlp_out="mlp")
# Gemma 2/3 normalise each sub-block's output before adding it to the residual stream, so the
# tensor TransformerLens calls hook_attn_out/hook_mlp_out is the output of those norms.
_GEMMA2_LIKE = ModuleLayout(
    layers="model.layers", attn_out="post_attention_layernorm", mlp_out="post_feedforward_layernorm"
)

LAYOUTS: dict[str, ModuleLayout] = {
    "llama": _LLAMA_LIKE,
    "mistral": _LLAMA_LIKE,
    "qwen2": _LLAMA_LIKE,
    "qwen3": _LLAMA_LIKE,
    "gemma": _LLAMA_LIKE,
    "gemma2": _GEMMA2_LIKE,
    "gemma3_text": _GEMMA2_LIKE,
    "gpt2": ModuleLayout(layers="transformer.h", attn_out="attn", mlp_out="mlp"),
    "gpt_neox": ModuleLayout(layers="gpt_neox.layers", attn_out="attention", mlp_out="mlp"),
}


def layout_for(model_type: str) -> ModuleLayout:
    try:
        return LAYOUTS[model_type]
    except KeyError:
        raise SaeevalError(
            f"model type {model_type!r} is not supported; supported families: "
            f"{', '.join(sorted(LAYOUTS))}"
        ) from None


def _get(root: nn.Module, dotted: str) -> nn.Module:
    module = root
    for part in dotted.split("."):
        module = getattr(module, part)
    return module


def decoder_blocks(model: nn.Module, model_type: str) -> nn.ModuleList:
    return _get(model, layout_for(model_type).layers)  # type: ignore[return-value]


# A hook function receives the activation tensor and returns a replacement (or None to keep it).
HookFn = Callable[[torch.Tensor], "torch.Tensor | None"]


def _replace_first(output, new: torch.Tensor):
    if isinstance(output, tuple):
        return (new, *output[1:])
    return new


@contextmanager
def attach(model: nn.Module, model_type: str, hook: HookPoint, fn: HookFn) -> Iterator[None]:
    """Run `fn` on the tensor at `hook` during forward passes inside this context."""
    blocks = decoder_blocks(model, model_type)
    if not 0 <= hook.layer < len(blocks):
        raise SaeevalError(
            f"hook {hook.name!r} names layer {hook.layer}, but the model has layers "
            f"0..{len(blocks) - 1}"
        )
    block = blocks[hook.layer]
    layout = layout_for(model_type)

    if hook.kind == "hook_resid_pre":
        # The residual stream entering a block is that block's first input.
        def pre_hook(module, args, kwargs):
            if args:
                new = fn(args[0])
                if new is not None:
                    return (new, *args[1:]), kwargs
            else:
                new = fn(kwargs["hidden_states"])
                if new is not None:
                    kwargs = {**kwargs, "hidden_states": new}
                    return args, kwargs
            return None

        handle = block.register_forward_pre_hook(pre_hook, with_kwargs=True)
    else:
        target = {
            "hook_resid_post": block,
            "hook_attn_out": _get(block, layout.attn_out),
            "hook_mlp_out": _get(block, layout.mlp_out),
        }[hook.kind]

        def post_hook(module, args, output):
            tensor = output[0] if isinstance(output, tuple) else output
            new = fn(tensor)
            return None if new is None else _replace_first(output, new)

        handle = target.register_forward_hook(post_hook)
    try:
        yield
    finally:
        handle.remove()
