"""Every native trainer at a comparable L0, with training throughput against the model's own speed.

    python benchmarks/trainers_at_fixed_l0.py --out runs/trainers-l0-32 [--sweep FILE]

First measures a plain forward pass of the embedded SmolLM2 up to the sweep's hook (tokens/s, the
adapter's stop-at-hook pass on corpus contexts), then runs `saeeval sweep` on the sweep file
(default: benchmarks/trainers_at_l0_32.yaml, 1M tokens, d_sae 4608) and reports, per run, the
training wall time and tokens/s (also as a ratio to the forward pass), L0, explained variance,
CE-loss score and dead-latent fraction from the core eval.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import report, timed

from saeeval.data import load_contexts, load_text_dataset
from saeeval.models import load_model
from saeeval.trainers.sweep import load_sweep

HERE = Path(__file__).resolve().parent


def forward_to_hook_tokens_per_s(hook: str, contexts: int = 32, batch_size: int = 16) -> float:
    model = load_model("smollm2-135m", "cpu")
    corpus = load_contexts(model.tokenizer, model.bos_token_id, load_text_dataset(None), 128, 1)
    tokens = corpus.tokens[:contexts]
    median, _ = timed(lambda: [model.activations(b, [hook]) for b in tokens.split(batch_size)])
    return tokens.numel() / median


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--sweep", type=Path, default=HERE / "trainers_at_l0_32.yaml")
    args = parser.parse_args()

    spec = load_sweep(args.sweep)
    forward = forward_to_hook_tokens_per_s(spec.hook)
    command = [sys.executable, "-m", "saeeval.cli", "sweep", str(args.sweep.resolve())]
    command += ["--out", str(args.out.resolve()), "--device", "cpu"]
    # Not from the checkout: its saeeval/ folder would shadow the installed package.
    subprocess.run(command, check=True, cwd=tempfile.gettempdir())

    with open(args.out / "summary.csv") as handle:
        rows = list(csv.DictReader(handle))
    runs = []
    for row in rows:
        speed = float(row["train_tokens_per_s"])
        runs.append(
            {
                "run": row["run"],
                "train_wall_time_s": round(float(row["train_wall_time_s"]), 1),
                "train_tokens_per_s": round(speed),
                "train_vs_forward_to_hook": round(speed / forward, 3),
                "l0": round(float(row["l0"]), 1),
                "explained_variance": round(float(row["explained_variance"]), 4),
                "ce_loss_score": round(float(row["ce_loss_score"]), 4),
                "dead_fraction": round(1 - float(row["frac_alive"]), 4),
            }
        )
    report(
        "trainers_at_fixed_l0",
        {
            "sweep": str(args.sweep),
            "tokens": spec.tokens,
            "d_sae": spec.d_sae,
            "hook": spec.hook,
            "forward_to_hook_tokens_per_s": round(forward),
            "runs": runs,
        },
    )


if __name__ == "__main__":
    main()
