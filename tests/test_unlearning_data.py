"""The unlearning eval's data: the built-in banks and texts, and the hub datasets read from local
files shaped like them, through the same `datasets` calls."""

from __future__ import annotations

import hashlib
import json
import re
from importlib import resources

import pandas as pd
import pytest
import yaml
from unlearning_files import write_forget_corpus, write_mmlu, write_wikitext, write_wmdp

from saeeval.data.builtin_unlearning import (
    BUILTIN_BANKS,
    BUILTIN_FORGET_SET,
    builtin_forget_texts,
    builtin_question_rows,
    builtin_retain_texts,
    unread_texts,
)
from saeeval.data.unlearning import (
    load_forget_corpus,
    load_question_set,
    load_retain_corpus,
    question_set_from_rows,
)
from saeeval.errors import SaeevalError

# Content hashes of the generated banks and texts: editing the data file changes them.
PINNED = {
    "builtin-animals": "a1b7bf2b4cbce924",
    "builtin-geography": "c852270eb8a3441e",
    "builtin-vocabulary": "b4e778de7d38b4b0",
    "forget": "f694218fa88b077a",
    "retain": "94aa701b889dfec6",
}


def _digest(payload) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def test_builtin_banks_have_the_hub_columns_and_are_pinned():
    sizes = {}
    for bank in BUILTIN_BANKS:
        rows = builtin_question_rows(bank)
        sizes[bank] = len(rows)
        assert len({r["question"] for r in rows}) == len(rows)
        for row in rows:
            assert set(row) == {"question", "subject", "choices", "answer"}
            assert len(row["choices"]) == 4 and len(set(row["choices"])) == 4, row
            assert 0 <= row["answer"] < 4
        positions = [r["answer"] for r in rows]
        assert min(positions.count(i) for i in range(4)) > len(rows) / 8  # answers move around
        assert _digest(rows) == PINNED[bank], bank
        assert builtin_question_rows(bank) == rows  # deterministic
    assert sizes == {"builtin-animals": 282, "builtin-geography": 182, "builtin-vocabulary": 129}


def test_builtin_texts_are_on_and_off_the_forget_topic():
    forget, retain = builtin_forget_texts(), builtin_retain_texts()
    assert len(forget) == len(retain) == 128
    assert _digest(forget) == PINNED["forget"] and _digest(retain) == PINNED["retain"]
    # SAEBench samples as many forget documents as it wants contexts: each must fill some.
    assert min(len(t) for t in forget) > 1200
    data = yaml.safe_load(
        resources.files("saeeval.data.builtin").joinpath("unlearning.yaml").read_text()
    )
    animals = set()  # every word of every key the forget bank asks about
    for relation in data["banks"][BUILTIN_FORGET_SET]["relations"]:
        keys = relation["pairs"] if "pairs" in relation else sum(relation["groups"].values(), [])
        animals |= {word.lower() for key in keys for word in key.split()}
    assert len(animals) > 100
    words = lambda texts: {w.lower() for t in texts for w in re.findall(r"[A-Za-z]+", t)}  # noqa: E731
    assert len(animals & words(forget)) > 80
    assert not animals & words(retain)  # the retain text never mentions a forget-topic animal
    assert {"cell", "mammal", "blood"} <= words(forget) and not {"mammal", "blood"} & words(retain)


def test_hub_shaped_local_folders_load_through_datasets(tmp_path):
    wmdp = write_wmdp(tmp_path / "wmdp", 7)
    mmlu = write_mmlu(tmp_path / "mmlu", {"human_aging": 5, "high_school_geography": 4})
    bio = load_question_set("wmdp-bio", "hub", wmdp_dataset=str(wmdp))
    assert len(bio) == 7 and bio.subject == "biology"  # SAEBench's prompts say "biology"
    assert bio.questions[3] == "wmdp-bio question 3: which of these is right?"
    assert bio.answers[3] == 1 and bio.choices[3][0] == "wmdp-bio choice 3.0"
    aging = load_question_set("human_aging", "hub", mmlu_dataset=str(mmlu))
    assert len(aging) == 5 and aging.subject == "human aging"  # the test split only
    assert (
        load_question_set("human_aging", "hub", mmlu_dataset=str(mmlu), limit=2).questions
        == (aging.questions[:2])
    )
    assert (
        aging.fingerprint
        != load_question_set("high_school_geography", "hub", mmlu_dataset=str(mmlu)).fingerprint
    )

    lines = ["= Heading =", "short line", "A line of wikitext long enough to be kept by SAEBench."]
    retain = load_retain_corpus("hub", str(write_wikitext(tmp_path / "wikitext", lines * 2)))
    assert retain.texts == [lines[2], lines[2]]  # the test split's texts over 50 characters
    texts = ["too short", "a forget document " * 5, "another forget document " * 4]
    for suffix in (".jsonl", ".parquet"):
        path = write_forget_corpus(tmp_path / f"bio-forget-corpus{suffix}", texts)
        forget = load_forget_corpus("hub", str(path))
        assert forget.texts == texts[1:] and forget.provenance.endswith(path.name)


def test_data_errors_say_what_to_do(tmp_path, monkeypatch):
    with pytest.raises(
        SaeevalError, match=r"cais/wmdp-bio-forget-corpus.*unlearning\.forget_corpus"
    ):
        load_forget_corpus("hub", None)
    with pytest.raises(SaeevalError, match="expected an existing .jsonl or .parquet file"):
        load_forget_corpus("hub", str(tmp_path / "missing.jsonl"))
    pd.DataFrame({"body": ["x" * 80]}).to_parquet(tmp_path / "nocol.parquet")
    with pytest.raises(SaeevalError, match="expected a text column"):
        load_forget_corpus("hub", str(tmp_path / "nocol.parquet"))
    # No hub here (the tests run with HF_HUB_OFFLINE=1): the message names the way out.
    with pytest.raises(SaeevalError, match=r"could not load WMDP \(cais/wmdp.*dataset_source=off"):
        load_question_set("wmdp-bio", "hub")
    with pytest.raises(SaeevalError, match="not a built-in question bank"):
        load_question_set("wmdp-bio", "offline")
    with pytest.raises(SaeevalError, match="is a built-in bank"):
        load_question_set("builtin-animals", "hub")
    bad = [{"question": "q", "choices": ["a", "b", "c"], "answer": 0}]
    with pytest.raises(SaeevalError, match="row 0: expected 4 text choices"):
        question_set_from_rows("set", "s", bad, "test")
    with pytest.raises(SaeevalError, match="answer must be an index 0..3"):
        question_set_from_rows("set", "s", [{**bad[0], "choices": list("abcd"), "answer": 4}], "t")
    with pytest.raises(SaeevalError, match="lacks the column"):
        question_set_from_rows("set", "s", [{"question": "q"}], "test")


def test_unread_texts_share_the_eval_texts_genres_but_not_their_documents():
    """The offline corpus trains SAEs on these: prose on the forget topic and general prose,
    from streams of their own, none of them a text the eval reads."""
    unread = unread_texts(40)
    assert len(unread) == 80 and unread == unread_texts(40)  # deterministic
    forget, retain = unread[:40], unread[40:]
    assert not set(unread) & set(builtin_forget_texts() + builtin_retain_texts())
    words = lambda texts: {w.lower() for t in texts for w in re.findall(r"[A-Za-z]+", t)}  # noqa: E731
    assert words(forget) & words(builtin_forget_texts()) >= {"mammal", "blood", "cell"}
    assert not {"mammal", "blood"} & words(retain)
    assert len(words(retain) & words(builtin_retain_texts())) > 0.9 * len(words(retain))
