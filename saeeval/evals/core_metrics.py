"""The arithmetic of SAEBench's core eval, separated from where the tensors come from.

Each function or accumulator here reproduces one step of the reference implementation
(`sae_bench.evals.core.main`) on tensors, including its quirks, because results are only
comparable with published SAEBench numbers if the definitions are identical:

- `mse` is each token's squared error divided by the number of valid tokens in its batch, then
  averaged over tokens (so it depends on the batch size).
- `explained_variance` uses E[||x||^2] - (mean over dims of E[x_d^2])^2 as the total variance, and
  `relative_reconstruction_bias` is a per-batch ratio averaged over batches.
- Feature density counts tokens; the "consistent activation heuristic" divides that count by the
  number of contexts in which the latent fired at all.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from saeeval.evals.working_set import rows_within_budget
from saeeval.uncertainty import UnitValues


def per_token_kl(
    clean_logits: torch.Tensor, new_logits: torch.Tensor, chunk: int = 4
) -> torch.Tensor:
    """KL(clean || new) at every position: [batch, ctx]. Chunked over the batch to bound memory."""
    out = []
    for clean, new in zip(clean_logits.split(chunk), new_logits.split(chunk), strict=True):
        log_p = torch.log_softmax(clean.float(), dim=-1)
        log_q = torch.log_softmax(new.float(), dim=-1)
        out.append((log_p.exp() * (log_p - log_q)).sum(dim=-1))
    return torch.cat(out)


@dataclass
class LatentStatistics:
    """What the sparsity statistics read of a batch's latents [batch, ctx, d_sae], so that the
    latents can be computed a few contexts at a time and dropped."""

    l0: torch.Tensor  # [valid tokens]: latents != 0 per valid token
    l1: torch.Tensor  # [valid tokens]: sum of the latents per valid token
    fires: torch.Tensor  # [d_sae]: valid tokens on which each latent is > 0
    contexts: torch.Tensor  # [d_sae]: contexts in which each latent is > 0 on a valid token

    @staticmethod
    def joined(parts: list[LatentStatistics]) -> LatentStatistics:
        """The statistics of consecutive groups of contexts, as one batch's."""
        return LatentStatistics(
            torch.cat([p.l0 for p in parts]),
            torch.cat([p.l1 for p in parts]),
            torch.stack([p.fires for p in parts]).sum(dim=0),
            torch.stack([p.contexts for p in parts]).sum(dim=0),
        )


@torch.no_grad()
def latent_statistics(latents: torch.Tensor, mask: torch.Tensor) -> LatentStatistics:
    """`LatentStatistics` of latents [batch, ctx, d_sae] at the positions `mask` [batch, ctx]."""
    f = latents.flatten(0, 1)[mask.flatten()]
    fired = ((latents * mask.unsqueeze(-1)) > 0).float()
    per_context = fired.sum(dim=1)
    return LatentStatistics(
        l0=(f != 0).sum(dim=-1).float(),
        l1=f.sum(dim=-1),
        fires=per_context.sum(dim=0),
        contexts=(per_context > 0).sum(dim=0).float(),
    )


class SparsityVariance:
    """Accumulates SAEBench's sparsity, variance, shrinkage and density statistics per batch."""

    def __init__(self, d_sae: int, device: torch.device):
        self.per_token: dict[str, list[torch.Tensor]] = {
            k: []
            for k in (
                "l2_norm_in",
                "l2_norm_out",
                "l2_ratio",
                "relative_reconstruction_bias",
                "l0",
                "l1",
                "explained_variance_legacy",
                "mse",
                "cossim",
            )
        }
        self.mean_sum_of_squares: list[torch.Tensor] = []
        self.mean_square_per_dim: list[torch.Tensor] = []
        self.mean_resid_sum_of_squares: list[torch.Tensor] = []
        self.feature_fires = torch.zeros(d_sae, device=device)
        self.feature_contexts = torch.zeros(d_sae, device=device)
        self.tokens = 0

    @torch.no_grad()
    def add(
        self, x: torch.Tensor, recon: torch.Tensor, mask: torch.Tensor, latents: LatentStatistics
    ) -> None:
        """x, recon: [batch, ctx, d_in]; mask: [batch, ctx]; `latents`: the batch's
        `latent_statistics` (computed from its latents, which may come in pieces)."""
        flat_mask = mask.flatten()
        x_in = x.flatten(0, 1)[flat_mask]
        out = recon.flatten(0, 1)[flat_mask]
        acc = self.per_token

        l2_in = x_in.norm(dim=-1)
        l2_out = out.norm(dim=-1)
        safe_in = l2_in.clone()
        safe_in[safe_in.abs() < 1e-4] = 1
        acc["l2_norm_in"].append(l2_in)
        acc["l2_norm_out"].append(l2_out)
        acc["l2_ratio"].append(l2_out / safe_in)
        # Equation 10 of arXiv:2404.16014, one value per batch.
        acc["relative_reconstruction_bias"].append(
            ((out.norm(dim=-1) ** 2).mean() / (x_in * out).sum(dim=-1).mean()).unsqueeze(0)
        )

        acc["l0"].append(latents.l0)
        acc["l1"].append(latents.l1)

        resid_ss = (x_in - out).pow(2).sum(dim=-1)
        acc["mse"].append(resid_ss / flat_mask.sum())
        batch_variance = (x_in - x_in.mean(dim=0)).pow(2).sum(dim=-1)
        acc["explained_variance_legacy"].append(1 - resid_ss / batch_variance)
        self.mean_sum_of_squares.append(x_in.pow(2).sum(dim=-1).mean(dim=0))
        self.mean_square_per_dim.append(x_in.pow(2).mean(dim=0))
        self.mean_resid_sum_of_squares.append(resid_ss.mean(dim=0))
        cos = (x_in / x_in.norm(dim=-1, keepdim=True)) * (out / out.norm(dim=-1, keepdim=True))
        acc["cossim"].append(cos.sum(dim=-1))

        self.feature_fires += latents.fires
        self.feature_contexts += latents.contexts
        self.tokens += int(mask.sum())

    def metrics(self) -> dict[str, float]:
        values = {k: torch.cat(v).mean().item() for k, v in self.per_token.items()}
        total_variance = (
            torch.stack(self.mean_sum_of_squares).mean(dim=0)
            - torch.cat(self.mean_square_per_dim).mean(dim=0) ** 2
        )
        residual_variance = torch.stack(self.mean_resid_sum_of_squares).mean(dim=0)
        values["explained_variance"] = (1 - residual_variance / total_variance).item()
        return values

    def units(self) -> dict[str, UnitValues]:
        """Per-batch values behind the headline metrics of this pass (see saeeval.uncertainty):
        token means as per-batch sums over token counts, explained variance from its terms."""
        ids = [f"batch {i}" for i in range(len(self.mean_resid_sum_of_squares))]
        counts = [float(len(v)) for v in self.per_token["l0"]]

        def token_mean(name: str) -> UnitValues:
            sums = [float(v.sum()) for v in self.per_token[name]]
            return UnitValues("batch", ids, {"numerator": sums, "denominator": counts}, "ratio")

        terms = {
            "residual": [float(v) for v in self.mean_resid_sum_of_squares],
            "sum_of_squares": [float(v) for v in self.mean_sum_of_squares],
            "mean_square": [float(v.mean()) for v in self.mean_square_per_dim],
        }
        return {
            "l0": token_mean("l0"),
            "explained_variance": UnitValues("batch", ids, terms, "explained_variance"),
            "cossim": token_mean("cossim"),
            "l2_ratio": token_mean("l2_ratio"),
        }

    def feature_density(self) -> torch.Tensor:
        return self.feature_fires / self.tokens

    def consistent_activation_heuristic(self) -> torch.Tensor:
        return self.feature_fires / self.feature_contexts


class Reconstruction:
    """Accumulates per-token KL and CE with the SAE spliced in, against clean and ablated runs."""

    def __init__(self):
        self.values: dict[str, list[torch.Tensor]] = {
            k: []
            for k in (
                "kl_div_with_sae",
                "kl_div_with_ablation",
                "ce_loss_with_sae",
                "ce_loss_without_sae",
                "ce_loss_with_ablation",
            )
        }

    def add(self, mask: torch.Tensor, **per_token: torch.Tensor) -> None:
        """Each value is [batch, ctx] (KL) or [batch, ctx - 1] (CE); masked like the reference."""
        for name, value in per_token.items():
            m = mask if value.shape[1] == mask.shape[1] else mask[:, :-1]
            self.values[name].append(value[m.to(value.device)])

    def metrics(self) -> dict[str, float]:
        v = {k: torch.cat(vals).mean().item() for k, vals in self.values.items()}
        v["kl_div_score"] = (v["kl_div_with_ablation"] - v["kl_div_with_sae"]) / v[
            "kl_div_with_ablation"
        ]
        v["ce_loss_score"] = (v["ce_loss_with_ablation"] - v["ce_loss_with_sae"]) / (
            v["ce_loss_with_ablation"] - v["ce_loss_without_sae"]
        )
        return v

    def units(self) -> dict[str, UnitValues]:
        """Per-batch sums behind the CE-loss and KL scores (each a ratio of token sums)."""
        batches = {k: [float(t.double().sum()) for t in vals] for k, vals in self.values.items()}
        ids = [f"batch {i}" for i in range(len(batches["ce_loss_with_sae"]))]

        def score(numerator: list[float], denominator: list[float]) -> UnitValues:
            columns = {"numerator": numerator, "denominator": denominator}
            return UnitValues("batch", ids, columns, "ratio")

        abl, sae, clean = (
            batches[k] for k in ("ce_loss_with_ablation", "ce_loss_with_sae", "ce_loss_without_sae")
        )
        kl_abl, kl_sae = batches["kl_div_with_ablation"], batches["kl_div_with_sae"]
        return {
            "ce_loss_score": score(
                [a - s for a, s in zip(abl, sae, strict=True)],
                [a - c for a, c in zip(abl, clean, strict=True)],
            ),
            "kl_div_score": score([a - s for a, s in zip(kl_abl, kl_sae, strict=True)], kl_abl),
        }


def max_cosine_similarity(vectors_DF: torch.Tensor, chunk: int | None = None) -> torch.Tensor:
    """For each column, its largest cosine similarity with any other column: [F].

    Each similarity is computed once: a chunk of `chunk` columns (by default as many as the
    working-set budget holds [chunk, F] similarities for) is compared with itself and every later
    column, and the block's maxima update its own columns (along rows) and the later ones (along
    columns). Half the products of comparing every column with all others; the values differ from
    that only by the rounding of matrix products of other shapes."""
    unit = torch.nn.functional.normalize(vectors_DF, p=2, dim=0)
    n = unit.shape[1]
    chunk = chunk or rows_within_budget(n, dense_copies=1)
    out = torch.full((n,), float("-inf"), dtype=unit.dtype, device=unit.device)
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        sims = unit[:, start:stop].T @ unit[:, start:]  # [chunk, n - start]
        rows = torch.arange(stop - start, device=unit.device)
        sims[rows, rows] = float("-inf")  # a column's similarity with itself
        out[start:stop] = torch.maximum(out[start:stop], sims.amax(dim=1))
        if stop < n:
            out[stop:] = torch.maximum(out[stop:], sims[:, stop - start :].amax(dim=0))
        del sims
    return out


@torch.no_grad()
def weight_based_feature_metrics(
    W_enc: torch.Tensor, W_dec: torch.Tensor, encoder_bias: torch.Tensor
) -> dict[str, torch.Tensor]:
    """Per-latent encoder norms, encoder/decoder cosine similarities and each latent's largest
    cosine similarity with another latent, as SAEBench computes them. The first two are computed
    a block of latents at a time (the same per-latent arithmetic), so no more than a block of
    normalised weights exists at once."""
    d_in, n = W_enc.shape
    block = rows_within_budget(d_in, dense_copies=4)  # latents whose four unit vectors fit
    encoder_norm, encoder_decoder_cosine_sim = [], []
    for start in range(0, n, block):
        enc, dec_T = W_enc[:, start : start + block], W_dec[start : start + block].T
        unit_enc = enc / enc.norm(dim=0, keepdim=True)
        unit_dec = dec_T / dec_T.norm(dim=0, keepdim=True)
        encoder_norm.append(enc.norm(dim=-2))
        encoder_decoder_cosine_sim.append(
            torch.nn.functional.cosine_similarity(unit_dec.T, unit_enc.T)
        )
        del unit_enc, unit_dec
    return {
        "encoder_bias": encoder_bias,
        "encoder_norm": torch.cat(encoder_norm),
        "encoder_decoder_cosine_sim": torch.cat(encoder_decoder_cosine_sim),
        "max_encoder_cosine_sim": max_cosine_similarity(W_enc),
        "max_decoder_cosine_sim": max_cosine_similarity(W_dec.T),
    }


def misc_metrics(
    feature_density: torch.Tensor, max_encoder_cos: torch.Tensor, max_decoder_cos: torch.Tensor
) -> dict[str, float]:
    density = feature_density.float()
    total = density.sum()

    def share_above(threshold: float) -> float:
        return (density[density > threshold].sum() / total).item() if total > 0 else 0.0

    return {
        "average_max_encoder_cosine_sim": max_encoder_cos.float().mean().item(),
        "average_max_decoder_cosine_sim": max_decoder_cos.float().mean().item(),
        "frac_alive": (density > 0).float().mean().item(),
        "freq_over_1_percent": (density > 0.01).float().mean().item(),
        "freq_over_10_percent": (density > 0.1).float().mean().item(),
        "normalized_freq_over_1_percent": share_above(0.01),
        "normalized_freq_over_10_percent": share_above(0.1),
    }
