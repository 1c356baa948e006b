"""The built-in offline text corpus that stands in for openwebtext.

Every Python install carries the same material: the interpreter's own documentation topics
(`pydoc_data.topics`) and the standard library's source. From these we build, deterministically,
three kinds of documents: documentation topics (prose), per-module docstring collections (prose
about code) and the head of each module's source (code). About 5.4 million characters, 1.6 million
SmolLM2 tokens on CPython 3.11.

To these come texts of the genres the probing evals read (bios, reviews, news, parliament
speeches, code in five languages), 3,000 of each from the built-in generators' own stream, none of
them a text of the evals' default frames (`builtin_classification.unread_texts`). Web text holds
such genres; without them an SAE trained here had no latents for them, and sparse probing, SCR
and TPP could not tell it from random directions (benchmarks/offline_discrimination.py). For the
same reason come 400 documents of each of the unlearning eval's text genres (prose on its forget
topic, animals, as web text holds biology; and general prose), none of them a text the eval reads
(`builtin_unlearning.unread_texts`): about 200k and 90k SmolLM2 tokens, where each prose probing
genre holds 100k-165k. The content hash of the documents goes into every result.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import platform
import sysconfig
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from saeeval.cache_dir import cache_root
from saeeval.files import atomic_write_text

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

OFFLINE_CORPUS_NAME = "saeeval/offline-text"
BUILDER_VERSION = 3  # 2: with the probing genres' unread texts; 3: and the unlearning genres'
STAND_IN_TEXTS_PER_DATASET = 3000
UNLEARNING_TEXTS_PER_GENRE = 400
SOURCE_HEAD_CHARS = 6000  # keep each module's source short so no file dominates the corpus
_SKIPPED_DIRS = {"test", "tests", "idle_test", "site-packages", "__pycache__", "turtledemo"}


@dataclass(frozen=True)
class Corpus:
    name: str
    documents: list[str]
    sha256: str
    provenance: str


def _documentation_topics() -> list[str]:
    from pydoc_data.topics import topics

    return [f"{key}\n\n{topics[key].strip()}" for key in sorted(topics)]


def _docstring_document(module: str, tree: ast.Module) -> str | None:
    parts = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node)
            if not doc:
                continue
            if isinstance(node, ast.Module):
                parts.append(f"Module {module}\n\n{doc}")
            elif isinstance(node, ast.ClassDef):
                parts.append(f"class {node.name}\n{doc}")
            else:
                args = ", ".join(a.arg for a in node.args.args)
                parts.append(f"{node.name}({args})\n{doc}")
    return "\n\n".join(parts) if parts else None


def _source_head(source: str) -> str:
    if len(source) <= SOURCE_HEAD_CHARS:
        return source
    cut = source.rfind("\n", 0, SOURCE_HEAD_CHARS)
    return source[: cut if cut > 0 else SOURCE_HEAD_CHARS]


def _stdlib_documents() -> list[str]:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    documents = []
    for root, dirs, files in os.walk(stdlib):
        dirs[:] = sorted(d for d in dirs if d not in _SKIPPED_DIRS)
        for filename in sorted(files):
            if not filename.endswith(".py"):
                continue
            path = Path(root) / filename
            module = ".".join(path.relative_to(stdlib).with_suffix("").parts)
            source = path.read_text(encoding="utf-8", errors="replace")
            try:
                tree = ast.parse(source)
            except SyntaxError:  # a few files are deliberately invalid test data
                continue
            docs = _docstring_document(module, tree)
            if docs:
                documents.append(docs)
            documents.append(f"# {module}\n{_source_head(source)}")
    return documents


def _digest(documents: list[str]) -> str:
    digest = hashlib.sha256()
    for doc in documents:
        digest.update(doc.encode("utf-8"))
        digest.update(b"\x00")
    return digest.hexdigest()


def _stand_in_documents() -> list[str]:
    from saeeval.data import builtin_unlearning
    from saeeval.data.builtin_classification import unread_texts
    from saeeval.data.dataset_names import BUILTIN_HUB_NAMES

    probing = [
        text
        for name in BUILTIN_HUB_NAMES
        for text in unread_texts(name, STAND_IN_TEXTS_PER_DATASET)
    ]
    return probing + builtin_unlearning.unread_texts(UNLEARNING_TEXTS_PER_GENRE)


def build_corpus() -> Corpus:
    documents = _documentation_topics() + _stdlib_documents() + _stand_in_documents()
    provenance = (
        f"CPython {platform.python_version()} pydoc_data documentation topics, standard-library "
        f"docstrings and module sources (first {SOURCE_HEAD_CHARS} characters each), and "
        f"{STAND_IN_TEXTS_PER_DATASET} unread texts of each built-in probing dataset's genre and "
        f"{UNLEARNING_TEXTS_PER_GENRE} of each unlearning text's genre; "
        f"saeeval corpus builder v{BUILDER_VERSION}"
    )
    return Corpus(OFFLINE_CORPUS_NAME, documents, _digest(documents), provenance)


def generator_files() -> list[Traversable]:
    """The files the stand-in documents are made from: the built-in data and the code expanding
    it. The interpreter's own documents are named by its version instead."""
    from saeeval.data import builtin_classification, builtin_unlearning

    data = resources.files(builtin_classification.DATA_PACKAGE)
    modules = resources.files("saeeval.data")
    return [
        *(data / name for name in sorted(builtin_classification.DATA_FILES.values())),
        data / builtin_unlearning.DATA_FILE,
        modules / "builtin_classification.py",
        modules / "builtin_unlearning.py",
        modules / "dataset_names.py",  # the label values the generator makes texts for
        modules / "corpus.py",
    ]


def inputs_digest() -> str:
    """sha256 over the generator files: editing a word list or a generator names another
    cached corpus, so a stale one is never read."""
    digest = hashlib.sha256()
    for file in generator_files():
        digest.update(file.name.encode())
        digest.update(b"\x00")
        digest.update(file.read_bytes())
    return digest.hexdigest()


def corpus_cache_path() -> Path:
    """Where the corpus is kept: named by the interpreter's version (its own documents), the
    builder's version and the digest of the generator files (the stand-in documents)."""
    version = f"py{platform.python_version()}-v{BUILDER_VERSION}-{inputs_digest()[:16]}"
    return cache_root() / "datasets" / f"offline-text-{version}.json"


def offline_corpus() -> Corpus:
    """The corpus, built once per Python version and generator files, then read from the cache
    directory."""
    path = corpus_cache_path()
    if path.is_file():
        try:
            data = json.loads(path.read_text())
            if _digest(data["documents"]) == data["sha256"]:
                return Corpus(**data)
        except (OSError, KeyError, TypeError, json.JSONDecodeError):
            pass  # a damaged cache file is rebuilt below
    corpus = build_corpus()
    atomic_write_text(path, json.dumps(corpus.__dict__))
    return corpus
