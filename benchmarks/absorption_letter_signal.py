"""Why absorption finds few letter-tracking latents offline: how much of the word activations'
variance lies along the first-letter directions, layer by layer, and how near any SAE latent
comes to those directions.

    python benchmarks/absorption_letter_signal.py --layers 2,4,6,9 [--sae RUN/sae ...]
        [--words-per-letter N]

Needs the test environment. On the embedded model, for each hook blocks.L.hook_resid_post, with
the absorption eval's own words, prompts and letter probe (its offline preset, read from the
activation cache when an eval has already run there):
- the letter probe's mean F1 over letters and its 26-way accuracy on the test words;
- the share of the centred word activations' variance that lies in the span of the 26 letter
  directions (the probe's weight rows, less their mean), next to the share of the top 25
  principal components: an SAE trained on reconstruction error spends its latents on the
  directions of large variance first;
- for each SAE given at that hook, per letter, the largest |cosine| between a latent's encoder
  direction and the letter's direction (median over letters), and the same for as many random
  unit directions: a latent that tracks a letter reads along its direction.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import torch

from saeeval.activations import ActivationCache
from saeeval.evals.absorption.eval import AbsorptionEval, LetterData
from saeeval.evals.absorption.words import LETTERS
from saeeval.evals.base import EvalContext
from saeeval.models import load_model
from saeeval.saes import load_sae


def letter_directions(data: LetterData) -> torch.Tensor:
    """[26, d] unit vectors: each letter's probe weights less the mean over letters."""
    weight = data.probe.weight.float()
    weight = weight - weight.mean(dim=0, keepdim=True)
    return weight / weight.norm(dim=1, keepdim=True)


def variance_shares(acts: torch.Tensor, directions: torch.Tensor) -> dict[str, float]:
    centred = acts.float() - acts.float().mean(dim=0, keepdim=True)
    total = float((centred**2).sum())
    basis, _ = torch.linalg.qr(directions.T)  # [d, 26]; rank 25 after removing the mean
    basis = basis[:, :25]
    singular = torch.linalg.svdvals(centred)
    return {
        "letter_span_share": float(((centred @ basis) ** 2).sum()) / total,
        "top25_pc_share": float((singular[:25] ** 2).sum()) / total,
    }


def best_cosines(reading: torch.Tensor, directions: torch.Tensor) -> list[float]:
    """Per letter, the largest |cosine| of any reading direction ([n, d]) with the letter's."""
    unit = reading.float() / reading.float().norm(dim=1, keepdim=True).clamp_min(1e-12)
    return (unit @ directions.T).abs().max(dim=0).values.tolist()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--layers", default="2,4,6,9")
    parser.add_argument("--sae", action="append", default=[], type=Path)
    parser.add_argument("--words-per-letter", type=int, help="default: the offline preset's")
    args = parser.parse_args()

    model = load_model("smollm2-135m", "cpu")
    context = EvalContext(model=model, cache=ActivationCache())
    config = AbsorptionEval().default_config(context)
    if args.words_per_letter is not None:
        config = config.model_copy(update={"max_words_per_letter": args.words_per_letter})
    saes = [(str(path), load_sae(path)) for path in args.sae]
    for layer in (int(x) for x in args.layers.split(",")):
        hook = f"blocks.{layer}.hook_resid_post"
        data = LetterData(context, hook, config)
        directions = letter_directions(data)
        f1 = [AbsorptionEval._probe_f1(data, letter) for letter in range(len(LETTERS))]
        row = {
            "hook": hook,
            "letter_probe_mean_f1": statistics.mean(f1),
            "letter_probe_accuracy": data.probe_accuracy,
            **variance_shares(data.train_acts, directions),
        }
        for name, loaded in saes:
            if loaded.sae.hook_name != hook:
                continue
            encoder = loaded.sae.W_enc.detach().T  # [d_sae, d]
            noise = torch.randn(encoder.shape, generator=torch.Generator().manual_seed(0))
            row[name] = {
                "median_best_cosine": statistics.median(best_cosines(encoder, directions)),
                "random_directions": statistics.median(best_cosines(noise, directions)),
            }
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
