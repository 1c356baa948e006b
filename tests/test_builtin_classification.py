"""The built-in offline stand-ins for the probing evals' hub datasets.

Frames are kept small (a few dozen rows per label cell) so that every test runs in about a second;
the generators are the same at any size.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from collections import Counter
from importlib import resources

import pandas as pd
import pytest
import yaml

from saeeval.data import builtin_classification as bc
from saeeval.data.builtin_classification import builtin_frame
from saeeval.data.dataset_names import (
    AG_NEWS_LABELS,
    AMAZON_CATEGORIES,
    AMAZON_RATINGS,
    BUILTIN_HUB_NAMES,
    EUROPARL_LANGUAGES,
    GITHUB_CODE_LANGUAGES,
    PROFESSIONS,
)
from saeeval.errors import SaeevalError

# hub name -> (text column, label columns, number of label cells)
EXPECTED = {
    "LabHC/bias_in_bios": ("hard_text", ("profession", "gender"), 28 * 2),
    "canrager/amazon_reviews_mcauley_1and5": ("text", ("category", "rating"), 34 * 2),
    "fancyzhx/ag_news": ("text", ("label",), 4),
    "Helsinki-NLP/europarl": ("text", ("language",), 5),
    "codeparrot/github-code": ("code", ("language",), 5),
}
SMALL = 6  # rows per cell for tests that only look at the shape

# Content hashes (`frame_content_hash`) of every frame at the default size. The word lists and
# templates moved from Python string literals into the data files without changing a byte of the
# output; the bios were then rebalanced on purpose (one work sentence, three or four personal
# ones), as were the reviews (one category sentence, two or three verdicts), and their hashes
# recomputed. Changing the data or the generator means recomputing them.
DEFAULT_FRAME_HASHES = {
    "LabHC/bias_in_bios": {
        "train": "07f757f01a32cffd4a18cde0271453194ac515170c387acb93e7860b0bb941d8",
        "test": "982e87dc81d1b27925b3e92369150210beff958f9a31555c07447a92c5edf0cb",
    },
    "canrager/amazon_reviews_mcauley_1and5": {
        "train": "326ae2e66ac7ecc6f243adf920aa84b4c8fc19cf341fed95618326b46bd174bd",
        "test": "0ef26bb02b22995ea5b1c2f575c6b334c14a23f4541529435c1eab2c3444721c",
    },
    "fancyzhx/ag_news": {
        "train": "d865596a4c350e706f28a5f00d17e276fb33f3f90bd68c03db2651c3ef9b1390",
        "test": "c757244ab98f9889ab69cd42860a420d967245b0df947788f1a303d20843a655",
    },
    "Helsinki-NLP/europarl": {
        "train": "d57cf95da29de6892d3975fb7613d0b77d68d798b9915cb690b4127d92824136",
        "test": "8f358f53d2eb465113a7c2851da08dc707c35d7ec59291f668410ffe1d0a7102",
    },
    "codeparrot/github-code": {
        "train": "bbd78081930b5afd59640e7ec05c9ac204c9cd22a9971fd5f6e2fc132522c751",
        "test": "631ef4c69607d98edbf591be53a887f8df318da42a5f8921905d841b98468f54",
    },
}


def fresh_frame(hub_name: str, split: str, rows_per_cell: int) -> pd.DataFrame:
    """A frame generated now, not taken from the module's cache of recent frames."""
    bc._cached_rows.cache_clear()
    return builtin_frame(hub_name, split, rows_per_cell)


def sentences(text: str) -> list[str]:
    """Split at a full stop before a capital, except after "Dr."."""
    return re.split(r"(?<=[.!?])(?<!Dr\.) (?=[A-Z])", text)


def frame_digest(frame: pd.DataFrame) -> str:
    return hashlib.sha256(frame.to_csv(index=False).encode("utf-8")).hexdigest()


def frame_content_hash(frame: pd.DataFrame) -> str:
    """sha256 of a canonical JSON of the columns, dtypes, index and every cell, in row order."""
    payload = {
        "columns": [str(column) for column in frame.columns],
        "dtypes": [str(dtype) for dtype in frame.dtypes],
        "index": frame.index.tolist(),
        "data": frame.to_numpy().tolist(),
    }
    return hashlib.sha256(json.dumps(payload, ensure_ascii=False).encode("utf-8")).hexdigest()


def test_builtin_hub_names():
    assert BUILTIN_HUB_NAMES == tuple(EXPECTED)


@pytest.mark.parametrize("split", ["train", "test"])
@pytest.mark.parametrize("hub_name", BUILTIN_HUB_NAMES)
def test_default_frames_are_unchanged(hub_name, split):
    """The default frames, byte for byte, as the pre-move generator made them."""
    frame = builtin_frame(hub_name, split)
    assert frame_content_hash(frame) == DEFAULT_FRAME_HASHES[hub_name][split]


def test_data_files_are_package_resources(monkeypatch):
    """One YAML file per dataset, shipped in saeeval.data.builtin and read through
    importlib.resources (so it is found inside an installed wheel, not beside a source tree)."""
    assert set(bc.DATA_FILES) == set(BUILTIN_HUB_NAMES)
    package = resources.files(bc.DATA_PACKAGE)
    shipped = {item.name for item in package.iterdir() if item.name.endswith(".yaml")}
    assert set(bc.DATA_FILES.values()) <= shipped  # (other built-in data lives there too)

    opened = []
    files = resources.files

    def spy(anchor):
        opened.append(anchor)
        return files(anchor)

    monkeypatch.setattr(resources, "files", spy)
    bc.dataset_words.cache_clear()
    try:
        for hub_name, file_name in bc.DATA_FILES.items():
            text = package.joinpath(file_name).read_text(encoding="utf-8")
            on_disk = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
            assert bc.dataset_words(hub_name).keys() == on_disk.keys()
    finally:
        bc.dataset_words.cache_clear()  # later tests read the files again, unpatched
    assert opened == [bc.DATA_PACKAGE] * len(bc.DATA_FILES)


def test_data_files_cover_every_label():
    """Each label value has its words, under the name the hub's label ids stand for."""
    words = {name: bc.dataset_words(name) for name in BUILTIN_HUB_NAMES}
    assert set(words["LabHC/bias_in_bios"]["profession_words"]) == set(PROFESSIONS)
    amazon = words["canrager/amazon_reviews_mcauley_1and5"]
    assert set(amazon["category_words"]) == set(AMAZON_CATEGORIES)
    assert set(amazon["sentiment"]) == {str(rating) for rating in AMAZON_RATINGS}
    assert set(words["fancyzhx/ag_news"]["label_words"]) == set(AG_NEWS_LABELS)
    europarl = words["Helsinki-NLP/europarl"]
    assert set(europarl["frames"]) == set(europarl["words"]) == set(EUROPARL_LANGUAGES)
    assert set(words["codeparrot/github-code"]["templates"]) == set(GITHUB_CODE_LANGUAGES)


def test_data_files_hold_lists_of_strings():
    """Alternatives are real lists of strings (no "a | b" strings to parse, no YAML numbers)."""

    def leaves(value):
        if isinstance(value, dict):
            for item in value.values():
                yield from leaves(item)
        else:
            yield value

    for hub_name in BUILTIN_HUB_NAMES:
        for leaf in leaves(bc.dataset_words(hub_name)):
            items = leaf if isinstance(leaf, tuple) else (leaf,)
            assert all(isinstance(item, str) and item for item in items), (hub_name, leaf)


@pytest.mark.parametrize("hub_name", BUILTIN_HUB_NAMES)
def test_columns_and_dtypes(hub_name):
    text_column, label_columns, _ = EXPECTED[hub_name]
    frame = builtin_frame(hub_name, "train", SMALL)
    assert list(frame.columns) == [text_column, *label_columns]
    assert frame[text_column].dtype == object
    assert all(isinstance(text, str) and text for text in frame[text_column])
    if hub_name == "LabHC/bias_in_bios":
        assert frame["profession"].dtype == "int64" and frame["gender"].dtype == "int64"
        assert set(frame["profession"]) == set(range(28))
        assert set(frame["gender"]) == {0, 1}
    elif hub_name == "canrager/amazon_reviews_mcauley_1and5":
        assert frame["category"].dtype == "int64" and frame["rating"].dtype == "float64"
        assert set(frame["category"]) == set(range(34))
        assert set(frame["rating"]) == {1.0, 5.0}
    elif hub_name == "fancyzhx/ag_news":
        assert frame["label"].dtype == "int64"
        assert set(frame["label"]) == {0, 1, 2, 3}
    elif hub_name == "Helsinki-NLP/europarl":
        assert frame["language"].dtype == object
        assert set(frame["language"]) == {"en", "fr", "de", "es", "nl"}
    else:
        assert frame["language"].dtype == object
        assert set(frame["language"]) == {"C", "Python", "HTML", "Java", "PHP"}


@pytest.mark.parametrize("hub_name", BUILTIN_HUB_NAMES)
def test_deterministic_within_a_process(hub_name):
    first = fresh_frame(hub_name, "test", SMALL)
    second = fresh_frame(hub_name, "test", SMALL)
    pd.testing.assert_frame_equal(first, second)


def test_deterministic_across_processes():
    """Another interpreter with another hash seed builds byte-identical frames."""
    # The child skips saeeval.data's heavier imports (torch): an empty package object with the
    # same folder stands in for it, so only the generator, its names and its data files load.
    script = (
        "import hashlib, sys, types\n"
        "data = sys.modules['saeeval.data'] = types.ModuleType('saeeval.data')\n"
        "data.__path__ = [sys.argv[1]]\n"
        "from saeeval.data.builtin_classification import builtin_frame\n"
        "from saeeval.data.dataset_names import BUILTIN_HUB_NAMES\n"
        "assert 'torch' not in sys.modules\n"
        "for name in BUILTIN_HUB_NAMES:\n"
        "    frame = builtin_frame(name, 'train', 3)\n"
        "    print(hashlib.sha256(frame.to_csv(index=False).encode('utf-8')).hexdigest())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, os.path.dirname(bc.__file__)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONHASHSEED": "12345"},
    )
    here = [frame_digest(fresh_frame(name, "train", 3)) for name in BUILTIN_HUB_NAMES]
    assert result.stdout.split() == here


@pytest.mark.parametrize("hub_name", BUILTIN_HUB_NAMES)
def test_train_and_test_texts_are_disjoint_and_distinct(hub_name):
    text_column = EXPECTED[hub_name][0]
    train = builtin_frame(hub_name, "train", 30)[text_column]
    test = builtin_frame(hub_name, "test", 30)[text_column]
    assert train.is_unique and test.is_unique
    assert not set(train) & set(test)


@pytest.mark.parametrize("hub_name", BUILTIN_HUB_NAMES)
def test_every_label_cell_has_exactly_rows_per_cell_rows(hub_name):
    """Every profession x gender, category x rating (or single label) cell, in equal numbers."""
    _, label_columns, n_cells = EXPECTED[hub_name]
    frame = builtin_frame(hub_name, "test", SMALL)
    counts = frame.groupby(list(label_columns)).size()
    assert len(counts) == n_cells
    assert set(counts) == {SMALL}
    assert len(frame) == n_cells * SMALL


def test_default_sizes():
    assert bc.default_rows_per_cell("LabHC/bias_in_bios", "train") == 600
    assert bc.default_rows_per_cell("LabHC/bias_in_bios", "test") == 150
    assert bc.default_rows_per_cell("canrager/amazon_reviews_mcauley_1and5", "test") == 150
    for name in ("fancyzhx/ag_news", "codeparrot/github-code"):
        assert bc.default_rows_per_cell(name, "train") == 1200
        assert bc.default_rows_per_cell(name, "test") == 300
    europarl = builtin_frame("Helsinki-NLP/europarl", "test")
    counts = europarl["language"].value_counts().to_dict()
    assert counts == dict.fromkeys(EUROPARL_LANGUAGES, 300)


def test_rows_are_shuffled():
    """Rows come in a mixed order, so the first rows of a label are not the first generated."""
    frame = builtin_frame("LabHC/bias_in_bios", "train", SMALL)
    head = frame["profession"].head(40).tolist()
    assert len(set(head)) > 10
    assert head != sorted(head)
    assert len(set(frame["gender"].head(10))) == 2


def test_smaller_frames_are_prefixes_of_larger_ones_per_cell():
    """Each cell draws from its own seeded stream: asking for more rows only adds rows."""
    small = builtin_frame("fancyzhx/ag_news", "train", 10)
    large = builtin_frame("fancyzhx/ag_news", "train", 25)
    assert set(small["text"]) <= set(large["text"])


# ----- bias in bios ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bios() -> pd.DataFrame:
    return builtin_frame("LabHC/bias_in_bios", "train", 40)


def test_bios_rarely_name_the_profession(bios):
    titles = {index: name.replace("_", " ") for index, name in enumerate(PROFESSIONS)}
    named = [
        re.search(rf"\b{re.escape(titles[profession])}\b", text, re.IGNORECASE) is not None
        for text, profession in zip(bios["hard_text"], bios["profession"], strict=True)
    ]
    assert sum(named) / len(named) < 0.2


def test_bios_gender_is_carried_by_pronouns(bios):
    """Female bios never use male pronouns and vice versa; nearly all use their own."""
    words = bios["hard_text"].str.lower().str.findall(r"[a-z]+").map(set)
    male = words.map(lambda w: bool(w & {"he", "him", "his"}))
    female = words.map(lambda w: bool(w & {"she", "her", "hers"}))
    is_female = bios["gender"] == 1
    assert not (male & is_female).any() and not (female & ~is_female).any()
    assert (male | female).mean() > 0.95


def test_bios_length_and_variety(bios):
    texts = bios["hard_text"]
    assert texts.is_unique
    words = texts.str.split().str.len()
    assert 30 <= words.median() <= 70 and words.max() < 110
    n_sentences = texts.map(sentences).str.len()
    assert n_sentences.min() >= 3 and n_sentences.max() <= 6
    for profession, group in bios.groupby("profession"):
        distinct = {s for text in group["hard_text"] for s in sentences(text)}
        assert len(distinct) >= 250, profession  # from 80 bios of 3-6 sentences


def test_bios_say_more_about_the_person_than_the_work(bios):
    """One work sentence, then three or four about the person, with pronouns: so that a probe
    trained where profession and gender go together leans on both (what SCR measures)."""
    personal = re.compile(
        r"lives|free time|grew up|Outside of work|speaks|proud|not working|family|believes|"
        r"splits|Friends describe|colleagues call|owes a lot|weekends|taught|best ideas"
    )
    shares = []
    for text in bios["hard_text"]:
        parts = sentences(text)
        shares.append(sum(bool(personal.search(s)) for s in parts) / len(parts))
    assert 0.5 < sum(shares) / len(shares) < 0.8


def test_bios_share_filler_sentences_across_professions(bios):
    """Hobby and family sentences are not tied to a profession."""
    filler = bios["hard_text"].str.contains(r"free time|lives in|grew up in|speaks ", regex=True)
    assert bios.loc[filler, "profession"].nunique() == 28


def test_bios_first_names_carry_gender(bios):
    words = bc.dataset_words("LabHC/bias_in_bios")
    male, female = set(words["male_names"]), set(words["female_names"])
    firsts = Counter()
    for text, gender in zip(bios["hard_text"], bios["gender"], strict=True):
        for name in re.findall(r"\b[A-Z][a-z]+\b", text):
            if name in male or name in female:
                firsts[(name in female, gender)] += 1
    assert firsts[(True, 0)] == 0 and firsts[(False, 1)] == 0
    assert firsts[(True, 1)] > 0 and firsts[(False, 0)] > 0


# ----- amazon reviews ----------------------------------------------------------------------------


def test_reviews_sentiment_is_varied_and_category_independent():
    frame = builtin_frame("canrager/amazon_reviews_mcauley_1and5", "train", 10)
    assert frame["text"].is_unique
    split = frame["text"].map(sentences)
    assert split.str.len().min() >= 4 and split.str.len().max() <= 6
    openings = split.str[0]
    for _, group in frame.groupby("rating"):
        assert group["category"].nunique() == 34
        # Many different openings per rating, not one fixed phrase.
        assert openings[group.index].str.replace(r"this .*", "", regex=True).nunique() >= 8


def test_reviews_judge_more_than_they_describe():
    """After the opening and one sentence on the category, two or three verdicts of the review's
    own rating that name nothing of the category: so a probe trained where category and rating
    go together leans on both (what SCR measures)."""
    sentiment = bc.dataset_words("canrager/amazon_reviews_mcauley_1and5")["sentiment"]
    verdicts = {
        rating: set(sentiment[str(rating)]["close"]) | set(sentiment[str(rating)]["general"])
        for rating in AMAZON_RATINGS
    }
    frame = builtin_frame("canrager/amazon_reviews_mcauley_1and5", "train", 10)
    counts = Counter()
    for text, rating in zip(frame["text"], frame["rating"], strict=True):
        parts = sentences(text)
        other = next(r for r in AMAZON_RATINGS if r != rating)
        assert not verdicts[other] & set(parts), text
        counts[sum(part in verdicts[rating] for part in parts[2:])] += 1
    assert set(counts) == {2, 3}, counts


# ----- ag news -----------------------------------------------------------------------------------


def test_news_snippets_look_like_ag_news():
    frame = builtin_frame("fancyzhx/ag_news", "train", 50)
    with_source = frame["text"].str.contains(r"\((?:Reuters|AP|AFP|Canadian Press)\) ", regex=True)
    assert 0.4 < with_source.mean() < 0.8
    assert frame["text"].str.len().between(60, 500).all()


# ----- europarl ----------------------------------------------------------------------------------

# Characteristic function words, none shared between two languages.
FUNCTION_WORDS = {
    "en": "the and of we this that would i must is remains has to on for",
    "fr": "les et nous est une pour le du ce je reste doit au l d qu sur ses avant",
    "de": "die der und wir ist nicht das den ich für muss hat im nach wie",
    "es": "los y el del una para las este por sobre sigue siendo debe al",
    "nl": "het van een wij niet dit voor ik over blijft moet heeft mogen wil zeer naar",
}


def test_europarl_texts_are_in_their_language():
    markers = {language: set(words.split()) for language, words in FUNCTION_WORDS.items()}
    frame = builtin_frame("Helsinki-NLP/europarl", "train", 60)
    for language, group in frame.groupby("language"):
        recognised = 0
        for text in group["text"]:
            words = re.findall(r"\w+", text.lower())
            scores = {lang: sum(word in known for word in words) for lang, known in markers.items()}
            recognised += max(scores, key=scores.get) == language
        assert recognised / len(group) >= 0.9, language


# ----- github code -------------------------------------------------------------------------------


def test_code_snippets_are_long_and_look_like_their_language():
    frame = builtin_frame("codeparrot/github-code", "train", 40)
    assert (frame["code"].str.len() > 600).all()
    # What is left after SAEBench drops the first 150 characters still shows the language.
    body = frame["code"].str[150:]
    signs = {
        "Python": r"\bdef |\bclass |self\.",
        "C": r"->|\bstatic |\bint |;\n",
        "Java": r"\bpublic |\bprivate |\bnew ",
        "PHP": r"\$[a-z]",
        "HTML": r"</[a-z]+>",
    }
    for language, pattern in signs.items():
        assert body[frame["language"] == language].str.contains(pattern, regex=True).all()
    assert not body[frame["language"] != "PHP"].str.contains(r"<\?php", regex=True).any()


# ----- errors ------------------------------------------------------------------------------------


def test_unknown_hub_name_raises():
    with pytest.raises(SaeevalError, match=r"hub_name 'nope/dataset'.*LabHC/bias_in_bios"):
        builtin_frame("nope/dataset", "train")


def test_unknown_split_raises():
    with pytest.raises(SaeevalError, match=r"split 'validation'.*train, test"):
        builtin_frame("fancyzhx/ag_news", "validation")


@pytest.mark.parametrize("rows_per_cell", [0, -3, 2.5, True])
def test_bad_rows_per_cell_raises(rows_per_cell):
    with pytest.raises(SaeevalError, match="rows_per_cell"):
        builtin_frame("fancyzhx/ag_news", "train", rows_per_cell)
