"""Whole-eval parity of absorption with SAEBench's `run_eval`, on the embedded SmolLM2 and its
TransformerLens twin, with the random streams aligned (tests/parity_absorption.py: SAEBench
reads saeeval's words and prompts, saeeval uses the probes SAEBench trained).

Every metric must then agree to float rounding, letter by letter: one word counted differently
moves a letter's count by one. benchmarks/parity_report.py also compares the two as each runs
by design, over seeds.
"""

from __future__ import annotations

import pytest
from helpers import fitted_pca_sae
from parity import assert_agree, markdown_table
from parity_absorption import aligned_absorption_comparisons

pytestmark = [pytest.mark.embedded, pytest.mark.filterwarnings("ignore::FutureWarning")]

HOOK = "blocks.6.hook_resid_post"  # the layer SAEBench reads is the SAE's (resid_post)


@pytest.fixture(scope="module")
def pca_sae(embedded_model, tmp_path_factory):
    """A PCA TopK SAE (k = 32), fitted on training text no eval reads."""
    return fitted_pca_sae(embedded_model, HOOK, 32, tmp_path_factory.mktemp("pca"))


def test_absorption_matches_saebench_on_aligned_streams(embedded_model, pca_sae, tmp_path):
    # 20 words a letter: about 10 letters pass the letter probe's F1, so every such letter is
    # measured (SAEBench would stop below 20 of them; both sides take the same override).
    comparisons = aligned_absorption_comparisons(
        embedded_model,
        pca_sae,
        tmp_path,
        seed=0,
        words_per_letter=20,
        overrides={"min_feats_for_eval": 1},
    )
    print()
    print(markdown_table(comparisons))
    by_metric = {c.metric: c for c in comparisons}
    assert by_metric["letters measured"].reference[0] >= 5
    # Some word is fully absorbed: the comparison is not of zeros alone.
    assert any(c.reference[0] > 0 for m, c in by_metric.items() if "num_full_absorption" in m)
    assert_agree(comparisons)
