"""Question sets and texts of the unlearning eval, from the hub or built in.

On hub data the questions are WMDP's `wmdp-bio` and MMLU subjects, loaded with the
`datasets.load_dataset` calls SAEBench makes (`cais/wmdp`/`cais/mmlu`, test split); the retain
text is wikitext-2's test split, the forget text WMDP's gated bio forget corpus, which the user
downloads and passes as a local .jsonl or .parquet file. A local folder shaped like a hub dataset
(its README's configs and the same files) goes through the same call. Offline, the built-in
banks and texts of `saeeval.data.builtin_unlearning` stand in, with the hub's columns.

Every set and text carries a content fingerprint, which keys the caches built from it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from saeeval.cache_dir import cache_root
from saeeval.data.builtin_unlearning import (
    BUILTIN_BANKS,
    BUILTIN_FORGET_SET,
    BUILTIN_RETAIN_SETS,
    builtin_forget_texts,
    builtin_question_rows,
    builtin_retain_texts,
    builtin_subject,
)
from saeeval.errors import SaeevalError, one_line
from saeeval.hashing import file_sha256

__all__ = [
    "BUILTIN_FORGET_SET",
    "BUILTIN_RETAIN_SETS",
    "SAEBENCH_DATASET_NAMES",
    "QuestionSet",
    "TextCorpus",
    "load_forget_corpus",
    "load_question_set",
    "load_retain_corpus",
]

# SAEBench's forget set and its four MMLU subjects.
SAEBENCH_DATASET_NAMES = (
    "wmdp-bio",
    "high_school_us_history",
    "college_computer_science",
    "high_school_geography",
    "human_aging",
)
WMDP_CONFIG = "wmdp-bio"
WIKITEXT_CONFIG = "wikitext-2-raw-v1"
MIN_TEXT_CHARS = 50  # SAEBench keeps forget and retain texts longer than this
N_CHOICES = 4
FORGET_CORPUS_HELP = (
    "the unlearning eval on hub data reads WMDP's bio forget corpus, which is gated: request "
    "access to the Hugging Face dataset cais/wmdp-bio-forget-corpus (SAEBench's unlearning "
    "README links the request form), download it (jsonl, or the hub's parquet) and pass "
    "--set unlearning.forget_corpus=PATH"
)


@dataclass(frozen=True)
class QuestionSet:
    """Four-choice questions with WMDP/MMLU's columns: question, choices, answer (an index)."""

    name: str  # what configs and results call it: "wmdp-bio", "high_school_geography", ...
    subject: str  # what the questions are about, for the prompt's first line
    questions: list[str]
    choices: list[list[str]]
    answers: list[int]
    provenance: str
    fingerprint: str

    def __len__(self) -> int:
        return len(self.questions)


@dataclass(frozen=True)
class TextCorpus:
    """Documents of the forget or the retain text, those longer than SAEBench's minimum."""

    name: str
    texts: list[str]
    provenance: str
    fingerprint: str


def _sha256(payload: Any) -> str:
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def question_set_from_rows(
    name: str, subject: str, rows: Iterable[dict[str, Any]], provenance: str
) -> QuestionSet:
    """A set from rows with the hub's columns, each row checked."""
    questions, choices, answers = [], [], []
    for index, row in enumerate(rows):
        where = f"question set {name} ({provenance}), row {index}"
        missing = [c for c in ("question", "choices", "answer") if c not in row]
        if missing:
            raise SaeevalError(f"{where} lacks the column(s) {', '.join(missing)}")
        options = list(row["choices"])
        answer = row["answer"]
        if len(options) != N_CHOICES or not all(isinstance(o, str) for o in options):
            raise SaeevalError(f"{where}: expected {N_CHOICES} text choices, got {options!r}")
        if isinstance(answer, bool) or not isinstance(answer, int) or not 0 <= answer < N_CHOICES:
            raise SaeevalError(f"{where}: answer must be an index 0..3, not {answer!r}")
        questions.append(str(row["question"]))
        choices.append(options)
        answers.append(int(answer))
    if not questions:
        raise SaeevalError(f"question set {name} ({provenance}) has no questions")
    fingerprint = _sha256([name, subject, questions, choices, answers])
    return QuestionSet(name, subject, questions, choices, answers, provenance, fingerprint)


def _load_hub(path: str, config: str, split: str, what: str, field: str):
    """`datasets.load_dataset(path, config, split=split)`, a hub id or a local folder."""
    import datasets

    folder = Path(path).expanduser()
    # `datasets` caches a local folder's dataset under the folder's name and file layout, not
    # its content, so a second copy of the same name would read the first: each local folder
    # gets a cache of its own, named by its files' names, sizes and times.
    local = {"cache_dir": str(_local_cache(folder))} if folder.is_dir() else {}
    try:
        return datasets.load_dataset(path, config, split=split, **local)
    except Exception as exc:  # offline machines fail here with connection or lookup errors
        raise SaeevalError(
            f"could not load {what} ({path}, config {config}, {split} split): {one_line(exc)}. "
            f"Without hub access use the built-in data (--set unlearning.dataset_source=offline) "
            f"or a local folder shaped like the hub dataset (--set unlearning.{field}=FOLDER)"
        ) from None


def _local_cache(folder: Path) -> Path:
    digest = hashlib.sha256(str(folder.resolve()).encode())
    for file in sorted(p for p in folder.rglob("*") if p.is_file()):
        stat = file.stat()
        digest.update(f"{file.relative_to(folder)}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return cache_root() / "datasets" / digest.hexdigest()[:24]


def load_question_set(
    name: str,
    source: str,
    wmdp_dataset: str = "cais/wmdp",
    mmlu_dataset: str = "cais/mmlu",
    limit: int | None = None,
) -> QuestionSet:
    """A question set by the name configs use: built in (offline) or WMDP/MMLU (hub); with
    `limit`, its first `limit` questions only."""
    full = _load_question_set(name, source, wmdp_dataset, mmlu_dataset)
    if limit is None or limit >= len(full):
        return full
    rows = [
        {"question": q, "choices": c, "answer": a}
        for q, c, a in zip(full.questions, full.choices, full.answers, strict=True)
    ][:limit]
    return question_set_from_rows(name, full.subject, rows, f"{full.provenance}, first {limit}")


def _load_question_set(name: str, source: str, wmdp_dataset: str, mmlu_dataset: str):
    if source == "offline":
        if name not in BUILTIN_BANKS:
            raise SaeevalError(
                f"dataset_names: {name!r} is not a built-in question bank (built in: "
                f"{', '.join(BUILTIN_BANKS)}); hub sets need --set unlearning.dataset_source=hub"
            )
        return question_set_from_rows(
            name, builtin_subject(name), builtin_question_rows(name), "builtin"
        )
    if name in BUILTIN_BANKS:
        raise SaeevalError(
            f"dataset_names: {name!r} is a built-in bank, but dataset_source is {source!r}"
        )
    # SAEBench: wmdp-bio from cais/wmdp, every other name an MMLU subject; prompts say
    # "about biology" for WMDP and the subject's words otherwise.
    if name == "wmdp-bio":
        rows = _load_hub(wmdp_dataset, WMDP_CONFIG, "test", "WMDP", "wmdp_dataset")
        return question_set_from_rows(name, "biology", rows, f"{wmdp_dataset} ({WMDP_CONFIG})")
    rows = _load_hub(mmlu_dataset, name, "test", f"MMLU subject {name}", "mmlu_dataset")
    return question_set_from_rows(name, name.replace("_", " "), rows, f"{mmlu_dataset} ({name})")


def _corpus(name: str, texts: Iterable[str], provenance: str) -> TextCorpus:
    kept = [str(t) for t in texts if t is not None and len(str(t)) > MIN_TEXT_CHARS]
    if not kept:
        raise SaeevalError(
            f"{name} ({provenance}) has no text longer than {MIN_TEXT_CHARS} characters"
        )
    return TextCorpus(name, kept, provenance, _sha256(kept))


def load_retain_corpus(source: str, spec: str = "wikitext") -> TextCorpus:
    """SAEBench's retain text: wikitext-2's test split, texts over 50 characters."""
    if source == "offline":
        return _corpus("builtin-retain-text", builtin_retain_texts(), "builtin")
    rows = _load_hub(spec, WIKITEXT_CONFIG, "test", "the retain text", "retain_corpus")
    if "text" not in rows.column_names:
        raise SaeevalError(
            f"retain_corpus {spec}: expected a text column, found {rows.column_names}"
        )
    return _corpus(f"{spec} ({WIKITEXT_CONFIG})", rows["text"], f"{spec} ({WIKITEXT_CONFIG}, test)")


def load_forget_corpus(source: str, path: str | None) -> TextCorpus:
    """The forget text: the built-in one offline; on hub data the user's copy of WMDP's bio
    forget corpus (its `text` column, texts over 50 characters, as SAEBench reads it)."""
    if source == "offline":
        return _corpus("builtin-forget-text", builtin_forget_texts(), "builtin")
    if path is None:
        raise SaeevalError(FORGET_CORPUS_HELP)
    file = Path(path).expanduser()
    builders = {".jsonl": "json", ".json": "json", ".parquet": "parquet"}
    if not file.is_file() or file.suffix.lower() not in builders:
        raise SaeevalError(
            f"forget_corpus {path}: expected an existing .jsonl or .parquet file; "
            + FORGET_CORPUS_HELP
        )
    import datasets

    try:
        rows = datasets.load_dataset(
            builders[file.suffix.lower()], data_files=str(file), split="train"
        )
    except Exception as exc:  # datasets raises many types for malformed files
        raise SaeevalError(f"forget_corpus {path}: could not read it: {one_line(exc)}") from None
    if "text" not in rows.column_names:
        raise SaeevalError(
            f"forget_corpus {path}: expected a text column (found {', '.join(rows.column_names)})"
        )
    kept = _corpus(file.name, rows["text"], f"local file {file}")
    # The file's hash is cheaper than hashing its texts and names the same content.
    return TextCorpus(kept.name, kept.texts, kept.provenance, "sha256:" + file_sha256(file))
