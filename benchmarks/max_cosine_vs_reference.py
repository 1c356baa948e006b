"""Core's all-pairs maximum cosine similarity against SAEBench's, at the widths SAEs are run.

Core computes, for the encoder and the decoder, each latent's largest cosine similarity with any
other latent: two all-pairs passes, the part of core that grows with d_sae squared (hours at 1M
latents on a CPU). Ours computes each pair once; SAEBench's `calculate_max_cosine_sim` computes
every pair twice, a chunk of 100 columns at a time. Both run here on the same random unit
vectors, one after the other, and must agree.

    python benchmarks/max_cosine_vs_reference.py [--widths 16384,65536] [--d-in 576]
"""

from __future__ import annotations

import argparse
import time

import torch
from _common import report

from saeeval.evals.core_metrics import max_cosine_similarity


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", default="16384,65536", help="comma-separated d_sae values")
    parser.add_argument("--d-in", type=int, default=576, help="the SAE's input width")
    args = parser.parse_args()
    from sae_bench.evals.core.main import calculate_max_cosine_sim

    rows = []
    for width in (int(w) for w in args.widths.split(",")):
        vectors = torch.randn(args.d_in, width, generator=torch.Generator().manual_seed(0))
        start = time.perf_counter()
        ours = max_cosine_similarity(vectors)
        ours_s = time.perf_counter() - start
        start = time.perf_counter()
        theirs = calculate_max_cosine_sim(vectors)
        theirs_s = time.perf_counter() - start
        rows.append(
            {
                "d_sae": width,
                "ours_s": round(ours_s, 2),
                "reference_s": round(theirs_s, 2),
                "speed-up": round(theirs_s / ours_s, 2),
                "max_abs_difference": float((ours - theirs).abs().max()),
                "mean_ours": float(ours.mean()),
                "mean_reference": float(theirs.mean()),
                # Both scale with d_sae squared: one matrix at 1M latents on this machine.
                "ours_at_2^20_h": round(ours_s * (2**20 / width) ** 2 / 3600, 2),
            }
        )
        print(rows[-1], flush=True)
    report("max_cosine_vs_reference", {"d_in": args.d_in, "rows": rows})


if __name__ == "__main__":
    main()
