"""A 4-run sweep on the embedded default timed with `--executor local` and `--executor ray`
(a local Ray cluster that saeeval starts and stops itself), and checked to give the same numbers.

    python benchmarks/sweep_executors.py --out runs/executor-bench [--tokens 100000] [--d-sae 2304]

The grid is TopK at k = 16, 32, 64, 128, evaluated with core on the offline preset. Two memory
budgets: the default (the four runs train together in one pass: one training unit) and a tiny one
(one pass per run: four training units that Ray can run side by side). The activation cache is
filled once before the timed sweeps, so every side reads the same cached stream. Each sweep runs
in its own process; as root, the Ray side runs inside a network namespace with only loopback
(Ray would otherwise look for the machine's outside address).
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from _common import report

SWEEP = """\
model: smollm2-135m
hook: blocks.6.hook_resid_post
tokens: {tokens}
batch_size: 1024
d_sae: {d_sae}
{budget}evals: [core]
grid:
  - trainer: topk
    k: [16, 32, 64, 128]
"""
TIMING = ("train_wall_time_s", "train_tokens_per_s", "train_runs_in_pass")


def sweep(out: Path, file: Path, executor: str) -> float:
    command = [
        str(Path(sys.executable).parent / "saeeval"),
        "sweep",
        str(file),
        "--out",
        str(out),
        "--device",
        "cpu",
        "--executor",
        executor,
    ]
    if executor == "ray" and os.geteuid() == 0:
        command = ["unshare", "--net", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", *command]
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "TOKENIZERS_PARALLELISM": "false"}
    started = time.perf_counter()
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def rows(out: Path) -> list[dict]:
    with open(out / "summary.csv") as f:
        return [{k: v for k, v in r.items() if k not in TIMING} for r in csv.DictReader(f)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--tokens", type=int, default=100_000)
    parser.add_argument("--d-sae", type=int, default=2304)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    figures: dict = {"tokens": args.tokens, "d_sae": args.d_sae, "budgets": {}}
    for number, (label, budget) in enumerate(
        (("one pass", ""), ("a pass per run", "memory_budget_gb: 0.0001\n"))
    ):
        file = args.out / f"sweep-{label.replace(' ', '-')}.yaml"
        file.write_text(SWEEP.format(tokens=args.tokens, d_sae=args.d_sae, budget=budget))
        if number == 0:  # warm-up: converts the model, fills the activation cache (not timed)
            sweep(args.out / "warm-up", file, "local")
            shutil.rmtree(args.out / "warm-up")
        seconds, summaries = {}, {}
        for executor in ("local", "ray"):
            out = args.out / f"{label.replace(' ', '-')}-{executor}"
            shutil.rmtree(out, ignore_errors=True)
            seconds[executor] = round(sweep(out, file, executor), 1)
            summaries[executor] = rows(out)
        figures["budgets"][label] = {
            "wall_s": seconds,
            "ray_over_local": round(seconds["ray"] / seconds["local"], 2),
            "same_numbers": summaries["local"] == summaries["ray"],
        }
    report("sweep_executors", figures)


if __name__ == "__main__":
    main()
