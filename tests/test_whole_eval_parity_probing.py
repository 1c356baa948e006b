"""Whole-eval parity of sparse probing, SCR and TPP with SAEBench's per-SAE entry points, on the
embedded SmolLM2 and its TransformerLens twin, at small sizes (tests/parity_probing.py explains
the comparisons; benchmarks/parity_report.py runs them at larger sizes and over seeds).

The random streams are aligned, so each metric computed with torch probes must agree to float
rounding: one test text classified differently moves a value by at least 1 / (its probe set's
size), far beyond the tolerance. Sparse probing's sklearn top-k probes are compared per class
probe instead (float32 L-BFGS may stop early depending on input rounding, and at these sizes it
does for one llm top-2 probe). Each test fails if, e.g., the full-width probe's learning rate or
SCR/TPP's top-n latent selection is off by a little. A shallow hook (layer 3) and 32-token
contexts keep the model passes short.
"""

from __future__ import annotations

import pytest
from helpers import fitted_pca_sae
from parity import assert_agree, markdown_table
from parity_probing import scr_tpp_comparisons, sparse_probing_comparisons

pytestmark = [pytest.mark.embedded, pytest.mark.filterwarnings("ignore::FutureWarning")]

HOOK = "blocks.3.hook_resid_post"
BIOS = "LabHC/bias_in_bios_class_set1"
SIZES = dict(seeds=[42], context_length=32)


@pytest.fixture(scope="module")
def pca_sae(embedded_model, tmp_path_factory):
    """A PCA TopK SAE (k = 32), fitted on training text no eval reads."""
    return fitted_pca_sae(embedded_model, HOOK, 32, tmp_path_factory.mktemp("pca"))


def _check(comparisons):
    print()
    print(markdown_table(comparisons))
    for comparison in comparisons:
        print(comparison.describe())
    assert comparisons
    assert_agree(comparisons)


def test_sparse_probing_matches_saebench(embedded_model, pca_sae, tmp_path):
    comparisons = sparse_probing_comparisons(
        embedded_model, pca_sae, tmp_path, train_size=40, test_size=20, datasets=[BIOS], **SIZES
    )
    assert len(comparisons) == 8  # llm and sae: full width, top 1, 2, 5
    _check(comparisons)


def test_scr_matches_saebench(embedded_model, pca_sae, tmp_path):
    comparisons = scr_tpp_comparisons(
        "scr", embedded_model, pca_sae, tmp_path, train_size=80, test_size=40, datasets=[BIOS],
        pairs={BIOS: [("professor", "nurse")]}, n_values=(2, 10, 20, 50), **SIZES,
    )  # fmt: skip
    # At least one ablation moves the biased probe: the comparison is not of zeros alone.
    assert any(c.reference[0] != 0 for c in comparisons if "threshold" in c.metric)
    _check(comparisons)


def test_tpp_matches_saebench(embedded_model, pca_sae, tmp_path):
    comparisons = scr_tpp_comparisons(
        "tpp", embedded_model, pca_sae, tmp_path, train_size=40, test_size=20, datasets=[BIOS],
        n_values=(2, 10, 20), **SIZES,
    )  # fmt: skip
    assert any(c.reference[0] != 0 for c in comparisons)
    _check(comparisons)
