"""Peak resident memory of one eval on a tiny model, measured in a fresh process.

    python memory_peak.py EVAL D_SAE WORK_DIR

Prints one JSON line: how far the process's peak resident set rose above its level just before
the eval started (model loaded, SAE file written), the SAE's weight bytes, and the most texts of
any probing dataset the eval read. The peak is the kernel's own high-water mark (VmHWM), reset
before the eval through /proc/self/clear_refs, so it counts every allocator, not only Python's.
"""

from __future__ import annotations

import gc
import json
import re
import shutil
import sys
from pathlib import Path

import torch
from helpers import random_sae, saved
from tiny_models import tiny_model

from saeeval.runner import RunRequest, run

HOOK = "blocks.1.hook_resid_post"
D_IN = 64
# Sizes that keep every eval quick on a tiny model while the SAE side still works on real batches:
# core reads 512 tokens a batch; each probing dataset has a few hundred texts of up to 128 tokens
# (SCR and TPP enough that their dense per-text sums would be several budgets at the wide width).
OVERRIDES = {
    "core": {
        "batch_size_prompts": 8,
        "n_eval_reconstruction_batches": 2,
        "n_eval_sparsity_variance_batches": 2,
        "context_size": 64,
    },
    "sparse_probing": {
        "dataset_names": ["LabHC/bias_in_bios_class_set1"],
        "probe_train_set_size": 40,
        "probe_test_set_size": 20,
        "k_values": [1, 5],
    },
    "scr": {
        "dataset_names": ["LabHC/bias_in_bios_class_set1"],
        "column1_vals_lookup": {"LabHC/bias_in_bios_class_set1": [["professor", "nurse"]]},
        "train_set_size": 160,
        "test_set_size": 80,
        "n_values": [2, 10, 20],
    },
    "tpp": {
        "dataset_names": ["canrager/amazon_reviews_mcauley_1and5"],
        "train_set_size": 160,
        "test_set_size": 80,
        "n_values": [2, 10, 20],
    },
}


def resident_peak_bytes() -> int:
    status = Path("/proc/self/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) * 1024


def resident_bytes() -> int:
    status = Path("/proc/self/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) * 1024


def main(eval_name: str, d_sae: int, work: Path) -> None:
    torch.set_num_threads(1)
    model = tiny_model("llama")
    sae = random_sae("topk", D_IN, d_sae, HOOK, seed=1, model_name="tiny-llama", k=8)
    weight_bytes = sum(t.numel() * t.element_size() for t in sae.state_dict().values())
    folder = saved(sae, work / f"sae-{d_sae}")
    del sae
    text_file = work / "texts.jsonl"
    text_file.write_text(
        "\n".join(
            json.dumps({"text": f"Line {i}: the cat sat on mat number {i * 7 % 13}. " * 4})
            for i in range(200)
        )
    )
    shutil.rmtree(work / f"out-{eval_name}-{d_sae}", ignore_errors=True)
    request = RunRequest(
        saes=[str(folder)],
        evals=[eval_name],
        out=work / f"out-{eval_name}-{d_sae}",
        device="cpu",
        dataset=str(text_file) if eval_name == "core" else None,
        overrides={eval_name: OVERRIDES[eval_name]},
    )
    gc.collect()
    before = resident_bytes()
    Path("/proc/self/clear_refs").write_text("5")  # restart the high-water mark from here
    outcome = run(request, log=lambda _: None, model_loader=lambda *_: model)
    peak = resident_peak_bytes()
    if outcome.failed or not outcome.written:
        raise SystemExit(f"the eval wrote no result: {outcome.failed}")
    texts = [
        json.loads(meta.read_text()).get("texts", 0)
        for meta in work.glob("cache/activations/text-acts-*/meta.json")
    ]
    print(
        json.dumps(
            {
                "growth_bytes": peak - before,
                "weight_bytes": weight_bytes,
                "max_texts": max(texts, default=0),
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]))
