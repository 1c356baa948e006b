"""Whole-eval parity of unlearning with SAEBench's `run_eval`, on the embedded SmolLM2 and its
TransformerLens twin, at small sizes (tests/parity_unlearning.py explains how the inputs are
aligned; benchmarks/parity_report.py runs it at larger sizes).

Nothing random is left on either side, so the score, the forget and retain accuracies and the
number of known questions per set must agree exactly: one question answered differently moves
an accuracy by 1 / (its set's size). The clamp is strong enough that it changes answers, so the
comparison is not of two untouched models.
"""

from __future__ import annotations

import pytest
from helpers import fitted_pca_sae
from parity import assert_agree, markdown_table
from parity_unlearning import unlearning_comparisons

pytestmark = [pytest.mark.embedded, pytest.mark.filterwarnings("ignore::FutureWarning")]

HOOK = "blocks.6.hook_resid_post"
SIZES = dict(
    dataset_size=16,
    seq_len=128,
    max_questions=20,
    retain_thresholds=[0.01],
    n_features_list=[10],
    multipliers=[25],
)


@pytest.fixture(scope="module")
def pca_sae(embedded_model, tmp_path_factory):
    """A PCA TopK SAE (k = 16), fitted on training text no eval reads."""
    return fitted_pca_sae(embedded_model, HOOK, 16, tmp_path_factory.mktemp("pca"))


def test_unlearning_matches_saebench(embedded_model, pca_sae, tmp_path):
    comparisons = unlearning_comparisons(embedded_model, pca_sae, tmp_path, sizes=SIZES)
    print()
    print(markdown_table(comparisons))
    by_metric = {c.metric: c for c in comparisons}
    # score, mean forget and retain accuracy, and one known-question count per question set
    assert len(comparisons) >= 4
    known = [c for name, c in by_metric.items() if name.startswith("known questions")]
    assert known and all(c.reference[0] > 0 for c in known), "no set has a known question"
    # The clamp changes some answer on the reference side (accuracies start at 1 on known
    # questions), so agreement is more than two untouched models agreeing.
    forget = by_metric["mean forget accuracy over settings"].reference[0]
    retain = by_metric["mean retain accuracy over settings"].reference[0]
    assert min(forget, retain) < 1.0, (forget, retain)
    assert_agree(comparisons)
