"""Built-in offline stand-ins for the unlearning eval's questions and texts.

SAEBench's unlearning eval reads WMDP-bio (questions on a hazardous topic), four MMLU subjects
(questions whose accuracy must survive), WMDP's gated bio forget corpus and wikitext. None can be
downloaded here, so the eval's offline path reads these instead, generated from the word lists
and templates in `saeeval/data/builtin/unlearning.yaml` (written for this project):

- a forget bank on animals and their biology (standing in for WMDP-bio) and retain banks on
  geography and English vocabulary (standing in for the MMLU subjects), as rows with the hub's
  columns: `question`, `choices` (four), `answer` (an index), and `subject`;
- a forget text: documents about the forget bank's animals, stating the facts its questions ask,
  with traits of each animal group and general biology; and a retain text: documents of general
  prose on other topics, stating the retain banks' facts among everyday sentences.

The same generators, from streams of their own, write the documents of these two genres that the
built-in training corpus holds (`unread_texts`); the eval never reads those.

Everything is deterministic: each question and document draws from its own `random.Random`
seeded with a string (seeded through SHA-512, the same in every process). The output depends on
the order of every list in the data file (tests/test_unlearning_data.py pins its hashes).
"""

from __future__ import annotations

import random
from functools import cache
from importlib import resources
from typing import Any

import yaml

DATA_FILE = "unlearning.yaml"
BUILTIN_FORGET_SET = "builtin-animals"
BUILTIN_RETAIN_SETS = ("builtin-geography", "builtin-vocabulary")
BUILTIN_BANKS = (BUILTIN_FORGET_SET, *BUILTIN_RETAIN_SETS)


_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's, where installed


@cache
def _data() -> dict[str, Any]:
    text = resources.files("saeeval.data.builtin").joinpath(DATA_FILE).read_text("utf-8")
    return yaml.load(text, Loader=_YAML_LOADER)


def _article(word: str) -> str:
    return ("an " if word[:1].lower() in "aeiou" else "a ") + word


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


def _fill(template: str, key: str, answer: str = "") -> str:
    return template.format(
        key=key,
        Key=_capitalised(key),
        a_key=_article(key),
        A_key=_capitalised(_article(key)),
        answer=answer,
        a_answer=_article(answer),
    )


def _facts(relation: dict[str, Any]) -> list[tuple[str, str]]:
    """(key, answer) pairs of a relation, in the data file's order."""
    if "groups" in relation:
        return [(str(k), str(a)) for a, keys in relation["groups"].items() for k in keys]
    return [(str(k), str(a)) for k, a in relation["pairs"].items()]


def builtin_subject(bank: str) -> str:
    return _data()["banks"][bank]["subject"]


def _row(rng: random.Random, question: str, answer: str, wrong: list[str], subject: str) -> dict:
    choices = list(wrong)
    position = rng.randrange(len(choices) + 1)
    choices.insert(position, answer)
    return {"question": question, "subject": subject, "choices": choices, "answer": position}


@cache
def _question_rows(bank: str) -> tuple[dict[str, Any], ...]:
    spec = _data()["banks"][bank]
    subject = spec["subject"]
    rows = []
    for index, relation in enumerate(spec["relations"]):
        facts = _facts(relation)
        answers = list(dict.fromkeys(answer for _, answer in facts))
        for key, answer in facts:
            rng = random.Random(f"saeeval-unlearning/{bank}/{index}/{key}")
            # Wrong choices: other answers of the relation, none of which is also true of `key`.
            true_of_key = {a for k, a in facts if k == key}
            pool = [a for a in answers if a not in true_of_key]
            wrong = rng.sample(pool, 3)
            rows.append(_row(rng, _fill(relation["question"], key), answer, wrong, subject))
    for question, answer, wrong in spec["questions"]:
        rng = random.Random(f"saeeval-unlearning/{bank}/question/{question}")
        rows.append(_row(rng, question, str(answer), [str(w) for w in wrong], subject))
    # One question per text: a fact asked twice (two relations) keeps its first wording.
    unique = {row["question"]: row for row in reversed(rows)}
    return tuple(row for row in rows if unique[row["question"]] is row)


def builtin_question_rows(bank: str) -> list[dict[str, Any]]:
    """The bank's questions as rows with the hub's columns (question, subject, choices, answer)."""
    return [dict(row, choices=list(row["choices"])) for row in _question_rows(bank)]


def _sentences(bank: str) -> dict[str, list[str]]:
    """Every prose statement of a bank's facts, grouped by the key they are about."""
    by_key: dict[str, list[str]] = {}
    for relation in _data()["banks"][bank]["relations"]:
        for key, answer in _facts(relation):
            for template in relation["sentences"]:
                by_key.setdefault(key, []).append(_fill(template, key, answer))
    return by_key


def _documents(
    stream: str,
    by_key: dict[str, list[str]],
    extras: dict[str, list[str]],
    general: list[str],
    count: int,
    keys_per_document: int,
) -> list[str]:
    """`count` documents, each about `keys_per_document` keys: one paragraph per key with its
    statements, then its extras (which say "it"), then a general sentence, each part shuffled."""
    keys = list(by_key)
    documents = []
    for index in range(count):
        rng = random.Random(f"saeeval-unlearning/text/{stream}/{index}")
        paragraphs = []
        for key in rng.sample(keys, keys_per_document):
            facts, more = list(by_key[key]), list(extras.get(key, []))
            rng.shuffle(facts)
            rng.shuffle(more)
            paragraphs.append(" ".join(facts + more + [rng.choice(general)]))
        documents.append("\n\n".join(paragraphs))
    return documents


def _forget_documents(stream: str, count: int) -> list[str]:
    spec = _data()["texts"]["forget"]
    bank = spec["bank"]
    groups = _data()["banks"][bank]["relations"][0]["groups"]  # the animal groups relation
    traits = {str(k): spec["traits"][group] for group, keys in groups.items() for k in keys}
    return _documents(
        stream, _sentences(bank), traits, spec["general"], count, spec["keys_per_document"]
    )


def _retain_documents(stream: str, count: int) -> list[str]:
    spec = _data()["texts"]["retain"]
    by_key: dict[str, list[str]] = {}
    for bank in spec["banks"]:
        for key, lines in _sentences(bank).items():
            by_key.setdefault(key, []).extend(lines)
    return _documents(stream, by_key, {}, spec["general"], count, spec["keys_per_document"])


@cache
def _forget_texts() -> tuple[str, ...]:
    return tuple(_forget_documents("forget", _data()["texts"]["forget"]["documents"]))


@cache
def _retain_texts() -> tuple[str, ...]:
    return tuple(_retain_documents("retain", _data()["texts"]["retain"]["documents"]))


def builtin_forget_texts() -> list[str]:
    """Documents about the forget bank's topic (standing in for WMDP's bio forget corpus)."""
    return list(_forget_texts())


def builtin_retain_texts() -> list[str]:
    """Documents of general prose on other topics (standing in for wikitext)."""
    return list(_retain_texts())


def unread_texts(count: int) -> list[str]:
    """`count` documents of each text's genre (on the forget topic, and general prose stating
    the retain banks' facts) that the eval never reads.

    They come from a stream of their own ("pretrain/...") and leave out the eval's texts, so an
    SAE trained on them has seen prose on the forget topic, as one trained on web text has seen
    biology, but not the documents whose firing frequencies select its latents.
    """
    read = set(_forget_texts()) | set(_retain_texts())
    unread = _forget_documents("pretrain/forget", count) + _retain_documents(
        "pretrain/retain", count
    )
    return [text for text in unread if text not in read]
