"""Where the latents an unlearning sweep clamps fire on the questions: which tokens, which sets.

    python benchmarks/unlearning_clamp_sites.py RESULT.json [RESULT.json ...] [--top 8]

Needs the test environment. Each RESULT is an unlearning result file written by `saeeval run`
(or `benchmarks/offline_discrimination.py`); its SAE is loaded from the path the file records
(`sae_lens_release_id`), its model, question sets and scoring from its `eval_config`. For every
sweep block (retain threshold, number of latents), the latents that block clamps are encoded on
every question of every set, as the eval shows them to the model (cloze: the prompt and each
choice; letter: the prompt in the identity ordering), and the script prints:
- per set, how many questions have a clamped latent firing anywhere a clamp can change the score
  (every position but BOS that feeds a scored prediction);
- the (token, latent) sites where they fire most, counted once per question; a site on the
  prompt's last token acts on the answer's first prediction directly.

A clamp changes the model only where its latent fires, so a latent that fires on the retain sets'
questions costs retain accuracy however rarely it fires on the retain text the selection reads.
All questions are counted, not only those the model knows.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import torch

from saeeval.data.unlearning import load_question_set
from saeeval.evals.unlearning.scoring import ALL_PERMUTATIONS, Observed, Scorer, observe_activations
from saeeval.models import load_model
from saeeval.saes import load_sae

BATCH = 64


@torch.inference_mode()
def firing_sites(model, scorer: Scorer, sae, qset, latents: list[int]):
    """Per question of `qset`: the (token, latent) pairs where one of `latents` fires at a
    position that can move the question's score, seen through the eval's own pass
    (`observe_activations`: BOS and each choice's last token left out)."""
    items = scorer.items(qset, range(len(qset)), [ALL_PERMUTATIONS[0]])
    ids = torch.tensor(latents, device=sae.device)
    sites: list[set[tuple[str, int]]] = [set() for _ in items]

    def observe(hook: str, seen: Observed) -> None:
        fired = (sae.encode(seen.acts.to(sae.device))[:, :, ids] > 0).cpu() & seen.feeds[:, :, None]
        for r, position, column in fired.nonzero().tolist():
            item = items[int(seen.rows[r])]
            # A choices batch holds each item's options in turn (the item's row repeated).
            tokens = item.prompt if seen.part == "prompt" else item.options[r % len(item.options)]
            sites[int(seen.rows[r])].add(
                (model.tokenizer.decode([tokens[position]]), latents[column])
            )

    observe_activations(model, scorer, items, BATCH, [sae.hook_name], observe)
    return sites


def report(path: Path, top: int) -> None:
    result = json.loads(path.read_text())
    config = result["eval_config"]
    loaded = load_sae(result["sae_lens_release_id"])
    sae = loaded.sae
    model = load_model(config["model_name"], "cpu", config.get("llm_dtype") or "float32")
    scorer = Scorer(model, config.get("scoring", "letter"))
    sets = {
        name: load_question_set(
            name,
            config["dataset_source"],
            config["wmdp_dataset"],
            config["mmlu_dataset"],
            config.get("max_questions"),
        )
        for name in config["dataset_names"]
    }
    blocks = {}
    for row in result["eval_result_details"]:
        blocks.setdefault((row["retain_threshold"], row["n_features"]), row["features"])
    clamped = sorted({f for features in blocks.values() for f in features})
    sites = {name: firing_sites(model, scorer, sae, qset, clamped) for name, qset in sets.items()}
    score = result["eval_result_metrics"]["unlearning"]["unlearning_score"]
    print(f"\n## {result['sae_lens_id']} ({path}): unlearning score {score:.3f}")
    for (threshold, n_features), features in blocks.items():
        if not features:
            continue
        print(f"\nretain threshold {threshold}, {n_features} latents: {features}")
        for name, per_question in sites.items():
            kept = [{s for s in q if s[1] in features} for q in per_question]
            counts = Counter(site for q in kept for site in q)
            common = ", ".join(f"{tok!r}/{lat}: {n}" for (tok, lat), n in counts.most_common(top))
            print(
                f"  {name}: {sum(1 for q in kept if q)}/{len(kept)} questions; "
                f"sites {common or '-'}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", type=Path, help="unlearning result JSON files")
    parser.add_argument("--top", type=int, default=8, help="sites listed per set")
    args = parser.parse_args()
    for path in args.results:
        report(path, args.top)


if __name__ == "__main__":
    main()
