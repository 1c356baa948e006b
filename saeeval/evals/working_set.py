"""How much memory an eval's per-batch tensors may take; batches that shrink when memory runs out.

Evals stream SAE codes in batches sized from a byte budget, so that peak memory is the model, the
SAE's weights and this working set whatever the SAE's width. When a batch still runs out of memory
(a GPU shared with another job, a budget set too high) it is retried at half the size, and the
batches after it keep the smaller size: the run slows down instead of dying.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from typing import TypeVar

import torch

from saeeval.errors import SaeevalError
from saeeval.saes.column_blocks import (
    LatentEntries,
    TooManyEntries,
    encode_entries,
    encodes_in_column_blocks,
)

WORKING_SET_ENV = "SAEEVAL_WORKING_SET_MB"
DEFAULT_WORKING_SET_BYTES = 2**28  # 256 MiB: a few dense [rows, d_sae] float32 tensors
FLOAT32_BYTES = 4

T = TypeVar("T")
log = logging.getLogger("saeeval")


def working_set_bytes() -> int:
    """The byte budget of one batch's working tensors: $SAEEVAL_WORKING_SET_MB, or 256 MiB."""
    value = os.environ.get(WORKING_SET_ENV)
    if value is None or value == "":
        return DEFAULT_WORKING_SET_BYTES
    try:
        megabytes = float(value)
    except ValueError:
        megabytes = -1.0
    if megabytes <= 0:
        raise SaeevalError(f"${WORKING_SET_ENV} must be a positive number of MiB, got {value!r}")
    return int(megabytes * 2**20)


def rows_within_budget(d_sae: int, dense_copies: int, budget: int | None = None) -> int:
    """How many rows fit when each row holds `dense_copies` float32 vectors of `d_sae` latents."""
    budget = working_set_bytes() if budget is None else budget
    return max(1, budget // (dense_copies * FLOAT32_BYTES * d_sae))


def is_out_of_memory(error: BaseException) -> bool:
    """A failed allocation, on the GPU (torch.OutOfMemoryError) or in RAM (MemoryError, or the
    RuntimeError torch's CPU allocator raises when malloc fails)."""
    if isinstance(error, torch.OutOfMemoryError | MemoryError):
        return True
    message = str(error)
    return isinstance(error, RuntimeError) and (
        "can't allocate memory" in message or "out of memory" in message
    )


def in_batches(
    n: int, batch_size: int, compute: Callable[[int, int], T], what: str = "batch"
) -> Iterator[tuple[int, int, T]]:
    """(start, stop, compute(start, stop)) over [0, n) in batches of `batch_size`.

    A batch that runs out of memory is computed again at half the size; later batches keep the
    smaller size. `compute` must leave no state behind when it raises (the caller accumulates only
    what is yielded), so a retried batch counts once."""
    size, start = max(1, batch_size), 0
    while start < n:
        stop = min(n, start + size)
        try:
            result = compute(start, stop)
        except (RuntimeError, MemoryError) as error:
            if not is_out_of_memory(error) or stop - start == 1:
                raise
            size = max(1, (stop - start) // 2)
            reason = error if isinstance(error, TooManyEntries) else "out of memory"
            log.warning("%s on a %s of %d rows; retrying at %d", reason, what, stop - start, size)
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            continue
        yield start, stop, result
        start = stop


# Per encoded row: the SAE's pre-activations and its latents.
ENCODE_COPIES_PER_ROW = 2


def encoded_rows(
    sae,
    x: torch.Tensor,
    columns: torch.Tensor | None = None,
    max_rows: int | None = None,
    on_sae_device: bool = False,
) -> torch.Tensor:
    """float32 latents of the rows of x [n, d_in] (only `columns` of them, if given), encoded
    in batches of at most `max_rows` rows that fit the working-set budget; on the CPU, or with
    `on_sae_device` where the SAE is (for arithmetic that runs there next). `columns` must not
    repeat a latent."""
    device = sae.device if on_sae_device else torch.device("cpu")
    if columns is not None and encodes_in_blocks(sae):
        return _columns_of_entries(sae, x, columns, max_rows, device)
    size = rows_within_budget(sae.d_sae, ENCODE_COPIES_PER_ROW)
    size = min(size, max_rows) if max_rows else size
    ids = None if columns is None else columns.to(sae.device)

    def encode(start: int, stop: int) -> torch.Tensor:
        latents = sae.encode(x[start:stop].to(sae.device))
        return (latents if ids is None else latents[:, ids]).float().to(device)

    with torch.no_grad():
        parts = [part for _, _, part in in_batches(len(x), size, encode, "SAE encoding batch")]
    if not parts:
        width = sae.d_sae if columns is None else len(columns)
        return torch.zeros(0, width, device=device)
    return torch.cat(parts)


# Per row of a batch kept as its non-zero latents: pre-activations, latents and the non-zero mask.
ENTRY_COPIES_PER_ROW = 3
# A non-zero latent kept as an entry: its row and latent index (int64) and value (float32).
ENTRY_BYTES = 20
# Rows per batch when a wide SAE is encoded a block of latents at a time. A dense batch of fewer
# rows than DENSE_ENCODE_MIN_ROWS reads the encoder matrix too often to be fast: on a 2-core CPU,
# 1,024-row batches in blocks ran 1.5x faster than dense ones at 262k latents and 3.8x at 1M,
# and the same at 131k, where dense batches hold 170 rows.
BLOCKED_ENCODE_ROWS = 1024
DENSE_ENCODE_MIN_ROWS = 128


def encodes_in_blocks(sae) -> bool:
    """Whether `latent_entries_in_batches` encodes `sae` a block of latents at a time: its
    architecture allows it, and a dense batch in the budget would hold too few rows."""
    dense_rows = rows_within_budget(sae.d_sae, ENTRY_COPIES_PER_ROW)
    return encodes_in_column_blocks(sae) and dense_rows < DENSE_ENCODE_MIN_ROWS


def latent_entries_in_batches(
    sae, x: torch.Tensor, max_rows: int | None = None, what: str = "SAE encoding batch"
) -> Iterator[tuple[int, int, LatentEntries]]:
    """(start, stop, the non-zero latents of rows [start, stop) of x [n, d_in]) over every row,
    in batches of at most `max_rows` rows within the working-set budget. A wide SAE whose
    architecture allows it is encoded many rows at a time, a block of latents at a time
    (`saeeval.saes.column_blocks`); otherwise in dense batches whose non-zero entries are kept.
    Entries are on the SAE's device, in its dtype."""
    if encodes_in_blocks(sae):
        budget, rows = working_set_bytes(), BLOCKED_ENCODE_ROWS
        width = max(1, budget // (ENTRY_COPIES_PER_ROW * FLOAT32_BYTES * rows))

        @torch.no_grad()
        def encode(start: int, stop: int) -> LatentEntries:
            # An SAE far from sparse makes too many entries for the budget: fewer rows then.
            rows_in = x[start:stop].to(sae.device)
            return encode_entries(sae, rows_in, width, max_entries=budget // ENTRY_BYTES)

    else:
        rows = rows_within_budget(sae.d_sae, ENTRY_COPIES_PER_ROW)

        @torch.no_grad()
        def encode(start: int, stop: int) -> LatentEntries:
            latents = sae.encode(x[start:stop].to(sae.device))
            at, latent = latents.nonzero(as_tuple=True)
            return LatentEntries(at, latent, latents[at, latent])

    yield from in_batches(len(x), min(rows, max_rows or rows), encode, what)


def _columns_of_entries(
    sae, x: torch.Tensor, columns: torch.Tensor, max_rows: int | None, device: torch.device
) -> torch.Tensor:
    """`encoded_rows`' [n, len(columns)] for a wide SAE, filled from its non-zero latents."""
    position = torch.full((sae.d_sae,), -1, dtype=torch.long, device=sae.device)
    position[columns.to(sae.device)] = torch.arange(len(columns), device=sae.device)
    out = torch.zeros(len(x), len(columns), device=device)
    for start, _, entries in latent_entries_in_batches(sae, x, max_rows):
        at = position[entries.cols]
        kept = at >= 0
        rows = (entries.rows[kept] + start).to(device)
        out[rows, at[kept].to(device)] = entries.values[kept].float().to(device)
    return out
