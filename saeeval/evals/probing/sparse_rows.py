"""Per-text SAE latents kept as their non-zero entries, and probe sets read from them.

A wide SAE's per-text sums or means are nearly all zeros (a TopK SAE's text of L tokens has at
most L * k non-zero latents, whatever the width), so past the working-set budget the probing evals
keep only those entries. `SparseRows` is that matrix; `SparseProbeSet` is the rows one binary probe
trains or tests on, read as sparse batches (the full-width probe), as dense columns (the top-k
probes) or as class-mean differences (top-k selection), without a dense [n_texts, d_sae] copy.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import torch
from torch import Tensor


@dataclass
class SparseRows:
    """A [n_rows, n_cols] float32 matrix kept as its non-zero entries, each (row, col) once, in
    row-major order."""

    rows: Tensor  # [nnz] int64
    cols: Tensor  # [nnz] int64
    values: Tensor  # [nnz] float32
    shape: tuple[int, int]

    def columns(self, mask: Tensor) -> Tensor:
        """Dense [n_rows, mask.sum()]: the columns `mask` picks, in column order."""
        new_col = torch.cumsum(mask.long(), 0) - 1
        picked = mask[self.cols]
        out = torch.zeros(self.shape[0], int(mask.sum()), device=self.values.device)
        out[self.rows[picked], new_col[self.cols[picked]]] = self.values[picked]
        return out

    def weighted_row_sum(self, weights: Tensor) -> Tensor:
        """[n_cols]: the sum over rows of weights[row] * row."""
        out = torch.zeros(self.shape[1], device=self.values.device)
        return out.index_add_(0, self.cols, weights[self.rows] * self.values)

    def rows_divided_by(self, divisors: Tensor) -> SparseRows:
        """Each row divided by its divisor (per-text sums by counts: per-text means), entry by
        entry as dividing the dense matrix would."""
        return SparseRows(self.rows, self.cols, self.values / divisors[self.rows], self.shape)

    def to_dense(self) -> Tensor:
        out = torch.zeros(self.shape, device=self.values.device)
        out[self.rows, self.cols] = self.values
        return out

    @cached_property
    def _row_starts(self) -> Tensor:
        """[n_rows + 1]: where each row's entries start (entries are in row-major order)."""
        counts = torch.bincount(self.rows, minlength=self.shape[0])
        return torch.cat([counts.new_zeros(1), torch.cumsum(counts, 0)])

    def sparse_rows(self, picked: Tensor) -> Tensor:
        """A torch sparse COO [len(picked), n_cols] of the rows `picked`, in that order."""
        starts = self._row_starts
        picked = picked.to(starts.device)
        lengths = starts[picked + 1] - starts[picked]
        total = int(lengths.sum())
        # Entry i of the batch is entry (first of its row) + (its rank within the row).
        device = starts.device
        first_of_row = torch.repeat_interleave(starts[picked], lengths)
        row_of_entry = torch.repeat_interleave(torch.arange(len(picked), device=device), lengths)
        batch_start = torch.repeat_interleave(torch.cumsum(lengths, 0) - lengths, lengths)
        entries = first_of_row + torch.arange(total, device=device) - batch_start
        return torch.sparse_coo_tensor(
            torch.stack([row_of_entry, self.cols[entries]]),
            self.values[entries],
            (len(picked), self.shape[1]),
            is_coalesced=True,
            check_invariants=False,  # unique and row-major by construction
        )


@dataclass
class SparseClasses:
    """Rows of a `SparseRows` grouped by class, as probing groups dense rows into a dict."""

    matrix: SparseRows
    rows_by_class: dict[str, Tensor]  # class -> row numbers in `matrix`

    def __iter__(self):
        return iter(self.rows_by_class)

    def lengths(self) -> dict[str, int]:
        return {key: len(rows) for key, rows in self.rows_by_class.items()}

    def matrix_rows(self, numbers: Tensor) -> Tensor:
        """`matrix` row numbers of rows numbered class after class, in dict order."""
        return torch.cat(list(self.rows_by_class.values()))[numbers]


@dataclass
class SparseProbeSet:
    """The inputs of one binary probe: rows of `matrix` in probe-set order. Reads as a tensor
    does where probe training reads its inputs (len, shape, device, dtype, indexing), giving
    sparse batches."""

    matrix: SparseRows
    picked: Tensor  # [n] row numbers in `matrix`

    def __len__(self) -> int:
        return len(self.picked)

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self.picked), self.matrix.shape[1])

    @property
    def device(self) -> torch.device:
        return self.matrix.values.device

    @property
    def dtype(self) -> torch.dtype:
        return self.matrix.values.dtype

    def __getitem__(self, index: Tensor | slice) -> Tensor:
        return self.matrix.sparse_rows(self.picked[index])

    def columns(self, columns: Tensor) -> Tensor:
        """Dense [n, len(columns)]: the columns (ascending indices) of every row."""
        mask = torch.zeros(self.matrix.shape[1], dtype=torch.bool, device=self.device)
        mask[columns.to(self.device)] = True
        return self.matrix.columns(mask)[self.picked.to(self.device)]

    def mean_difference(self, labels: Tensor, positive: int, negative: int) -> Tensor:
        """[n_cols]: the positive rows' mean minus the negative rows' mean."""
        weights = mean_difference_weights(
            self.picked, labels, self.matrix.shape[0], positive, negative
        )
        return self.matrix.weighted_row_sum(weights.to(self.device))


def mean_difference_weights(
    rows: Tensor, labels: Tensor, n_rows: int, positive: int = 1, negative: int = 0
) -> Tensor:
    """[n_rows] float32 weights whose weighted sum of rows is the mean of the `positive` rows
    minus the mean of the `negative` rows (each of `rows` labelled by `labels`). An empty side
    adds nothing, as the mean of no rows is taken to be zero."""
    rows, labels = rows.cpu(), labels.cpu()
    weights = torch.zeros(n_rows, dtype=torch.float64)
    for label, sign in ((positive, 1.0), (negative, -1.0)):
        side = rows[labels == label]
        if len(side):
            weights.index_add_(
                0, side, torch.full((len(side),), sign / len(side), dtype=torch.float64)
            )
    return weights.to(torch.float32)
