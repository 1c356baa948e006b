"""Wall time of the core eval, saeeval against SAEBench's reference, on the same inputs.

    python benchmarks/core_vs_reference.py [--saes 1] [--recon-batches 4] [--sv-batches 16]

Needs the test environment (sae-bench installed). On the embedded SmolLM2 at
blocks.6.hook_resid_post, with contexts from the built-in corpus and PCA TopK SAEs, it times:

- saeeval, one SAE: the first SAE alone on an empty cache (all a one-SAE run does);
- saeeval, cold: all SAEs on an empty activation cache, so activation collection and the
  clean/ablated reference passes are included;
- saeeval, warm: the same SAEs again under new ids with the cache filled (what every further SAE
  at this hook costs);
- the reference: `sae_bench.evals.core.main.run_evals` per SAE on a TransformerLens twin of the
  same weights, fed the same token batches through SAELens' ActivationsStore.

and reports the ratios reference / saeeval, and each side's peak resident memory.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _common import PeakResident, report, suite_row

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

HOOK = "blocks.6.hook_resid_post"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--saes", type=int, default=1)
    parser.add_argument("--recon-batches", type=int, default=4)
    parser.add_argument("--sv-batches", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args()

    import sae_bench.evals.core.main as reference
    from reference_models import (
        hooked_transformer_twin,
        reference_core_config,
        reference_sae,
        reference_store,
    )

    from saeeval.activations import ActivationCache
    from saeeval.data import load_contexts, load_text_dataset
    from saeeval.evals import EvalContext, get_eval
    from saeeval.evals.core import CoreEvalConfig
    from saeeval.models import load_model
    from saeeval.saes import load_sae, save_sae
    from saeeval.trainers.pca import fit_pca_sae

    model = load_model("smollm2-135m", "cpu")
    dataset = load_text_dataset(None)
    # The baselines are fitted on the train part; both implementations read the eval part, the
    # contexts our core eval reads (EvalContext.contexts).
    fit_on = load_contexts(model.tokenizer, model.bos_token_id, dataset, 128, 1, part="train")
    contexts = load_contexts(model.tokenizer, model.bos_token_id, dataset, 128, 1, part="eval")
    work = Path(tempfile.mkdtemp(prefix="core-bench-"))
    folders = []
    for i in range(args.saes):
        sae = fit_pca_sae(model, fit_on, HOOK, ActivationCache(work / "fit"), k=16 * (i + 1))
        folders.append(save_sae(sae, work / f"pca{i}"))
    n_contexts = max(args.recon_batches, args.sv_batches) * args.batch_size
    eval_tokens = contexts.tokens[:n_contexts]
    config = CoreEvalConfig(
        batch_size_prompts=args.batch_size,
        n_eval_reconstruction_batches=args.recon_batches,
        n_eval_sparsity_variance_batches=args.sv_batches,
    )

    def ours(cache: ActivationCache, suffix: str, chosen=None) -> float:
        saes = [load_sae(f, sae_id=f"{f.name}{suffix}") for f in chosen or folders]
        context = EvalContext(model=model, cache=cache)
        start = time.perf_counter()
        results = list(get_eval("core").run(context, saes, config))
        assert len(results) == len(saes)
        return time.perf_counter() - start

    with PeakResident() as ours_peak:
        one = ours(ActivationCache(work / "cache-one"), "-one", folders[:1])
        cache = ActivationCache(work / "cache")
        cold = ours(cache, "")
        warm = ours(cache, "-again")

    twin = hooked_transformer_twin(model.model)
    ref_config = reference_core_config(args.batch_size, args.recon_batches, args.sv_batches, 128)
    per_sae = []
    with PeakResident() as reference_peak:
        for folder in folders:
            start = time.perf_counter()
            sae = reference_sae(folder)
            store = reference_store(twin, sae, eval_tokens, args.batch_size)
            _, features = reference.run_evals(
                sae, store, twin, ref_config, ignore_tokens=model.special_token_ids
            )
            reference.calculate_misc_metrics(features)
            per_sae.append(time.perf_counter() - start)
    ref = sum(per_sae)

    report(
        "core_vs_reference",
        {
            "saes": args.saes,
            "recon_batches": args.recon_batches,
            "sv_batches": args.sv_batches,
            "batch_size": args.batch_size,
            "saeeval_cold_s": round(cold, 1),
            "saeeval_warm_s": round(warm, 1),
            "reference_s": round(ref, 1),
            "speedup_cold": round(ref / cold, 2),
            "speedup_warm": round(ref / warm, 2),
            # Every SAE costs the reference the same; each further SAE costs us its warm share.
            "suite": [
                suite_row(
                    "core",
                    one,
                    warm / len(folders),
                    ours_peak.mb,
                    per_sae[0],
                    statistics.mean(per_sae[1:]) if len(per_sae) > 1 else per_sae[0],
                    reference_peak.mb,
                )
            ],
        },
    )


if __name__ == "__main__":
    main()
