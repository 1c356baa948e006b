"""Small builders shared by tests: SAEs with chosen weights, saved to real folders."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest
import torch

from saeeval.activations import ActivationCache
from saeeval.saes import ARCHITECTURE_SPECS, SAE, SAEConfig, save_sae


class RecordingCache(ActivationCache):
    """The real activation cache, also noting each entry asked for: per kind, (folder, complete
    already?) and the model identities the keys named."""

    def __init__(self):
        super().__init__()
        self.asked: dict[str, set[tuple[str, bool]]] = defaultdict(set)
        self.models: dict[str, set[str]] = defaultdict(set)

    def entry(self, kind, fields):
        entry = super().entry(kind, fields)
        self.asked[kind].add((entry.folder.name, entry.complete))
        self.models[kind].add(fields.get("model"))
        return entry

    def forget(self) -> None:
        """Forget what was asked for so far (before another run on the same cache)."""
        self.asked.clear()
        self.models.clear()

    def assert_keys_name(self, model) -> None:
        """Every entry asked for was keyed by `model`'s weights, dtype and device."""
        assert self.models, "no cache entry was asked for"
        for kind, models in self.models.items():
            assert models == {model.cache_identity}, (kind, models)


def random_sae(
    architecture: str,
    d_in: int,
    d_sae: int,
    hook: str,
    seed: int = 0,
    model_name: str | None = None,
    k: int = 8,
    scale: float = 0.3,
) -> SAE:
    """An SAE with random weights and unit-norm decoder rows (as trained SAEs have)."""
    generator = torch.Generator().manual_seed(seed)
    spec = ARCHITECTURE_SPECS[architecture]
    cfg = SAEConfig(
        architecture=architecture,
        d_in=d_in,
        d_sae=d_sae,
        hook_name=hook,
        model_name=model_name,
        k=k if "k" in spec.config_fields else None,
    )
    sae = SAE(cfg)
    with torch.no_grad():
        for param in sae.parameters():
            param.copy_(torch.randn(param.shape, generator=generator) * scale)
        sae.W_dec.div_(sae.W_dec.norm(dim=-1, keepdim=True))
        if "threshold" in spec.parameters:
            sae.threshold.copy_(torch.rand(d_sae, generator=generator) * 0.5)
    return sae


def saved(sae: SAE, folder: Path) -> Path:
    save_sae(sae, folder)
    return folder


# The folder of sae-bench's evals/ that ships each eval type's output schema.
_SCHEMA_FOLDERS = {
    "core": "core",
    "absorption_first_letter": "absorption",
    "sparse_probing": "sparse_probing",
    "scr": "scr_and_tpp",
    "tpp": "scr_and_tpp",
    "unlearning": "unlearning",
}


def saebench_schema(eval_type_id: str) -> dict:
    """The JSON schema the installed sae-bench ships for an eval type's result file."""
    import sae_bench

    folder = Path(sae_bench.__file__).parent / "evals" / _SCHEMA_FOLDERS[eval_type_id]
    return json.loads((folder / f"eval_output_schema_{eval_type_id}.json").read_text())


def text_activations_from_padded(acts: torch.Tensor):
    """Our TextActivations from SAEBench's [n_texts, context_length, d] layout, masked positions
    zeroed (SAEBench's own test for a masked position: its row sums to zero)."""
    from saeeval.evals.probing.text_activations import TextActivations

    valid = acts.sum(dim=-1) != 0
    return TextActivations(acts[valid], valid.sum(dim=1), acts.shape[1])


def pooled_activations(stats) -> torch.Tensor:
    """Mean activation over valid positions in the activation dtype (SAEBench's
    create_meaned_model_activations), from our per-text statistics."""
    return stats.act_sum / stats.count[:, None]


def marker_pixels(image, index: int) -> int:
    """How many pixels of a figure (an RGB(A) array from imread) have the colour of the report
    palette's entry `index`: how a test sees that the figure plots that many series."""
    import matplotlib
    import numpy as np

    from saeeval.reports.style import colour as palette_colour

    colour = matplotlib.colors.to_rgb(palette_colour(index))
    return int((np.abs(image[..., :3] - np.array(colour)).max(axis=-1) < 0.02).sum())


def assert_intervals_match_headlines(result: dict, min_metrics: int = 1) -> None:
    """Every headline metric with recorded units: the units reproduce the headline value and the
    95% interval holds it; at least `min_metrics` metrics carry an interval."""
    import math

    from saeeval.evals.registry import headline_metrics
    from saeeval.uncertainty import KEY, interval, metric_units

    headline = {m.key: m for m in headline_metrics(result["eval_type_id"])}
    recorded = result["eval_result_unstructured"][KEY]
    assert recorded["level"] == 0.95 and "bootstrap" in recorded["method"]
    assert set(recorded["metrics"]) <= set(headline)
    with_interval = 0
    for key, entry in recorded["metrics"].items():
        value = headline[key].value(result)
        units = metric_units(result, key)
        # The headlines are float32 means, as in the reference; the units are float64 sums. A score
        # such as (ablated - sae) / (ablated - clean) near 0 loses float32's ~1e-7 relative
        # precision of ~4-nat losses to cancellation: about 1e-5 absolute.
        assert units.point() == pytest.approx(value, rel=1e-5, abs=2e-5), key
        assert entry["value"] == units.point(), key
        assert (entry["ci_low"], entry["ci_high"]) == interval(units)
        if entry["ci_low"] is not None:
            with_interval += 1
            assert entry["ci_low"] <= value + 1e-9 and value - 1e-9 <= entry["ci_high"], key
            assert math.isfinite(entry["ci_low"]) and math.isfinite(entry["ci_high"])
    assert with_interval >= min_metrics


def fitted_pca_sae(model, hook: str, k: int, work: Path) -> Path:
    """A PCA TopK SAE at `hook`, fitted on 16 training contexts of 64 tokens (text no eval
    reads), saved under `work`: the SAE of the whole-eval parity tests."""
    from saeeval.activations import ActivationCache
    from saeeval.data import load_contexts, load_text_dataset
    from saeeval.trainers.pca import fit_pca_sae

    contexts = load_contexts(
        model.tokenizer, model.bos_token_id, load_text_dataset(None), 64, 16, part="train"
    )
    sae = fit_pca_sae(model, contexts, hook, ActivationCache(work / "fit"), k=k, n_contexts=16)
    return save_sae(sae, work / "sae")
