"""The whole suite, saeeval against SAEBench's own entry points: one table, one run.

    python benchmarks/suite_vs_reference.py [--saes 4] [--quick] [--out suite.json]
                                            [--only core,probing,absorption,unlearning]

Needs the test environment (sae-bench installed). It runs the per-eval comparisons one after the
other, each in a fresh process (so that each side's peak resident memory is its own):
core_vs_reference.py, probing_vs_reference.py (sparse probing, SCR, TPP),
absorption_vs_reference.py and unlearning_vs_reference.py, all on the embedded SmolLM2 at
blocks.6.hook_resid_post with --saes PCA TopK SAEs, the same inputs on both sides, and the
reference on a TransformerLens twin of the same weights. Their docstrings say what each side's
one-SAE and further-SAE times cover. Then forward_passes.py counts each eval's model work
against its floor. It prints one Markdown table: per eval the seconds for one SAE and for each
further SAE at the hook, a side, their ratios, each side's peak resident memory (MB) and our
model work over its floor; then the totals against the goals (one SAE >= 10x, each further SAE
>= 20x, model work <= 1.25x its floor).

--quick shrinks every comparison (fewer texts and datasets, fewer words and questions); the
table says which sizes ran. With --out, the reports gathered so far are written after each
comparison, so an interrupted run keeps what finished.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
GOAL_ONE, GOAL_FURTHER, GOAL_FLOOR = 10.0, 20.0, 1.25


def comparisons(saes: int, quick: bool) -> dict[str, tuple[str, list[str]]]:
    """Each comparison by short name: its script and the script's arguments."""
    probing = ["--n-saes", str(saes)]
    if quick:
        probing += [
            "--train-size", "100", "--test-size", "50",
            "--datasets", "LabHC/bias_in_bios_class_set1", "fancyzhx/ag_news",
            "--scr-tpp-datasets", "LabHC/bias_in_bios_class_set1",
            "--scr-pairs", "1",
        ]  # fmt: skip
    words = "30" if quick else "60"
    questions = "10" if quick else "20"
    return {
        "core": (
            "core_vs_reference.py",
            ["--saes", str(saes), "--recon-batches", "4", "--sv-batches", "16"],
        ),
        "probing": ("probing_vs_reference.py", probing),
        "absorption": (
            "absorption_vs_reference.py",
            ["--saes", str(saes), "--words-per-letter", words],
        ),
        "unlearning": (
            "unlearning_vs_reference.py",
            ["--saes", str(saes), "--questions", questions],
        ),
    }


def run_script(script: str, arguments: list[str]) -> dict:
    """Run one benchmark script; its report (the last JSON object it prints)."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, str(HERE / script), *arguments],
        cwd=HERE,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - start
    print(f"{script}: {seconds:.0f} s, exit {done.returncode}", file=sys.stderr, flush=True)
    if done.returncode != 0:
        raise SystemExit(f"{script} {' '.join(arguments)} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout[done.stdout.rfind('{\n  "benchmark"') :])


def ratio(reference: float | None, ours: float | None) -> float | None:
    return None if reference is None or not ours else round(reference / ours, 2)


def cell(value, suffix: str = "") -> str:
    return "–" if value is None else f"{value}{suffix}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--saes", type=int, default=4, help="SAEs at the hook (at least 2)")
    parser.add_argument("--quick", action="store_true", help="smaller sizes everywhere")
    parser.add_argument("--out", type=Path, help="write the rows and reports as JSON here")
    parser.add_argument("--only", default="core,probing,absorption,unlearning")
    args = parser.parse_args()
    if args.saes < 2:
        parser.error("--saes must be at least 2: the further-SAE cost needs a second SAE")
    chosen = comparisons(args.saes, args.quick)
    unknown = set(args.only.split(",")) - set(chosen)
    if unknown:
        parser.error(f"--only: unknown {', '.join(sorted(unknown))}; choose from {list(chosen)}")

    reports = {}
    for name in args.only.split(","):
        script, arguments = chosen[name]
        reports[script] = run_script(script, arguments)
        if args.out:
            args.out.write_text(json.dumps({"reports": reports}))
    rows = [row for report in reports.values() for row in report["suite"]]
    floors_arguments = ["--evals", ",".join(r["eval"] for r in rows)]
    floors = run_script("forward_passes.py", floors_arguments + (["--one-dataset"] * args.quick))
    work = {
        r["eval"]: r["ratio_to_floor"]
        for r in floors["rows"]
        if r["sae"].startswith("first")  # one SAE, empty cache: the eval's whole model work
    }

    lines = [
        f"saes: {args.saes}; sizes: {'quick' if args.quick else 'the comparisons defaults'}",
        "",
        "| eval | ours 1 SAE (s) | ref 1 SAE (s) | ratio | ours +1 SAE (s) | ref +1 SAE (s) "
        "| ratio | ours peak (MB) | ref peak (MB) | model work / floor |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        one = ratio(r["reference_one_sae_s"], r["ours_one_sae_s"])
        further = ratio(r["reference_further_sae_s"], r["ours_further_sae_s"])
        r.update(ratio_one_sae=one, ratio_further_sae=further, work_over_floor=work.get(r["eval"]))
        lines.append(
            f"| {r['eval']} | {r['ours_one_sae_s']} | {r['reference_one_sae_s']} | {cell(one, '×')}"
            f" | {cell(r['ours_further_sae_s'])} | {cell(r['reference_further_sae_s'])}"
            f" | {cell(further, '×')} | {cell(r['ours_peak_mb'])} | {cell(r['reference_peak_mb'])}"
            f" | {cell(work.get(r['eval']), '×')} |"
        )
    totals = {
        key: sum(r[key] for r in rows if r[key] is not None)
        for key in (
            "ours_one_sae_s",
            "reference_one_sae_s",
            "ours_further_sae_s",
            "reference_further_sae_s",
        )
    }
    one = ratio(totals["reference_one_sae_s"], totals["ours_one_sae_s"])
    further = ratio(totals["reference_further_sae_s"], totals["ours_further_sae_s"])
    worst_floor = max((v for v in work.values() if v is not None), default=None)
    lines.append(
        f"| **total** | {totals['ours_one_sae_s']:.1f} | {totals['reference_one_sae_s']:.1f}"
        f" | **{cell(one, '×')}** | {totals['ours_further_sae_s']:.1f}"
        f" | {totals['reference_further_sae_s']:.1f} | **{cell(further, '×')}** | | | |"
    )
    lines += [
        "",
        f"goals: one SAE >= {GOAL_ONE}x: {cell(one, 'x')} "
        f"({'met' if one and one >= GOAL_ONE else 'not met'}); "
        f"each further SAE >= {GOAL_FURTHER}x: {cell(further, 'x')} "
        f"({'met' if further and further >= GOAL_FURTHER else 'not met'}); "
        f"model work <= {GOAL_FLOOR}x its floor: worst {cell(worst_floor, 'x')} "
        f"({'met' if worst_floor and worst_floor <= GOAL_FLOOR else 'not met'})",
    ]
    print("\n".join(lines))
    if args.out:
        args.out.write_text(
            json.dumps({"rows": rows, "totals": totals, "reports": reports, "floors": floors})
        )


if __name__ == "__main__":
    main()
