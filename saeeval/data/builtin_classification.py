"""Built-in offline stand-ins for the hub datasets of SAEBench's probing evals.

Sparse probing, SCR and TPP read five Hugging Face hub datasets that cannot be downloaded here.
`builtin_frame(hub_name, split)` returns a pandas DataFrame with the same columns and label values
as the real dataset's split, so the loading code that filters, balances and samples the hub
frames handles these unchanged. Every text is generated from templates, word lists and small
grammars written for this project (no copied text, no network). They are data, one YAML file per
dataset in `saeeval/data/builtin/`, read with `importlib.resources`; this module holds the
machinery that expands them.

- "LabHC/bias_in_bios" (`hard_text`, `profession`, `gender`): short third-person biographies.
  A first name from a gender-typed list and the pronouns carry the gender; the profession is
  carried by varied descriptions of the work (tasks, workplaces, specialties, clients,
  credentials, achievements), usually without the job title, as in the real `hard_text` column
  whose title sentence was removed. Neutral sentences about hobbies, places and family are
  shared by all professions. All 28 professions, each with both genders in equal numbers.
- "canrager/amazon_reviews_mcauley_1and5" (`text`, `category`, `rating`): product reviews. Each
  of the 34 categories has its own products, aspects and details; the rating (1.0 or 5.0) comes
  from shared positive or negative phrasings, so category and rating vary independently. A
  review names its product, gives one sentence of the category's details and then two or three
  verdicts without a word of the category.
- "fancyzhx/ag_news" (`text`, `label`): news snippets in AG News' "Title (Source) Source -
  description" shape for World, Sports, Business and Sci/Tech.
- "Helsinki-NLP/europarl" (`text`, `language`): parliamentary sentences written from the same
  sentence frames in English, French, German, Spanish and Dutch (the real dataset is parallel
  text, of which SAEBench keeps one side per language).
- "codeparrot/github-code" (`code`, `language`): C, Python, HTML, Java and PHP files built from
  per-language blocks (headers, functions, classes, loops, markup) with varied identifiers,
  each longer than 600 characters (SAEBench keeps snippets over 534 characters and drops the
  first 150).

Generation is deterministic: every (label cell, split) draws from its own `random.Random` seeded
with a string (seeded through SHA-512, so the same in every process), rows are shuffled with
their own seeded generator, and nothing depends on `hash()`. Train and test never share a text:
a text belongs to the split its BLAKE2 digest picks (one fifth of digests go to "test"), and each
split keeps only its own texts. The output depends on the order of every word list, so editing a
data file changes the frames (tests/test_builtin_classification.py pins their hashes).
"""

from __future__ import annotations

import hashlib
import numbers
import random
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from typing import Any, TypeVar

import pandas as pd
import yaml

from saeeval.data.dataset_names import (
    AG_NEWS,
    AG_NEWS_LABELS,
    AMAZON_CATEGORIES,
    AMAZON_RATINGS,
    AMAZON_REVIEWS,
    BIAS_IN_BIOS,
    BUILTIN_HUB_NAMES,
    EUROPARL,
    EUROPARL_LANGUAGES,
    GENDERS,
    GITHUB_CODE,
    GITHUB_CODE_LANGUAGES,
    PROFESSIONS,
)
from saeeval.errors import SaeevalError

SPLITS = ("train", "test")
DATA_PACKAGE = "saeeval.data.builtin"  # holds <dataset>.yaml for each DATA_FILES value
DATA_FILES: dict[str, str] = {
    BIAS_IN_BIOS: "bias_in_bios.yaml",
    AMAZON_REVIEWS: "amazon_reviews.yaml",
    AG_NEWS: "ag_news.yaml",
    EUROPARL: "europarl.yaml",
    GITHUB_CODE: "github_code.yaml",
}

_T = TypeVar("_T")
_TEST_BUCKETS = 5  # one digest bucket in five belongs to the test split
_GENERATOR_VERSION = 1  # part of every seed: bump it when a change should alter the output
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's, where installed

# ---------------------------------------------------------------------------------------------
# Shared machinery: the data files, a small template grammar, seeded and split-disjoint generation
# ---------------------------------------------------------------------------------------------


@cache
def dataset_words(hub_name: str) -> dict[str, Any]:
    """The word lists and templates of one dataset, as its data file holds them.

    Read once per process, with lists as tuples: the generators pick from them by index and the
    result is shared between calls, so it must not change.
    """
    text = resources.files(DATA_PACKAGE).joinpath(DATA_FILES[hub_name]).read_text("utf-8")
    return _frozen(yaml.load(text, Loader=_YAML_LOADER))


def _frozen(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_frozen(item) for item in value)
    if isinstance(value, dict):
        return {key: _frozen(item) for key, item in value.items()}
    return value


_BRACE_SLOT = re.compile(r"\{(\w+)\}")  # slots in prose templates: {name}
_CODE_SLOT = re.compile(r"«(\w+)»")  # slots in code templates, where braces are code
_SLOT_MARKERS = {_BRACE_SLOT: "{", _CODE_SLOT: "«"}  # a text without its marker has no slot


@cache
def _template_parts(template: str, slot: re.Pattern[str]) -> tuple[str, ...]:
    """A template split once into literal text (even indices) and slot names (odd indices)."""
    return tuple(slot.split(template))


def _expand(
    template: str,
    rng: random.Random,
    rules: Mapping[str, tuple[str, ...]],
    bound: Mapping[str, str],
    used: set[tuple[str, str]],
    slot: re.Pattern[str] = _BRACE_SLOT,
) -> str:
    """Fill every slot of `template`: a bound value, else a random alternative of its rule.

    Alternatives may contain slots themselves (a small context-free grammar). `used` records
    the alternatives already drawn for this text, so one text rarely repeats a phrase.
    """
    parts = _template_parts(template, slot)
    marker = _SLOT_MARKERS[slot]
    pieces = [parts[0]]
    for index in range(1, len(parts), 2):
        key = parts[index]
        if key in bound:
            pieces.append(bound[key])
        else:
            options = rules[key]
            choice = _pick(rng, options)
            for _ in range(3):
                if (key, choice) not in used:
                    break
                choice = _pick(rng, options)
            used.add((key, choice))
            if marker in choice:
                choice = _expand(choice, rng, rules, bound, used, slot)
            pieces.append(choice)
        pieces.append(parts[index + 1])
    return "".join(pieces)


def _pick(rng: random.Random, options: Sequence[_T]) -> _T:
    """One random option (faster than `rng.choice`, which matters for 50,000 texts a frame)."""
    return options[int(rng.random() * len(options))]


def _pick_distinct(rng: random.Random, options: Sequence[str], count: int) -> list[str]:
    """`count` different options in random order (`options` must hold distinct items)."""
    picked: list[str] = []
    while len(picked) < count:
        choice = _pick(rng, options)
        if choice not in picked:
            picked.append(choice)
    return picked


def _cap(sentence: str) -> str:
    return sentence[:1].upper() + sentence[1:]


# "u" is left out ("a user", "a unit"); "8" reads "eight" ("an 8-stroke lead").
_A_BEFORE_VOWEL = re.compile(r"\b([Aa]) (?=[aeioAEIO8])")


def _fix_articles(text: str) -> str:
    """English only: "a" before a vowel sound becomes "an" (templates write "a {noun}")."""
    return _A_BEFORE_VOWEL.sub(lambda m: m.group(1) + "n ", text)


def _split_of(text: str) -> str:
    """The split a text belongs to, from its digest: this keeps train and test disjoint."""
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest()
    return "test" if int.from_bytes(digest, "big") % _TEST_BUCKETS == 0 else "train"


def _seeded(*parts: object) -> random.Random:
    """A generator seeded from a string: `random` hashes str seeds with SHA-512, not hash()."""
    return random.Random("|".join(str(part) for part in (_GENERATOR_VERSION, *parts)))


@dataclass(frozen=True)
class _Spec:
    """How to build one dataset: its columns, label cells, text maker and default sizes."""

    text_column: str
    label_columns: tuple[str, ...]
    label_dtypes: tuple[str, ...]
    cells: tuple[tuple, ...]  # every combination of label values, one row group each
    make_text: Callable[[random.Random, tuple], str]
    default_train_rows: int  # rows per cell; the test split gets a quarter


def _generate_rows(hub_name: str, spec: _Spec, split: str, rows_per_cell: int) -> list[tuple]:
    """`rows_per_cell` distinct texts of `split` for every cell, in a seeded shuffled order."""
    seen: set[str] = set()
    rows: list[tuple] = []
    max_attempts = 40 * rows_per_cell + 400
    for cell in spec.cells:
        rng = _seeded(hub_name, split, *cell)  # one stream per cell: cells do not interact
        texts = _distinct_texts(
            spec, cell, rng, rows_per_cell, max_attempts, seen, lambda t: _split_of(t) == split
        )
        if len(texts) < rows_per_cell:
            raise SaeevalError(
                f"rows_per_cell={rows_per_cell}: the built-in {hub_name} generator could not "
                f"make that many distinct {split} texts for labels {cell}; ask for fewer"
            )
        rows.extend((text, *cell) for text in texts)
    _seeded(hub_name, split, "shuffle").shuffle(rows)
    return rows


def _distinct_texts(
    spec: _Spec,
    cell: tuple,
    rng: random.Random,
    count: int,
    max_attempts: int,
    seen: set[str],
    accept: Callable[[str], bool] | None = None,
) -> list[str]:
    """Up to `count` texts of `cell` not in `seen` (each is added to it) that `accept` takes,
    drawn from `rng` in at most `max_attempts` tries."""
    texts: list[str] = []
    for _ in range(max_attempts):
        if len(texts) == count:
            break
        text = spec.make_text(rng, cell)
        if text not in seen and (accept is None or accept(text)):
            seen.add(text)
            texts.append(text)
    return texts


# ---------------------------------------------------------------------------------------------
# LabHC/bias_in_bios: biographies with a profession and a gender
# ---------------------------------------------------------------------------------------------

_GENDER_NAMES = {value: name for name, value in GENDERS.items()}
WORK_SENTENCES = (1,)  # drawn uniformly: how many sentences of a bio describe the work
PERSONAL_SENTENCES = (3, 4)  # and how many describe the person


@cache
def _bio_rules(profession: str) -> dict[str, tuple[str, ...]]:
    """The grammar of one profession's bios: its own words plus the shared ones."""
    words = dataset_words(BIAS_IN_BIOS)
    return {**words["shared_words"], **words["profession_words"][profession]}


def _pronouns(gender: int) -> dict[str, str]:
    return dataset_words(BIAS_IN_BIOS)["pronouns"][_GENDER_NAMES[gender]]


def _bio_title_sentence(profession: str) -> str:
    """The rare sentence that names the job, as some real bios still do."""
    words = dataset_words(BIAS_IN_BIOS)
    title = words["titles"].get(profession) or "a " + profession
    return words["title_frame"].replace("{title}", _fix_articles(title))


def _bio_subject(rng: random.Random, profession: str, first: str, last: str, gender: int) -> str:
    """How the first sentence refers to the person: mostly by name, sometimes by pronoun."""
    draw = rng.random()
    if profession in dataset_words(BIAS_IN_BIOS)["doctors"] and draw < 0.12:
        return f"Dr. {last}"
    if draw < 0.5:
        return first
    if draw < 0.78:
        return f"{first} {last}"
    return _pronouns(gender)["Sub"]


def _make_bio(rng: random.Random, cell: tuple) -> str:
    """One biography for a (profession, gender) cell: a sentence of work, more about the person.

    The balance is what makes SCR measure something. SCR trains a probe on a biased set (male
    professors against female nurses) and asks how far ablating gender latents moves it; that is
    only a test when the biased probe leans on gender as well as on profession, as SAEBench's
    design assumes of the real bios, where pronouns run through the text. With two to four
    sentences of work the probe read the profession alone (0.98-1.00 accuracy on profession data,
    0.50-0.52 on gender data, on the embedded model), so one work sentence opens a bio and three
    or four personal ones follow: the probe then reads both (0.69-0.87 and 0.63-0.81).
    """
    profession_id, gender = cell
    profession = PROFESSIONS[profession_id]
    words = dataset_words(BIAS_IN_BIOS)
    first = _pick(rng, words["male_names"] if gender == 0 else words["female_names"])
    last = _pick(rng, words["last_names"])
    frames = _pick_distinct(rng, words["work_frames"], _pick(rng, WORK_SENTENCES))
    if rng.random() < 0.08:
        frames[rng.randrange(len(frames))] = _bio_title_sentence(profession)
    frames += _pick_distinct(rng, words["personal_frames"], _pick(rng, PERSONAL_SENTENCES))

    rules = _bio_rules(profession)
    used: set[tuple[str, str]] = set()
    pronouns = _pronouns(gender)
    bound = dict(pronouns)
    sentences = []
    for index, frame in enumerate(frames):
        if index == 0:
            bound["S"] = _bio_subject(rng, profession, first, last, gender)
        else:
            bound["S"] = first if rng.random() < 0.15 else pronouns["Sub"]
        sentences.append(_cap(_expand(frame, rng, rules, bound, used)))
    return _fix_articles(" ".join(sentences))


# ---------------------------------------------------------------------------------------------
# canrager/amazon_reviews_mcauley_1and5: product reviews with a category and a 1 or 5 rating
# ---------------------------------------------------------------------------------------------


VERDICTS = (2, 3)  # drawn uniformly: how many sentences of a review judge without the category


@cache
def _review_rules(category: str, rating: float) -> dict[str, tuple[str, ...]]:
    """The grammar of one (category, rating) cell's reviews."""
    words = dataset_words(AMAZON_REVIEWS)
    sentiment = words["sentiment"][str(rating)]  # keyed "1.0" and "5.0"
    return {**words["shared_words"], **words["category_words"][category], **sentiment}


def _make_review(rng: random.Random, cell: tuple) -> str:
    """One review for a (category, rating) cell: an opening naming the product, one sentence on
    the category's details, then two or three verdicts that name nothing of the category.

    The balance is what makes SCR measure something on the reviews, as on the bios: its biased
    probe (one category with 1-star reviews against another with 5-star ones) must lean on the
    rating as well as on the category. When most sentences carried category words, the probe read
    the category alone (0.85-0.99 accuracy on category data, 0.51-0.65 on rating data, on the
    embedded model); with one category sentence and two or three verdicts it reads both
    (0.57-0.83 and 0.67-0.93).
    """
    category_id, rating = cell
    words = dataset_words(AMAZON_REVIEWS)
    rules = _review_rules(AMAZON_CATEGORIES[category_id], rating)
    body = ("{good}" if rating == 5.0 else "{bad}") if rng.random() < 0.6 else "{judgement}"
    frames = ["{open}", body]
    frames += _pick_distinct(rng, rules["close"] + rules["general"], _pick(rng, VERDICTS))
    if rng.random() < 0.3:
        frames.insert(rng.randrange(1, len(frames) + 1), _pick(rng, words["neutral"]))
    used: set[tuple[str, str]] = set()
    sentences = [_cap(_expand(frame, rng, rules, {}, used)) for frame in frames]
    return _fix_articles(" ".join(sentences))


# ---------------------------------------------------------------------------------------------
# fancyzhx/ag_news: news snippets labelled World, Sports, Business or Sci/Tech
# ---------------------------------------------------------------------------------------------


def _title_case(headline: str) -> str:
    """Headline capitalisation: every word capitalised except short function words."""
    small = dataset_words(AG_NEWS)["small_title_words"]
    titled = [
        word if index and word in small else _cap(word)
        for index, word in enumerate(headline.split())
    ]
    return " ".join(titled)


@cache
def _news_rules(label: str) -> dict[str, tuple[str, ...]]:
    """The grammar of one label's news: its own words plus the shared ones."""
    words = dataset_words(AG_NEWS)
    return {**words["shared_words"], **words["label_words"][label]}


def _make_news(rng: random.Random, cell: tuple) -> str:
    """One news snippet for a label: a headline and one or two sentences of description."""
    (label_id,) = cell
    rules = _news_rules(AG_NEWS_LABELS[label_id])
    used: set[tuple[str, str]] = set()
    headline = _title_case(_expand("{headline}", rng, rules, {}, used))
    frames = ["{body}"]
    if rng.random() < 0.67:  # a second sentence: mostly the story's own, sometimes generic
        frames.append("{body}" if rng.random() < 0.7 else "{shared_body}")
    body = " ".join(_cap(_expand(frame, rng, rules, {}, used)) for frame in frames)
    if rng.random() < 0.6:  # AG News' usual "Title (Source) Source - description" shape
        source = _expand("{source}", rng, rules, {}, used)
        return _fix_articles(f"{headline} ({source}) {source} - {body}")
    return _fix_articles(f"{headline} {body}")


# ---------------------------------------------------------------------------------------------
# Helsinki-NLP/europarl: parliamentary sentences in five languages
# ---------------------------------------------------------------------------------------------


@cache
def _europarl_rules(language: str) -> dict[str, tuple[str, ...]]:
    """The grammar of one language: its frames and words, plus the shared surnames."""
    words = dataset_words(EUROPARL)
    return {
        **words["words"][language],
        **words["frames"][language],
        "surname": words["surnames"],
    }


def _after_address(sentence: str, language: str) -> str:
    """A sentence continued after "Mr President, ": lower-case its first letter, but not "I"."""
    if language == "en" and (sentence.startswith("I ") or sentence.startswith("I'")):
        return sentence
    return sentence[:1].lower() + sentence[1:]


def _europarl_sentence(rng: random.Random, rules: Mapping, language: str, used: set) -> str:
    """A chair's procedural sentence, or a speaker's sentence that may open with an address."""
    if rng.random() < 0.2:
        return _cap(_expand("{chair}", rng, rules, {}, used))
    frame = _pick(rng, rules["speech"])
    sentence = _cap(_expand(frame, rng, rules, {}, used))
    if "{addr}" not in frame and rng.random() < 0.25:
        address = _expand("{addr}", rng, rules, {}, used)
        sentence = f"{address}, {_after_address(sentence, language)}"
    return sentence


def _make_europarl(rng: random.Random, cell: tuple) -> str:
    """One or two parliamentary sentences in a language."""
    (language,) = cell
    rules = _europarl_rules(language)
    used: set[tuple[str, str]] = set()
    sentences = [_europarl_sentence(rng, rules, language, used)]
    if rng.random() < 0.5:
        sentences.append(_europarl_sentence(rng, rules, language, used))
    return " ".join(sentences)


# ---------------------------------------------------------------------------------------------
# codeparrot/github-code: source files in C, Python, HTML, Java and PHP
# ---------------------------------------------------------------------------------------------

_MIN_CODE_CHARS = 650  # above SAEBench's 534-character cut, with room to spare


def _plural(word: str) -> str:
    if word.endswith("y") and word[-2:-1] not in "aeiou":
        return word[:-1] + "ies"
    if word.endswith(("s", "x", "ch", "sh")):
        return word + "es"
    return word + "s"


def _code_bindings(rng: random.Random) -> dict[str, str]:
    """The identifiers of one file: a main noun, a verb, two fields, a class kind, a site."""
    words = dataset_words(GITHUB_CODE)
    noun, verb = _pick(rng, words["nouns"]), _pick(rng, words["verbs"])
    field, field2 = _pick_distinct(rng, words["fields"], 2)
    kind = _pick(rng, words["kinds"])
    site = _pick(rng, words["nouns"]) + _pick(rng, words["site_suffixes"])
    nouns = _plural(noun)
    return {
        "noun": noun,
        "nouns": nouns,
        "Noun": _cap(noun),
        "Nouns": _cap(nouns),
        "NOUN": noun.upper(),
        "NOUNS": nouns.upper(),
        "verb": verb,
        "Verb": _cap(verb),
        "field": field,
        "Field": _cap(field),
        "field2": field2,
        "Field2": _cap(field2),
        "letter": field[0],
        "kind": kind,
        "kind_l": kind[0].lower() + kind[1:],
        "site": site,
        "Site": _cap(site),
    }


def _make_code(rng: random.Random, cell: tuple) -> str:
    """One source file in a language: a header, blocks sharing identifiers, maybe an ending."""
    (language,) = cell
    words = dataset_words(GITHUB_CODE)
    templates = words["templates"][language]
    bound = _code_bindings(rng)
    used: set[tuple[str, str]] = set()
    parts = [_pick(rng, templates["header"])]
    if "opening" in templates and (language == "Java" or rng.random() < 0.7):
        parts.append(_pick(rng, templates["opening"]))
    blocks = list(templates["block"])
    rng.shuffle(blocks)
    parts.extend(blocks[: rng.randint(2, 4)])
    for block in blocks[4:]:  # short files get more blocks until they are long enough
        if sum(map(len, parts)) > _MIN_CODE_CHARS:
            break
        parts.append(block)
    if language == "HTML" or rng.random() < 0.4:
        parts.append(_pick(rng, templates["ending"]))
    separator = "\n\n" if language == "Python" else "\n"  # PEP 8's two blank lines
    rules = words["words"]
    code = separator.join(_expand(part, rng, rules, bound, used, slot=_CODE_SLOT) for part in parts)
    if language == "Java":
        code += "}\n"
    return code


# ---------------------------------------------------------------------------------------------
# Public entry point
# ---------------------------------------------------------------------------------------------

_SPECS: dict[str, _Spec] = {
    BIAS_IN_BIOS: _Spec(
        text_column="hard_text",
        label_columns=("profession", "gender"),
        label_dtypes=("int64", "int64"),
        cells=tuple((p, g) for p in range(len(PROFESSIONS)) for g in sorted(GENDERS.values())),
        make_text=_make_bio,
        default_train_rows=600,
    ),
    AMAZON_REVIEWS: _Spec(
        text_column="text",
        label_columns=("category", "rating"),
        label_dtypes=("int64", "float64"),
        cells=tuple((c, r) for c in range(len(AMAZON_CATEGORIES)) for r in AMAZON_RATINGS),
        make_text=_make_review,
        default_train_rows=600,
    ),
    AG_NEWS: _Spec(
        text_column="text",
        label_columns=("label",),
        label_dtypes=("int64",),
        cells=tuple((label,) for label in range(len(AG_NEWS_LABELS))),
        make_text=_make_news,
        default_train_rows=1200,
    ),
    EUROPARL: _Spec(
        text_column="text",
        label_columns=("language",),
        label_dtypes=("object",),
        cells=tuple((language,) for language in EUROPARL_LANGUAGES),
        make_text=_make_europarl,
        default_train_rows=1200,
    ),
    GITHUB_CODE: _Spec(
        text_column="code",
        label_columns=("language",),
        label_dtypes=("object",),
        cells=tuple((language,) for language in GITHUB_CODE_LANGUAGES),
        make_text=_make_code,
        default_train_rows=1200,
    ),
}


def default_rows_per_cell(hub_name: str, split: str) -> int:
    """Rows per label cell when none is asked for: the test split gets a quarter of train's."""
    spec = _spec(hub_name)
    _check_split(split)
    return spec.default_train_rows if split == "train" else spec.default_train_rows // 4


def _spec(hub_name: str) -> _Spec:
    if hub_name not in _SPECS:
        raise SaeevalError(
            f"hub_name {hub_name!r} has no built-in dataset; "
            f"valid values: {', '.join(BUILTIN_HUB_NAMES)}"
        )
    return _SPECS[hub_name]


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise SaeevalError(f"split {split!r} is not valid; valid values: {', '.join(SPLITS)}")


@lru_cache(maxsize=4)
def _cached_rows(hub_name: str, split: str, rows_per_cell: int) -> tuple[tuple, ...]:
    """The rows of a frame, kept for the next call: evals ask for the same frame several times."""
    return tuple(_generate_rows(hub_name, _SPECS[hub_name], split, rows_per_cell))


def builtin_frame(hub_name: str, split: str, rows_per_cell: int | None = None) -> pd.DataFrame:
    """The built-in stand-in for one split of a hub dataset, as the hub's columns and labels.

    `rows_per_cell` rows are made for every combination of label values (profession x gender,
    category x rating, or one label); by default 600 or 1200 for "train" and a quarter of that
    for "test". The frame is the same in every run and process, its rows are in a seeded
    shuffled order, and no text appears in both splits.
    """
    spec = _spec(hub_name)
    _check_split(split)
    if rows_per_cell is None:
        rows_per_cell = default_rows_per_cell(hub_name, split)
    integral = isinstance(rows_per_cell, numbers.Integral) and not isinstance(rows_per_cell, bool)
    if not integral or rows_per_cell < 1:
        raise SaeevalError(f"rows_per_cell must be a positive integer, got {rows_per_cell!r}")
    rows = _cached_rows(hub_name, split, int(rows_per_cell))
    columns = (spec.text_column, *spec.label_columns)
    frame = pd.DataFrame(rows, columns=list(columns))
    dtypes = dict(zip(spec.label_columns, spec.label_dtypes, strict=True))
    return frame.astype({spec.text_column: "object", **dtypes})


def unread_texts(hub_name: str, count: int) -> list[str]:
    """About `count` texts of one dataset's genre that no eval reads, spread over its label cells.

    They come from a stream of their own ("pretrain") and leave out every text of the default
    train and test frames, so an SAE trained on them has seen the genres the probing evals read,
    as one trained on web text has, but not their texts. Deterministic, like the frames.
    """
    spec = _spec(hub_name)
    taken = {
        row[0]
        for split in SPLITS
        for row in _cached_rows(hub_name, split, default_rows_per_cell(hub_name, split))
    }
    per_cell = max(1, count // len(spec.cells))
    return [
        text
        for cell in spec.cells
        for text in _distinct_texts(
            spec, cell, _seeded(hub_name, "pretrain", *cell), per_cell, 50 * per_cell, taken
        )
    ]
