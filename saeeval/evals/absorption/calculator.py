"""Feature absorption for one letter, from activations at the word position (SAEBench's rules).

For each word the letter probe detects, with p the probe's unit direction and x the activation:
- P = x . p is how much of the letter the model's activation carries;
- each latent j contributes f_j * cos(p, W_dec[j]) (its "probe projection");
- M is the main latents' total; candidate absorbers are other latents aligned with the probe
  (cosine >= 0.1) and contributing positively; T is the total of the (up to 3) largest.
- absorption fraction: 0 if the main latents account for P or the candidates explain under 40%
  of P; 1 if the main latents contribute nothing; else min(T, P - M) / (min(T, P - M) + M).
- full absorption: no main latent fires, the latent with the largest projection has cosine
  >= 0.025 with the probe and carries at least 40% of P.
SAEBench divides by P before checking its sign and fails on P = 0; here a word with P <= 0 (which
the reference could only give 0 or a crash) gets fraction 0 and is not full absorption.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from saeeval.evals.working_set import rows_within_budget

FULL_ABSORPTION_COS = 0.025
ABSORPTION_FRACTION_COS = 0.1
PROJECTION_PROPORTION = 0.4
MAX_ABSORBING_LATENTS = 3
TOP_FEATURES = 10
FIRING_EPS = 1e-8


@dataclass
class LetterAbsorption:
    absorption_fraction: list[float]
    is_full_absorption: list[bool]


def decoder_cosines(W_dec: torch.Tensor, probe_direction: torch.Tensor) -> torch.Tensor:
    """[d_sae] float32 on the CPU: each latent's decoder direction's cosine with the probe's.
    Computed a block of latents at a time within the working-set budget (the same values: each
    is its own row's), since the whole product and its norms are weight-sized temporaries."""
    p = (probe_direction / probe_direction.norm()).to(W_dec.device, W_dec.dtype)
    block = rows_within_budget(W_dec.shape[1], dense_copies=3)
    cos = [
        torch.nn.functional.cosine_similarity(p, W_dec[start : start + block], dim=-1)
        for start in range(0, len(W_dec), block)
    ]
    return torch.cat(cos).float().cpu()


@torch.no_grad()
def letter_absorption(
    acts: torch.Tensor,
    latents: torch.Tensor,
    W_dec: torch.Tensor,
    probe_direction: torch.Tensor,
    main_feature_ids: list[int],
    cos: torch.Tensor | None = None,
) -> LetterAbsorption:
    """acts: [n_words, d_in] activations; latents: their SAE latents [n_words, d_sae]. Each word
    is judged on its own, so a letter's words may come a batch at a time, with the batches
    sharing `cos` (`decoder_cosines`)."""
    p = probe_direction / probe_direction.norm()
    if cos is None:
        cos = decoder_cosines(W_dec, probe_direction)
    projections = latents.float().cpu() * cos
    probe_projection = acts.to(latents.dtype) @ p.to(latents.dtype)
    main = torch.zeros(cos.numel(), dtype=torch.bool)
    main[main_feature_ids] = True
    candidates = (~main) & (cos >= ABSORPTION_FRACTION_COS)
    fractions, full = [], []
    for i in range(acts.shape[0]):
        proj = projections[i]
        P = probe_projection[i].item()
        M = proj[main_feature_ids].sum().item()
        absorbing = proj[candidates & (proj > 0)]
        T = absorbing.topk(min(MAX_ABSORBING_LATENTS, absorbing.numel())).values.sum().item()
        if P <= 0 or M >= P or T / P < PROJECTION_PROPORTION:
            fraction = 0.0
        elif M <= 0.0:
            fraction = 1.0
        else:
            absorbed = min(T, P - M)
            fraction = min(1.0, max(0.0, absorbed / (absorbed + M)))
        fractions.append(fraction)

        top = proj.topk(TOP_FEATURES).indices[0].item()
        top_activation, top_cos = latents[i, top].float().item(), cos[top].item()
        full.append(
            bool(
                (latents[i, main_feature_ids].float() < FIRING_EPS).all()
                and top_cos >= FULL_ABSORPTION_COS
                and P > 0
                and top_activation * top_cos / P >= PROJECTION_PROPORTION
            )
        )
    return LetterAbsorption(fractions, full)
