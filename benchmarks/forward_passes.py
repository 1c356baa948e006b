"""Model work of each eval, in full forward passes, against the least work the eval needs.

    python benchmarks/forward_passes.py [--evals core,sparse_probing,scr,tpp,absorption]
                                        [--sae FOLDER] [--one-dataset]

Runs each eval on the embedded SmolLM2 (offline preset) twice: with an empty cache and a first
SAE, then with the filled cache and a second SAE (the cost of each further SAE). Model work is
counted where it happens: every decoder block that computes adds its batch's tokens (a block that
a pass from the hook skips adds nothing). One full pass is every block over every distinct input
row the eval gave the model, so the figures do not depend on the data's size.

Floors, in the same unit, with L the hook's layer and n the model's layers:
- sparse_probing, scr, tpp, absorption: each row read once, up to the hook: (L + 1) / n. A further
  SAE: 0 (the hook's activations are cached).
- core: per reconstruction batch one clean pass (which reads the hook), one zero-ablated pass and
  one spliced pass per SAE from the hook on; the other sparsity batches up to the hook. A further
  SAE: its spliced passes.
- unlearning is counted but given no floor (its scoring passes depend on which questions the
  model answers).
Without `--sae`, two random TopK SAEs (4,608 latents, k = 32) at blocks.6.hook_resid_post.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

import torch
from _common import report

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from helpers import random_sae, saved  # noqa: E402

from saeeval.activations import ActivationCache  # noqa: E402
from saeeval.evals.registry import get_eval  # noqa: E402
from saeeval.models import load_model  # noqa: E402
from saeeval.models.embedded import EMBEDDED_MODEL_NAME  # noqa: E402
from saeeval.models.hook_points import decoder_blocks, parse_hook  # noqa: E402
from saeeval.runner import RunRequest, run  # noqa: E402

HOOK = "blocks.6.hook_resid_post"
ONE_DATASET = {
    "sparse_probing": {"dataset_names": ["LabHC/bias_in_bios_class_set1"]},
    "scr": {"dataset_names": ["LabHC/bias_in_bios_class_set1"]},
    "tpp": {"dataset_names": ["LabHC/bias_in_bios_class_set1"]},
}


class PassMeter:
    """Token-blocks the model computes, and the distinct input rows it is given."""

    def __init__(self, model):
        self.n_layers = model.n_layers
        self.block_tokens = 0
        self.rows: set[tuple[int, ...]] = set()
        # A block's MLP runs only when the block computes: one that passes its input through
        # (the blocks before the hook, in a pass from the hook) runs none.
        for block in decoder_blocks(model.model, model.model_type):
            block.mlp.register_forward_hook(self._count_block)
        model.model.get_input_embeddings().register_forward_hook(self._record_rows)

    def _count_block(self, module, args, output) -> None:
        self.block_tokens += args[0].shape[0] * args[0].shape[1]

    def _record_rows(self, module, args, output) -> None:
        self.rows.update(tuple(row) for row in args[0].tolist())

    def reset(self) -> None:
        self.block_tokens = 0
        self.rows.clear()


def core_floor(config: dict, n_layers: int, up_to_hook: int, reference: bool) -> int:
    """Core's least block-token work for one SAE, with the SAE-independent `reference` passes
    (an empty cache) or without them: see the module docstring."""
    ctx, bs = config["context_size"], config["batch_size_prompts"]
    n_rc = config["n_eval_reconstruction_batches"] * bs
    n_sv = config["n_eval_sparsity_variance_batches"] * bs
    after = n_layers - up_to_hook
    spliced = n_rc * after
    if not reference:
        return ctx * spliced
    return ctx * (n_rc * n_layers + n_rc * after + spliced + max(0, n_sv - n_rc) * up_to_hook)


def measure(eval_name, model, meter, saes, work: Path, overrides) -> list[dict]:
    hook = parse_hook(HOOK)
    up_to_hook = hook.layer + 1
    cache = ActivationCache(work / f"cache-{eval_name}")
    rows = []
    first_rows: set[tuple[int, ...]] = set()
    for index, sae in enumerate(saes):
        meter.reset()
        outcome = run(
            RunRequest(
                saes=[str(sae)],
                evals=[eval_name],
                out=work / f"out-{eval_name}",
                device="cpu",
                overrides={k: v for k, v in overrides.items() if k == eval_name},
            ),
            log=lambda _: None,
            model_loader=lambda *_: model,
            cache=cache,
        )
        if outcome.failed:
            raise SystemExit(f"{eval_name} failed: {outcome.failed}")
        if index == 0:
            first_rows = set(meter.rows)
        distinct_tokens = sum(len(row) for row in first_rows)
        full_passes = meter.block_tokens / (meter.n_layers * distinct_tokens)
        if eval_name == "core":
            config = outcome.results[0]["eval_config"]
            floor_tokens = core_floor(config, meter.n_layers, up_to_hook, index == 0)
            floor = floor_tokens / (meter.n_layers * distinct_tokens)
        elif eval_name == "unlearning":
            floor = None
        else:
            floor = up_to_hook / meter.n_layers if index == 0 else 0.0
        rows.append(
            {
                "eval": eval_name,
                "sae": "first (empty cache)" if index == 0 else "further (cache filled)",
                "distinct_rows": len(first_rows),
                "full_passes": round(full_passes, 4),
                "floor": None if floor is None else round(floor, 4),
                "ratio_to_floor": round(full_passes / floor, 3) if floor else None,
            }
        )
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--evals", default="core,sparse_probing,scr,tpp,absorption")
    parser.add_argument("--sae", action="append", help="an SAE folder (give two); default random")
    parser.add_argument("--one-dataset", action="store_true", help="one dataset per probing eval")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    torch.manual_seed(0)

    model = load_model(EMBEDDED_MODEL_NAME, "cpu")
    # The adapter's first pass from a hook looks at one token to see what its blocks return: done
    # here, so that it is not counted as an eval's work.
    model.logits_from_hook(torch.zeros(1, 1, dtype=torch.long), HOOK, torch.zeros(1, 1, 576))
    meter = PassMeter(model)
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        saes = args.sae or [
            saved(
                random_sae("topk", model.d_model, 4608, HOOK, seed, EMBEDDED_MODEL_NAME, k=32),
                work / f"sae-{seed}",
            )
            for seed in (0, 1)
        ]
        overrides = ONE_DATASET if args.one_dataset else {}
        table = []
        for name in args.evals.split(","):
            get_eval(name)  # an unknown name fails here, before any work
            table += measure(name, model, meter, saes, work, overrides)
    report("forward_passes", {"hook": HOOK, "n_layers": model.n_layers, "rows": table})


if __name__ == "__main__":
    main()
