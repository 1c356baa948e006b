"""How much of each TPP class probe's signal do an SAE's top-n latents carry, and what else does
ablating them move?

    python benchmarks/tpp_signal_share.py --sae TRAINED/sae --sae RANDOM/sae [--preset P]

Needs the test environment. TPP ablates the n latents with the largest attribution to a class
probe (SAEBench's rule: the class's mean latent minus the other classes', times the latent's
decoder row along the probe) and counts how many test texts the probe then gets wrong. Every
figure is a share of the probe's separation (its weight times the difference between the class's
and the other classes' mean pooled activations, on the train texts):

- n=2 ... n=50: the top-n latents' attributions summed. Ablation removes about this much of the
  separation; the probe's accuracy moves only when it nears the class texts' median margin.
- own-10 / rest-10: how far ablating the top 10 lowers the logits of the class's own texts and of
  the other classes' texts, on average, computed as the eval ablates. SAEBench's ablation (which
  ours matches) zeroes latents at every position, padding included, so the latents an SAE fires
  on the zero vector are subtracted at each padding position too, and that lands in the text's
  pooled sum: pad-10 is that part, whatever the text's class, larger for shorter texts.

The random-direction SAE of `offline_discrimination.py` (`OUT/random-directions`) is the
baseline to read it against; SCR and TPP without the padding part are the evals with
`--set tpp.ablate_padding_positions=false` (and `scr.`), in `saeeval run` or that benchmark.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import torch

from saeeval.activations import ActivationCache
from saeeval.evals.base import EvalContext
from saeeval.evals.probing.ablation import class_effects, decoder_matrix, select_top_n
from saeeval.evals.probing.datasets import load_probing_data
from saeeval.evals.probing.sae_statistics import sae_statistics_of_texts
from saeeval.evals.probing.scr_tpp import TppEval
from saeeval.models import load_model
from saeeval.saes import load_sae

N_VALUES = (2, 10, 20, 50)


COLUMNS = {  # column: what it holds, each a share of the class probe's separation
    **{f"n={n}": f"attribution of the top {n} latents" for n in N_VALUES},
    "margin": "median margin of the class's own texts (what flips the median text)",
    "own-10": "logit the top-10 ablation takes off the class's own texts, on average",
    "rest-10": "the same on the other classes' texts",
    "pad-10": "the part of it that comes from padding positions, on average over all texts",
}


def class_rows(sae, data, probes, classes, config) -> tuple[list[dict], torch.Tensor]:
    """One row per class of `data` (the COLUMNS, and on how many texts the top 10 fire), and each
    text's number of valid positions."""
    stats = sae_statistics_of_texts(sae, data.activations)
    generator = data.generator(config.random_seed, 1)  # the eval's own attribution stream
    with torch.no_grad():
        effects = class_effects(
            stats, data.train_rows, probes, classes, sae.W_dec.detach(), generator, scr=False
        )
        train, _ = data.pooled_model_activations(sae.device)
        decoder = decoder_matrix(sae).detach().float()
        count = stats.count.float()[:, None]
        rows = []
        for name in classes:
            probe = probes[name]
            weight = probe.net.weight.reshape(-1).float()
            own = train[name].float()
            rest = torch.cat([acts for key, acts in train.items() if key != name]).float()
            separation = float((own.mean(0) - rest.mean(0)) @ weight)
            row = {"class": name}
            for n in N_VALUES:
                row[f"n={n}"] = float(effects[name][select_top_n(effects[name], n)].sum())
            row["margin"] = float(probe(own).median())
            # What ablating the top 10 takes off each text's logit, as the eval ablates: the
            # latents summed over all positions, padding included, over the valid count.
            top = select_top_n(effects[name], 10)
            along = decoder[top] @ weight.to(decoder.device)
            lowered = (stats.all_sum_columns(top) / count) @ along
            padding = (stats.padding_columns(top) / count) @ along
            others = torch.cat([r for key, r in data.train_rows.items() if key != name])
            row["own-10"] = float(lowered[data.train_rows[name]].mean())
            row["rest-10"] = float(lowered[others].mean())
            row["pad-10"] = float(padding.mean())
            for column in COLUMNS:
                row[column] /= separation
            if not stats.is_sparse:
                row["fire"] = float((stats.valid_sum[:, top] > 0).float().mean())
            rows.append(row)
    return rows, stats.count.float()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sae", action="append", required=True, type=Path)
    parser.add_argument("--preset", help="size preset (default: offline on the built-in data)")
    args = parser.parse_args()

    model = load_model("smollm2-135m", "cpu")
    context = EvalContext(model=model, cache=ActivationCache(), preset=args.preset)
    tpp = TppEval()
    config = tpp.default_config(context)
    saes = [(path, load_sae(path)) for path in args.sae]
    hook = saes[0][1].sae.hook_name
    print("Shares of each class probe's separation:")
    for column, meaning in COLUMNS.items():
        print(f"  {column:>7}: {meaning}")
    print("  fire: share of texts on which the top 10 latents fire")
    for name in config.dataset_names:
        data = load_probing_data(context, hook, name, config)
        classes = list(data.texts.train)
        probes, _ = tpp._model_side(context, hook, data, classes, config)
        print(f"\n{name} ({config.size_preset} preset)")
        shown = [*COLUMNS, "fire"]
        print(f"{'SAE':<30} {'class':<9}" + "".join(f"{c:>8}" for c in shown))
        for path, loaded in saes:
            rows, valid = class_rows(loaded.sae, data, probes, classes, config)
            # "fire" is left out for a wide SAE, whose latent sums are kept sparse.
            medians = {c: statistics.median(r[c] for r in rows) for c in shown if c in rows[0]}
            for row in [*rows, {"class": "median", **medians}]:
                values = "".join(f"{row.get(c, float('nan')):8.3f}" for c in shown)
                print(f"{str(path)[-30:]:<30} {row['class']:<9}{values}")
        length = config.context_length
        print(
            f"valid positions per text: median {float(valid.median()):.0f} of {length}, "
            f"{float((valid < length / 2).float().mean()):.0%} of texts under half"
        )


if __name__ == "__main__":
    main()
