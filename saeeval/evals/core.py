"""Core eval: reconstruction, sparsity and how much of the model's behaviour survives the SAE.

Work is shared wherever it does not depend on the SAE:
- sparsity/variance statistics read the hook's activations from the cache (the reconstruction
  batches' from their cached references, the rest from the activation cache), so the model never
  runs for them once those are cached;
- the clean and zero-ablated runs (their losses, the ablation KL, the hook's activations, and the
  unembedding's input from which clean logits are rebuilt at a fraction of a forward pass) are
  cached per (model, hook, contexts); the clean pass reads the hook's activations on its way, so
  the reconstruction batches need no collection pass of their own;
- the spliced and zero-ablated passes start from the hook's activations and run only the layers
  after it (on residual-stream hooks), so each further SAE costs the layers after the hook, once
  per reconstruction batch.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import Any, ClassVar, Literal

import torch
from pydantic import Field

from saeeval import uncertainty
from saeeval.data import OFFLINE_CORPUS_NAME
from saeeval.evals.base import (
    ConfigContext,
    EvalConfig,
    EvalContext,
    HeadlineMetric,
    preset_config,
)
from saeeval.evals.core_metrics import (
    LatentStatistics,
    Reconstruction,
    SparsityVariance,
    latent_statistics,
    misc_metrics,
    per_token_kl,
    weight_based_feature_metrics,
)
from saeeval.evals.envelope import build_result
from saeeval.evals.working_set import in_batches, rows_within_budget
from saeeval.models import per_token_ce_loss
from saeeval.saes import LoadedSAE
from saeeval.tokens import token_mask

DETAIL_PRECISION = 10  # SAEBench rounds per-feature values to 10 decimals
# What a core-reference cache entry holds; bump when that changes (2: the hook's activations too).
REFERENCE_LAYOUT = 2


class CoreEvalConfig(EvalConfig):
    """SAEBench's `CoreEvalConfig`: same fields, same defaults.

    SAEBench's config class leaves every `compute_*` flag off, but its runner switches them all on
    (and its output schema requires every metric group), so they are fixed on here.
    """

    model_name: str = Field(
        "", description="the model the SAE is evaluated on (filled in from the loaded model)"
    )
    llm_dtype: str = Field(
        "float32", description="the model's dtype during the eval (filled in from --dtype)"
    )
    batch_size_prompts: int = Field(
        16, gt=0, description="contexts per batch for every model and SAE pass"
    )
    n_eval_reconstruction_batches: int = Field(
        10, gt=0, description="batches for the CE-loss and KL metrics (SAE spliced into the model)"
    )
    n_eval_sparsity_variance_batches: int = Field(
        1, gt=0, description="batches for L0/L1, explained variance, shrinkage and densities"
    )
    dataset: str = Field(
        "Skylion007/openwebtext",
        description="the text dataset read for activations (filled in from --dataset)",
    )
    context_size: int = Field(128, gt=1, description="tokens per context, BOS included")
    compute_kl: Literal[True] = Field(
        True, description="KL-divergence metrics (always on: the output schema requires them)"
    )
    compute_ce_loss: Literal[True] = Field(
        True, description="CE-loss metrics (always on: the output schema requires them)"
    )
    compute_l2_norms: Literal[True] = Field(
        True, description="L2-norm and shrinkage metrics (always on)"
    )
    compute_sparsity_metrics: Literal[True] = Field(
        True, description="L0 and L1 metrics (always on)"
    )
    compute_variance_metrics: Literal[True] = Field(
        True, description="explained variance, MSE and cosine similarity (always on)"
    )
    compute_featurewise_density_statistics: Literal[True] = Field(
        True, description="per-latent firing frequencies and means (always on)"
    )
    compute_featurewise_weight_based_metrics: Literal[True] = Field(
        True, description="per-latent encoder/decoder weight statistics (always on)"
    )
    exclude_special_tokens_from_reconstruction: bool = Field(
        False, description="leave BOS/EOS/PAD positions out of the reconstruction metrics"
    )
    verbose: bool = Field(
        False, description="kept for SAEBench compatibility; saeeval shows progress bars either way"
    )
    # saeeval's additions: where the numbers come from, and whether per-latent details are saved.
    size_preset: str = Field(
        "none",
        description=(
            "the size preset behind these settings: saebench (SAEBench's published results), "
            "offline (small CPU sizes) or none (this class's own defaults)"
        ),
    )
    dataset_fingerprint: str | None = Field(
        None, description="content hash of the dataset read (filled in by the eval)"
    )
    dataset_provenance: str | None = Field(
        None, description="where the dataset came from (filled in by the eval)"
    )
    dataset_part: str | None = Field(
        None,
        description="which of the dataset's documents were read: eval, the part held out from "
        "training (filled in by the eval)",
    )
    save_feature_details: bool = Field(
        False,
        description="write per-latent statistics into eval_result_details (large for wide SAEs)",
    )


# The settings SAEBench's runner (`sae_bench/custom_saes/run_all_evals_custom_saes.py`) used for
# every published core result, and the same with small sizes for a CPU on the built-in corpus.
PRESETS: dict[str, dict[str, Any]] = {
    "saebench": {
        "batch_size_prompts": 16,
        "n_eval_reconstruction_batches": 200,
        "n_eval_sparsity_variance_batches": 2000,
        "exclude_special_tokens_from_reconstruction": True,
    },
    "offline": {
        "batch_size_prompts": 16,
        "n_eval_reconstruction_batches": 4,
        "n_eval_sparsity_variance_batches": 16,
        "exclude_special_tokens_from_reconstruction": True,
    },
}


class CoreEval:
    name: ClassVar[str] = "core"
    eval_type_id: ClassVar[str] = "core"
    version: ClassVar[int] = 1  # bump when a change alters the numbers
    config_class: ClassVar[type[EvalConfig]] = CoreEvalConfig
    headline_metrics: ClassVar[tuple[HeadlineMetric, ...]] = (
        HeadlineMetric("l0", "L0", ("sparsity", "l0"), None),
        HeadlineMetric(
            "explained_variance",
            "explained variance",
            ("reconstruction_quality", "explained_variance"),
            True,
        ),
        HeadlineMetric(
            "ce_loss_score",
            "CE-loss score",
            ("model_performance_preservation", "ce_loss_score"),
            True,
        ),
        HeadlineMetric(
            "kl_div_score", "KL score", ("model_behavior_preservation", "kl_div_score"), True
        ),
        HeadlineMetric("cossim", "cosine sim.", ("reconstruction_quality", "cossim"), True),
        HeadlineMetric("l2_ratio", "L2 ratio", ("shrinkage", "l2_ratio"), None),
        HeadlineMetric("frac_alive", "alive fraction", ("misc_metrics", "frac_alive"), True),
    )

    presets: ClassVar[dict[str, dict[str, Any]]] = PRESETS

    def default_config(self, context: EvalContext | ConfigContext) -> CoreEvalConfig:
        return preset_config(
            CoreEvalConfig,
            PRESETS,
            context,
            # The text the eval will read (the eval fills in the exact name and hash it read).
            dataset=OFFLINE_CORPUS_NAME if context.offline else context.dataset_spec,
        )

    def run(
        self, context: EvalContext, saes: list[LoadedSAE], config: CoreEvalConfig
    ) -> Iterator[tuple[LoadedSAE, dict[str, Any]]]:
        groups: dict[tuple[str, bool], list[LoadedSAE]] = defaultdict(list)
        for loaded in saes:
            groups[(loaded.sae.hook_name, loaded.sae.cfg.prepend_bos)].append(loaded)
        for (hook, prepend_bos), group in groups.items():
            yield from self._run_group(context, hook, prepend_bos, group, config)

    def _run_group(
        self,
        context: EvalContext,
        hook: str,
        prepend_bos: bool,
        group: list[LoadedSAE],
        config: CoreEvalConfig,
    ):
        model, bs = context.model, config.batch_size_prompts
        n_sv = config.n_eval_sparsity_variance_batches * bs
        n_rc = config.n_eval_reconstruction_batches * bs
        contexts = context.contexts(config.context_size, max(n_sv, n_rc), prepend_bos)
        dataset = contexts.dataset
        config = config.model_copy(
            update={
                "dataset": dataset.name,
                "dataset_fingerprint": dataset.fingerprint,
                "dataset_provenance": dataset.provenance,
                "dataset_part": contexts.part,
            }
        )
        ignore = model.special_token_ids
        device = model.device
        n_sv_batches = config.n_eval_sparsity_variance_batches
        n_rc_batches = config.n_eval_reconstruction_batches

        # SAE-independent work, cached per (model, hook, contexts): for each reconstruction batch,
        # one clean pass that also reads the hook, and one zero-ablated pass.
        reference = self._references(context, hook, contexts, n_rc_batches, bs)
        # The hook's activations for the sparsity/variance batches the references do not hold.
        rest = None
        if n_sv > n_rc:
            rest = context.cache.activations(
                model, contexts, n_rc, n_sv - n_rc, [hook], bs, context.progress
            )[hook].batches(bs)

        stats = {id(s): SparsityVariance(s.sae.d_sae, device) for s in group}
        recon = {id(s): Reconstruction() for s in group}
        n_batches = max(n_sv_batches, n_rc_batches)
        task = self._task(context, f"core at {hook}", n_batches * bs * len(group))
        for index in range(n_batches):
            # Sparsity/variance reads the first n_sv contexts and reconstruction the first n_rc
            # (as SAEBench, which rewinds its data stream between the two).
            if index < n_rc_batches:
                ref = {k: v.to(device) for k, v in reference.load_chunk(index).items()}
                tokens, x = contexts.take(index * bs, bs).to(device), ref.pop("hook_acts")
            else:
                tokens, x = next(rest)
                tokens, x = tokens.to(device), x.to(device)
            mask = token_mask(tokens, ignore).to(device)
            counts_sparsity = index < n_sv_batches
            keep = mask if config.exclude_special_tokens_from_reconstruction else None
            for loaded in group:
                reconstruction, latents = _encode_in_pieces(
                    loaded.sae, x, mask if counts_sparsity else None
                )
                if counts_sparsity:
                    stats[id(loaded)].add(x, reconstruction, mask, latents)
                if index < n_rc_batches:
                    spliced = _with_reconstruction(x, reconstruction, keep)
                    sae_hidden = self._final_hidden_with(model, tokens, hook, spliced)
                    kl_with_sae, ce_with_sae, _ = losses_against_clean(
                        model, tokens, ref["final_hidden"], sae_hidden
                    )
                    recon[id(loaded)].add(
                        mask,
                        kl_div_with_sae=kl_with_sae,
                        kl_div_with_ablation=ref["kl_div_with_ablation"],
                        ce_loss_with_sae=ce_with_sae,
                        ce_loss_without_sae=ref["ce_loss_without_sae"],
                        ce_loss_with_ablation=ref["ce_loss_with_ablation"],
                    )
                self._advance(context, task, tokens.shape[0])
        self._done(context, task)

        for loaded in group:
            yield loaded, self._result(loaded, config, stats[id(loaded)], recon[id(loaded)])

    def _references(self, context: EvalContext, hook: str, contexts, n_batches: int, bs: int):
        """The cache entry holding, per reconstruction batch, the hook's activations, the
        unembedding's input (clean logits are rebuilt from it at a fraction of a pass), the clean
        and zero-ablated losses and the ablation KL; missing batches are computed here."""
        model = context.model
        reference = context.cache.entry(
            "core-reference",
            {
                "model": model.cache_identity,
                "hook": hook,
                "contexts": contexts.key,
                "batch": bs,
                "dtype": str(model.dtype),
                "layout": REFERENCE_LAYOUT,
            },
        )
        # An entry marked complete may hold fewer batches than this run needs.
        todo = [i for i in range(n_batches) if not reference.has_chunk(i)]
        task = self._task(context, f"core: clean and ablated passes at {hook}", len(todo) * bs)
        for index in todo:
            tokens = contexts.take(index * bs, bs).to(model.device)
            reference.save_chunk(index, self._reference_batch(model, hook, tokens))
            self._advance(context, task, tokens.shape[0])
        self._done(context, task)
        if not reference.complete:
            reference.mark_complete(
                {"model": model.name, "hook": hook, "contexts": contexts.key, "batches": n_batches}
            )
        return reference

    @classmethod
    def _reference_batch(cls, model, hook: str, tokens: torch.Tensor) -> dict[str, torch.Tensor]:
        """The SAE-independent part of one batch. The clean pass reads the hook on its way (so
        activation collection costs no pass of its own), and the ablated pass starts at the hook."""
        read: list[torch.Tensor] = []
        clean_hidden, _ = model.final_hidden(
            tokens, {hook: lambda activation: read.append(activation.detach())}
        )
        ablated_hidden = cls._final_hidden_with(model, tokens, hook, torch.zeros_like(read[0]))
        kl_with_ablation, ce_with_ablation, ce_clean = losses_against_clean(
            model, tokens, clean_hidden, ablated_hidden, with_clean_ce=True
        )
        return {
            "hook_acts": read[0],
            "final_hidden": clean_hidden,
            "ce_loss_without_sae": ce_clean,
            "ce_loss_with_ablation": ce_with_ablation,
            "kl_div_with_ablation": kl_with_ablation,
        }

    @staticmethod
    def _final_hidden_with(model, tokens: torch.Tensor, hook: str, activation: torch.Tensor):
        """The unembedding's input when the hook carries `activation`: computed from the hook on
        where a pass can start there, else a whole pass that replaces the activation on its way."""
        if model.pass_can_start_at(hook):
            return model.final_hidden_from_hook(tokens, hook, activation)
        return model.final_hidden(tokens, {hook: lambda _: activation})[0]

    @staticmethod
    def _result(
        loaded: LoadedSAE, config: CoreEvalConfig, stats: SparsityVariance, recon: Reconstruction
    ) -> dict[str, Any]:
        sae = loaded.sae
        sv, rc = stats.metrics(), recon.metrics()
        weights = weight_based_feature_metrics(
            sae.W_enc.float(), sae.W_dec.float(), sae.encoder_bias.float()
        )
        density = stats.feature_density()
        metrics = {
            "model_behavior_preservation": {
                k: rc[k] for k in ("kl_div_score", "kl_div_with_ablation", "kl_div_with_sae")
            },
            "model_performance_preservation": {
                k: rc[k]
                for k in (
                    "ce_loss_score",
                    "ce_loss_with_ablation",
                    "ce_loss_with_sae",
                    "ce_loss_without_sae",
                )
            },
            "reconstruction_quality": {
                k: sv[k]
                for k in ("explained_variance", "explained_variance_legacy", "mse", "cossim")
            },
            "shrinkage": {
                k: sv[k]
                for k in ("l2_norm_in", "l2_norm_out", "l2_ratio", "relative_reconstruction_bias")
            },
            "sparsity": {"l0": sv["l0"], "l1": sv["l1"]},
            "token_stats": {
                "total_tokens_eval_reconstruction": config.context_size
                * config.n_eval_reconstruction_batches
                * config.batch_size_prompts,
                "total_tokens_eval_sparsity_variance": config.context_size
                * config.n_eval_sparsity_variance_batches
                * config.batch_size_prompts,
            },
            "misc_metrics": misc_metrics(
                density, weights["max_encoder_cosine_sim"], weights["max_decoder_cosine_sim"]
            ),
        }
        details = []
        if config.save_feature_details:
            columns = {
                "feature_density": density,
                "consistent_activation_heuristic": stats.consistent_activation_heuristic(),
                **weights,
            }
            lists = {k: v.detach().cpu().tolist() for k, v in columns.items()}
            details = [
                {"index": i, **{k: round(v[i], DETAIL_PRECISION) for k, v in lists.items()}}
                for i in range(sae.d_sae)
            ]
        unstructured = {uncertainty.KEY: uncertainty.record(stats.units() | recon.units())}
        return build_result("core", config.model_dump(), metrics, details, loaded, unstructured)

    # Progress helpers: evals report progress only when the caller gave a progress display.
    @staticmethod
    def _task(context: EvalContext, description: str, total: int):
        return context.progress.add_task(description, total=total) if context.progress else None

    @staticmethod
    def _advance(context: EvalContext, task, amount: int) -> None:
        if task is not None:
            context.progress.advance(task, amount)

    @staticmethod
    def _done(context: EvalContext, task) -> None:
        if task is not None:
            context.progress.remove_task(task)


def _with_reconstruction(
    activation: torch.Tensor, reconstruction: torch.Tensor, keep_mask: torch.Tensor | None
) -> torch.Tensor:
    """The activation with the SAE's reconstruction in its place. With `keep_mask`
    (exclude_special_tokens_from_reconstruction), masked-out positions keep the original
    activation, as in the reference."""
    reconstruction = reconstruction.to(activation.dtype)
    if keep_mask is None:
        return reconstruction
    return torch.where(keep_mask[..., None], reconstruction, activation)


# Per token of a logits chunk: the clean and other logits and the log-softmax copies the losses
# make of them.
LOGIT_COPIES_PER_TOKEN = 6


def losses_against_clean(
    model,
    tokens: torch.Tensor,
    clean_hidden: torch.Tensor,
    other_hidden: torch.Tensor,
    with_clean_ce: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Per token: KL(clean || other) [batch, ctx], the other pass's next-token CE [batch, ctx - 1]
    and (with `with_clean_ce`) the clean pass's, from the unembedding's inputs of both passes.

    Logits are built a few contexts at a time, as many as fit the working-set budget, so no
    [batch, ctx, vocab] tensor exists whole (at a 49k vocabulary one batch of 16 x 128 is 400 MB
    a copy). Each context's logits and losses are what the whole batch would give."""
    tokens_in_budget = rows_within_budget(model.vocab_size, LOGIT_COPIES_PER_TOKEN)
    per_chunk = max(1, tokens_in_budget // tokens.shape[1])  # whole contexts
    kl, ce, clean_ce = [], [], []
    for start in range(0, len(tokens), per_chunk):
        rows = slice(start, start + per_chunk)
        clean = model.logits_from_final_hidden(clean_hidden[rows])
        other = model.logits_from_final_hidden(other_hidden[rows])
        kl.append(per_token_kl(clean, other))
        ce.append(per_token_ce_loss(other, tokens[rows]))
        if with_clean_ce:
            clean_ce.append(per_token_ce_loss(clean, tokens[rows]))
        del clean, other
    return torch.cat(kl), torch.cat(ce), torch.cat(clean_ce) if with_clean_ce else None


# Per encoded token: pre-activations, latents, and the masked copies `latent_statistics` makes.
DENSE_COPIES_PER_TOKEN = 4


def _encode_in_pieces(
    sae, x: torch.Tensor, mask: torch.Tensor | None = None
) -> tuple[torch.Tensor, LatentStatistics | None]:
    """The reconstruction of x [batch, ctx, d_in] and, given a mask, the `LatentStatistics` of its
    latents, encoded a few contexts at a time so that the [contexts, ctx, d_sae] latents stay
    within the working-set budget (whole contexts, because the statistics count contexts)."""
    per_context = rows_within_budget(sae.d_sae, DENSE_COPIES_PER_TOKEN) // max(1, x.shape[1])

    def encode(start: int, stop: int):
        latents, recon = sae.encode_decode(x[start:stop])
        summary = None if mask is None else latent_statistics(latents, mask[start:stop])
        return recon, summary

    pieces = list(in_batches(len(x), max(1, per_context), encode, "core SAE batch"))
    recon = torch.cat([recon for _, _, (recon, _) in pieces])
    if mask is None:
        return recon, None
    return recon, LatentStatistics.joined([summary for _, _, (_, summary) in pieces])
