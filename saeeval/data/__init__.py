"""Datasets: the built-in offline corpus, hub and local text datasets, tokenised contexts."""

from saeeval.data.contexts import ContextSet, iter_contexts, load_contexts
from saeeval.data.corpus import OFFLINE_CORPUS_NAME, offline_corpus
from saeeval.data.text_datasets import TextDataset, load_text_dataset

__all__ = [
    "OFFLINE_CORPUS_NAME",
    "ContextSet",
    "TextDataset",
    "iter_contexts",
    "load_contexts",
    "load_text_dataset",
    "offline_corpus",
]
