"""Which runs of a grid train together: one pass over the activation stream for every set of runs
that share it, split into as many passes as a memory budget needs.

Runs share a stream when they read the same batches (`TrainingPlan.stream_key`: tokens, batch
size, seed and context size; model, hook and data are the sweep's own). Each pass holds runs
whose estimated training memory fits the budget together; a run larger than the budget trains
alone.
"""

from __future__ import annotations

from pathlib import Path

import torch

from saeeval.trainers.loop import TrainingPlan

# Without a budget, a pass may use this fraction of the memory free when the sweep starts.
FREE_MEMORY_FRACTION = 0.5
FALLBACK_BUDGET_BYTES = 8 * 2**30  # where the free memory cannot be read


def training_bytes(plan: TrainingPlan, d_in: int) -> int:
    """An upper estimate of one run's training memory, in bytes (float32 throughout).

    Weights, their gradients and Adam's two moments: 4 copies of the encoder and decoder. The
    working set of a step: pre-activations, codes, masks and their gradients, about 8
    [batch, d_sae] tensors (the TopK variants keep a few more, the ReLU ones fewer)."""
    weights = 2 * d_in * plan.d_sae + plan.d_sae + d_in
    return 4 * (4 * weights + 8 * plan.batch_size * plan.d_sae)


def default_budget_bytes(device: str) -> int:
    """Half the memory free now: on the GPU for a CUDA device, in RAM otherwise."""
    if torch.device(device).type == "cuda":
        free, _ = torch.cuda.mem_get_info(torch.device(device))
        return int(free * FREE_MEMORY_FRACTION)
    meminfo = Path("/proc/meminfo")
    if meminfo.is_file():
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(int(line.split()[1]) * 1024 * FREE_MEMORY_FRACTION)
    return FALLBACK_BUDGET_BYTES


def training_passes(plans: list[TrainingPlan], d_in: int, budget_bytes: int) -> list[list[int]]:
    """Indices into `plans`, one list per pass: each run joins the first pass of its stream that
    still has room (first fit, in the grid's order)."""
    passes: list[tuple[tuple, list[int], int]] = []  # (stream, runs, bytes)
    for index, plan in enumerate(plans):
        need = training_bytes(plan, d_in)
        for number, (stream, members, used) in enumerate(passes):
            if stream == plan.stream_key and used + need <= budget_bytes:
                members.append(index)
                passes[number] = (stream, members, used + need)
                break
        else:
            passes.append((plan.stream_key, [index], need))
    return [members for _, members, _ in passes]
