"""Training corpora other than the built-in one, to measure whether what an SAE is trained on is
what keeps the offline evals from telling it apart from random directions.

    python benchmarks/training_corpus_variants.py generated --documents 512 --out gen.jsonl
    python benchmarks/training_corpus_variants.py stand-in-mix --per-dataset 3000 --out mix.jsonl
    saeeval train --trainer topk --d-sae 2304 --k 32 --tokens 200000 --dataset gen.jsonl --out RUN
    python benchmarks/offline_discrimination.py --sae RUN/sae --evals sparse_probing,scr,tpp

Needs the test environment. Two variants, each written as JSON lines with a "text" column:

- generated: text the embedded model writes itself, sampled from BOS at temperature 0.9 in
  batches of 128 documents of 128 tokens (torch seeded with 0): prose of the kind the model was
  trained on. About 250 tokens/s on a 2-core CPU.
- stand-in-mix: the built-in corpus's documents plus texts of every built-in probing dataset's
  genre (bios, reviews, news, parliament speeches, code), drawn from a stream of their
  generators that no eval reads and with every text of the eval splits left out, shuffled
  together: a corpus that, like web text, holds the genres the evals probe.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import torch

import saeeval.data.builtin_classification as builtin
from saeeval.data.corpus import offline_corpus


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


def stand_in_mix(per_dataset: int) -> list[str]:
    documents = []
    for hub_name, spec in builtin._SPECS.items():
        in_evals = set()
        for split in builtin.SPLITS:
            in_evals |= set(builtin.builtin_frame(hub_name, split)[spec.text_column])
        per_cell = max(1, per_dataset // len(spec.cells))
        for cell in spec.cells:
            rng = builtin._seeded(hub_name, "pretrain", *cell)  # a stream no eval split reads
            kept = tries = 0
            while kept < per_cell and tries < 50 * per_cell:
                tries += 1
                text = spec.make_text(rng, cell)
                if text not in in_evals:
                    in_evals.add(text)
                    documents.append(text)
                    kept += 1
    documents += offline_corpus().documents
    random.Random(0).shuffle(documents)
    return documents


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("variant", choices=["generated", "stand-in-mix"])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--documents", type=int, default=512, help="generated: documents")
    parser.add_argument("--per-dataset", type=int, default=3000, help="stand-in-mix: texts each")
    args = parser.parse_args()
    if args.variant == "generated":
        documents = generated_documents(args.documents)
    else:
        documents = stand_in_mix(args.per_dataset)
    written = 0
    with args.out.open("w") as out:
        for text in documents:
            out.write(json.dumps({"text": text}) + "\n")
            written += 1
    print(f"{written} documents in {args.out}")


if __name__ == "__main__":
    main()
