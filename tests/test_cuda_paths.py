"""The GPU paths: on `--device cuda` the probing evals' arithmetic (per-text latent sums, probe
training, latent selection, attribution, ablation) and absorption's L1 probe run on the GPU, and
give the CPU path's numbers within rounding.

Marked `cuda`: left out of every run that does not name it (`./dev test -m cuda` on a machine with
a CUDA GPU). Selected on a machine without one, each test fails: a GPU check that skipped would
look like one that passed.

Tolerances. Both paths draw every random number from the same CPU generators (probe
initialisations, batch orders, probe sets), so they differ only in floating-point rounding (GPU
reductions sum in another order). The probes are convex logistic regressions trained with small
steps, which keeps rounding differences at rounding size; a prediction flips only for a test text
whose logit is within rounding of zero. So each per-class accuracy may differ by at most one test
text, and a headline mean over classes by at most one text per class probe. SCR and TPP select
latents by rank: a near-tie at the boundary of the top n may swap one latent on each side, which
moves a score by about what one latent contributes; those are compared at n = 20, where one latent
of 20 matters least, within 0.05.
"""

from __future__ import annotations

import json

import pytest
import torch
from helpers import RecordingCache

from saeeval.defaults import DEFAULT_HOOK
from saeeval.runner import RunRequest, run
from saeeval.workflows import fit_pca

pytestmark = pytest.mark.cuda

SIZES = {
    "sparse_probing": {
        "dataset_names": ["LabHC/bias_in_bios_class_set1", "fancyzhx/ag_news"],
        "probe_train_set_size": 200,
        "probe_test_set_size": 100,
    },
    "scr": {
        "dataset_names": ["LabHC/bias_in_bios_class_set1"],
        "column1_vals_lookup": {"LabHC/bias_in_bios_class_set1": [["professor", "nurse"]]},
    },
    "tpp": {"dataset_names": ["LabHC/bias_in_bios_class_set1"]},
    "absorption": {"max_words_per_letter": 60},
}


@pytest.fixture(scope="module")
def pca_sae(tmp_path_factory):
    if not torch.cuda.is_available():
        pytest.fail("the cuda tests need a CUDA GPU (torch.cuda.is_available() is False)")
    folder = tmp_path_factory.mktemp("pca") / "sae"
    return fit_pca(folder, "smollm2-135m", DEFAULT_HOOK, 32, 64, "cuda", None)


def _results(out, device: str, sae, evals, dtype="float32", cache=None) -> dict[str, dict]:
    outcome = run(
        RunRequest(
            saes=[str(sae)],
            sae_ids=["pca"],
            evals=evals,
            out=out,
            device=device,
            dtype=dtype,
            overrides={name: SIZES[name] for name in evals if name in SIZES},
        ),
        log=lambda message: None,
        cache=cache,
    )
    assert not outcome.failed, outcome.failed
    return {name: json.loads(path.read_text()) for name, _, path in outcome.written}


@pytest.mark.parametrize("budget_mb", [None, "1"], ids=["dense-sums", "sums-kept-sparse"])
def test_probing_evals_on_cuda_give_the_cpu_numbers(tmp_path, pca_sae, monkeypatch, budget_mb):
    """With the default budget the per-text sums are dense here; with a 1 MiB budget they are
    kept sparse, as a wide SAE's are, on both devices."""
    if budget_mb is not None:
        monkeypatch.setenv("SAEEVAL_WORKING_SET_MB", budget_mb)
    evals = ["sparse_probing", "scr", "tpp", "absorption"]
    cpu_cache, gpu_cache = RecordingCache(), RecordingCache()
    cpu = _results(tmp_path / "cpu", "cpu", pca_sae, evals, cache=cpu_cache)
    torch.cuda.reset_peak_memory_stats()
    gpu = _results(tmp_path / "cuda", "cuda", pca_sae, evals, cache=gpu_cache)
    # One cache for both runs, but no entry the CPU run made answered the GPU run: the keys
    # name the device, and the GPU computed its own activations, probes and clean scores.
    for kind, asked in gpu_cache.asked.items():
        assert all(model.endswith(" on cuda") for model in gpu_cache.models[kind]), kind
        assert not {f for f, _ in asked} & {f for f, _ in cpu_cache.asked[kind]}, kind
    # The per-text latent sums of one dataset ([texts, d_sae] float32) were on the GPU.
    n_texts = 2 * SIZES["sparse_probing"]["probe_train_set_size"]
    assert torch.cuda.max_memory_allocated() >= n_texts * 576 * 4

    one_text = 1 / SIZES["sparse_probing"]["probe_test_set_size"]
    for name, per_class in cpu["sparse_probing"]["eval_result_unstructured"].items():
        if not name.endswith("_results"):
            continue
        for metric, accuracies in per_class.items():
            for label, accuracy in accuracies.items():
                on_gpu = gpu["sparse_probing"]["eval_result_unstructured"][name][metric][label]
                assert abs(on_gpu - accuracy) <= one_text + 1e-9, (name, metric, label)
    for eval_name, key in (
        ("scr", "scr_metric_threshold_20"),
        ("tpp", "tpp_threshold_20_total_metric"),
    ):
        on_cpu, on_gpu = (side[eval_name]["eval_result_metrics"] for side in (cpu, gpu))
        group = f"{eval_name}_metrics"
        assert abs(on_cpu[group][key] - on_gpu[group][key]) <= 0.05, key
    # Absorption: the same letters measured, and each letter's split latents agree.
    cpu_letters = {d["first_letter"]: d for d in cpu["absorption"]["eval_result_details"]}
    gpu_letters = {d["first_letter"]: d for d in gpu["absorption"]["eval_result_details"]}
    assert cpu_letters.keys() == gpu_letters.keys()
    same_split = sum(
        cpu_letters[k]["num_split_features"] == gpu_letters[k]["num_split_features"]
        for k in cpu_letters
    )
    assert same_split >= len(cpu_letters) - 1


def test_bfloat16_runs_end_to_end_on_cuda(tmp_path, pca_sae):
    results = _results(tmp_path / "bf16", "cuda", pca_sae, ["core", "sparse_probing"], "bfloat16")
    for result in results.values():
        assert result["eval_config"]["llm_dtype"] == "bfloat16"
    core = results["core"]["eval_result_metrics"]
    assert 0.5 < core["reconstruction_quality"]["explained_variance"] <= 1.0
    assert 0.5 < core["model_behavior_preservation"]["kl_div_score"] <= 1.0


@pytest.mark.parametrize("architecture", ["topk", "jumprelu"])
def test_blocks_of_latents_on_cuda_give_the_dense_latents(architecture):
    """The wide-SAE encoder (a block of latents at a time) on the GPU: the latents the dense
    encoder gives there, to the rounding of another matrix-product kernel."""
    from helpers import random_sae

    from saeeval.saes.column_blocks import encode_entries

    sae = random_sae(architecture, 64, 4096, DEFAULT_HOOK, seed=1).to("cuda")
    x = torch.randn(300, 64, generator=torch.Generator().manual_seed(2)).to("cuda")
    with torch.no_grad():
        want = sae.encode(x)
        entries = encode_entries(sae, x, 1000)
    assert entries.values.device.type == "cuda"
    got = torch.zeros_like(want)
    got[entries.rows, entries.cols] = entries.values
    assert torch.equal(got != 0, want != 0)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
