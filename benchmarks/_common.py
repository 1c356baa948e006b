"""Shared set-up for benchmarks: the embedded model, corpus contexts and a stopwatch."""

from __future__ import annotations

import gc
import json
import os
import platform
import re
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch


def timed(fn: Callable[[], object], repeats: int = 3) -> tuple[float, list[float]]:
    """Median wall time of `fn` over `repeats` runs (after one untimed warm-up)."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def machine() -> dict:
    return {
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "torch": torch.__version__,
    }


def report(name: str, figures: dict) -> None:
    print(json.dumps({"benchmark": name, "machine": machine(), **figures}, indent=2))


class PeakResident:
    """The process's peak resident memory (MB) while a block runs: the kernel's own high-water
    mark (VmHWM), restarted on entry, so every allocator counts, not only Python's."""

    def start(self) -> PeakResident:
        gc.collect()
        Path("/proc/self/clear_refs").write_text("5")
        self.mb: float | None = None
        return self

    def stop(self) -> None:
        status = Path("/proc/self/status").read_text()
        self.mb = round(int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024, 1)

    def __enter__(self) -> PeakResident:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def suite_row(
    eval_name: str,
    ours_one: float,
    ours_further: float | None,
    ours_peak_mb: float | None,
    reference_one: float,
    reference_further: float | None,
    reference_peak_mb: float | None,
) -> dict:
    """One eval's figures in the form benchmarks/suite_vs_reference.py collects: seconds for
    one SAE (everything a one-SAE run does) and for each further SAE at the same hook, a side."""

    def seconds(value):
        return None if value is None else round(value, 1)

    return {
        "eval": eval_name,
        "ours_one_sae_s": seconds(ours_one),
        "ours_further_sae_s": seconds(ours_further),
        "ours_peak_mb": ours_peak_mb,
        "reference_one_sae_s": seconds(reference_one),
        "reference_further_sae_s": seconds(reference_further),
        "reference_peak_mb": reference_peak_mb,
    }
