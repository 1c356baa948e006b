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
from saeeval.evals.unlearning.scoring import ALL_PERMUTATIONS, Scorer
from saeeval.models import load_model
from saeeval.saes import load_sae

BATCH = 64


def sequences(scorer: Scorer, qset) -> list[tuple[int, tuple[int, ...], int]]:
    """(question index, token ids, how many leading positions feed a score) of every sequence
    the eval scores a question with."""
    out = []
    for index, item in enumerate(scorer.items(qset, range(len(qset)), [ALL_PERMUTATIONS[0]])):
        if item.options:  # cloze: the prompt continued by each choice; its last token feeds none
            out += [(index, ids, len(ids) - 1) for ids in (item.prompt + o for o in item.options)]
        else:  # letter: the last prompt position predicts the letter
            out.append((index, item.prompt, len(item.prompt)))
    return out


@torch.inference_mode()
def firing_sites(model, sae, rows, latents: torch.Tensor):
    """Per question: the set of (position's token, latent) pairs where a latent fires."""
    sites: dict[int, set[tuple[str, int]]] = {}
    pad = model.tokenizer.pad_token_id or 0
    for start in range(0, len(rows), BATCH):
        batch = rows[start : start + BATCH]
        width = max(len(ids) for _, ids, _ in batch)
        tokens = torch.full((len(batch), width), pad, dtype=torch.long)
        for r, (_, ids, _) in enumerate(batch):
            tokens[r, : len(ids)] = torch.tensor(ids)
        acts = model.activations(tokens.to(model.device), [sae.hook_name])[sae.hook_name]
        fired = sae.encode(acts.to(sae.device))[:, :, latents] > 0
        for r, (question, ids, feeding) in enumerate(batch):
            seen = sites.setdefault(question, set())
            for position, column in fired[r, :feeding].nonzero().tolist():
                if ids[position] == model.bos_token_id:  # the eval never clamps at BOS
                    continue
                seen.add((model.tokenizer.decode([ids[position]]), int(latents[column])))
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
    rows = {name: sequences(scorer, qset) for name, qset in sets.items()}
    blocks = {}
    for row in result["eval_result_details"]:
        blocks.setdefault((row["retain_threshold"], row["n_features"]), row["features"])
    print(
        f"\n## {result['sae_lens_id']} ({path}): unlearning score "
        f"{result['eval_result_metrics']['unlearning']['unlearning_score']:.3f}"
    )
    for (threshold, n_features), features in blocks.items():
        if not features:
            continue
        latents = torch.tensor(features, device=sae.device)
        print(f"\nretain threshold {threshold}, {n_features} latents: {features}")
        for name, qset in sets.items():
            sites = firing_sites(model, sae, rows[name], latents)
            touched = sum(1 for s in sites.values() if s)
            counts = Counter(site for s in sites.values() for site in s)
            common = ", ".join(f"{tok!r}/{lat}: {n}" for (tok, lat), n in counts.most_common(top))
            print(f"  {name}: {touched}/{len(qset)} questions; sites {common or '-'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", type=Path, help="unlearning result JSON files")
    parser.add_argument("--top", type=int, default=8, help="sites listed per set")
    args = parser.parse_args()
    for path in args.results:
        report(path, args.top)


if __name__ == "__main__":
    main()
