"""The one place where report figures get their look: palette, markers, fonts, sizes, formats.

Colours are Okabe and Ito's colour-blind-safe palette (Okabe & Ito 2008, "Color Universal
Design"); markers differ too, so the figures survive greyscale printing. PDFs embed their fonts
as TrueType (Type 42) so journals accept them. Widths are a paper's one and two columns.
"""

from __future__ import annotations

import functools
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # reports are written to files, never shown on a screen
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402

PALETTE = [
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#D55E00",  # vermillion
    "#F0E442",  # yellow
    "#000000",  # black
]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]
ONE_COLUMN_IN = 3.4
TWO_COLUMN_IN = 7.0
FORMATS = ("png", "pdf", "svg")
PNG_DPI = 300

RC = {
    "pdf.fonttype": 42,
    "ps.fonttype": 42,
    "svg.fonttype": "none",  # text stays text in SVG
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "legend.fontsize": 7,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "savefig.bbox": "tight",
}


def colour(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def marker(index: int) -> str:
    return MARKERS[index % len(MARKERS)]


def figure(n_panels: int = 1, wide: bool | None = None):
    """A figure with `n_panels` axes in a row, one column wide for one panel, two otherwise."""
    wide = n_panels > 1 if wide is None else wide
    width = TWO_COLUMN_IN if wide else ONE_COLUMN_IN
    columns = min(n_panels, 4)
    rows = -(-n_panels // columns)
    with plt.rc_context(RC):
        fig, axes = plt.subplots(
            rows, columns, figsize=(width, 2.3 * rows), squeeze=False, constrained_layout=True
        )
    for ax in axes.flat[n_panels:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:n_panels])


def styled(recipe):
    """Run a figure recipe inside the style's settings, so labels and legends added after
    `figure` returns get them too (matplotlib reads its settings as each artist is made)."""

    @functools.wraps(recipe)
    def wrapper(*args, **kwargs):
        with plt.rc_context(RC):
            return recipe(*args, **kwargs)

    return wrapper


def log_x(ax) -> None:
    """A log x axis labelled at 1 and 3 times each power of ten, as plain numbers (matplotlib's
    default labels every minor tick of a short range, and they overlap at paper sizes)."""
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0, 3.0)))
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())


def save(fig, out_dir: Path, name: str) -> list[Path]:
    """`out_dir/name.{png,pdf,svg}` (PNG at 300 dpi); closes the figure."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    with plt.rc_context(RC):
        for fmt in FORMATS:
            path = out_dir / f"{name}.{fmt}"
            fig.savefig(path, dpi=PNG_DPI if fmt == "png" else None, metadata=_metadata(fmt))
            paths.append(path)
    plt.close(fig)
    return paths


def _metadata(fmt: str) -> dict[str, str | None]:
    # No creation dates: the same results give byte-stable PDF and SVG files.
    if fmt == "pdf":
        return {"CreationDate": None, "Creator": "saeeval"}
    if fmt == "svg":
        return {"Date": None, "Creator": "saeeval"}
    return {"Software": "saeeval"}
