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
    if tokenizer is not None and not tokenizer.name_or_path:
        # TransformerLens reloads the tokenizer by path, so an in-memory one goes to disk first.
        import tempfile

        from transformers import AutoTokenizer

        folder = tempfile.mkdtemp(prefix="twin-tokenizer-")
        tokenizer.save_pretrained(folder)
        tokenizer = AutoTokenizer.from_pretrained(folder)
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
