"""Rows kept sparse (wide SAEs' per-text latents) read as the dense rows they stand for: batches,
columns, class-mean differences, and whole probe sets trained on them."""

from __future__ import annotations

import pytest
import torch

from saeeval.evals.probing.probes import train_probes
from saeeval.evals.probing.sparse_rows import SparseClasses, SparseProbeSet, SparseRows

N_ROWS, N_COLS = 120, 300
CLASSES = ("a", "b", "c")


def _sparse(dense: torch.Tensor) -> SparseRows:
    rows, cols = dense.nonzero(as_tuple=True)  # row-major, as the encoder's sums are kept
    return SparseRows(rows, cols, dense[rows, cols], tuple(dense.shape))


@pytest.fixture(scope="module")
def latents() -> torch.Tensor:
    """Non-negative, ~5% dense, with a few columns that fire more often for each class (rows
    are in class order, 40 a class), and two empty rows."""
    generator = torch.Generator().manual_seed(0)
    rate = torch.full((N_ROWS, N_COLS), 0.04)
    for i in range(len(CLASSES)):
        rate[i * 40 : (i + 1) * 40, i * 10 : i * 10 + 10] = 0.9
    fires = torch.rand(N_ROWS, N_COLS, generator=generator) < rate
    dense = torch.rand(N_ROWS, N_COLS, generator=generator) * fires
    dense[[3, 77]] = 0.0
    return dense


def test_sparse_rows_read_as_the_dense_rows(latents):
    sparse = _sparse(latents)
    picked = torch.tensor([77, 5, 3, 5, 119, 0])  # unordered, repeated, empty rows
    batch = sparse.sparse_rows(picked)
    assert batch.is_sparse and batch.shape == (6, N_COLS)
    assert torch.equal(batch.to_dense(), latents[picked])
    assert torch.equal(sparse.to_dense(), latents)
    counts = torch.arange(1, N_ROWS + 1, dtype=torch.float32)
    assert torch.equal(sparse.rows_divided_by(counts).to_dense(), latents / counts[:, None])

    probe_set = SparseProbeSet(sparse, picked)
    assert len(probe_set) == 6 and probe_set.shape == (6, N_COLS)
    assert torch.equal(probe_set[1:4].to_dense(), latents[picked[1:4]])
    columns = torch.tensor([2, 11, 250])
    assert torch.equal(probe_set.columns(columns), latents[picked][:, columns])
    labels = torch.tensor([1, 0, 1, 1, 0, 0], dtype=torch.int32)
    chosen = latents[picked]
    want = chosen[labels == 1].mean(0) - chosen[labels == 0].mean(0)
    torch.testing.assert_close(probe_set.mean_difference(labels, 1, 0), want)


@pytest.mark.parametrize("k", [None, 1, 5], ids=["full-width", "top-1", "top-5"])
def test_probes_on_sparse_rows_are_the_dense_probes(latents, k):
    """The same generator draws pick the same probe sets; the top-k probes then read the same
    columns, and the full-width torch probe reads sparse batches. Top-k accuracies are equal;
    the full-width probe sums in another order, so its accuracy may move by at most one test
    text (convex training keeps rounding differences at rounding size)."""
    order = torch.randperm(N_ROWS, generator=torch.Generator().manual_seed(1))
    train_rows = {c: order[order // 40 == i][:28] for i, c in enumerate(CLASSES)}
    test_rows = {c: order[order // 40 == i][28:] for i, c in enumerate(CLASSES)}
    dense_train = {c: latents[rows] for c, rows in train_rows.items()}
    dense_test = {c: latents[rows] for c, rows in test_rows.items()}
    sparse = _sparse(latents)
    options = {"use_sklearn": k is not None, "k": k, "epochs": 30, "batch_size": 16, "lr": 1e-2}

    g_dense, g_sparse = torch.Generator().manual_seed(2), torch.Generator().manual_seed(2)
    _, want = train_probes(dense_train, dense_test, generator=g_dense, **options)
    _, got = train_probes(
        SparseClasses(sparse, train_rows),
        SparseClasses(sparse, test_rows),
        generator=g_sparse,
        **options,
    )
    assert list(got) == list(CLASSES)
    assert min(want.values()) > 0.7  # the classes are separable: the probes learnt something
    one_text = 1 / (2 * 12)  # a balanced test set of 12 positives and 12 negatives
    for c in CLASSES:
        if k is None:
            assert abs(got[c] - want[c]) <= one_text + 1e-6, (c, got[c], want[c])
        else:
            assert got[c] == want[c], (c, got[c], want[c])
    # The generator ends where the dense run's does: the same draws, in the same order.
    assert torch.equal(torch.randperm(9, generator=g_dense), torch.randperm(9, generator=g_sparse))
