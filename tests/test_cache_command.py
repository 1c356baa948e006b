"""`saeeval cache`: what the cache holds, per kind of entry, and clearing all or some of it."""

from __future__ import annotations

import torch
from typer.testing import CliRunner

from saeeval.activations.cache import ActivationCache
from saeeval.cache_dir import cache_usage, clear_cache
from saeeval.cli import app


def _fill(folder):
    """Entries as the activation store writes them, plus a converted-model folder."""
    store = ActivationCache(root=folder)
    for n, kind in enumerate(["acts", "acts", "scr-probes"]):
        entry = store.entry(kind, {"n": n})
        entry.save_chunk(0, {"acts": torch.zeros(256, 8)})
        entry.mark_complete({"n": n})
    (folder / "models" / "smollm2").mkdir(parents=True)
    (folder / "models" / "smollm2" / "weights.bin").write_bytes(b"x" * 1000)


def test_usage_counts_entries_and_bytes_per_kind(isolated_cache):
    _fill(isolated_cache)
    usage = cache_usage()
    assert set(usage) == {"activations/acts", "activations/scr-probes", "models"}
    assert usage["activations/acts"][0] == 2 and usage["activations/scr-probes"][0] == 1
    # 256 x 8 float32 zeros per chunk, plus the safetensors header and meta.json.
    assert usage["activations/acts"][1] > 2 * 256 * 8 * 4
    assert usage["models"] == (1, 1000)


def test_clearing_one_kind_keeps_the_others(isolated_cache):
    _fill(isolated_cache)
    removed, freed = clear_cache(["activations/acts"])
    assert removed == 2 and freed > 2 * 256 * 8 * 4
    assert set(cache_usage()) == {"activations/scr-probes", "models"}
    # A prefix covers every kind under it.
    assert clear_cache(["activations"])[0] == 1
    assert set(cache_usage()) == {"models"}


def test_cli_lists_clears_and_names_an_unknown_kind(isolated_cache):
    _fill(isolated_cache)
    runner = CliRunner()
    shown = runner.invoke(app, ["cache"])
    assert shown.exit_code == 0 and "activations/acts" in shown.output and "total" in shown.output
    unknown = runner.invoke(app, ["cache", "--clear", "--kind", "acts-typo"])
    assert unknown.exit_code == 2 and "'acts-typo'" in unknown.output
    assert set(cache_usage()) == {"activations/acts", "activations/scr-probes", "models"}
    cleared = runner.invoke(app, ["cache", "--clear"])
    assert cleared.exit_code == 0 and "removed 4 entries" in cleared.output
    assert cache_usage() == {}
