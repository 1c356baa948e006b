"""SCR and TPP arithmetic: latent attributions, top-n selection, ablation, accuracies and scores.

Reproduces `sae_bench.evals.scr_and_tpp.main` from per-example statistics of ONE SAE encode pass
instead of re-running the SAE for every ablation.

The ablation identity. SAEBench ablates latents "keeping the SAE error": at every position
X' = decode(f with the ablated latents zeroed) + (X - decode(f)). For a decoder that is affine in
the latents, decode(f) = f @ W + b, this is exactly

    X' = X - f[:, ablated] @ W[ablated]            (at every position, masked ones included)

so the pooled ablated activation the probes read is

    pooled X' = (sum over all L positions of X  -  all_sum[:, ablated] @ W[ablated]) / count

where all_sum = the latents summed over ALL positions and count = the number of valid positions.
The reference applies the round trip at the zeroed BOS/PAD/EOS positions too and sums them: X = 0
there, but f(0) can be non-zero (e.g. a positive encoder bias), and those terms are included here
through all_sum. The identity needs an affine decoder: `decoder_matrix` refuses an SAE whose
architecture spec (`saeeval.saes.architectures`) says `decoder_is_affine` is False, and returns
the spec's `decoder_weights`, the matrix decode really multiplies by (unit-norm rows for TopK SAEs
with rescale_acts_by_decoder_norm). All architectures registered today decode affinely (they
differ only in the encoder). Runtime-normalised SAEs de-normalise each token
(x_hat * std + mu for layer_norm, x_hat / coeff for constant_norm_rescale), which scales that
token's decoder term; `sae_statistics.sae_statistics_of_texts` folds that per-token scale into
all_sum. (SAEBench itself cannot ablate such SAELens SAEs: their decode consumes the
normalisation state stored by encode, so its second decode call fails.) The identity is exact in
real arithmetic; in floating point the results agree with the reference to rounding.

Valid positions are those whose activation row sums to non-zero, as in the reference; masked
rows must already be zero.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch
from torch import Tensor, nn

from saeeval.data.classification import PAIRED_CLASS_KEYS
from saeeval.errors import SaeevalError
from saeeval.evals.probing.probes import one_vs_rest, one_vs_rest_rows, probe_accuracy
from saeeval.evals.probing.sae_statistics import SAEStatistics
from saeeval.evals.probing.sparse_rows import mean_difference_weights
from saeeval.saes import SAE, ArchitectureSpec, architecture_spec

SPURIOUS_PROBE = "male_professor / female_nurse"  # SCR's biased probe


def require_affine_decoder(sae: SAE) -> ArchitectureSpec:
    """The SAE's architecture spec, refusing SAEs the one-pass ablation identity does not hold
    for (decode not of the form f @ W + b)."""
    spec = architecture_spec(sae.cfg.architecture)
    if not spec.decoder_is_affine:
        raise SaeevalError(
            f"SCR/TPP cannot ablate a {spec.name} SAE: its decoder is not affine in the latents, "
            f"so ablating latents is not a subtraction through one decoder matrix"
        )
    return spec


def decoder_matrix(sae: SAE) -> Tensor:
    """The [F, D] matrix `decode` multiplies latents by (rows normalised for TopK SAEs that rescale
    activations by decoder norm). Ablation subtracts through this; attribution uses raw W_dec."""
    return require_affine_decoder(sae).decoder_weights(sae)


# -- attribution -------------------------------------------------------------------------------


@torch.no_grad()
def node_effects(
    latent_means: Mapping[str, Tensor],
    class_name: str,
    probe_weight: Tensor,
    W_dec: Tensor,
    generator: torch.Generator,
    scr: bool,
    act_dtype: torch.dtype | None = None,
) -> Tensor:
    """SAEBench's get_effects_per_class_precomputed_acts: one effect per latent, [F] float32.

    `latent_means` maps every class key to its examples' float32 mean latents
    (`SAEStatistics.mean_latents_fp32`), in the key order of the reference's activation dict: the
    probe set is drawn with `one_vs_rest` exactly as the reference draws it from the per-token
    dict (same first dimension, so the same permutations). Then
    diff = mean over positives - mean over negatives (float32 sums), cast to the activation dtype;
    dot = probe weight . W_dec rows (raw W_dec, as the reference; probe bias ignored).
    SCR: |diff * dot|. TPP: max(diff, 0) * dot, signed (only latents more active on the class).
    `act_dtype` defaults to the probe weight's dtype (the reference trains probes in it).
    """
    inputs, labels = one_vs_rest(latent_means, class_name, generator, paired=scr)
    inputs = inputs.to(torch.float32)

    def class_mean(rows: Tensor) -> Tensor:
        total = rows.sum(dim=0)
        return total / len(rows) if len(rows) > 0 else total  # an empty side keeps its zero sum

    diff = class_mean(inputs[labels == 1]) - class_mean(inputs[labels == 0])
    return _effects(diff, probe_weight, W_dec, scr, act_dtype)


def _effects(
    diff: Tensor, probe_weight: Tensor, W_dec: Tensor, scr: bool, act_dtype: torch.dtype | None
) -> Tensor:
    """node_effects from the float32 difference of class means: the attribution proper."""
    dtype = act_dtype or probe_weight.dtype
    diff = diff.to(dtype)
    weight = probe_weight.reshape(1, -1).to(dtype=dtype, device=diff.device)
    dot = (weight @ W_dec.T.to(dtype=dtype, device=diff.device)).squeeze(0)
    if not scr:
        diff = diff.clamp(min=0.0)
    effects = (diff * dot).to(torch.float32)
    return effects.abs() if scr else effects


@torch.no_grad()
def node_effects_from_statistics(
    stats: SAEStatistics,
    train_rows: Mapping[str, Tensor],
    class_name: str,
    probe_weight: Tensor,
    W_dec: Tensor,
    generator: torch.Generator,
    scr: bool,
) -> Tensor:
    """`node_effects` read from the per-text sums instead of per-text mean latents, for sums kept
    sparse: the same probe set (`one_vs_rest_rows` draws as `one_vs_rest` does), each side's
    mean as one weighted sum over texts. Equal to `node_effects` up to float32 summation order.
    `train_rows` maps class -> the texts (rows of `stats`) of its train set."""
    lengths = {key: len(rows) for key, rows in train_rows.items()}
    chosen, labels = one_vs_rest_rows(lengths, class_name, generator, paired=scr)
    texts = torch.cat([rows.cpu() for rows in train_rows.values()])[chosen]
    # An empty side keeps its zero sum, as in node_effects.
    diff = stats.weighted_mean_latents(mean_difference_weights(texts, labels, len(stats)))
    return _effects(diff, probe_weight, W_dec, scr, None)


def all_node_effects(
    latent_means: Mapping[str, Tensor],
    probes: Mapping[str, nn.Module],
    classes: Iterable[str],
    W_dec: Tensor,
    generator: torch.Generator,
    scr: bool,
) -> dict[str, Tensor]:
    """`node_effects` for each class in order, each with its own probe (SAEBench's
    get_all_node_effects_for_one_sae)."""
    return {
        name: node_effects(latent_means, name, probes[name].net.weight, W_dec, generator, scr)
        for name in classes
    }


@torch.no_grad()
def class_effects(
    stats: SAEStatistics,
    train_rows: Mapping[str, Tensor],
    probes: Mapping[str, nn.Module],
    classes: Iterable[str],
    W_dec: Tensor,
    generator: torch.Generator,
    scr: bool,
) -> dict[str, Tensor]:
    """Each class's `node_effects` from one SAE's statistics: read from the per-text sums when
    they are kept sparse (a wide SAE: never a dense [n_texts, d_sae] tensor), else from the
    per-text mean latents. `train_rows` maps class -> the texts (rows of `stats`) of its train
    set."""
    if stats.is_sparse:
        return {
            name: node_effects_from_statistics(
                stats, train_rows, name, probes[name].net.weight, W_dec, generator, scr
            )
            for name in classes
        }
    train_means = {key: stats.mean_latents_fp32(rows) for key, rows in train_rows.items()}
    return all_node_effects(train_means, probes, classes, W_dec, generator, scr)


def select_top_n(effects: Tensor, n: int) -> Tensor:
    """Boolean [F] mask of the latents to ablate: torch.topk over all effects with
    k = min(n, number of non-zero effects), as SAEBench's select_top_n_features.

    With signed (TPP) effects and fewer than k positive ones, zero-effect latents outrank the
    negative ones and are picked, ties broken by topk, as in the reference.
    """
    if n > effects.numel():
        raise ValueError(f"cannot select {n} of {effects.numel()} latents")
    k = min(n, int((effects != 0).sum()))
    mask = torch.zeros_like(effects, dtype=torch.bool)
    if k > 0:
        mask[torch.topk(effects, k).indices] = True
    return mask


# -- ablation and accuracies -------------------------------------------------------------------


def ablated_pooled(
    act_sum: Tensor, count: Tensor, ablated_sums: Tensor, ablated_decoder: Tensor
) -> Tensor:
    """Pooled activations with some latents zero-ablated (SAEBench's
    ablated_precomputed_activations), via the module docstring's identity:
    (act_sum - all_sum[:, ablated] @ W_dec[ablated]) / count, in float32, returned in act_sum's
    dtype. `ablated_sums` is all_sum[:, ablated] (`SAEStatistics.all_sum_columns`) and
    `ablated_decoder` the ablated rows of the matrix decode applies (`decoder_matrix`)."""
    removed = ablated_sums.to(torch.float32) @ ablated_decoder.to(
        device=ablated_sums.device, dtype=torch.float32
    )
    pooled = (act_sum.to(torch.float32) - removed.to(act_sum.device)) / count.to(torch.float32)[
        :, None
    ]
    return pooled.to(act_sum.dtype)


def probe_test_accuracies(
    probes: Mapping[str, nn.Module],
    classes: Iterable[str],
    pooled: Mapping[str, Tensor],
    batch_size: int,
    generator: torch.Generator,
    scr: bool,
) -> dict[str, float]:
    """SAEBench's get_probe_test_accuracy: each class's probe on a fresh probe set of its class.

    With `scr`, then (get_scr_probe_test_accuracy) for each class that is a paired key: one fresh
    paired probe set, on which every OTHER paired-key probe is evaluated, keyed
    "{other} probe on {class} data".
    """
    classes = list(classes)
    accuracies = {}
    for name in classes:
        x, y = one_vs_rest(pooled, name, generator, paired=scr)
        accuracies[name] = probe_accuracy(probes[name], x, y, batch_size)
    if scr:
        for name in classes:
            if name not in PAIRED_CLASS_KEYS:
                continue
            x, y = one_vs_rest(pooled, name, generator, paired=True)
            for other in PAIRED_CLASS_KEYS:
                if other != name:
                    accuracies[f"{other} probe on {name} data"] = probe_accuracy(
                        probes[other], x, y, batch_size
                    )
    return accuracies


# -- scores ------------------------------------------------------------------------------------


def scr_scores(
    class_accuracies: Mapping[str, Mapping[int, Mapping[str, float]]],
    clean: Mapping[str, float],
) -> dict[str, float]:
    """SAEBench's get_scr_plotting_dict.

    `class_accuracies[ablated class][n][measured key]` after ablating n latents; `clean` the
    accuracies without ablation. Direction 1 ablates the "male / female" latents and measures the
    biased probe on "professor / nurse" data; direction 2 the reverse. Score =
    (changed - original) / (clean - original), or 0 when clean - original < 0.001 (also when
    negative). `scr_metric_threshold_{n}` is the direction whose biased-probe clean accuracy is
    lower; it is absent when the two are equal, as in the reference.
    """
    dir1_acc = clean[f"{SPURIOUS_PROBE} probe on professor / nurse data"]
    dir2_acc = clean[f"{SPURIOUS_PROBE} probe on male / female data"]
    directions = {
        1: ("male / female", "professor / nurse"),
        2: ("professor / nurse", "male / female"),
    }
    results = {}
    for direction, (ablated, evaluated) in directions.items():
        biased_key = f"{SPURIOUS_PROBE} probe on {evaluated} data"
        clean_acc, original_acc = clean[evaluated], clean[biased_key]
        for n, accuracies in class_accuracies[ablated].items():
            if clean_acc - original_acc < 0.001:
                score = 0.0
            else:
                score = (accuracies[biased_key] - original_acc) / (clean_acc - original_acc)
            results[f"scr_dir{direction}_threshold_{n}"] = score
            if (direction == 1 and dir1_acc < dir2_acc) or (direction == 2 and dir1_acc > dir2_acc):
                results[f"scr_metric_threshold_{n}"] = score
    return results


def tpp_scores(
    class_accuracies: Mapping[str, Mapping[int, Mapping[str, float]]],
    clean: Mapping[str, float],
) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """SAEBench's create_tpp_plotting_dict: (means over classes, per-class metrics).

    For ablated class c and n latents: intended = clean[c] - acc[c][n][c]; unintended = mean over
    the other classes u of clean[u] - acc[c][n][u]; total = intended - unintended.
    """
    classes = list(clean)
    if any(" probe on " in name for name in classes):
        raise ValueError("TPP scores got SCR cross-probe accuracies")
    per_class = {}
    for name in classes:
        metrics = {}
        for n, accuracies in class_accuracies[name].items():
            intended = clean[name] - accuracies[name]
            others = [clean[other] - accuracies[other] for other in classes if other != name]
            unintended = sum(others) / len(others)
            metrics[f"tpp_threshold_{n}_total_metric"] = intended - unintended
            metrics[f"tpp_threshold_{n}_intended_diff_only"] = intended
            metrics[f"tpp_threshold_{n}_unintended_diff_only"] = unintended
        per_class[name] = metrics
    keys = next(iter(per_class.values())).keys()
    overall = {key: sum(m[key] for m in per_class.values()) / len(per_class) for key in keys}
    return overall, per_class


def average_over(runs: Iterable[Mapping[str, float]]) -> dict[str, float]:
    """Per-metric unweighted mean over the runs (datasets / SCR pairs) that report the metric, in
    first-seen key order (SAEBench's average_results_dictionaries)."""
    collected: dict[str, list[float]] = {}
    for metrics in runs:
        for key, value in metrics.items():
            collected.setdefault(key, []).append(value)
    return {key: sum(values) / len(values) for key, values in collected.items()}
