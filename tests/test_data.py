"""Text datasets, the offline corpus and context cutting."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from tiny_models import char_tokenizer

from saeeval.data import (
    OFFLINE_CORPUS_NAME,
    builtin_classification,
    builtin_unlearning,
    iter_contexts,
    load_contexts,
    load_text_dataset,
    offline_corpus,
)
from saeeval.data import corpus as corpus_module
from saeeval.data.corpus import (
    STAND_IN_TEXTS_PER_DATASET,
    UNLEARNING_TEXTS_PER_GENRE,
    build_corpus,
    corpus_cache_path,
)
from saeeval.data.dataset_names import BUILTIN_HUB_NAMES
from saeeval.errors import SaeevalError

documents = st.lists(
    st.lists(st.integers(min_value=0, max_value=9), min_size=1, max_size=40),
    min_size=1,
    max_size=12,
)


@settings(max_examples=200, deadline=None)
@given(
    docs=documents,
    context_size=st.integers(min_value=2, max_value=17),
    bos=st.sampled_from([None, 0]),
)
def test_contexts_match_saelens_concatenation(docs, context_size, bos):
    from sae_lens.tokenization_and_batching import concat_and_batch_sequences

    ours = list(iter_contexts(docs, context_size, bos))
    theirs = [
        t.tolist()
        for t in concat_and_batch_sequences(
            iter(torch.tensor(d) for d in docs),
            context_size,
            begin_batch_token_id=bos,
            sequence_separator_token_id=bos,
        )
    ]
    assert ours == theirs


def test_offline_corpus_is_deterministic_and_large():
    first, second = build_corpus(), offline_corpus()  # a fresh build, and the cached one
    assert first.sha256 == second.sha256 and first.documents == second.documents
    assert first.name == OFFLINE_CORPUS_NAME
    assert sum(len(d) for d in first.documents) > 4_000_000  # ~1.6M SmolLM2 tokens
    assert any(d.startswith("# json.decoder") for d in first.documents)  # source code
    assert any("Module json" in d for d in first.documents)  # docstrings


def test_offline_corpus_cache_is_named_by_every_generator_file():
    """The stand-in documents come from the data files and the generator code: each is an input
    of the cache file's name, so an edit to any of them never reads a stale corpus."""
    names = {file.name for file in corpus_module.generator_files()}
    assert set(builtin_classification.DATA_FILES.values()) <= names
    assert builtin_unlearning.DATA_FILE in names
    assert {"builtin_classification.py", "builtin_unlearning.py", "corpus.py"} <= names
    # and every saeeval.data module the generators take their labels or words from
    imported = {
        node.module.rsplit(".", 1)[1] + ".py"
        for generator in (builtin_classification, builtin_unlearning)
        for node in ast.walk(ast.parse(Path(generator.__file__).read_text()))
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("saeeval.data.")
    }
    assert imported and imported <= names
    assert all(file.read_bytes() for file in corpus_module.generator_files())


def test_editing_a_generator_file_names_another_corpus_cache(tmp_path, monkeypatch):
    data = tmp_path / "words.yaml"
    data.write_text("product: [kettle]\n")
    monkeypatch.setattr(corpus_module, "generator_files", lambda: [data])
    before = corpus_cache_path()
    assert corpus_cache_path() == before  # the same files name the same cache
    data.write_text("product: [kettle, teapot]\n")
    after = corpus_cache_path()
    assert after != before and after.parent == before.parent


def test_offline_corpus_holds_the_eval_genres_but_no_eval_text():
    """Each built-in probing dataset contributes unread texts of its genre: none of them is a
    text of that dataset's default train or test frame, which the evals read. The same for the
    unlearning eval's two text genres and the texts it reads."""
    documents = set(offline_corpus().documents)
    for name in BUILTIN_HUB_NAMES:
        spec = builtin_classification._SPECS[name]
        unread = builtin_classification.unread_texts(name, STAND_IN_TEXTS_PER_DATASET)
        assert len(unread) >= 0.9 * STAND_IN_TEXTS_PER_DATASET and set(unread) <= documents
        for split in ("train", "test"):
            read = set(builtin_classification.builtin_frame(name, split)[spec.text_column])
            assert not read & documents, (name, split)
    unread = builtin_unlearning.unread_texts(UNLEARNING_TEXTS_PER_GENRE)
    assert len(unread) == 2 * UNLEARNING_TEXTS_PER_GENRE and set(unread) <= documents
    read = builtin_unlearning.builtin_forget_texts() + builtin_unlearning.builtin_retain_texts()
    assert not set(read) & documents


@pytest.mark.embedded
def test_offline_corpus_holds_over_a_million_embedded_model_tokens(embedded_model):
    dataset = load_text_dataset(None)
    contexts = load_contexts(embedded_model.tokenizer, embedded_model.bos_token_id, dataset, 128, 1)
    assert contexts.exhausted
    assert contexts.tokens.numel() > 1_000_000
    assert (contexts.tokens[:, 0] == embedded_model.bos_token_id).all()


def _write(path, rows):
    suffix = path.suffix
    if suffix == ".jsonl":
        path.write_text("\n".join(json.dumps(r) for r in rows))
    elif suffix == ".parquet":
        pd.DataFrame(rows).to_parquet(path)
    elif suffix == ".csv":
        pd.DataFrame(rows).to_csv(path, index=False)
    return path


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet", ".csv"])
def test_local_files_shaped_like_openwebtext(tmp_path, suffix):
    rows = [{"text": f"Document number {i}. " * 5} for i in range(30)]
    path = _write(tmp_path / f"owt{suffix}", rows)
    dataset = load_text_dataset(str(path))
    texts = list(dataset.texts())
    assert sorted(texts) == sorted(r["text"] for r in rows)
    assert texts != [r["text"] for r in rows]  # shuffled with the seed, like SAEBench's stream
    assert dataset.fingerprint.startswith("sha256:")


def test_local_text_file_is_split_into_paragraphs(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("first paragraph\nstill first\n\nsecond paragraph\n")
    assert sorted(load_text_dataset(str(path)).texts()) == [
        "first paragraph\nstill first",
        "second paragraph\n",
    ]


def test_local_file_without_the_text_column(tmp_path):
    path = _write(tmp_path / "data.jsonl", [{"body": "x"}])
    with pytest.raises(SaeevalError, match="has no column 'text' .*columns: body"):
        load_text_dataset(str(path))
    assert list(load_text_dataset(str(path), text_column="body").texts()) == ["x"]


def test_local_file_of_unknown_kind(tmp_path):
    path = tmp_path / "data.xlsx"
    path.write_bytes(b"x")
    with pytest.raises(SaeevalError, match="must be a file ending in"):
        load_text_dataset(str(path))


def test_hub_dataset_unreachable_offline():
    # The session runs with HF_HUB_OFFLINE=1: the real datasets call fails for that reason, and
    # the message says so (other failures get their own: tests/test_honest_errors.py).
    with pytest.raises(SaeevalError, match="could not reach the Hugging Face hub") as caught:
        load_text_dataset("Skylion007/openwebtext")
    assert "--dataset offline" in str(caught.value)
    assert caught.value.__cause__ is not None  # the library's exception stays attached


def test_contexts_are_cached_and_reused(tmp_path, isolated_cache):
    path = _write(tmp_path / "d.jsonl", [{"text": "abcdefghij" * 7} for _ in range(20)])
    dataset = load_text_dataset(str(path))
    tokenizer = char_tokenizer()
    first = load_contexts(tokenizer, 0, dataset, 16, 1)
    text_tokens = int((first.tokens != 0).sum())  # everything but the BOS tokens
    assert first.exhausted and 20 * 70 - 16 < text_tokens <= 20 * 70  # only the tail is dropped
    assert (first.tokens[:, 0] == 0).all()
    folders = list((isolated_cache / "contexts").iterdir())
    assert len(folders) == 1
    again = load_contexts(tokenizer, 0, dataset, 16, 1)
    assert torch.equal(again.tokens, first.tokens) and again.key == first.key
    other = load_contexts(tokenizer, None, dataset, 16, 1)  # a different BOS policy: new entry
    assert other.key != first.key and len(list((isolated_cache / "contexts").iterdir())) == 2
    with pytest.raises(SaeevalError, match="yields only"):
        first.take(0, len(first) + 1)


def test_streamed_documents_come_in_saebench_s_order(tmp_path):
    """A streamed, sharded dataset is read in the order SAEBench's core eval reads it: SAELens'
    ActivationsStore after shuffle_input_dataset(seed=42), which shuffles shards only."""
    import datasets
    from sae_lens.training.activations_store import ActivationsStore

    from saeeval.data.text_datasets import saebench_document_order

    files = []
    for shard in range(6):
        path = tmp_path / f"shard-{shard}.jsonl"
        path.write_text("".join(f'{{"text": "shard {shard} doc {i}"}}\n' for i in range(5)))
        files.append(str(path))
    stream = datasets.load_dataset("json", data_files=files, split="train", streaming=True)
    assert stream.n_shards == 6
    ours = [row["text"] for row in saebench_document_order(stream, 42)]

    store = ActivationsStore.__new__(ActivationsStore)  # only its dataset is used here
    store.dataset = stream
    ActivationsStore.shuffle_input_dataset(store, seed=42)
    theirs = [row["text"] for row in store.dataset]
    assert ours == theirs
    assert ours != [f"shard {s} doc {i}" for s in range(6) for i in range(5)]  # shards moved
    assert ours[:5] == [f"{ours[0].rsplit(' doc', 1)[0]} doc {i}" for i in range(5)]  # in order
