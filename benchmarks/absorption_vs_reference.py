"""Wall time of the absorption eval, saeeval against SAEBench's reference, on the same inputs.

    python benchmarks/absorption_vs_reference.py [--words-per-letter 60] [--saes 4]

Needs the test environment (sae-bench installed). On the embedded SmolLM2 at
blocks.6.hook_resid_post, with PCA TopK SAEs of different k, both sides get the same word split
and the same prompts (ours, seeded). The reference is SAEBench's own absorption functions run in
its order on a TransformerLens twin of the model: probe-data activations and the letter probe
(set-up, once), then per SAE the k-sparse probing and the absorption calculator. saeeval is timed
cold (empty cache) for one SAE, and cold for all SAEs in one call; the marginal cost of a further
SAE is the mean time between consecutive results of that call. Run it on an otherwise idle
machine: both sides are timed in the same process, one after the other.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from _common import PeakResident, report, suite_row

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

HOOK, LAYER = "blocks.6.hook_resid_post", 6
TEMPLATE = "{word} has the first letter:"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--words-per-letter", type=int, default=60)
    parser.add_argument("--saes", type=int, default=4)
    args = parser.parse_args()

    from reference_models import hooked_transformer_twin, reference_sae
    from sae_bench.evals.absorption.feature_absorption_calculator import (
        FeatureAbsorptionCalculator,
    )
    from sae_bench.evals.absorption.k_sparse_probing import (
        add_feature_splits_to_metrics_df,
        build_metrics_df,
        eval_probe_and_sae_k_sparse_raw_scores,
        sae_k_sparse_metadata,
        train_k_sparse_probes,
    )
    from sae_bench.evals.absorption.probing import (
        gen_and_save_df_acts_probing,
        train_linear_probe_for_task,
    )
    from sae_bench.evals.absorption.prompting import SpellingPrompt, first_letter_formatter

    from saeeval.activations import ActivationCache
    from saeeval.data import load_contexts, load_text_dataset
    from saeeval.evals import EvalContext, get_eval
    from saeeval.evals.absorption.words import (
        LETTERS,
        alpha_words,
        first_letter,
        icl_prompt,
        letter_index,
        split_words,
    )
    from saeeval.models import load_model
    from saeeval.saes import load_sae, save_sae
    from saeeval.trainers.pca import fit_pca_sae

    model = load_model("smollm2-135m", "cpu")
    work = Path(tempfile.mkdtemp(prefix="absorption-bench-"))
    contexts = load_contexts(  # the baselines are fitted on text no eval reads
        model.tokenizer, model.bos_token_id, load_text_dataset(None), 128, 1, part="train"
    )
    folders = [
        save_sae(
            fit_pca_sae(model, contexts, HOOK, ActivationCache(work / "fit"), k=16 * (i + 1)),
            work / f"pca{i}",
        )
        for i in range(args.saes)
    ]
    eval_ = get_eval("absorption")

    def ours(n_saes: int) -> tuple[list[float], list[dict]]:
        """Cold (empty cache); the time at which each SAE's result arrives."""
        context = EvalContext(model=model, cache=ActivationCache(work / f"cache{n_saes}"))
        config = eval_.default_config(context).model_copy(
            update={"max_words_per_letter": args.words_per_letter}
        )
        saes = [load_sae(f) for f in folders[:n_saes]]
        start = time.perf_counter()
        arrivals, results = [], []
        for _, result in eval_.run(context, saes, config):
            arrivals.append(time.perf_counter() - start)
            results.append(result)
        return arrivals, results

    with PeakResident() as ours_peak:
        ours_one = ours(1)[0][0]
        arrivals, results = ours(args.saes)
    ours_all = arrivals[-1]

    # The reference, on the same split and prompts.
    vocabulary = alpha_words(model.tokenizer)
    split = split_words(vocabulary, 42, args.words_per_letter)
    rng = random.Random(43)
    train = [
        (
            SpellingPrompt(icl_prompt(w, split.train, TEMPLATE, rng), first_letter(w), w),
            letter_index(w),
        )
        for w in split.train
    ]
    test = [
        (
            SpellingPrompt(icl_prompt(w, split.test, TEMPLATE, rng), first_letter(w), w),
            letter_index(w),
        )
        for w in split.test
    ]
    twin = hooked_transformer_twin(model.model, tokenizer=model.tokenizer)
    reference_peak = PeakResident().start()  # stopped after the last SAE
    start = time.perf_counter()
    train_df, test_df, train_acts, test_acts = gen_and_save_df_acts_probing(
        twin, train, test, work / "reference", HOOK, batch_size=64, position_idx=-6
    )
    probe, _ = train_linear_probe_for_task(
        train_df, test_df, "cpu", train_acts, test_acts, batch_size=64, num_epochs=50, lr=1e-2
    )
    reference_setup = time.perf_counter() - start
    train_x, test_x = torch.from_numpy(train_acts).float(), torch.from_numpy(test_acts).float()
    train_labels = [(w, y) for (_, y), w in zip(train, split.train, strict=True)]
    test_labels = [(w, y) for (_, y), w in zip(test, split.test, strict=True)]
    per_sae, reference_scores = [], []
    for folder in folders:
        sae = reference_sae(folder)
        start = time.perf_counter()
        k_probes = train_k_sparse_probes(sae, train_labels, train_x, ks=list(range(1, 11)))
        raw = eval_probe_and_sae_k_sparse_raw_scores(sae, probe, k_probes, test_labels, test_x)
        metrics = build_metrics_df(
            raw, sae_k_sparse_metadata(sae, probe, k_probes, "b", LAYER), max_k_value=10
        )
        add_feature_splits_to_metrics_df(metrics, max_k_value=10, f1_jump_threshold=0.03)
        calculator = FeatureAbsorptionCalculator(
            twin,
            icl_word_list=vocabulary,
            max_icl_examples=10,
            base_template=TEMPLATE,
            answer_formatter=first_letter_formatter(),
            word_token_pos=-6,
            batch_size=10,
        )
        fractions = []
        for letter_i, letter in enumerate(LETTERS):
            row = metrics[metrics["letter"] == letter].iloc[0]
            words = raw[(raw["answer_letter"] == letter) & (raw[f"score_probe_{letter}"] > 0)]
            if row["f1_probe"] <= 0.6 or words.empty:
                continue
            result = calculator.calculate_absorption(
                sae,
                words["token"].tolist(),
                probe.weights[letter_i].detach(),
                list(row["split_feats"]),
                LAYER,
                show_progress=False,
            )
            fractions.append(statistics.mean(r.absorption_fraction for r in result.word_results))
        per_sae.append(time.perf_counter() - start)
        reference_scores.append(statistics.mean(fractions))

    reference_peak.stop()
    reference_one = reference_setup + per_sae[0]
    reference_marginal = statistics.mean(per_sae)
    # Each further SAE costs the time between consecutive results of the N-SAE run.
    ours_marginal = (arrivals[-1] - arrivals[0]) / max(args.saes - 1, 1)
    report(
        "absorption_vs_reference",
        {
            "words_per_letter": args.words_per_letter,
            "words": len(split.all),
            "saes": args.saes,
            "saeeval_one_sae_s": round(ours_one, 1),
            "saeeval_all_saes_s": round(ours_all, 1),
            "saeeval_marginal_sae_s": round(ours_marginal, 1),
            "reference_setup_s": round(reference_setup, 1),
            "reference_per_sae_s": [round(t, 1) for t in per_sae],
            "reference_one_sae_s": round(reference_one, 1),
            "reference_all_saes_s": round(reference_setup + sum(per_sae), 1),
            "speedup_one_sae": round(reference_one / ours_one, 2),
            "speedup_all_saes": round((reference_setup + sum(per_sae)) / ours_all, 2),
            "marginal_cost_vs_reference_per_sae": round(ours_marginal / reference_marginal, 3),
            "saeeval_mean_absorption": round(
                results[0]["eval_result_metrics"]["mean"]["mean_absorption_fraction_score"], 4
            ),
            "reference_mean_absorption": round(reference_scores[0], 4),
            "suite": [
                suite_row(
                    "absorption",
                    ours_one,
                    ours_marginal if args.saes > 1 else None,
                    ours_peak.mb,
                    reference_one,
                    reference_marginal if args.saes > 1 else None,
                    reference_peak.mb,
                )
            ],
        },
    )


if __name__ == "__main__":
    main()
