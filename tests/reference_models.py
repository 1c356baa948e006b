"""TransformerLens twins of our Hugging Face models, so SAEBench's reference code can run on them.

SAEBench's core eval only accepts TransformerLens models. TransformerLens builds a Llama-family
model from a config and a Hugging Face state dict without touching the hub, so we give it the very
weights our adapter runs and compare the two implementations on identical inputs.
"""

from __future__ import annotations

import torch
from transformer_lens import HookedTransformer, HookedTransformerConfig
from transformer_lens.pretrained.weight_conversions.llama import convert_llama_weights


def hooked_transformer_twin(hf_model, tokenizer=None) -> HookedTransformer:
    c = hf_model.config
    assert c.model_type == "llama", "the twin is built for Llama-architecture models"
    head_dim = getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads
    rope = getattr(c, "rope_parameters", None) or {}
    cfg = HookedTransformerConfig(
        d_model=c.hidden_size,
        d_head=head_dim,
        n_heads=c.num_attention_heads,
        d_mlp=c.intermediate_size,
        n_layers=c.num_hidden_layers,
        n_ctx=min(c.max_position_embeddings, 2048),
        d_vocab=c.vocab_size,
        act_fn="silu",
        normalization_type="RMS",
        positional_embedding_type="rotary",
        rotary_dim=head_dim,
        final_rms=True,
        gated_mlp=True,
        n_key_value_heads=c.num_key_value_heads,
        eps=c.rms_norm_eps,
        rotary_base=int(rope.get("rope_theta", getattr(c, "rope_theta", 10000.0))),
        rotary_adjacent_pairs=False,
        original_architecture="LlamaForCausalLM",
        default_prepend_bos=True,
        tokenizer_prepends_bos=False,
        dtype=next(hf_model.parameters()).dtype,
    )
    model = HookedTransformer(cfg, tokenizer=tokenizer, move_to_device=False)
    model.load_state_dict(convert_llama_weights(hf_model, cfg), strict=False)
    return model.eval()


def tokens_dataset(tokens: torch.Tensor):
    """Pre-tokenised contexts that SAELens' ActivationsStore reads row by row, in order.

    An iterable dataset, because on a map-style one the store switches on the `datasets` torch
    formatter, which fails to import beside the torchvision that sae-bench installs.
    """
    import datasets

    return datasets.Dataset.from_dict({"input_ids": tokens.tolist()}).to_iterable_dataset()
