"""Figure recipes for reports. Each takes a headline table and writes one PNG."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # reports are written to files, never shown on a screen
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402


def core_tradeoffs(table: pd.DataFrame, path: Path) -> Path:
    """Sparsity against fidelity: L0 vs explained variance and vs CE-loss score, one dot per SAE."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    for ax, metric in zip(axes, ["explained variance", "CE-loss score"], strict=True):
        for _, row in table.iterrows():
            ax.scatter(row["L0"], row[metric], s=40)
            ax.annotate(
                str(row["SAE"]),
                (row["L0"], row[metric]),
                textcoords="offset points",
                xytext=(4, 4),
                fontsize=8,
            )
        ax.set_xlabel("L0 (active latents per token)")
        ax.set_ylabel(metric)
        ax.set_xscale("log")
        ax.grid(alpha=0.3)
    fig.suptitle("Core eval: sparsity vs. reconstruction fidelity")
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
