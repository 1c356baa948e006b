"""Every whole-eval comparison of saeeval against SAEBench's own entry points, in one table.

    python benchmarks/parity_report.py [--seeds 5] [--out parity.json]

Needs the test environment (sae-bench installed). On the embedded SmolLM2 at
blocks.6.hook_resid_post with one PCA TopK SAE (k = 32, fitted on corpus text no eval reads), it
runs, at sizes that fit a 2-core CPU, the comparisons the whole-eval parity tests make at smaller
sizes (tests/parity_*.py): each eval through saeeval's entry point and through SAEBench's on a
TransformerLens twin of the same weights, on the same SAE and the same texts. Each row is one
metric: where the two sides' random streams are aligned, a single value a side and a stated
tolerance; where they differ by design, the mean over seeds a side and two pooled standard errors
of the difference (see tests/parity.py). It prints one Markdown table (eval, metric, ours,
reference, difference, tolerance or interval, verdict), each distribution below it, and writes
every row as JSON with --out.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("JAXTYPING_DISABLE", "1")  # as in the tests: the reference's shape checks
os.environ.setdefault("HF_HUB_OFFLINE", "1")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

HOOK = "blocks.6.hook_resid_post"
ALL_GOOD_LETTERS = {"min_feats_for_eval": 1}  # absorption measures any letter with a good probe


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=5, help="seeds a side where streams differ")
    parser.add_argument("--words-per-letter", type=int, default=60, help="absorption's cap")
    parser.add_argument("--probe-texts", type=int, default=100, help="probing evals' train texts")
    parser.add_argument(
        "--evals",
        default="core,sparse_probing,scr,tpp,absorption,absorption_aligned,unlearning",
    )
    parser.add_argument("--out", type=Path, help="write the rows as JSON here")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", "'penalty' was deprecated", FutureWarning)

    from parity import markdown_table
    from parity_absorption import absorption_comparisons, aligned_absorption_comparisons
    from parity_core import core_comparisons
    from parity_probing import scr_tpp_comparisons, sparse_probing_comparisons
    from parity_unlearning import unlearning_comparisons

    from saeeval.activations import ActivationCache
    from saeeval.data import load_contexts, load_text_dataset
    from saeeval.models import load_model
    from saeeval.saes import save_sae
    from saeeval.trainers.pca import fit_pca_sae

    model = load_model("smollm2-135m", "cpu")
    work = Path(tempfile.mkdtemp(prefix="parity-report-"))
    contexts = load_contexts(
        model.tokenizer, model.bos_token_id, load_text_dataset(None), 128, 1, part="train"
    )
    sae_folder = save_sae(
        fit_pca_sae(model, contexts, HOOK, ActivationCache(work / "fit"), k=32), work / "pca"
    )
    seeds = list(range(args.seeds))
    eval_contexts = load_contexts(
        model.tokenizer, model.bos_token_id, load_text_dataset(None), 128, 32, part="eval"
    )
    runs = {
        "core": lambda: core_comparisons(
            model, sae_folder, eval_contexts.tokens[:32], 4, 8, 8, True
        ),
        # The probing evals' streams are aligned (see tests/parity_probing.py): one seed each.
        "sparse_probing": lambda: sparse_probing_comparisons(
            model,
            sae_folder,
            work / "sparse_probing",
            seeds=[0],
            train_size=args.probe_texts,
            test_size=args.probe_texts // 2,
            datasets=["LabHC/bias_in_bios_class_set1", "fancyzhx/ag_news"],
            context_length=64,
        ),
        **{
            name: lambda name=name: scr_tpp_comparisons(
                name,
                model,
                sae_folder,
                work / name,
                seeds=[0],
                train_size=args.probe_texts,
                test_size=args.probe_texts // 2,
                context_length=64,
            )
            for name in ("scr", "tpp")
        },
        # Absorption draws from the global RNG in the reference: seeds a side. The letter probe
        # passes F1 > 0.6 on fewer than SAEBench's 20 letters at some seeds even at 60 words per
        # letter (10 letters at 20 words), and a side then measures nothing, so every letter
        # with a good probe is kept, on both sides.
        "absorption": lambda: absorption_comparisons(
            model,
            sae_folder,
            work / "absorption",
            seeds=seeds,
            words_per_letter=args.words_per_letter,
            overrides=ALL_GOOD_LETTERS,
        ),
        # The same, with both sides on one stream: exact, letter by letter.
        "absorption_aligned": lambda: aligned_absorption_comparisons(
            model,
            sae_folder,
            work / "absorption-aligned",
            seed=0,
            words_per_letter=args.words_per_letter,
            overrides=ALL_GOOD_LETTERS,
        ),
        "unlearning": lambda: unlearning_comparisons(
            model, sae_folder, work / "unlearning", sizes={"dataset_size": 64, "seq_len": 256}
        ),
    }
    comparisons, timings = [], {}
    for name in args.evals.split(","):
        start = time.perf_counter()
        comparisons += runs[name]()
        timings[name] = round(time.perf_counter() - start, 1)
        print(f"{name}: {timings[name]} s", file=sys.stderr)

    print(markdown_table(comparisons))
    print()
    for comparison in comparisons:
        print(comparison.describe())
    print(f"\nseconds per eval (both sides): {json.dumps(timings)}")
    if args.out:
        rows = [
            {**c.row(), "ours_values": c.ours, "reference_values": c.reference, "why": c.why}
            for c in comparisons
        ]
        args.out.write_text(json.dumps({"rows": rows, "seconds": timings}, indent=2))


if __name__ == "__main__":
    main()
