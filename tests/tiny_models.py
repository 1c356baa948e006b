"""Tiny random language models built from configs in memory, one per supported family.

They share a character-level tokenizer (also built in memory) so that every code path that a real
model exercises (tokenising, hooks, splicing, logits) runs in milliseconds with no files.
"""

from __future__ import annotations

import string

import torch
import transformers
from tokenizers import Regex, Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from saeeval.models import ModelAdapter

SPECIALS = ["<bos>", "<eos>", "<pad>", "<unk>"]
VOCAB_SIZE = 128
D_MODEL = 64


def char_tokenizer() -> PreTrainedTokenizerFast:
    chars = [c for c in string.printable if c not in SPECIALS]
    vocab = {tok: i for i, tok in enumerate(SPECIALS + chars)}
    assert len(vocab) <= VOCAB_SIZE
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<bos>",
        eos_token="<eos>",
        pad_token="<pad>",
        unk_token="<unk>",
    )


# Gemma-2's distinctive features, sized so each one acts at this scale: soft caps below the
# largest attention score and logit of the tiny model, a sliding window shorter than the test
# contexts, and a query scale other than sqrt(head_dim) (as gemma-2-27b has).
GEMMA2_FEATURES = dict(
    final_logit_softcapping=1.5,
    attn_logit_softcapping=1.0,
    sliding_window=8,
    query_pre_attn_scalar=8,
)


def _config(family: str):
    common = dict(vocab_size=VOCAB_SIZE, bos_token_id=0, eos_token_id=1, pad_token_id=2)
    if family == "gpt2":
        # n_ctx: GPT-2's published config.json carries it, and TransformerLens reads it.
        return transformers.GPT2Config(
            n_embd=D_MODEL, n_layer=3, n_head=4, n_positions=256, n_ctx=256, **common
        )
    if family == "gpt_neox":
        return transformers.GPTNeoXConfig(
            hidden_size=D_MODEL,
            num_hidden_layers=3,
            num_attention_heads=4,
            intermediate_size=128,
            max_position_embeddings=256,
            rotary_pct=0.25,
            **common,
        )
    llama_like = dict(
        hidden_size=D_MODEL,
        intermediate_size=128,
        num_hidden_layers=3,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        **common,
    )
    if family == "llama":
        return transformers.LlamaConfig(tie_word_embeddings=True, **llama_like)
    if family == "qwen2":
        return transformers.Qwen2Config(**llama_like)
    if family == "mistral":
        return transformers.MistralConfig(**llama_like)
    if family == "qwen3":  # RMS norms on each head's queries and keys
        return transformers.Qwen3Config(head_dim=16, **llama_like)
    if family == "gemma2":
        return transformers.Gemma2Config(head_dim=16, **GEMMA2_FEATURES, **llama_like)
    if family == "gemma3_text":
        return transformers.Gemma3TextConfig(
            head_dim=16,
            query_pre_attn_scalar=8,
            sliding_window=8,
            layer_types=["sliding_attention", "full_attention", "sliding_attention"],
            rope_parameters={
                "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0},
                "full_attention": {"rope_type": "default", "rope_theta": 1000000.0},
            },
            **llama_like,
        )
    raise ValueError(family)


FAMILIES = ["llama", "gpt2", "gpt_neox", "qwen2", "qwen3", "mistral", "gemma2", "gemma3_text"]


def tiny_model(family: str = "llama", seed: int = 0) -> ModelAdapter:
    torch.manual_seed(seed)
    config = _config(family)
    if family == "gemma2":
        config._attn_implementation = "eager"  # sdpa cannot soft-cap attention scores
    model = transformers.AutoModelForCausalLM.from_config(config).eval()
    # Random init leaves logits nearly flat; a larger scale gives KL and CE something to see.
    with torch.no_grad():
        for param in model.parameters():
            if param.dim() == 2:
                param.mul_(3.0)
            elif family != "llama":
                # Norm weights and biases too (Hugging Face starts them at one and zero), so the
                # twins check their conversion (Gemma's 1 + w norms, GPT-NeoX's interleaved qkv
                # biases); Llama keeps them, as the other suites' tiny-Llama tests were sized on.
                param.add_(0.2 * torch.randn_like(param))
    return ModelAdapter(model, char_tokenizer(), name=f"tiny-{family}")
