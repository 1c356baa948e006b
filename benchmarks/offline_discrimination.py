"""Does each eval tell a trained SAE from a random-direction SAE of the same width on the offline
default?

    python benchmarks/offline_discrimination.py --sae RUN/sae [--evals core,absorption,...]
        [--out DIR] [--set EVAL.FIELD=VALUE ...] [--seed 0] [--preset offline|saebench]

Needs the test environment. The random-direction SAE has the trained SAE's architecture, width,
hook, k and biases; only its latent directions are drawn afresh: unit-norm decoder rows from a
seeded Gaussian, the encoder their transpose. Both SAEs go through one `saeeval run` (the offline
preset on the built-in data unless --preset or --set changes it), then `saeeval compare` against
the random SAE gives each headline metric's difference with its 95% interval, paired over shared
units. An eval separates the two when that interval excludes zero. Absorption also reports how
many letters it measured and on how many of them some latent tracks the letter (the note in its
result), and TPP its difference at every n it reports, not only the headline 10 and 20.

SAEBench's SCR/TPP ablation (which ours matches) zeroes latents at every position of the
context, padding and BOS included, so the latents an SAE fires on the zero vector are subtracted
there too, which shifts short texts' pooled activations whatever their class. `--set
scr.ablate_padding_positions=false --set tpp.ablate_padding_positions=false` runs both without
that part (not SAEBench's metric; the result files record it in `eval_config`).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch

from saeeval import uncertainty
from saeeval.comparison import compare
from saeeval.results.table import load_results
from saeeval.runner import RunRequest, run
from saeeval.saes import load_sae, save_sae

EVALS = "core,absorption,sparse_probing,scr,tpp,unlearning"


def random_direction_sae(folder: Path, out: Path, seed: int) -> Path:
    """The SAE at `folder` with its latent directions replaced by random unit vectors."""
    sae = load_sae(folder).sae
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        directions = torch.randn(sae.W_dec.shape, generator=generator)
        directions /= directions.norm(dim=-1, keepdim=True)
        sae.W_dec.copy_(directions.to(sae.W_dec.dtype))
        sae.W_enc.copy_(directions.T.to(sae.W_enc.dtype))
    return save_sae(sae, out)


def _tracked_letters(result: dict) -> tuple[int, int]:
    """(letters measured, letters on which some latent tracks the letter)."""
    notes = result["eval_result_unstructured"].get("notes", [])
    untracked = sum("no SAE latent tracks" in note for note in notes)
    measured = len(result["eval_result_details"])
    return measured, measured - untracked


def _tpp_units(result: dict, n: int) -> uncertainty.UnitValues:
    """TPP's total metric at n as the eval's units: each ablated class, in its dataset."""
    key = f"tpp_threshold_{n}_total_metric"
    groups = {
        dataset: {label: metrics[key] for label, metrics in classes.items()}
        for dataset, classes in result["eval_result_unstructured"].items()
        if all(isinstance(m, dict) and key in m for m in classes.values())
    }
    return uncertainty.mean_of_group_means("ablated class", groups)


def print_tpp_at_every_n(results: Path) -> None:
    """TPP trained - random at every n the eval reports, not only the headline 10 and 20, with
    the 95% interval paired over ablated classes (as `compare` pairs the headlines)."""
    tpp = {r["_sae_id"]: r for r in load_results(results) if r["eval_type_id"] == "tpp"}
    if set(tpp) != {"trained", "random"}:
        return
    print("TPP at every n, trained - random [95% interval over ablated classes]:")
    for n in tpp["trained"]["eval_config"]["n_values"]:
        trained, random = _tpp_units(tpp["trained"], n), _tpp_units(tpp["random"], n)
        low, high, _ = uncertainty.difference_interval(trained, random)
        values = f"{trained.point():.4f} vs {random.point():.4f}"
        delta = trained.point() - random.point()
        print(f"  n={n}: {values}, {delta:+.4f} [{low:+.4f}, {high:+.4f}]")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sae", type=Path, required=True, help="a trained SAE folder")
    parser.add_argument("--evals", default=EVALS)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--set", action="append", default=[], help="EVAL.FIELD=VALUE")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random directions")
    parser.add_argument("--preset", help="size preset (default: the data's own, offline here)")
    args = parser.parse_args()

    work = args.out or Path(tempfile.mkdtemp(prefix="discrimination-"))
    random_folder = random_direction_sae(args.sae, work / "random-directions", args.seed)
    overrides: dict[str, dict] = {}
    for item in args.set:
        name, value = item.split("=", 1)
        eval_name, field = name.split(".", 1)
        overrides.setdefault(eval_name, {})[field] = json.loads(value)
    results = work / "results"
    outcome = run(
        RunRequest(
            saes=[str(args.sae), str(random_folder)],
            sae_ids=["trained", "random"],
            evals=args.evals.split(","),
            out=results,
            overrides=overrides,
            preset=args.preset,
        )
    )
    for eval_name, sae_id, reason in outcome.failed:
        print(f"FAILED {eval_name} {sae_id}: {reason}")
    frame = compare([results], baseline="random")
    columns = ["eval_type_id", "metric", "value", "baseline_value", "delta", "ci_low", "ci_high"]
    print(frame[[*columns, "significant"]].to_string(index=False))
    for result in load_results(results):
        if result["eval_type_id"] == "absorption_first_letter":
            measured, tracked = _tracked_letters(result)
            print(f"absorption {result['_sae_id']}: {tracked} of {measured} letters tracked")
    print_tpp_at_every_n(results)
    print(f"results in {results}")


if __name__ == "__main__":
    main()
