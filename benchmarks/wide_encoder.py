"""The wide-SAE encoder (a block of latents at a time, many rows a batch) against dense batches.

Where a dense batch in the working-set budget would hold fewer than 128 rows, the evals that keep
only non-zero latents encode through `latent_entries_in_batches` a block of latents at a time.
This runs both on the same random TopK SAE and rows, one after the other: dense batches of the
rows the budget allows (what those evals did before, and what SAELens' encoder does per batch)
and the blocked path, and counts the latents whose values differ. For scale it also counts them
between dense batches of the budget's rows and of half as many: a matrix product's last bits
already depend on how many rows it multiplies at once.

    python benchmarks/wide_encoder.py [--widths 262144,1048576] [--rows 2048] [--k 32]
"""

from __future__ import annotations

import argparse
import time

import torch
from _common import report

from saeeval.evals.working_set import (
    ENTRY_COPIES_PER_ROW,
    encodes_in_blocks,
    in_batches,
    latent_entries_in_batches,
    rows_within_budget,
)
from saeeval.saes import SAE, SAEConfig


def _random_topk(d_in: int, d_sae: int, k: int) -> SAE:
    sae = SAE(SAEConfig("topk", d_in, d_sae, "blocks.6.hook_resid_post", k=k))
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for param in sae.parameters():
            param.copy_(torch.randn(param.shape, generator=generator) * 0.3)
        sae.W_dec.div_(sae.W_dec.norm(dim=-1, keepdim=True))
    return sae.requires_grad_(False)


def _dense_entries(sae: SAE, x: torch.Tensor, rows: int) -> tuple[torch.Tensor, ...]:
    parts = []
    with torch.no_grad():
        for start, _, latents in in_batches(len(x), rows, lambda a, b: sae.encode(x[a:b])):
            at, latent = latents.nonzero(as_tuple=True)
            parts.append((at + start, latent, latents[at, latent]))
    return tuple(torch.cat(p) for p in zip(*parts, strict=True))


def _blocked_entries(sae: SAE, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    parts = [
        (e.rows + start, e.cols, e.values) for start, _, e in latent_entries_in_batches(sae, x)
    ]
    return tuple(torch.cat(p) for p in zip(*parts, strict=True))


def _sorted(entries: tuple[torch.Tensor, ...], d_sae: int) -> tuple[torch.Tensor, torch.Tensor]:
    rows, cols, values = entries
    order = torch.argsort(rows * d_sae + cols)
    return (rows * d_sae + cols)[order], values[order]


def _differences(a: tuple[torch.Tensor, ...], b: tuple[torch.Tensor, ...]) -> dict:
    """How many kept latents differ between two encodings: in which latents, and in value."""
    if not torch.equal(a[0], b[0]):
        return {
            "same_latents_kept": False,
            "kept_only_by_one": len(set(a[0].tolist()) ^ set(b[0].tolist())),
        }
    differ = a[1] != b[1]
    relative = ((a[1] - b[1]).abs() / b[1].abs().clamp(min=1e-30)).max()
    return {
        "same_latents_kept": True,
        "values_differing": int(differ.sum()),
        "max_relative_difference": float(relative),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", default="262144,1048576", help="comma-separated d_sae values")
    parser.add_argument("--rows", type=int, default=2048, help="rows to encode")
    parser.add_argument("--d-in", type=int, default=576, help="the SAE's input width")
    parser.add_argument("--k", type=int, default=32, help="the TopK SAE's k")
    args = parser.parse_args()
    x = torch.randn(args.rows, args.d_in, generator=torch.Generator().manual_seed(1)) * 3
    rows = []
    for width in (int(w) for w in args.widths.split(",")):
        sae = _random_topk(args.d_in, width, args.k)
        dense_rows = rows_within_budget(width, ENTRY_COPIES_PER_ROW)
        start = time.perf_counter()
        dense = _sorted(_dense_entries(sae, x, dense_rows), width)
        dense_s = time.perf_counter() - start
        start = time.perf_counter()
        blocked = _sorted(_blocked_entries(sae, x), width)
        blocked_s = time.perf_counter() - start
        half = _sorted(_dense_entries(sae, x, max(1, dense_rows // 2)), width)
        rows.append(
            {
                "d_sae": width,
                "blocked_path_taken": encodes_in_blocks(sae),
                "dense_rows_per_batch": dense_rows,
                "dense_rows_per_s": round(args.rows / dense_s, 1),
                "blocked_rows_per_s": round(args.rows / blocked_s, 1),
                "speed-up": round(dense_s / blocked_s, 2),
                "latents": len(dense[0]),
                "blocked_vs_dense": _differences(blocked, dense),
                "dense_vs_dense_half_batches": _differences(half, dense),
            }
        )
        print(rows[-1], flush=True)
        del sae
    report("wide_encoder", {"d_in": args.d_in, "k": args.k, "rows": args.rows, "results": rows})


if __name__ == "__main__":
    main()
