"""Text datasets for activation collection: the built-in corpus, hub datasets or local files.

All three go through the `datasets` library and come out the same way: an iterator of document
strings in a seeded shuffled order, plus a fingerprint of the content and a provenance line that
results record.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from saeeval.data.corpus import OFFLINE_CORPUS_NAME, offline_corpus
from saeeval.errors import SaeevalError, one_line
from saeeval.hashing import file_sha256

OFFLINE_ALIASES = {"offline", OFFLINE_CORPUS_NAME}
# Local file suffix -> the `datasets` builder that reads it: tables (also what the classification
# datasets read from local files), and plain text for documents.
TABLE_BUILDERS = {".parquet": "parquet", ".jsonl": "json", ".json": "json", ".csv": "csv"}
_LOCAL_BUILDERS = {".txt": "text", ".text": "text", **TABLE_BUILDERS}


@dataclass
class TextDataset:
    name: str  # what results record as the dataset
    fingerprint: str  # content hash (built-in corpus, local file) or hub id
    provenance: str
    text_column: str
    seed: int
    _rows: Any = field(repr=False, default=None)  # a datasets Dataset or IterableDataset

    def texts(self) -> Iterator[str]:
        for row in self._rows:
            text = row[self.text_column]
            if text:
                yield text


# Exception classes (by name, wherever they are defined) that mean the hub could not be reached.
_UNREACHABLE = {
    "ConnectionError",
    "Timeout",
    "ConnectTimeout",
    "ReadTimeout",
    "OfflineModeIsEnabled",
}


def hub_load_error(what: str, hub_id: str, exc: Exception, instead: str) -> SaeevalError:
    """The error for a failed hub load, saying which failure it was: no connection (or offline
    mode), no such dataset, or anything else, with the library's own message. `instead` says what
    works without the hub."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    if isinstance(exc, (ConnectionError, TimeoutError)) or names & _UNREACHABLE:
        return SaeevalError(
            f"{what}: could not reach the Hugging Face hub for {hub_id} ({one_line(exc)}). "
            f"Without hub access {instead}"
        )
    if "DatasetNotFoundError" in names:
        return SaeevalError(
            f"{what}: the Hugging Face hub has no dataset {hub_id} that can be read here "
            f"({one_line(exc)}); check the name, or log in (huggingface-cli login) for a gated one"
        )
    return SaeevalError(f"{what}: loading {hub_id} failed: {type(exc).__name__}: {one_line(exc)}")


def _check_column(rows, column: str, source: str) -> None:
    columns = rows.column_names
    if columns is not None and column not in columns:
        raise SaeevalError(
            f"dataset {source} has no column {column!r} (columns: {', '.join(columns)}); "
            f"pass --text-column"
        )


def load_text_dataset(spec: str | None, text_column: str = "text", seed: int = 42) -> TextDataset:
    """Resolve `--dataset`: None/'offline' (built-in corpus), a local file, or a hub dataset id."""
    import datasets

    if spec is None or spec in OFFLINE_ALIASES:
        corpus = offline_corpus()
        rows = datasets.Dataset.from_dict({"text": corpus.documents}).shuffle(seed=seed)
        return TextDataset(
            corpus.name, f"sha256:{corpus.sha256}", corpus.provenance, "text", seed, rows
        )

    path = Path(spec).expanduser()
    if path.exists():
        if not path.is_file() or path.suffix.lower() not in _LOCAL_BUILDERS:
            raise SaeevalError(
                f"--dataset {spec}: a local dataset must be a file ending in "
                f"{', '.join(sorted(_LOCAL_BUILDERS))}"
            )
        builder = _LOCAL_BUILDERS[path.suffix.lower()]
        options = {"sample_by": "paragraph"} if builder == "text" else {}
        try:
            rows = datasets.load_dataset(builder, data_files=str(path), split="train", **options)
        except Exception as exc:  # datasets raises many types for malformed files
            raise SaeevalError(
                f"--dataset {spec}: could not read it as {builder}: {one_line(exc)}"
            ) from None
        _check_column(rows, text_column, str(path))
        return TextDataset(
            str(path),
            f"sha256:{file_sha256(path)}",
            f"local file {path}",
            text_column,
            seed,
            rows.shuffle(seed=seed),
        )

    try:
        rows = datasets.load_dataset(spec, split="train", streaming=True)
    except Exception as exc:  # datasets raises many types; each kind gets its own message
        raise hub_load_error(
            f"--dataset {spec}",
            spec,
            exc,
            "use --dataset offline (the built-in corpus) or a local .txt/.jsonl/.parquet file",
        ) from exc
    _check_column(rows, text_column, spec)
    return TextDataset(
        spec,
        f"hub:{spec}",
        f"Hugging Face hub dataset {spec} (train split)",
        text_column,
        seed,
        saebench_document_order(rows, seed),
    )


def saebench_document_order(rows, seed: int):
    """A streamed hub dataset in the order SAEBench's core eval reads it.

    SAEBench's core eval reads through SAELens' `ActivationsStore`, after
    `shuffle_input_dataset(seed=42)`: for a streamed dataset that shuffles the order of the
    dataset's shards and keeps the documents within each shard in order (a buffer of one). With
    the default --seed 42 we therefore read the very documents it reads, in its order.
    """
    return rows.shuffle(seed=seed, buffer_size=1)
