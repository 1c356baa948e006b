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


def _config(family: str):
    common = dict(vocab_size=VOCAB_SIZE, bos_token_id=0, eos_token_id=1, pad_token_id=2)
    if family == "gpt2":
        return transformers.GPT2Config(
            n_embd=D_MODEL, n_layer=3, n_head=4, n_positions=256, **common
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
    if family == "gemma2":
        return transformers.Gemma2Config(
            head_dim=16, final_logit_softcapping=30.0, attn_logit_softcapping=50.0, **llama_like
        )
    raise ValueError(family)


FAMILIES = ["llama", "gpt2", "gpt_neox", "qwen2", "mistral", "gemma2"]


def tiny_model(family: str = "llama", seed: int = 0) -> ModelAdapter:
    torch.manual_seed(seed)
    config = _config(family)
    if family == "gemma2":
        config._attn_implementation = "eager"
    model = transformers.AutoModelForCausalLM.from_config(config).eval()
    # Random init leaves logits nearly flat; a larger scale gives KL and CE something to see.
    with torch.no_grad():
        for param in model.parameters():
            if param.dim() == 2:
                param.mul_(3.0)
    return ModelAdapter(model, char_tokenizer(), name=f"tiny-{family}")
