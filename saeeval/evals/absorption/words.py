"""The words and prompts of the first-letter task, chosen the way SAEBench chooses them.

Words are the tokenizer's single-token alphabetic strings (one leading space allowed, case kept),
each with its first letter as the label. A prompt shows ten other words with their first letters
("{word} has the first letter: X", one per line, after a leading newline) and ends with the
target word's line without its answer. Unlike SAEBench, every random choice here comes from a
seeded generator and the vocabulary is read in token-id order, so runs reproduce.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass

from saeeval.errors import SaeevalError

LETTERS = string.ascii_lowercase
N_ICL_EXAMPLES = 10
SEPARATOR = "\n"


def token_text(token: str, tokenizer) -> str:
    """A vocabulary entry as text. SentencePiece tokenizers that drop the leading-space marker
    when decoding a lone token get the space back (SAEBench does the same)."""
    text = tokenizer.convert_tokens_to_string([token])
    if token.startswith("▁") and not text.startswith(" "):
        text = " " + text
    return text


def alpha_words(tokenizer) -> list[str]:
    """Every vocabulary entry made only of ASCII letters after at most one leading space."""
    words = []
    for token, _ in sorted(tokenizer.get_vocab().items(), key=lambda item: item[1]):
        text = token_text(token, tokenizer)
        body = text[1:] if text.startswith(" ") else text
        if body and all(c in string.ascii_letters for c in body):
            words.append(text)
    return words


def first_letter(word: str) -> str:
    """The answer a prompt line gives: a space and the word's first letter, upper-cased."""
    letters = [c for c in word.strip() if c.isalpha()]
    return " " + letters[0].upper()


def letter_index(word: str) -> int:
    return LETTERS.index(first_letter(word).strip().lower())


def icl_prompt(
    word: str, pool: list[str], template: str, rng: random.Random, max_attempts: int = 1000
) -> str:
    """The prompt for `word`, with ten examples drawn from `pool` that do not include it."""
    for _ in range(max_attempts):
        examples = rng.sample(pool, N_ICL_EXAMPLES)
        if word not in examples:
            break
    else:
        raise SaeevalError(f"could not draw {N_ICL_EXAMPLES} example words other than {word!r}")
    lines = [template.format(word=example) + first_letter(example) for example in examples]
    return SEPARATOR + SEPARATOR.join(lines) + SEPARATOR + template.format(word=word)


@dataclass(frozen=True)
class WordSplit:
    train: list[str]
    test: list[str]

    @property
    def all(self) -> list[str]:
        return self.train + self.test


def split_words(
    words: list[str],
    seed: int,
    max_words_per_letter: int | None = None,
    train_fraction: float = 0.8,
) -> WordSplit:
    """Shuffle (optionally keeping at most `max_words_per_letter` of each letter) and split."""
    rng = random.Random(seed)
    if max_words_per_letter is not None:
        by_letter: dict[int, list[str]] = {}
        for word in words:
            by_letter.setdefault(letter_index(word), []).append(word)
        words = [
            w
            for letter in sorted(by_letter)
            for w in rng.sample(
                by_letter[letter], min(max_words_per_letter, len(by_letter[letter]))
            )
        ]
    shuffled = rng.sample(words, len(words))
    cut = int(len(shuffled) * train_fraction)
    return WordSplit(shuffled[:cut], shuffled[cut:])
