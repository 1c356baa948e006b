"""Wall time of the unlearning eval, saeeval against SAEBench's reference functions, on the same
inputs.

    python benchmarks/unlearning_vs_reference.py [--questions 20] [--saes 4] [--sae PATH ...]

Needs the test environment (sae-bench installed). On the embedded SmolLM2 at
blocks.6.hook_resid_post, with PCA TopK SAEs of different k (or the SAEs given with --sae), both
sides get the same inputs: the built-in forget and retain texts cut into the same contexts, and
the first --questions questions of each built-in bank as SAEBench's letter prompts (one BOS, so
the reference's prompt check holds), all of them counted as known (SmolLM2 knows none in letter
scoring; what is timed is the work per known question). The reference runs SAEBench's functions
in its order on a TransformerLens twin: per SAE `get_feature_activation_sparsity` on both texts,
`get_top_features` per threshold, then for each of the 16 settings `modify_model` and
`get_output_probs_abcd` over every question (its baseline pass once, as its cached baseline
file makes it). saeeval runs its eval's `run` (frequencies from the activation cache, one clean
pass for all SAEs, each SAE's settings batched, only where the clamped latents fire), cold, for
one SAE and for all of them in one call. Run it on an otherwise idle machine: both sides are
timed in the same process, one after the other.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _common import PeakResident, report, suite_row

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

HOOK, LAYER = "blocks.6.hook_resid_post", 6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--questions", type=int, default=20, help="questions per built-in bank")
    parser.add_argument("--saes", type=int, default=4)
    parser.add_argument("--sae", action="append", default=[], help="an SAE folder at the hook")
    parser.add_argument("--dataset-size", type=int, default=16)
    parser.add_argument("--seq-len", type=int, default=256)
    args = parser.parse_args()

    from reference_models import hooked_transformer_twin, reference_sae
    from sae_bench.evals.unlearning.utils.feature_activation import get_top_features
    from sae_bench.evals.unlearning.utils.metrics import get_output_probs_abcd, modify_model
    from sae_bench.sae_bench_utils.activation_collection import (
        get_feature_activation_sparsity,
    )

    import saeeval.evals.unlearning.eval as unlearning
    import saeeval.evals.unlearning.scoring as scoring
    from saeeval.activations import ActivationCache
    from saeeval.data import load_contexts, load_text_dataset
    from saeeval.data.unlearning import load_forget_corpus, load_retain_corpus
    from saeeval.evals import EvalContext, get_eval
    from saeeval.evals.unlearning.selection import frequency_tokens
    from saeeval.models import load_model
    from saeeval.saes import load_sae, save_sae
    from saeeval.trainers.pca import fit_pca_sae

    model = load_model("smollm2-135m", "cpu")
    work = Path(tempfile.mkdtemp(prefix="unlearning-bench-"))
    folders = [Path(p) for p in args.sae][: args.saes]
    if len(folders) < args.saes:
        contexts = load_contexts(
            model.tokenizer, model.bos_token_id, load_text_dataset(None), 128, 1, part="train"
        )
        for i in range(len(folders), args.saes):
            sae = fit_pca_sae(model, contexts, HOOK, ActivationCache(work / "fit"), k=16 * (i + 1))
            folders.append(save_sae(sae, work / f"pca{i}"))

    # The same inputs for both sides: a one-BOS chat frame, the first questions of each bank
    # counted as known, the built-in texts' contexts.
    tokenizer = model.tokenizer
    frame = (f"{tokenizer.bos_token}user\n", f"{tokenizer.eos_token}\nassistant\n")
    scoring.chat_frame = lambda tokenizer, name: frame

    def first_questions_known(self, context, scorer, qset, config):
        return unlearning._Set(qset, np.arange(min(args.questions, len(qset))), 1.0)

    unlearning.UnlearningEval._known = first_questions_known
    eval_ = get_eval("unlearning")
    config = eval_.config_class(
        **{
            **eval_.default_config(EvalContext(model=model, cache=None)).model_dump(),
            "scoring": "letter",
            "dataset_size": args.dataset_size,
            "seq_len": args.seq_len,
        }
    )

    def ours(n: int) -> tuple[float, dict]:
        context = EvalContext(model=model, cache=ActivationCache(work / f"cache-{n}-{time.time()}"))
        start = time.perf_counter()
        results = {
            s.sae_id: r for s, r in eval_.run(context, [load_sae(f) for f in folders[:n]], config)
        }
        return time.perf_counter() - start, results

    with PeakResident() as ours_peak:
        ours_one, _ = ours(1)
        ours_all, results = ours(len(folders))

    # The reference, on the same tokens and prompts.
    forget = frequency_tokens(
        model,
        load_forget_corpus("offline", None),
        config.dataset_size,
        config.seq_len,
        config.random_seed,
        True,
    )
    retain = frequency_tokens(
        model,
        load_retain_corpus("offline"),
        config.dataset_size,
        config.seq_len,
        config.random_seed,
        False,
    )
    twin = hooked_transformer_twin(model.model, tokenizer)
    twin.cfg.model_name = "gemma-2-2b-it"  # its letter scoring runs for named models only
    scorer = scoring.Scorer(model, "letter")
    prompts = {}
    from saeeval.data.unlearning import load_question_set

    for name in config.dataset_names:
        qset = load_question_set(name, "offline")
        prompts[name] = [
            scoring.letter_prompt(qset.questions[i], qset.choices[i], qset.subject, scorer.frame)
            for i in range(min(args.questions, len(qset)))
        ]
    batch = 2 * config.llm_batch_size

    def mcq(name: str) -> np.ndarray:
        p = prompts[name]
        return get_output_probs_abcd(
            twin, p, batch_size=batch, n_batches=-(-len(p) // batch), verbose=False
        )

    reference_runs = []  # question runs of the reference per SAE

    def reference(n: int) -> float:
        reference_runs.clear()
        start = time.perf_counter()
        twin.reset_hooks()
        for name in prompts:  # the baseline, once (SAEBench caches it in a file)
            mcq(name)
        for folder in folders[:n]:
            sae = reference_sae(folder)
            freq = [
                get_feature_activation_sparsity(
                    t, twin, sae, config.llm_batch_size, LAYER, HOOK, mask_bos_pad_eos_tokens=True
                ).numpy()
                for t in (forget, retain)
            ]
            runs = 0
            for threshold in config.retain_thresholds:
                top = get_top_features(freq[0], freq[1], retain_threshold=threshold)
                done = set()
                for n_features in config.n_features_list:
                    for multiplier in config.multipliers:
                        features = np.array(top[:n_features])
                        if (len(features), multiplier) in done:  # its saved file is reused
                            continue
                        done.add((len(features), multiplier))
                        modify_model(
                            twin,
                            sae,
                            intervention_method="clamp_feature_activation",
                            features_to_ablate=features,
                            multiplier=multiplier,
                        )
                        for name in prompts:
                            mcq(name)
                            runs += len(prompts[name])
                        twin.reset_hooks()
            reference_runs.append(runs)
        return time.perf_counter() - start

    with torch.no_grad(), PeakResident() as reference_peak:
        reference_one = reference(1)
        reference_all = reference(len(folders))
    further = len(folders) - 1
    run_questions = {
        sae_id: sum(sum(row["questions_run"].values()) for row in r["eval_result_details"])
        for sae_id, r in results.items()
    }
    report(
        "unlearning_vs_reference",
        {
            "hook": HOOK,
            "saes": [str(f) for f in folders],
            "questions": {name: len(p) for name, p in prompts.items()},
            "settings": len(config.retain_thresholds)
            * len(config.n_features_list)
            * len(config.multipliers),
            "frequency_contexts": [config.dataset_size, config.seq_len],
            "question_runs_per_sae_ours": run_questions,
            "question_runs_per_sae_reference": reference_runs,
            "ours_s": {"one_sae": round(ours_one, 1), "all_saes": round(ours_all, 1)},
            "reference_s": {
                "one_sae": round(reference_one, 1),
                "all_saes": round(reference_all, 1),
            },
            "reference_over_ours": {
                "one_sae": round(reference_one / ours_one, 2),
                "all_saes": round(reference_all / ours_all, 2),
            },
            # A further SAE: the all-SAE run's time beyond the one-SAE run's, per further SAE.
            "suite": [
                suite_row(
                    "unlearning",
                    ours_one,
                    (ours_all - ours_one) / further if further else None,
                    ours_peak.mb,
                    reference_one,
                    (reference_all - reference_one) / further if further else None,
                    reference_peak.mb,
                )
            ],
        },
    )


if __name__ == "__main__":
    main()
