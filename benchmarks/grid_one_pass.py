"""A 4-run grid trained in one pass over the activation stream against the same 4 runs trained one
after another, on the embedded default (SmolLM2, blocks.6.hook_resid_post, offline corpus).

    python benchmarks/grid_one_pass.py --out runs/grid-bench [--tokens 200000] [--d-sae 4608]

The grid is TopK at k = 16, 32, 64, 128 (an L0 sweep). Activations are collected into the cache
first, so both sides read the same cached stream. Each side runs in its own process; the report
gives its wall time and peak resident memory (the one-pass process, and each sequential run), and
checks that every run's SAE is the same either way.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import torch
from _common import report

KS = (16, 32, 64, 128)
HOOK = "blocks.6.hook_resid_post"


def plans(tokens: int, d_sae: int):
    from saeeval.trainers.loop import TrainingPlan

    return {
        f"topk_k{k}": TrainingPlan(
            trainer="topk", d_sae=d_sae, tokens=tokens, hyperparameters={"k": k}
        )
        for k in KS
    }


def worker(mode: str, out: Path, tokens: int, d_sae: int, run: str | None) -> None:
    from saeeval.trainers.loop import train, train_together
    from saeeval.trainers.stream import ActivationStream
    from saeeval.workflows import load_training_inputs, training_contexts_needed

    inputs = load_training_inputs(
        "smollm2-135m", HOOK, "cpu", None, training_contexts_needed(tokens)
    )
    grid = plans(tokens, d_sae)
    args = (inputs.model, HOOK, inputs.contexts, inputs.cache, "cpu")
    if mode == "collect":
        n = min(len(inputs.contexts), next(iter(grid.values())).stream_contexts)
        ActivationStream(inputs.model, inputs.contexts, HOOK, 0, n, inputs.cache)
    elif mode == "together":
        train_together(list(grid.values()), [out / "together" / n for n in grid], *args, log=print)
    else:
        train(grid[run], out / "alone" / run, *args, log=print)


def timed_process(command: list[str]) -> tuple[float, float]:
    """(wall seconds, peak resident GB) of one child process."""
    began = time.perf_counter()
    child = subprocess.Popen(command)
    _, status, usage = os.wait4(child.pid, 0)
    if status != 0:
        raise SystemExit(f"{' '.join(command)} failed with status {status}")
    return time.perf_counter() - began, usage.ru_maxrss / 2**20  # ru_maxrss is in KiB


def same_sae(a: Path, b: Path) -> bool:
    from saeeval.saes import load_sae

    sae_a, sae_b = load_sae(a).sae, load_sae(b).sae
    return all(torch.equal(p, getattr(sae_b, n)) for n, p in sae_a.named_parameters())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--tokens", type=int, default=200_000)
    parser.add_argument("--d-sae", type=int, default=4608)
    parser.add_argument("--worker", choices=["collect", "together", "alone"])
    parser.add_argument("--run")
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.out, args.tokens, args.d_sae, args.run)
        return

    base = [sys.executable, __file__, "--out", str(args.out), "--tokens", str(args.tokens)]
    base += ["--d-sae", str(args.d_sae)]
    timed_process(base + ["--worker", "collect"])
    together_s, together_gb = timed_process(base + ["--worker", "together"])
    alone = {
        name: timed_process(base + ["--worker", "alone", "--run", name]) for name in plans(1, 1)
    }
    sequential_s = sum(seconds for seconds, _ in alone.values())
    report(
        "grid_one_pass",
        {
            "hook": HOOK,
            "tokens": args.tokens,
            "d_sae": args.d_sae,
            "grid": list(alone),
            "one_pass": {"wall_s": round(together_s, 1), "peak_rss_gb": round(together_gb, 2)},
            "sequential": {
                "wall_s": round(sequential_s, 1),
                "runs": {
                    name: {"wall_s": round(s, 1), "peak_rss_gb": round(gb, 2)}
                    for name, (s, gb) in alone.items()
                },
            },
            "sequential_over_one_pass": round(sequential_s / together_s, 2),
            "identical_saes": all(
                same_sae(args.out / "together" / n / "sae", args.out / "alone" / n / "sae")
                for n in alone
            ),
        },
    )


if __name__ == "__main__":
    main()
