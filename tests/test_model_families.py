"""Each model family's hook layout, checked against TransformerLens and against the model itself.

SAELens and SAEBench name hook points the TransformerLens way, so a hook means what
TransformerLens computes there. A twin (TransformerLens' own config and weight conversion for the
family, holding the same weights) must therefore agree with our adapter on the logits, on every
hook's activations and on every splice. The twin only proves that if the family's distinctive
features (soft caps, sliding windows, partial rotary, parallel attention) act on the tiny models,
so a test switches each one off in the twin and sees the agreement break. TransformerLens
implements every family the adapter supports, the gemma3_text and qwen3 layouts included
(query/key norms, a local rotary base), so all get these checks. Independently of
TransformerLens, each hook must also carry what the Hugging Face modules compute.
"""

from __future__ import annotations

import functools
import math

import pytest
import torch
import transformers
from reference_models import TWIN_FAMILIES, gemma_config_fields, hooked_transformer_twin
from tiny_models import FAMILIES, tiny_model
from transformer_lens import HookedTransformerConfig
from transformer_lens.loading_from_pretrained import convert_hf_model_config

from saeeval.models.hook_points import decoder_blocks

KINDS = ["hook_resid_pre", "hook_attn_out", "hook_mlp_out", "hook_resid_post"]
# Two float32 implementations of the same arithmetic differ by rounding that grows with the size
# of the values (Gemma's residual stream is ~10 wide here, scaled by sqrt(d_model) on entry):
# allow 32 float32 epsilons of the largest value compared (measured: 3 to 8 on the Llama-like
# families, GPT-2 and NeoX; up to 11 on Gemma-2 and 16 on Gemma-3, four or six norms per block).
ROUNDING_EPS = 32 * torch.finfo(torch.float32).eps


@functools.cache
def _model(family: str):
    return tiny_model(family)


@functools.cache
def _twin(family: str):
    return hooked_transformer_twin(_model(family).model)


def _tokens(n: int = 4, context: int = 32) -> torch.Tensor:
    tokens = torch.randint(4, 100, (n, context), generator=torch.Generator().manual_seed(0))
    tokens[:, 0] = 0  # BOS
    return tokens


def _max_difference(got: torch.Tensor, want: torch.Tensor) -> float:
    """The largest difference, in units of the largest reference value."""
    return ((got - want).abs().max() / want.abs().max()).item()


def _hooks(model) -> list[str]:
    return [f"blocks.{layer}.{kind}" for layer in range(model.n_layers) for kind in KINDS]


@pytest.mark.parametrize("family", TWIN_FAMILIES)
def test_logits_and_every_hook_agree_with_the_twin(family):
    model, twin, tokens = _model(family), _twin(family), _tokens()
    names = _hooks(model)
    twin_logits, cache = twin.run_with_cache(tokens, names_filter=names)
    assert _max_difference(model.logits(tokens), twin_logits) <= ROUNDING_EPS
    ours = model.activations(tokens, names)
    for name in names:
        assert _max_difference(ours[name], cache[name]) <= ROUNDING_EPS, name


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("family", TWIN_FAMILIES)
def test_splicing_at_each_hook_agrees_with_the_twin(family, kind):
    """An edit at a hook changes the rest of the pass as TransformerLens' edit there does."""
    model, twin, tokens = _model(family), _twin(family), _tokens()
    hook = f"blocks.1.{kind}"

    def edit(x: torch.Tensor) -> torch.Tensor:
        return 0.5 * x + 0.1

    spliced = model.logits(tokens, hook, edit)
    expected = twin.run_with_hooks(tokens, fwd_hooks=[(hook, lambda a, hook: edit(a))])
    assert _max_difference(spliced, expected) <= ROUNDING_EPS
    assert _max_difference(spliced, model.logits(tokens)) > 1e-3  # the edit did something


def _unscaled_embeddings(twin) -> None:
    with torch.no_grad():
        twin.embed.W_E.div_(math.sqrt(twin.cfg.d_model))


# Each family's distinctive features, switched off one at a time (a config field of the twin, or
# an edit of its weights); the tiny models are sized so that every one of them changes the logits.
FEATURES_OFF = [
    ("gemma2", "logit soft-cap", {"output_logits_soft_cap": -1.0}),
    ("gemma2", "attention soft-cap", {"attn_scores_soft_cap": -1.0}),
    ("gemma2", "sliding window", {"window_size": 4096}),
    ("gemma2", "query_pre_attn_scalar", {"attn_scale": 4.0}),  # sqrt(head_dim) instead
    ("gemma2", "embedding scale", _unscaled_embeddings),
    ("gemma3_text", "sliding window", {"window_size": 4096}),
    ("gemma3_text", "local rotary base", {"rotary_base_local": None}),
    ("gemma3_text", "query_pre_attn_scalar", {"attn_scale": 4.0}),
    ("gemma3_text", "embedding scale", _unscaled_embeddings),
    ("gpt_neox", "parallel attention and MLP", {"parallel_attn_mlp": False}),
    ("gpt_neox", "partial rotary", {"rotary_dim": 16}),  # the whole head instead of a quarter
    ("gpt2", "gelu_new", {"act_fn": "gelu"}),
]


@pytest.mark.parametrize(
    ("family", "off"),
    [(f, off) for f, _, off in FEATURES_OFF],
    ids=[f"{f}-{n}" for f, n, _ in FEATURES_OFF],
)
def test_each_distinctive_feature_acts_on_the_tiny_model(family, off):
    model, tokens = _model(family), _tokens()
    if callable(off):
        twin = hooked_transformer_twin(model.model)
        off(twin)
    else:
        twin = hooked_transformer_twin(model.model, **off)
    # Ten times the rounding bound: without the feature the twin is another model (the smallest
    # effect, gelu against gelu_new, measures 37 times; every other one over 9,000 times).
    assert _max_difference(twin(tokens), model.logits(tokens)) > 10 * ROUNDING_EPS


# Published checkpoints' Hugging Face configs (what their config.json sets beyond the defaults,
# which are gemma-2-2b's), against the tables TransformerLens keeps for them by name.
GEMMA_CHECKPOINTS = {
    "google/gemma-2-2b": ("Gemma2Config", {}),
    "google/gemma-2-9b": (
        "Gemma2Config",
        dict(
            hidden_size=3584,
            intermediate_size=14336,
            num_hidden_layers=42,
            num_attention_heads=16,
            num_key_value_heads=8,
        ),
    ),
    "google/gemma-2-27b": (
        "Gemma2Config",
        dict(
            hidden_size=4608,
            intermediate_size=36864,
            num_hidden_layers=46,
            num_attention_heads=32,
            num_key_value_heads=16,
            head_dim=128,
            query_pre_attn_scalar=144,
        ),
    ),
    "google/gemma-3-1b-pt": (
        "Gemma3TextConfig",
        dict(
            hidden_size=1152,
            intermediate_size=6912,
            num_hidden_layers=26,
            num_attention_heads=4,
            num_key_value_heads=1,
            sliding_window=512,
            vocab_size=262144,
            max_position_embeddings=32768,
        ),
    ),
}


@pytest.mark.parametrize("checkpoint", GEMMA_CHECKPOINTS)
def test_gemma_twin_config_is_transformer_lens_table_for_published_checkpoints(checkpoint):
    """TransformerLens configures Gemma by checkpoint name; the twin derives the same config from
    the Hugging Face config, so it also holds for the tiny models (and any other size)."""
    config_class, fields = GEMMA_CHECKPOINTS[checkpoint]
    hf_config = getattr(transformers, config_class)(**fields)
    table = convert_hf_model_config(checkpoint)  # read from the table: no hub access
    table.pop("tokenizer_name")
    expected = HookedTransformerConfig(**table)
    assert HookedTransformerConfig(**gemma_config_fields(hf_config)) == expected


# -- without TransformerLens: the hooks carry what the Hugging Face modules compute -------------


def _mlp_write_out(family: str, block, resid_pre, attn_out) -> torch.Tensor:
    """What block's MLP adds to the residual stream, recomputed from the block's own modules."""
    if family == "gpt2":
        return block.mlp(block.ln_2(resid_pre + attn_out))
    if family == "gpt_neox":  # parallel: the MLP reads the block's input, not attention's output
        return block.mlp(block.post_attention_layernorm(resid_pre))
    if family.startswith("gemma"):  # normalised before and after
        mlp_in = block.pre_feedforward_layernorm(resid_pre + attn_out)
        return block.post_feedforward_layernorm(block.mlp(mlp_in))
    return block.mlp(block.post_attention_layernorm(resid_pre + attn_out))


def _final_norm(model):
    hf = model.model
    if model.model_type == "gpt2":
        return hf.transformer.ln_f
    if model.model_type == "gpt_neox":
        return hf.gpt_neox.final_layer_norm
    return hf.model.norm


@pytest.mark.parametrize("family", FAMILIES)
def test_mlp_out_is_the_mlp_write_out_and_the_last_resid_post_precedes_the_final_norm(family):
    """With hook_resid_pre/post pinned to Hugging Face's hidden states and the block sum checked
    in test_models.py, this pins hook_attn_out too (the rest of what the block adds)."""
    model, tokens = _model(family), _tokens(2, 16)
    acts = model.activations(tokens, _hooks(model))
    blocks = decoder_blocks(model.model, model.model_type)
    with torch.no_grad():
        for layer, block in enumerate(blocks):
            pre, attn, mlp = (acts[f"blocks.{layer}.{kind}"] for kind in KINDS[:3])
            recomputed = _mlp_write_out(family, block, pre, attn)
            torch.testing.assert_close(mlp, recomputed, rtol=0, atol=0)
        hidden = model.model(input_ids=tokens, output_hidden_states=True).hidden_states
        last = acts[f"blocks.{model.n_layers - 1}.hook_resid_post"]
        # Hugging Face's last hidden state is normalised; hook_resid_post is the norm's input.
        torch.testing.assert_close(_final_norm(model)(last), hidden[-1], rtol=0, atol=0)
        assert not torch.allclose(last, hidden[-1])
