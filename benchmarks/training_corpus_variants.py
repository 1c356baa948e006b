"""Training corpora other than the built-in one, to measure how what an SAE is trained on decides
whether the offline evals tell it apart from random directions.

    python benchmarks/training_corpus_variants.py generated --documents 512 --out gen.jsonl
    python benchmarks/training_corpus_variants.py without-stand-ins --out plain.jsonl
    python benchmarks/training_corpus_variants.py unlearning-genres --documents 1200 --out ul.jsonl
    saeeval train --trainer topk --d-sae 2304 --k 32 --tokens 200000 --dataset gen.jsonl --out RUN
    python benchmarks/offline_discrimination.py --sae RUN/sae --evals sparse_probing,scr,tpp

Needs the test environment. Three variants, each written as JSON lines with a "text" column:

- generated: text the embedded model writes itself, sampled from BOS at temperature 0.9 in
  batches of 128 documents of 128 tokens (torch seeded with 0): prose of the kind the model was
  trained on. About 250 tokens/s on a 2-core CPU.
- without-stand-ins: the built-in corpus without the probing genres' unread texts (the corpus
  before builder version 2: Python's documentation topics, docstrings and module sources).
- unlearning-genres: the built-in corpus with --documents documents of each of the unlearning
  eval's text genres (prose on its forget topic, animals, and general prose stating its retain
  facts) instead of its 400, none of them a text the eval reads (`builtin_unlearning.unread_texts`;
  --documents 0 gives the corpus of builder version 2).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

import saeeval.data.corpus as corpus
from saeeval.data.builtin_unlearning import unread_texts


def generated_documents(n_documents: int, batch: int = 128, tokens: int = 128):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from saeeval.models.embedded import ensure_converted

    folder, _ = ensure_converted()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    torch.manual_seed(0)
    with torch.inference_mode():
        for _ in range(0, n_documents, batch):
            start = torch.full((batch, 1), tokenizer.bos_token_id)
            rows = model.generate(
                start,
                attention_mask=torch.ones_like(start),
                do_sample=True,
                temperature=0.9,
                top_k=0,
                top_p=1.0,
                max_new_tokens=tokens,
                pad_token_id=tokenizer.eos_token_id,
            )
            for row in rows[:, 1:]:
                yield tokenizer.decode(row, skip_special_tokens=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("variant", choices=["generated", "without-stand-ins", "unlearning-genres"])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--documents",
        type=int,
        default=512,
        help="generated: documents; unlearning-genres: documents per genre",
    )
    args = parser.parse_args()
    if args.variant == "generated":
        documents = generated_documents(args.documents)
    elif args.variant == "unlearning-genres":
        built_in = set(unread_texts(corpus.UNLEARNING_TEXTS_PER_GENRE))
        documents = [d for d in corpus.offline_corpus().documents if d not in built_in]
        documents += unread_texts(args.documents)
    else:
        documents = corpus._documentation_topics() + corpus._stdlib_documents()
    written = 0
    with args.out.open("w") as out:
        for text in documents:
            out.write(json.dumps({"text": text}) + "\n")
            written += 1
    print(f"{written} documents in {args.out}")


if __name__ == "__main__":
    main()
