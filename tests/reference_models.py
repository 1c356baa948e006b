"""TransformerLens twins of our Hugging Face models, so SAEBench's reference code can run on them.

SAEBench's core eval only accepts TransformerLens models. TransformerLens builds a model from a
config and a Hugging Face state dict without touching the hub, so we give it the very weights our
adapter runs (every family the adapter supports: Llama, Mistral, Qwen2/3, Gemma-2/3, GPT-2,
GPT-NeoX/Pythia), converted by its own functions, and compare the two on identical inputs.
"""

from __future__ import annotations

import copy
import math
import tempfile

import torch
from transformer_lens import HookedTransformer, HookedTransformerConfig
from transformer_lens.loading_from_pretrained import convert_hf_model_config
from transformer_lens.pretrained.weight_conversions import (
    convert_gemma_weights,
    convert_gpt2_weights,
    convert_llama_weights,
    convert_mistral_weights,
    convert_neox_weights,
    convert_qwen2_weights,
    convert_qwen3_weights,
)

# How TransformerLens turns each family's Hugging Face weights into its own.
WEIGHT_CONVERSIONS = {
    "llama": convert_llama_weights,
    "gemma2": convert_gemma_weights,
    "gemma3_text": convert_gemma_weights,
    "gpt2": convert_gpt2_weights,
    "gpt_neox": convert_neox_weights,
    "qwen2": convert_qwen2_weights,
    "qwen3": convert_qwen3_weights,
    "mistral": convert_mistral_weights,
}
TWIN_FAMILIES = tuple(WEIGHT_CONVERSIONS)


def _llama_config(c) -> dict:
    head_dim = getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads
    rope = getattr(c, "rope_parameters", None) or {}
    return dict(
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
    )


def gemma_config_fields(c) -> dict:
    """TransformerLens picks a Gemma-2/3 config by checkpoint name (google/gemma-2-2b, ...), from
    a table; this fills the same fields from the Hugging Face config, so any size works."""
    gemma3 = c.model_type == "gemma3_text"
    rope = c.rope_parameters or {}
    cfg = dict(
        d_model=c.hidden_size,
        d_head=c.head_dim,
        n_heads=c.num_attention_heads,
        n_key_value_heads=c.num_key_value_heads,
        d_mlp=c.intermediate_size,
        n_layers=c.num_hidden_layers,
        n_ctx=min(c.max_position_embeddings, 8192),
        eps=c.rms_norm_eps,
        d_vocab=c.vocab_size,
        act_fn=c.hidden_activation,
        initializer_range=c.initializer_range,
        normalization_type="RMS",
        positional_embedding_type="rotary",
        rotary_dim=c.head_dim,
        rotary_adjacent_pairs=False,
        use_attn_scale=True,
        # Scores are divided by sqrt(query_pre_attn_scalar), not sqrt(d_head) (gemma-2-27b: 12).
        attn_scale=math.sqrt(c.query_pre_attn_scalar),
        use_local_attn=True,
        window_size=c.sliding_window,
        attn_types=["local" if t == "sliding_attention" else "global" for t in c.layer_types],
        gated_mlp=True,
        final_rms=True,
        use_normalization_before_and_after=True,
        original_architecture="Gemma3ForCausalLM" if gemma3 else "Gemma2ForCausalLM",
        # Gemma-2 soft-caps attention scores and logits (tanh); Gemma-3 caps neither (None).
        attn_scores_soft_cap=c.attn_logit_softcapping or -1.0,
        output_logits_soft_cap=c.final_logit_softcapping or -1.0,
    )
    if gemma3:  # query/key norms, and a rotary base of its own on sliding-window layers
        cfg.update(
            use_qk_norm=True,
            rotary_base=rope["full_attention"]["rope_theta"],
            rotary_base_local=rope["sliding_attention"]["rope_theta"],
        )
    else:
        cfg["rotary_base"] = rope.get("rope_theta", 10000.0)
    return cfg


def _converted_config(hf_model) -> dict:
    """TransformerLens' own conversion of a Hugging Face config (GPT-2, GPT-NeoX, Qwen2/3,
    Mistral), which it reads from a model folder and dispatches on the architecture named there."""
    c = copy.deepcopy(hf_model.config)
    c.architectures = [type(hf_model).__name__]  # unset on a model built from a config
    with tempfile.TemporaryDirectory(prefix="twin-config-") as folder:
        c.save_pretrained(folder)
        cfg = convert_hf_model_config(folder)
    cfg.pop("tokenizer_name")  # the folder is gone; the twin gets our tokenizer instead
    cfg.pop("trust_remote_code", None)
    return cfg


def twin_config(hf_model, **overrides) -> HookedTransformerConfig:
    """The HookedTransformerConfig TransformerLens would build for this Hugging Face model
    (`overrides` replace fields, to switch a family's feature off in a test)."""
    c = hf_model.config
    if c.model_type not in WEIGHT_CONVERSIONS:
        raise ValueError(f"no TransformerLens twin for model type {c.model_type!r}")
    if c.model_type == "llama":
        fields = _llama_config(c)
    elif c.model_type in ("gemma2", "gemma3_text"):
        fields = gemma_config_fields(c)
    else:
        fields = _converted_config(hf_model)
    fields["dtype"] = next(hf_model.parameters()).dtype
    fields["device"] = "cpu"
    return HookedTransformerConfig(**{**fields, **overrides})


def hooked_transformer_twin(hf_model, tokenizer=None, **overrides) -> HookedTransformer:
    """A HookedTransformer holding `hf_model`'s weights, converted the way TransformerLens does."""
    cfg = twin_config(hf_model, **overrides)
    if tokenizer is not None and not tokenizer.name_or_path:
        # TransformerLens reloads the tokenizer by path while it builds the model, so an
        # in-memory one goes to disk for that long.
        from transformers import AutoTokenizer

        with tempfile.TemporaryDirectory(prefix="twin-tokenizer-") as folder:
            tokenizer.save_pretrained(folder)
            tokenizer = AutoTokenizer.from_pretrained(folder)
            model = HookedTransformer(cfg, tokenizer=tokenizer, move_to_device=False)
    else:
        model = HookedTransformer(cfg, tokenizer=tokenizer, move_to_device=False)
    state = WEIGHT_CONVERSIONS[hf_model.config.model_type](hf_model, cfg)
    missing, unexpected = model.load_state_dict(state, strict=False)
    # Left to the twin's own initialisation: buffers (causal masks, rotary tables) and biases the
    # family lacks (GPT-2's unembedding), which start at zero, as TransformerLens fills them.
    parameters = dict(model.named_parameters())
    unfilled = [k for k in missing if k in parameters and parameters[k].any()]
    assert not unexpected and not unfilled, (unfilled, unexpected)
    return model.eval()


def tokens_dataset(tokens: torch.Tensor):
    """Pre-tokenised contexts that SAELens' ActivationsStore reads row by row, in order.

    An iterable dataset, because on a map-style one the store switches on the `datasets` torch
    formatter, which fails to import beside the torchvision that sae-bench installs.
    """
    import datasets

    return datasets.Dataset.from_dict({"input_ids": tokens.tolist()}).to_iterable_dataset()


def reference_sae(folder):
    """The SAE as SAEBench sees it: SAELens' class, loaded from disk, then SAEBench's formatting."""
    from sae_bench.sae_bench_utils.general_utils import load_and_format_sae
    from sae_lens import SAE as SAELensSAE

    return load_and_format_sae("reference", SAELensSAE.load_from_disk(folder), "cpu")[1]


def reference_store(twin, sae, tokens: torch.Tensor, batch_size: int):
    """SAELens' ActivationsStore serving `tokens` as consecutive batches of `batch_size`."""
    from sae_lens.training.activations_store import ActivationsStore

    return ActivationsStore.from_sae(
        twin,
        sae,
        dataset=tokens_dataset(tokens),
        context_size=tokens.shape[1],
        store_batch_size_prompts=batch_size,
    )


def reference_core_config(batch_size, n_recon, n_sv, context_size, exclude_special=False):
    """SAEBench's core config with every metric switched on, as its runner does."""
    from sae_bench.evals.core.eval_config import CoreEvalConfig

    flags = (
        "kl",
        "ce_loss",
        "l2_norms",
        "sparsity_metrics",
        "variance_metrics",
        "featurewise_density_statistics",
        "featurewise_weight_based_metrics",
    )
    return CoreEvalConfig(
        batch_size_prompts=batch_size,
        n_eval_reconstruction_batches=n_recon,
        n_eval_sparsity_variance_batches=n_sv,
        context_size=context_size,
        exclude_special_tokens_from_reconstruction=exclude_special,
        **{f"compute_{flag}": True for flag in flags},
    )
