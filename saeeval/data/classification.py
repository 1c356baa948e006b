"""Labelled text datasets for sparse probing, SCR and TPP, selected exactly as SAEBench does.

Each SAEBench dataset name (e.g. `LabHC/bias_in_bios_class_set1`) maps to a hub dataset and a
selection procedure. Given the same underlying rows and seed, the texts per class come out
identical, in the same order, to SAEBench 0.6.0's:

- bias_in_bios sets / amazon category: per class, `size // 4` rows sampled from each of the two
  groups of the second column (gender, rating) with `pandas.sample(random_state=seed)`, group 0's
  samples first, not shuffled.
- amazon sentiment and ag_news: per class, `size // 2` rows sampled with `pandas.sample`.
- europarl: the first `n + 1` texts of each language (n = train//2 + test//2), then one
  `random.Random(seed)` shuffles each language's list in class order; train is the head, test the
  next slice.
- github-code: snippets longer than 534 characters, minus their first 150 characters, collected
  until every language has more than n; then shuffled and split like europarl.
- SCR: the first rows of the four (class, group) cells in dataset order, combined into six lists
  that one `numpy.random.default_rng(seed)` shuffles in turn.

Rows come from one of three sources: "offline" (the generated frames of
`saeeval.data.builtin_classification`), "hub" (the real hub dataset, loaded with the same
`datasets.load_dataset` calls SAEBench makes) or a local folder/file holding rows with the hub's
columns (europarl and github-code use flat `text`/`code` + `language` columns instead). If the
default offline frames are too small for a request, they are generated once more with
`rows_per_cell` = the rows each (class, group) cell needs.

Where SAEBench asserts, raises a KeyError, or silently drops a class that has too few rows, we raise
`SaeevalError` naming the dataset, the class or cell, and the counts needed and found.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from saeeval.data.builtin_classification import builtin_frame, default_rows_per_cell
from saeeval.data.dataset_names import (
    AG_NEWS,
    AMAZON_CATEGORIES,
    AMAZON_RATINGS,
    AMAZON_REVIEWS,
    BIAS_IN_BIOS,
    EUROPARL,
    GENDERS,
    GITHUB_CODE,
    PROFESSIONS,
)
from saeeval.data.text_datasets import TABLE_BUILDERS, hub_load_error
from saeeval.errors import SaeevalError, one_line

if TYPE_CHECKING:
    import pandas as pd

# --- SAEBench's constants (sae_bench_utils/dataset_info.py) ----------------------------------

# Class keys per dataset, in the order the evals use them.
CHOSEN_CLASSES: dict[str, list[str]] = {
    "LabHC/bias_in_bios_class_set1": ["0", "1", "2", "6", "9"],
    "LabHC/bias_in_bios_class_set2": ["11", "13", "14", "18", "19"],
    "LabHC/bias_in_bios_class_set3": ["20", "21", "22", "25", "26"],
    "canrager/amazon_reviews_mcauley_1and5": ["1", "2", "3", "5", "6"],
    "canrager/amazon_reviews_mcauley_1and5_sentiment": ["1.0", "5.0"],
    "codeparrot/github-code": ["C", "Python", "HTML", "Java", "PHP"],
    "fancyzhx/ag_news": ["0", "1", "2", "3"],
    "Helsinki-NLP/europarl": ["en", "fr", "de", "es", "nl"],
}

# SCR's second-column values per dataset: (the group the first probe is biased towards, the other).
SCR_COLUMN2_VALUES: dict[str, tuple] = {
    "LabHC/bias_in_bios_class_set1": ("male", "female"),
    "LabHC/bias_in_bios_class_set2": ("male", "female"),
    "LabHC/bias_in_bios_class_set3": ("male", "female"),
    "canrager/amazon_reviews_mcauley_1and5": (1.0, 5.0),
}

# SCR's class keys, in SAEBench's insertion order: each biased-pair key is probed against its
# "*_data_only" partner and vice versa. The literal names come from bias_in_bios, but the same keys
# serve every SCR dataset ("male" stands for the first column2 value, "professor" for the first
# column1 value).
PAIRED_CLASS_KEYS = {
    "male / female": "female_data_only",
    "professor / nurse": "nurse_data_only",
    "male_professor / female_nurse": "female_nurse_data_only",
}

# github-code: "Neurons in a Haystack" skips ~50 tokens of licence header; at ~3 characters per
# token, keep only snippets that still fill a 128-token context after the skip.
_CODE_SKIP_CHARS = 50 * 3
_CODE_MIN_CHARS = 128 * 3 + _CODE_SKIP_CHARS

# europarl: SAEBench streams one translation config per language and takes that language's side.
_EUROPARL_CONFIGS = {"en": "en-fr", "fr": "fr-it", "de": "de-en", "es": "es-fr", "nl": "nl-pt"}

_BATCH_ROWS = 1000


@dataclass(frozen=True)
class _Spec:
    hub_name: str
    kind: str  # "balanced" | "per_label" | "europarl" | "github"
    text_column: str
    label_column: str
    group_column: str | None = None  # the second column balanced within each class
    label_names: tuple | None = None  # SCR: class names, by id
    group_values: dict | None = None  # SCR: group name -> value in the frame
    # A label column that splits each class into several offline-frame cells without being
    # balanced (amazon sentiment: category); sizes the regenerated frame, nothing else.
    cell_column: str | None = None


_BIAS_IN_BIOS = _Spec(
    BIAS_IN_BIOS,
    "balanced",
    "hard_text",
    "profession",
    "gender",
    PROFESSIONS,
    GENDERS,
)
_AMAZON = _Spec(
    AMAZON_REVIEWS,
    "balanced",
    "text",
    "category",
    "rating",
    AMAZON_CATEGORIES,
    {rating: rating for rating in AMAZON_RATINGS},  # SCR names a rating group by its value
)
_SPECS = {
    "LabHC/bias_in_bios_class_set1": _BIAS_IN_BIOS,
    "LabHC/bias_in_bios_class_set2": _BIAS_IN_BIOS,
    "LabHC/bias_in_bios_class_set3": _BIAS_IN_BIOS,
    "canrager/amazon_reviews_mcauley_1and5": _AMAZON,
    "canrager/amazon_reviews_mcauley_1and5_sentiment": _Spec(
        _AMAZON.hub_name, "per_label", "text", "rating", cell_column="category"
    ),
    "fancyzhx/ag_news": _Spec(AG_NEWS, "per_label", "text", "label"),
    "Helsinki-NLP/europarl": _Spec(EUROPARL, "europarl", "text", "language"),
    "codeparrot/github-code": _Spec(GITHUB_CODE, "github", "code", "language"),
}


@dataclass(frozen=True)
class ClassTexts:
    """Texts per class key, in SAEBench's key order and text order."""

    name: str  # the SAEBench dataset name
    train: dict[str, list[str]]
    test: dict[str, list[str]]
    source: str  # "builtin", the hub id, or the local path the rows came from
    fingerprint: str  # sha256 over the keys and texts of both splits


class _TooFewRows(SaeevalError):
    """Too few rows for the requested sizes; `rows_per_cell` would be enough."""

    def __init__(self, message: str, rows_per_cell: int):
        super().__init__(message)
        self.rows_per_cell = rows_per_cell


# --- public entry points -----------------------------------------------------------------------


def load_class_texts(
    name: str, train_size: int, test_size: int, seed: int, source: str = "offline"
) -> ClassTexts:
    """Sparse probing / TPP data: SAEBench's `get_multi_label_train_test_data` followed by
    `ensure_shared_keys` and `filter_dataset` to `CHOSEN_CLASSES[name]` (in that order).

    Each class gets `2 * (size // 4)` texts for the bias_in_bios sets and amazon category,
    `size // 2` for the others.
    """
    spec = _spec(name)
    classes = CHOSEN_CLASSES[name]
    reader = _Reader(name, spec, source)
    divisor = 4 if spec.kind == "balanced" else 2
    n_train = _per_cell(name, "train_size", train_size, divisor)
    n_test = _per_cell(name, "test_size", test_size, divisor)

    def build(rows_per_cell: int | None) -> tuple[dict, dict]:
        if spec.kind in ("europarl", "github"):
            collect = _europarl_texts if spec.kind == "europarl" else _github_texts
            per_class = collect(reader, classes, n_train + n_test, rows_per_cell)
            return _shuffle_and_split(reader, per_class, n_train, n_test, seed)
        select = _balanced_classes if spec.kind == "balanced" else _sampled_classes
        train_df = reader.frame("train", rows_per_cell)
        test_df = reader.frame("test", rows_per_cell)
        train = select(reader, "train", train_df, classes, n_train, seed)
        test = select(reader, "test", test_df, classes, n_test, seed)
        return train, test

    train, test = reader.run(build)
    return ClassTexts(name, train, test, reader.provenance, _fingerprint(train, test))


def load_spurious_texts(
    name: str,
    column1_vals: tuple[str, str],
    column2_vals: tuple,
    train_size: int,
    test_size: int,
    seed: int,
    source: str = "offline",
) -> ClassTexts:
    """SCR data: SAEBench's `get_spurious_corr_data` on the train and test splits.

    `column1_vals` names two classes (professions or amazon categories, e.g. ("professor",
    "nurse")), `column2_vals` the two groups (`SCR_COLUMN2_VALUES[name]`). Returns the six
    `PAIRED_CLASS_KEYS` lists, each of `2 * (size // 4)` texts.
    """
    if name not in SCR_COLUMN2_VALUES:
        raise SaeevalError(
            f"SCR data: dataset {name!r} has no spurious-correlation split; "
            f"use one of {', '.join(SCR_COLUMN2_VALUES)}"
        )
    spec = _SPECS[name]
    classes = tuple(_scr_value(name, "column1_vals", v, spec.label_names) for v in column1_vals)
    groups = tuple(_scr_value(name, "column2_vals", v, spec.group_values) for v in column2_vals)
    if len(classes) != 2 or len(groups) != 2:
        raise SaeevalError(f"SCR data for {name}: column1_vals and column2_vals need two values")
    reader = _Reader(name, spec, source)
    q_train = _per_cell(name, "train_size", train_size, 4)
    q_test = _per_cell(name, "test_size", test_size, 4)

    def build(rows_per_cell: int | None) -> tuple[dict, dict]:
        labels = (column1_vals, column2_vals)
        train_df = reader.frame("train", rows_per_cell)
        test_df = reader.frame("test", rows_per_cell)
        train = _spurious_lists(reader, "train", train_df, classes, groups, labels, q_train, seed)
        test = _spurious_lists(reader, "test", test_df, classes, groups, labels, q_test, seed)
        return train, test

    train, test = reader.run(build)
    return ClassTexts(name, train, test, reader.provenance, _fingerprint(train, test))


# --- argument checks -----------------------------------------------------------------------------


def _spec(name: str) -> _Spec:
    if name not in _SPECS:
        raise SaeevalError(
            f"unknown classification dataset {name!r}; known: {', '.join(CHOSEN_CLASSES)}"
        )
    return _SPECS[name]


def _per_cell(name: str, what: str, size: int, divisor: int) -> int:
    # SAEBench divides the requested size among 2 classes (and 2 groups for the balanced sets);
    # a size that rounds down to zero would silently give empty classes.
    if size // divisor < 1:
        raise SaeevalError(
            f"{name}: {what}={size} leaves no texts per class; it must be at least {divisor}"
        )
    return size // divisor


def _scr_value(name: str, what: str, value: Any, mapping: tuple | dict) -> Any:
    """Map an SCR class/group name to the value stored in the frame."""
    if isinstance(mapping, tuple):
        if value in mapping:
            return mapping.index(value)
        known = ", ".join(mapping)
    else:
        if value in mapping:
            return mapping[value]
        known = ", ".join(repr(k) for k in mapping)
    raise SaeevalError(f"SCR data for {name}: {what} has unknown value {value!r}; known: {known}")


# --- where rows come from ------------------------------------------------------------------------


class _Reader:
    """Reads a dataset's rows from the chosen source: offline frames, the hub, or local files."""

    def __init__(self, name: str, spec: _Spec, source: str):
        self.name = name
        self.spec = spec
        self.source = source
        self._local_splits: dict | None = None  # streamed splits of a local source, opened once
        if source == "offline":
            self.provenance = "builtin"
            self.path = None
        elif source == "hub":
            self.provenance = spec.hub_name
            self.path = None
        else:
            self.path = Path(source).expanduser().resolve()
            if not self.path.exists():
                raise SaeevalError(
                    f"{name}: source {source!r} is neither 'offline', 'hub' nor an existing "
                    f"folder or file"
                )
            self.provenance = str(self.path)

    def run(self, build: Callable[[int | None], tuple[dict, dict]]) -> tuple[dict, dict]:
        """Build; while the offline frames fall short, regenerate them larger and build again.

        Each retry asks for more rows per cell than the last (one split may fall short only once
        the other has grown), so this ends: in a result or in a shortfall that growing cannot fix.
        """
        rows_per_cell = None
        while True:
            try:
                return build(rows_per_cell)
            except _TooFewRows as exc:
                if self.source != "offline" or exc.rows_per_cell <= (rows_per_cell or 0):
                    raise
                rows_per_cell = exc.rows_per_cell

    def frame(self, split: str, rows_per_cell: int | None = None) -> pd.DataFrame:
        """One split of a table-shaped dataset (bias_in_bios, amazon, ag_news) as a DataFrame."""
        import pandas as pd

        if self.source == "offline":
            if rows_per_cell is not None:  # grow a split, never shrink it below its default
                default = default_rows_per_cell(self.spec.hub_name, split)
                rows_per_cell = max(rows_per_cell, default)
            frame = builtin_frame(self.spec.hub_name, split, rows_per_cell)
        elif self.source == "hub":
            import datasets

            try:
                # SAEBench: load_dataset(name) (non-streaming), then one DataFrame per split.
                frame = datasets.load_dataset(self.spec.hub_name, split=split).to_pandas()
            except Exception as exc:  # each kind of failure gets its own message
                raise self._hub_error(exc) from exc
        else:
            if not self.path.is_dir():
                raise SaeevalError(
                    f"{self.name}: local source {self.path} must be a folder holding train and "
                    f"test files (e.g. train.parquet, test.parquet)"
                )
            splits = self._load_local()
            if split not in splits:
                raise SaeevalError(
                    f"{self.name}: local folder {self.path} has no {split} split (found: "
                    f"{', '.join(splits) or 'none'}); name the files train.* and test.*"
                )
            # Built from Python values, as SAEBench's pd.DataFrame(dataset[split]) is; read in
            # batches because row-by-row streaming is slow.
            batches = [pd.DataFrame(b) for b in splits[split].iter(batch_size=_BATCH_ROWS)]
            frame = pd.concat(batches, ignore_index=True) if batches else pd.DataFrame()
        columns = [self.spec.text_column, self.spec.label_column, self.spec.group_column]
        self._check_columns(split, [c for c in columns if c], list(frame.columns))
        return frame

    def stream(self, hub_kwargs: dict, rows_per_cell: int | None) -> Iterator[dict]:
        """Rows of a streamed dataset (europarl, github-code), in order, with flat columns from
        local and offline sources and the hub's own row shape from the hub."""
        if self.source == "offline":
            frame = builtin_frame(self.spec.hub_name, "train", rows_per_cell)
            return self._checked(frame.to_dict("records"))
        if self.source == "hub":
            import datasets

            try:
                return iter(datasets.load_dataset(self.spec.hub_name, streaming=True, **hub_kwargs))
            except Exception as exc:
                raise self._hub_error(exc) from exc
        rows = self._load_local()
        if "train" not in rows:
            raise SaeevalError(
                f"{self.name}: local source {self.path} has no train split; name the file "
                f"train.* or pass the file itself"
            )
        return self._checked(_batched_rows(rows["train"]))

    def _checked(self, rows) -> Iterator[dict]:
        """The rows, after checking the first one has the flat text and language columns."""
        rows = iter(rows)
        first = next(rows, None)
        if first is None:
            return iter(())
        needed = [self.spec.text_column, self.spec.label_column]
        self._check_columns("train", needed, list(first))
        return itertools.chain([first], rows)

    def _load_local(self) -> dict:
        if self._local_splits is None:
            self._local_splits = self._open_local()
        return self._local_splits

    def _open_local(self) -> dict:
        import datasets

        try:
            if self.path.is_dir():
                # The same split discovery the hub uses: train*/test* files of one format.
                return dict(datasets.load_dataset(str(self.path), streaming=True))
            builder = TABLE_BUILDERS.get(self.path.suffix.lower())
            if builder is None:
                raise SaeevalError(
                    f"{self.name}: local file {self.path} must end in {', '.join(TABLE_BUILDERS)}"
                )
            rows = datasets.load_dataset(
                builder, data_files=str(self.path), split="train", streaming=True
            )
            return {"train": rows}
        except SaeevalError:
            raise
        except Exception as exc:  # datasets raises many types for malformed files
            raise SaeevalError(
                f"{self.name}: could not read local source {self.path}: {one_line(exc)}"
            ) from None

    def _check_columns(self, split: str, needed: list[str], found: list[str]) -> None:
        missing = [c for c in needed if c not in found]
        if missing:
            raise SaeevalError(
                f"{self.where(split)}: missing column "
                f"{', '.join(repr(c) for c in missing)}; found columns: "
                f"{', '.join(map(str, found)) or 'none'}"
            )

    def _hub_error(self, exc: Exception) -> SaeevalError:
        return hub_load_error(
            self.name, self.spec.hub_name, exc, "use source 'offline' or a local folder"
        )

    def where(self, split: str) -> str:
        return f"{self.name} ({split} split from {self.provenance})"

    def too_few(self, split: str, what: str, found: int, needed: int, rows_per_cell: int):
        return _TooFewRows(
            f"{self.where(split)}: {what} has {found} rows, needs {needed}", rows_per_cell
        )


def _batched_rows(rows) -> Iterator[dict]:
    """Row dicts of a streamed dataset, read a batch at a time (much faster than row by row)."""
    for batch in rows.iter(batch_size=_BATCH_ROWS):
        columns = list(batch)
        for values in zip(*batch.values(), strict=True):
            yield dict(zip(columns, values, strict=True))


# --- selection procedures ------------------------------------------------------------------------


def _class_rows(frame: pd.DataFrame, column: str, key: str) -> pd.DataFrame:
    # SAEBench keys classes by str(value); selecting by that string picks the same rows.
    return frame[frame[column].map(str) == key]


def _balanced_classes(
    reader: _Reader, split: str, frame: pd.DataFrame, classes: list[str], per_group: int, seed: int
) -> dict[str, list[str]]:
    """bias_in_bios / amazon category: per class, `per_group` sampled texts from each group of the
    second column, groups in ascending order (SAEBench's get_balanced_dataset). Classes outside
    `classes` are never looked at, which changes nothing: every class is sampled on its own."""
    spec = reader.spec
    data = {}
    for key in classes:
        class_rows = _class_rows(frame, spec.label_column, key)
        groups = list(class_rows.groupby(spec.group_column))
        what = f"class {key!r}"
        if len(groups) != 2:
            found = ", ".join(f"{value!r} ({len(group)} rows)" for value, group in groups)
            raise _TooFewRows(
                f"{reader.where(split)}: {what} needs two {spec.group_column} groups of "
                f"{per_group} rows each, found {found or 'no rows'}",
                per_group,
            )
        texts = []
        for value, group in groups:
            if len(group) < per_group:
                cell = f"{what} with {spec.group_column}={value!r}"
                raise reader.too_few(split, cell, len(group), per_group, per_group)
            texts += group[spec.text_column].sample(n=per_group, random_state=seed).tolist()
        data[key] = texts
    return data


def _sampled_classes(
    reader: _Reader, split: str, frame: pd.DataFrame, classes: list[str], n: int, seed: int
) -> dict[str, list[str]]:
    """amazon sentiment / ag_news: `n` texts sampled per class (SAEBench's
    get_balanced_amazon_sentiment_dataset and gather_dataset_from_df)."""
    spec = reader.spec
    data = {}
    for key in classes:
        class_rows = _class_rows(frame, spec.label_column, key)
        if len(class_rows) < n:
            has_cells = spec.cell_column in class_rows.columns
            cells = class_rows[spec.cell_column].nunique() if has_cells else 1
            rows_per_cell = -(-n // max(cells, 1))  # the class's rows spread over its cells
            raise reader.too_few(split, f"class {key!r}", len(class_rows), n, rows_per_cell)
        data[key] = class_rows[spec.text_column].sample(n=n, random_state=seed).tolist()
    return data


def _europarl_texts(
    reader: _Reader, languages: list[str], n: int, rows_per_cell: int | None
) -> dict[str, list[str]]:
    """The first n + 1 texts of each language (SAEBench stops once a list is longer than n)."""
    per_language: dict[str, list[str]] = {language: [] for language in languages}
    if reader.source == "hub":
        # One streamed translation config per language, taking that language's side.
        for language in languages:
            config = _EUROPARL_CONFIGS[language]
            for row in reader.stream({"name": config, "split": "train"}, rows_per_cell):
                per_language[language].append(row["translation"][language])
                if len(per_language[language]) > n:
                    break
        return per_language
    # Flat rows: one pass, keeping each language's rows in file order.
    for row in reader.stream({}, rows_per_cell):
        texts = per_language.get(row["language"])
        if texts is not None and len(texts) <= n:
            texts.append(row["text"])
            if all(len(t) > n for t in per_language.values()):
                break
    return per_language


def _github_texts(
    reader: _Reader, languages: list[str], n: int, rows_per_cell: int | None
) -> dict[str, list[str]]:
    """Long-enough snippets minus their licence-header characters, in stream order, until every
    language has more than n (SAEBench's get_github_code_dataset)."""
    hub_kwargs = {"split": "train", "trust_remote_code": True, "languages": list(languages)}
    per_language: dict[str, list[str]] = {language: [] for language in languages}
    for row in reader.stream(hub_kwargs, rows_per_cell):
        language = row["language"]
        if language not in per_language:
            continue
        code = row["code"]
        if len(code) > _CODE_MIN_CHARS:
            per_language[language].append(code[_CODE_SKIP_CHARS:])
        if all(len(texts) > n for texts in per_language.values()):
            break
    return per_language


def _shuffle_and_split(
    reader: _Reader, per_class: dict[str, list[str]], n_train: int, n_test: int, seed: int
) -> tuple[dict, dict]:
    """One seeded Python RNG shuffles each class list in class order; train is the head and test
    the next slice. A private `random.Random(seed)` draws the same sequence as SAEBench's
    `random.seed(seed)` + `random.shuffle` without touching the global RNG."""
    rng = random.Random(seed)
    train, test = {}, {}
    for key, texts in per_class.items():
        if len(texts) < n_train + n_test:
            what = f"language {key!r} ({n_train} train + {n_test} test texts)"
            raise reader.too_few("train", what, len(texts), n_train + n_test, n_train + n_test + 1)
        texts = list(texts)
        rng.shuffle(texts)
        train[key] = texts[:n_train]
        test[key] = texts[n_train : n_train + n_test]
    return train, test


def _spurious_lists(
    reader: _Reader,
    split: str,
    frame: pd.DataFrame,
    classes: tuple,
    groups: tuple,
    labels: tuple,
    q: int,
    seed: int,
) -> dict[str, list[str]]:
    """SAEBench's get_spurious_corr_data: the first rows of each (class, group) cell in frame
    order, combined into six lists of 2q texts and shuffled by one numpy generator in turn."""
    import numpy as np

    spec = reader.spec
    class_pos, class_neg = classes
    group_pos, group_neg = groups

    def cell(class_value, group_value, minimum: int, i: int, j: int) -> list[str]:
        rows = frame[
            (frame[spec.label_column] == class_value) & (frame[spec.group_column] == group_value)
        ]
        if len(rows) < minimum:
            what = (
                f"cell {spec.label_column}={labels[0][i]!r}, {spec.group_column}={labels[1][j]!r}"
            )
            raise reader.too_few(split, what, len(rows), minimum, 2 * q + 1)
        return rows[spec.text_column].tolist()

    # The two cells that alone fill a 2q list must hold more than 2q rows (SAEBench asserts so).
    pos_pos = cell(class_pos, group_pos, 2 * q + 1, 0, 0)  # e.g. male professors
    pos_neg = cell(class_pos, group_neg, q, 0, 1)  # female professors
    neg_pos = cell(class_neg, group_pos, q, 1, 0)  # male nurses
    neg_neg = cell(class_neg, group_neg, 2 * q + 1, 1, 1)  # female nurses

    lists = [
        pos_pos[:q] + neg_pos[:q],  # "male / female": the first group, both classes
        pos_neg[:q] + neg_neg[:q],  # "female_data_only"
        pos_pos[:q] + pos_neg[:q],  # "professor / nurse": the first class, both groups
        neg_pos[:q] + neg_neg[:q],  # "nurse_data_only"
        pos_pos[: 2 * q],  # "male_professor / female_nurse"
        neg_neg[: 2 * q],  # "female_nurse_data_only"
    ]
    rng = np.random.default_rng(seed)
    for texts in lists:
        rng.shuffle(texts)
    keys = [key for pair in PAIRED_CLASS_KEYS.items() for key in pair]
    return dict(zip(keys, lists, strict=True))


# --- fingerprint ---------------------------------------------------------------------------------


def _fingerprint(train: dict[str, list[str]], test: dict[str, list[str]]) -> str:
    digest = hashlib.sha256()
    for split, data in (("train", train), ("test", test)):
        for key, texts in data.items():
            # A header with the text count, then one JSON string per text: unambiguous framing.
            digest.update(json.dumps([split, key, len(texts)]).encode() + b"\n")
            for text in texts:
                digest.update(json.dumps(text).encode() + b"\n")
    return digest.hexdigest()
