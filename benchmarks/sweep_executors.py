"""A 4-run sweep on the embedded default timed with `--executor local` and `--executor ray`
(a local Ray cluster that saeeval starts and stops itself), and checked to give the same numbers.

    python benchmarks/sweep_executors.py --out runs/executor-bench [--tokens 100000] [--d-sae 2304]
        [--sides local,ray,ray:2] [--budgets "one pass,a pass per run"]

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


def sweep(out: Path, file: Path, side: str) -> float:
    """Time one sweep; `side` is local, ray, or ray:N for N CPUs (threads) per Ray unit."""
    executor, _, cpus = side.partition(":")
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
        *(["--cpus-per-unit", cpus] if cpus else []),
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


BUDGETS = {"one pass": "", "a pass per run": "memory_budget_gb: 0.0001\n"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--tokens", type=int, default=100_000)
    parser.add_argument("--d-sae", type=int, default=2304)
    parser.add_argument(
        "--sides", default="local,ray", help="local, ray, ray:N (N CPUs per unit); local first"
    )
    parser.add_argument(
        "--budgets", default=",".join(BUDGETS), help="which of " + ", ".join(BUDGETS)
    )
    args = parser.parse_args()
    sides = args.sides.split(",")
    args.out.mkdir(parents=True, exist_ok=True)
    figures: dict = {"tokens": args.tokens, "d_sae": args.d_sae, "budgets": {}}
    for number, label in enumerate(args.budgets.split(",")):
        file = args.out / f"sweep-{label.replace(' ', '-')}.yaml"
        file.write_text(SWEEP.format(tokens=args.tokens, d_sae=args.d_sae, budget=BUDGETS[label]))
        if number == 0:  # warm-up: converts the model, fills the activation cache (not timed)
            sweep(args.out / "warm-up", file, "local")
            shutil.rmtree(args.out / "warm-up")
        seconds, summaries = {}, {}
        for side in sides:
            out = args.out / f"{label.replace(' ', '-')}-{side.replace(':', '-')}"
            shutil.rmtree(out, ignore_errors=True)
            seconds[side] = round(sweep(out, file, side), 1)
            summaries[side] = rows(out)
        figures["budgets"][label] = {
            "wall_s": seconds,
            "over_first": {s: round(seconds[s] / seconds[sides[0]], 2) for s in sides[1:]},
            "same_numbers": all(summaries[s] == summaries[sides[0]] for s in sides[1:]),
        }
    report("sweep_executors", figures)


if __name__ == "__main__":
    main()
