"""Does SCR's biased probe lean on the spurious attribute in the built-in data, and does SCR then
tell SAEs apart?

    python benchmarks/scr_spurious_signal.py --sae TRAINED/sae --baseline RANDOM/sae \
        [--dataset bios|reviews] [--work-sentences 1 --gendered-sentences 4] [--out DIR]

Needs the test environment. SCR trains a probe on a biased set (male professors against female
nurses, and three more profession pairs; on the reviews, one category's 1-star reviews against
another's 5-star ones) and measures how far ablating an SAE's latents for one attribute moves
that probe towards the other. That only measures something when the biased probe leans on both
attributes. This script prints, per class pair, the biased probe's accuracy on balanced class
data (profession or category) and on balanced spurious data (gender or rating), then SCR at every
n for both SAEs, and the headline differences with 95% intervals paired over the class pairs.
With --with-tpp, TPP runs on the same data too (its probes are the classes).

With --work-sentences K and/or --gendered-sentences G it first rewrites the built-in bias_in_bios
generator in this process only (nothing on disk changes): each bio keeps its first K sentences
and gains G short sentences that name nothing of the work but carry the person's pronouns. That is
a what-if for the stand-in data, to measure which balance gives a spurious correlation (the
default bios came out of it: one work sentence and three or four about the person). The
random-direction baseline comes from `offline_discrimination.py` (`OUT/random-directions`).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import saeeval.data.builtin_classification as builtin
from saeeval.comparison import compare
from saeeval.data.dataset_names import AMAZON_REVIEWS, BIAS_IN_BIOS
from saeeval.runner import RunRequest, run

# Sentences about the person, not the work: {Sub}, {sub}, {obj}, {pos}, {Pos}, {parent} are the
# bio's pronouns (bias_in_bios.yaml's `pronouns`).
GENDERED = (
    "{Sub} lives with {pos} family.",
    "{Pos} {parent} was a teacher.",
    "{Sub} says {sub} loves {pos} work.",
    "Friends describe {obj} as kind.",
    "{Sub} and {pos} partner have two children.",
    "{Pos} colleagues admire {obj}.",
)
BIASED = "male_professor / female_nurse"
DATASETS = {"bios": "LabHC/bias_in_bios_class_set1", "reviews": AMAZON_REVIEWS}
N_VALUES = (2, 5, 10, 20, 50, 100, 500)


def rewrite_bios(work_sentences: int | None, gendered_sentences: int) -> None:
    """Replace the bios generator in this process with the variant the options describe."""
    original = builtin._SPECS[BIAS_IN_BIOS]

    def make_bio(rng, cell):
        text = original.make_text(rng, cell)
        if work_sentences:
            text = " ".join(text.split(". ")[:work_sentences]).rstrip(".") + "."
        pronouns = builtin._pronouns(cell[1])
        for sentence in rng.sample(GENDERED, gendered_sentences):
            for key, value in pronouns.items():
                sentence = sentence.replace("{" + key + "}", value)
            text += " " + sentence
        return text

    builtin._SPECS[BIAS_IN_BIOS] = builtin._Spec(**{**original.__dict__, "make_text": make_bio})
    builtin._cached_rows.cache_clear()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sae", type=Path, required=True, help="a trained SAE folder")
    parser.add_argument("--baseline", type=Path, required=True, help="e.g. a random-direction SAE")
    parser.add_argument("--dataset", choices=sorted(DATASETS), default="bios")
    parser.add_argument("--work-sentences", type=int, help="keep the first K sentences of a bio")
    parser.add_argument("--gendered-sentences", type=int, default=0, choices=range(7))
    parser.add_argument("--with-tpp", action="store_true", help="also TPP on the same data")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.work_sentences or args.gendered_sentences:
        if args.dataset != "bios":
            parser.error("--work-sentences and --gendered-sentences rewrite the bios only")
        rewrite_bios(args.work_sentences, args.gendered_sentences)
    out = args.out or Path(tempfile.mkdtemp(prefix="scr-signal-"))
    dataset = DATASETS[args.dataset]
    outcome = run(
        RunRequest(
            saes=[str(args.sae), str(args.baseline)],
            sae_ids=["trained", "baseline"],
            evals=["scr", "tpp"] if args.with_tpp else ["scr"],
            out=out,
            overrides={name: {"dataset_names": [dataset]} for name in ("scr", "tpp")},
        ),
        log=lambda message: None,
    )
    results = {
        sae_id: json.loads(path.read_text())
        for eval_name, sae_id, path in outcome.written
        if eval_name == "scr"
    }
    # SAEBench names every dataset's probes after the bios: "professor / nurse" is the class pair,
    # "male / female" the spurious attribute.
    print("pair | biased probe on class data | biased probe on spurious data | spurious probe")
    for key, value in results["trained"]["eval_result_unstructured"].items():
        if isinstance(value, dict) and "clean_probe_accuracies" in value:
            clean = value["clean_probe_accuracies"]
            print(
                f"{key.split('_scr_')[-1]} | "
                f"{clean[f'{BIASED} probe on professor / nurse data']:.2f} | "
                f"{clean[f'{BIASED} probe on male / female data']:.2f} | "
                f"{clean['male / female']:.2f}"
            )
    for sae_id, result in results.items():
        metrics = result["eval_result_metrics"]["scr_metrics"]
        scores = ", ".join(f"n={n}: {metrics[f'scr_metric_threshold_{n}']:.3f}" for n in N_VALUES)
        print(f"SCR {sae_id}: {scores}")
    # The headline metrics' differences with 95% intervals paired over the class pairs (SCR) and
    # the ablated classes (TPP).
    frame = compare([out], baseline="baseline")
    columns = ["metric", "value", "baseline_value", "delta", "ci_low", "ci_high", "significant"]
    print(frame[columns].to_string(index=False))
    print(f"results in {out}")


if __name__ == "__main__":
    main()
