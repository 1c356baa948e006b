"""The classification dataset layer against SAEBench's own selection functions.

Small frames shaped like each hub dataset (same columns and label values, a few hundred rows of
random words, rows in shuffled order) go through our loaders from local parquet/jsonl files, and
through SAEBench's functions directly. For europarl and github-code, whose SAEBench functions
stream from the hub, `load_dataset` as seen by the reference module is replaced by the same rows
(a stand-in for the network only).
"""

from __future__ import annotations

import random
import types

import numpy as np
import pandas as pd
import pytest

from saeeval.data import builtin_classification as bc
from saeeval.data import classification
from saeeval.data.classification import (
    CHOSEN_CLASSES,
    PAIRED_CLASS_KEYS,
    SCR_COLUMN2_VALUES,
    load_class_texts,
    load_spurious_texts,
)
from saeeval.data.dataset_names import AMAZON_CATEGORIES, GENDERS, PROFESSIONS
from saeeval.errors import SaeevalError

BIAS_SETS = [f"LabHC/bias_in_bios_class_set{i}" for i in (1, 2, 3)]
AMAZON = "canrager/amazon_reviews_mcauley_1and5"
SENTIMENT = "canrager/amazon_reviews_mcauley_1and5_sentiment"
AG_NEWS = "fancyzhx/ag_news"
EUROPARL = "Helsinki-NLP/europarl"
GITHUB = "codeparrot/github-code"
EUROPARL_CONFIGS = {"en": "en-fr", "fr": "fr-it", "de": "de-en", "es": "es-fr", "nl": "nl-pt"}
WORDS = "alpha beta gamma delta review code the of model data is a good bad very".split()


# --- frames shaped like the hub datasets --------------------------------------------------------


def _text(rng: np.random.Generator, tag: str, n_words: int = 8) -> str:
    return f"{tag}: " + " ".join(rng.choice(WORDS, size=n_words))


def _two_column_frame(seed, text_col, col1, col2, col1_values, col2_values, low, high):
    """Rows for every (col1, col2) cell, each cell with low..high rows, in shuffled order."""
    rng = np.random.default_rng(seed)
    rows = []
    for c1 in col1_values:
        for c2 in col2_values:
            for i in range(int(rng.integers(low, high + 1))):
                rows.append({text_col: _text(rng, f"{c1}/{c2}/{i}"), col1: c1, col2: c2})
    order = rng.permutation(len(rows))
    return pd.DataFrame([rows[i] for i in order])


def bias_frame(seed: int, low: int, high: int) -> pd.DataFrame:
    frame = _two_column_frame(
        seed, "hard_text", "profession", "gender", range(28), (0, 1), low, high
    )
    # A profession with one gender only: SAEBench skips it; it is not a chosen class.
    extra = pd.DataFrame({"hard_text": [f"dj only {i}" for i in range(40)], "profession": 8})
    extra["gender"] = 0
    return pd.concat([frame[frame.profession != 8], extra], ignore_index=True)


def amazon_frame(seed: int, low: int, high: int) -> pd.DataFrame:
    categories = (1, 2, 3, 5, 6, 24, 26, 30, 0)
    return _two_column_frame(seed, "text", "category", "rating", categories, (1.0, 5.0), low, high)


def ag_news_frame(seed: int, low: int, high: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, size=4 * high)
    assert np.bincount(labels, minlength=4).min() >= low
    return pd.DataFrame(
        {"text": [_text(rng, f"news {i}") for i in range(len(labels))], "label": labels}
    )


def europarl_frame(seed: int, per_language: dict[str, int]) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = [
        {"text": _text(rng, f"{lang} {i}"), "language": lang}
        for lang, n in per_language.items()
        for i in range(n)
    ]
    return pd.DataFrame([rows[i] for i in rng.permutation(len(rows))])


def github_frame(seed: int, rows_per_language: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for lang in ("C", "Python", "HTML", "Java", "PHP", "Ruby"):
        for i in range(rows_per_language):
            # Lengths around the 534-character cut, so the filter drops a good share.
            length = int(rng.integers(300, 900))
            body = "".join(rng.choice(list("abcdefgh {};\n"), size=length))
            rows.append({"code": f"// {lang} {i}\n{body}"[:length], "language": lang})
    return pd.DataFrame([rows[i] for i in rng.permutation(len(rows))])


def write_splits(folder, train: pd.DataFrame, test: pd.DataFrame | None = None, fmt="parquet"):
    folder.mkdir(parents=True, exist_ok=True)
    for split, frame in (("train", train), ("test", test)):
        if frame is None:
            continue
        if fmt == "parquet":
            frame.to_parquet(folder / f"{split}.parquet", index=False)
        else:
            frame.to_json(folder / f"{split}.jsonl", orient="records", lines=True)
    return str(folder)


@pytest.fixture(autouse=True)
def datasets_cache(tmp_path_factory, monkeypatch):
    """Keep the `datasets` library's lock files out of the user's cache."""
    import datasets

    folder = tmp_path_factory.getbasetemp() / "hf-datasets-cache"
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", folder)


@pytest.fixture(scope="module")
def frames():
    return {
        "bias": (bias_frame(1, 21, 34), bias_frame(2, 11, 18)),
        "amazon": (amazon_frame(3, 21, 34), amazon_frame(4, 11, 18)),
        "ag_news": (ag_news_frame(5, 30, 60), ag_news_frame(6, 12, 20)),
    }


@pytest.fixture(scope="module")
def sources(frames, tmp_path_factory):
    root = tmp_path_factory.mktemp("classification")
    return {
        "bias": write_splits(root / "bias", *frames["bias"]),
        "amazon": write_splits(root / "amazon", *frames["amazon"], fmt="jsonl"),
        "ag_news": write_splits(root / "ag_news", *frames["ag_news"]),
    }


@pytest.fixture(scope="module")
def ref():
    from sae_bench.evals.scr_and_tpp import dataset_creation
    from sae_bench.sae_bench_utils import dataset_info, dataset_utils

    return types.SimpleNamespace(utils=dataset_utils, info=dataset_info, scr=dataset_creation)


def assert_same(ours, expected_train, expected_test):
    assert list(ours.train) == list(expected_train)
    assert list(ours.test) == list(expected_test)
    assert ours.train == expected_train
    assert ours.test == expected_test


# --- constants -----------------------------------------------------------------------------------


def test_constants_match_saebench(ref):
    assert CHOSEN_CLASSES == ref.info.chosen_classes_per_dataset
    assert {name: i for i, name in enumerate(PROFESSIONS)} == ref.info.profession_dict
    assert {name: i for i, name in enumerate(AMAZON_CATEGORIES)} == ref.info.amazon_category_dict
    assert GENDERS == ref.info.gender_dict
    assert list(PAIRED_CLASS_KEYS.items()) == list(ref.info.PAIRED_CLASS_KEYS.items())


# --- sparse probing / TPP parity -----------------------------------------------------------------


def _reference_multi_label(ref, name, train_df, test_df, train_size, test_size, seed):
    """SAEBench's get_multi_label_train_test_data on given frames, then filter_dataset."""
    if name == SENTIMENT:
        train = ref.utils.get_balanced_amazon_sentiment_dataset(train_df, train_size // 2, seed)
        test = ref.utils.get_balanced_amazon_sentiment_dataset(test_df, test_size // 2, seed)
    elif name == AG_NEWS:
        labels = [int(c) for c in CHOSEN_CLASSES[name]]
        train = ref.utils.gather_dataset_from_df(
            train_df, labels, train_size // 2, "label", "text", seed
        )
        test = ref.utils.gather_dataset_from_df(
            test_df, labels, test_size // 2, "label", "text", seed
        )
    else:
        hub = name.split("_class_set")[0]
        train = ref.utils.get_balanced_dataset(train_df, hub, train_size // 4, seed)
        test = ref.utils.get_balanced_dataset(test_df, hub, test_size // 4, seed)
    train, test = ref.utils.ensure_shared_keys(train, test)
    chosen = ref.info.chosen_classes_per_dataset[name]
    return ref.utils.filter_dataset(train, chosen), ref.utils.filter_dataset(test, chosen)


@pytest.mark.parametrize(
    "name, kind",
    [(n, "bias") for n in BIAS_SETS]
    + [(AMAZON, "amazon"), (SENTIMENT, "amazon"), (AG_NEWS, "ag_news")],
)
@pytest.mark.parametrize("seed", [42, 7])
def test_table_datasets_match_reference(ref, frames, sources, name, kind, seed):
    train_df, test_df = frames[kind]
    train_size, test_size = (40, 20) if name != AG_NEWS else (60, 24)
    ours = load_class_texts(name, train_size, test_size, seed, source=sources[kind])
    expected = _reference_multi_label(ref, name, train_df, test_df, train_size, test_size, seed)
    assert_same(ours, *expected)
    per_class = (
        2 * (train_size // 4) if kind != "ag_news" and name != SENTIMENT else train_size // 2
    )
    assert all(len(texts) == per_class for texts in ours.train.values())
    assert ours.source == sources[kind]
    if name == SENTIMENT:  # read back from jsonl: ratings stay floats, keys "1.0" / "5.0"
        assert list(ours.train) == ["1.0", "5.0"]


def _fake_stream_loader(calls, rows_for):
    """A `load_dataset` stand-in that records its call and streams the given rows."""

    def load_dataset(path, name=None, **kwargs):
        calls.append((path, name, kwargs))
        return iter(rows_for(name, kwargs))

    return load_dataset


@pytest.mark.parametrize("seed", [42, 3])
def test_europarl_matches_reference(ref, tmp_path, monkeypatch, seed):
    train_size, test_size = 40, 12  # 20 + 6 per language; SAEBench keeps the first 27
    counts = {"en": 40, "fr": 27, "de": 26, "es": 33, "nl": 30}  # de: stream ends at exactly n
    frame = europarl_frame(seed, counts)
    language_of = {config: lang for lang, config in EUROPARL_CONFIGS.items()}

    def rows_for(config, kwargs):
        lang = language_of[config]
        texts = frame.text[frame.language == lang]
        return [{"translation": {lang: t, "xx": "other side"}} for t in texts]

    monkeypatch.setattr(ref.utils, "load_dataset", _fake_stream_loader([], rows_for))
    expected = ref.utils.get_europarl_dataset(
        EUROPARL, CHOSEN_CLASSES[EUROPARL], train_size, test_size, seed
    )
    path = tmp_path / "europarl.jsonl"
    frame.to_json(path, orient="records", lines=True)
    random.seed(123)
    state = random.getstate()
    ours = load_class_texts(EUROPARL, train_size, test_size, seed, source=str(path))
    assert random.getstate() == state  # our shuffles use a private RNG
    assert_same(ours, *expected)


@pytest.mark.parametrize("seed", [42, 11])
def test_github_code_matches_reference(ref, tmp_path, monkeypatch, seed):
    train_size, test_size = 20, 10  # 10 + 5 per language
    frame = github_frame(seed, 60)
    rows = frame.to_dict("records")
    monkeypatch.setattr(ref.utils, "load_dataset", _fake_stream_loader([], lambda c, k: rows))
    expected = ref.utils.get_github_code_dataset(
        GITHUB, CHOSEN_CLASSES[GITHUB], train_size, test_size, seed
    )
    folder = write_splits(tmp_path / "github", frame)  # a folder with train.parquet only
    ours = load_class_texts(GITHUB, train_size, test_size, seed, source=folder)
    assert_same(ours, *expected)
    assert all(len(t) > 384 for texts in ours.train.values() for t in texts)


# --- SCR parity ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, kind, column1",
    [
        ("LabHC/bias_in_bios_class_set1", "bias", ("professor", "nurse")),
        ("LabHC/bias_in_bios_class_set2", "bias", ("architect", "journalist")),
        (AMAZON, "amazon", ("Books", "CDs_and_Vinyl")),
        (AMAZON, "amazon", ("Software", "Electronics")),
    ],
)
@pytest.mark.parametrize("seed", [42, 5])
def test_spurious_data_matches_reference(ref, frames, sources, name, kind, column1, seed):
    train_df, test_df = frames[kind]
    column2 = SCR_COLUMN2_VALUES[name]
    hub = name.split("_class_set")[0]
    expected = [
        ref.scr.get_spurious_corr_data(df, column1, column2, hub, size // 4, seed)
        for df, size in ((train_df, 40), (test_df, 20))
    ]
    ours = load_spurious_texts(name, column1, column2, 40, 20, seed, source=sources[kind])
    assert_same(ours, *expected)
    assert list(ours.train) == [k for pair in PAIRED_CLASS_KEYS.items() for k in pair]
    assert all(len(texts) == 20 for texts in ours.train.values())


# --- sources: hub calls, offline frames -----------------------------------------------------------


def test_hub_source_makes_saebench_calls(frames, sources, monkeypatch):
    import datasets

    calls = []
    train_df, test_df = frames["bias"]
    by_split = {"train": train_df, "test": test_df}

    def load_dataset(path, name=None, **kwargs):
        calls.append((path, name, kwargs))
        if path == "LabHC/bias_in_bios":
            return datasets.Dataset.from_pandas(by_split[kwargs["split"]], preserve_index=False)
        lang = {c: lang for lang, c in EUROPARL_CONFIGS.items()}[name]
        return iter([{"translation": {lang: f"{lang} text {i}"}} for i in range(30)])

    local = load_class_texts(BIAS_SETS[0], 40, 20, 42, source=sources["bias"])
    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    ours = load_class_texts(BIAS_SETS[0], 40, 20, 42, source="hub")
    assert (ours.train, ours.test, ours.fingerprint) == (local.train, local.test, local.fingerprint)
    assert ours.source == "LabHC/bias_in_bios"
    assert [c[2]["split"] for c in calls] == ["train", "test"]

    calls.clear()
    europarl = load_class_texts(EUROPARL, 40, 12, 0, source="hub")
    assert [(c[0], c[1]) for c in calls] == [(EUROPARL, c) for c in EUROPARL_CONFIGS.values()]
    assert all(c[2] == {"streaming": True, "split": "train"} for c in calls)
    assert list(europarl.train) == list(EUROPARL_CONFIGS)
    assert all(len(texts) == 20 for texts in europarl.train.values())


def test_github_hub_call(monkeypatch):
    import datasets

    calls = []
    rows = github_frame(0, 40).to_dict("records")
    monkeypatch.setattr(datasets, "load_dataset", _fake_stream_loader(calls, lambda c, k: rows))
    load_class_texts(GITHUB, 20, 10, 42, source="hub")
    ((path, name, kwargs),) = calls
    assert (path, name) == (GITHUB, None)
    assert kwargs == {
        "streaming": True,
        "split": "train",
        "trust_remote_code": True,
        "languages": ["C", "Python", "HTML", "Java", "PHP"],
    }


def test_offline_source_uses_builtin_frames_and_grows_them(ref, frames, monkeypatch):
    """The offline source reads `builtin_frame`; when its default frame is too small for the
    request, it is asked once more for enough rows per cell, never fewer than a split's default."""
    calls = []
    by_split = dict(zip(("train", "test"), frames["ag_news"], strict=True))

    def builtin_frame(hub_name, split, rows_per_cell=None):
        calls.append((hub_name, split, rows_per_cell))
        if rows_per_cell is None:  # a default frame too small for this request
            return pd.DataFrame({"text": [f"t{i}" for i in range(8)], "label": [0, 1, 2, 3] * 2})
        return by_split[split]

    monkeypatch.setattr(classification, "builtin_frame", builtin_frame)
    ours = load_class_texts(AG_NEWS, 60, 24, 42)
    assert calls == [
        (AG_NEWS, "train", None),
        (AG_NEWS, "test", None),
        (AG_NEWS, "train", bc.default_rows_per_cell(AG_NEWS, "train")),
        (AG_NEWS, "test", bc.default_rows_per_cell(AG_NEWS, "test")),
    ]
    expected = _reference_multi_label(ref, AG_NEWS, *frames["ag_news"], 60, 24, 42)
    assert_same(ours, *expected)
    assert ours.source == "builtin"


def test_offline_frames_grow_for_a_test_split_larger_than_their_default():
    """A test split that needs more rows than its default grows without shrinking the train
    split below what the request needs (it once regenerated both at the test split's size)."""
    texts = load_spurious_texts(
        BIAS_SETS[0], ("professor", "nurse"), ("male", "female"), 1000, 500, 42
    )
    assert {len(rows) for rows in texts.train.values()} == {2 * (1000 // 4)}
    assert {len(rows) for rows in texts.test.values()} == {2 * (500 // 4)}


# --- errors --------------------------------------------------------------------------------------


def test_unknown_dataset_and_source(sources):
    with pytest.raises(SaeevalError, match="unknown classification dataset 'imdb'"):
        load_class_texts("imdb", 40, 20, 42)
    with pytest.raises(SaeevalError, match="neither 'offline', 'hub' nor an existing"):
        load_class_texts(AG_NEWS, 40, 20, 42, source="/no/such/folder")
    with pytest.raises(SaeevalError, match="has no spurious-correlation split"):
        load_spurious_texts(SENTIMENT, ("a", "b"), (1.0, 5.0), 40, 20, 42, source=sources["amazon"])
    with pytest.raises(SaeevalError, match="column1_vals has unknown value 'wizard'"):
        load_spurious_texts(BIAS_SETS[0], ("wizard", "nurse"), ("male", "female"), 40, 20, 42)
    with pytest.raises(SaeevalError, match="test_size=3 leaves no texts per class"):
        load_class_texts(BIAS_SETS[0], 40, 3, 42, source=sources["bias"])


def test_missing_column_and_split(frames, tmp_path):
    train_df, test_df = frames["bias"]
    renamed = [df.rename(columns={"hard_text": "text"}) for df in (train_df, test_df)]
    folder = write_splits(tmp_path / "renamed", *renamed)
    with pytest.raises(
        SaeevalError, match=r"bias_in_bios_class_set1 \(train split .*missing column 'hard_text'"
    ):
        load_class_texts(BIAS_SETS[0], 40, 20, 42, source=folder)
    only_train = write_splits(tmp_path / "only_train", train_df)
    with pytest.raises(SaeevalError, match="has no test split"):
        load_class_texts(BIAS_SETS[0], 40, 20, 42, source=only_train)
    path = tmp_path / "europarl.parquet"
    pd.DataFrame({"sentence": ["a"], "language": ["en"]}).to_parquet(path)
    with pytest.raises(SaeevalError, match="missing column 'text'"):
        load_class_texts(EUROPARL, 40, 12, 42, source=str(path))


def test_too_few_rows_name_the_class_and_counts(frames, sources, tmp_path):
    train_df = frames["bias"][0]
    cell = ((train_df.profession == 0) & (train_df.gender == 0)).sum()
    need = 200 // 4
    with pytest.raises(
        SaeevalError,
        match=rf"bias_in_bios_class_set1 \(train split .*class '0' with gender=0 has {cell} rows, "
        rf"needs {need}",
    ):
        load_class_texts(BIAS_SETS[0], 200, 20, 42, source=sources["bias"])
    with pytest.raises(SaeevalError, match=r"class '1\.0' has \d+ rows, needs 100"):
        load_class_texts(SENTIMENT, 2000, 20, 42, source=sources["amazon"])
    male_profs = ((train_df.profession == 21) & (train_df.gender == 0)).sum()
    with pytest.raises(
        SaeevalError,
        match=rf"cell profession='professor', gender='male' has {male_profs} rows, needs 41",
    ):
        load_spurious_texts(
            BIAS_SETS[0],
            ("professor", "nurse"),
            ("male", "female"),
            80,
            20,
            42,
            source=sources["bias"],
        )
    path = tmp_path / "europarl.parquet"
    europarl_frame(0, {"en": 30, "fr": 30, "de": 10, "es": 30, "nl": 30}).to_parquet(path)
    with pytest.raises(SaeevalError, match=r"language 'de' .* has 10 rows, needs 26"):
        load_class_texts(EUROPARL, 40, 12, 42, source=str(path))


def test_fingerprint_follows_the_texts(frames, tmp_path):
    train_df, test_df = frames["ag_news"]
    first = load_class_texts(
        AG_NEWS, 60, 24, 42, source=write_splits(tmp_path / "a", train_df, test_df)
    )
    again = load_class_texts(
        AG_NEWS, 60, 24, 42, source=write_splits(tmp_path / "b", train_df, test_df)
    )
    assert first.fingerprint == again.fingerprint and len(first.fingerprint) == 64
    edited = train_df.copy()
    edited["text"] = edited["text"] + "!"
    changed = load_class_texts(
        AG_NEWS, 60, 24, 42, source=write_splits(tmp_path / "c", edited, test_df)
    )
    assert changed.fingerprint != first.fingerprint
    other_seed = load_class_texts(
        AG_NEWS, 60, 24, 43, source=write_splits(tmp_path / "d", train_df, test_df)
    )
    assert other_seed.fingerprint != first.fingerprint
