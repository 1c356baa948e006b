"""Evals keep their working set within the budget whatever the SAE's width, and a batch that runs
out of memory is retried smaller instead of ending the run.

The peaks are the kernel's resident-set high-water marks of fresh processes (`memory_peak.py`).
glibc keeps freed heap blocks below its mmap threshold for reuse, which would make the resident
set show the allocator's history rather than what the eval holds; the subprocesses therefore map
every block of 1 MiB or more separately (MALLOC_MMAP_THRESHOLD_), so freed tensors leave the
resident set at once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from saeeval.evals.probing.sae_statistics import sums_are_kept_sparse

TESTS = Path(__file__).parent
NARROW, WIDE = 2048, 32768
BUDGET_MB = 8
MB = 2**20
FLOAT32 = 4


def _peak(eval_name: str, d_sae: int, work: Path) -> dict:
    env = {
        **os.environ,
        "SAEEVAL_WORKING_SET_MB": str(BUDGET_MB),
        "SAEEVAL_CACHE_DIR": str(work / "cache"),
        "MALLOC_MMAP_THRESHOLD_": str(MB),
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
    }
    done = subprocess.run(
        [sys.executable, str(TESTS / "memory_peak.py"), eval_name, str(d_sae), str(work)],
        cwd=TESTS,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("eval_name", ["core", "sparse_probing", "scr", "tpp"])
def test_peak_memory_grows_with_the_width_only_by_weights(tmp_path, monkeypatch, eval_name):
    """From 2,048 to 32,768 latents the eval's peak may grow by a few copies of the weights (the
    loaded SAE, its normalised decoder, the cosine-similarity pass's unit vectors), never by
    [batch, d_sae] latents of whole batches nor by [n_texts, d_sae] per-text sums: the probing
    evals keep those sparse once dense ones would pass the budget, as they do at the wide width
    here. Before the budget, core's batches alone were 5 x 67 MB here and the probing evals
    encoded 4,096 rows at once (5 x 537 MB at this width); before the sparse sums, the probing
    evals grew by up to three dense [n_texts, d_sae] copies."""
    narrow = _peak(eval_name, NARROW, tmp_path)  # also fills the model-side caches
    narrow = _peak(eval_name, NARROW, tmp_path)
    wide = _peak(eval_name, WIDE, tmp_path)
    extra_weights = wide["weight_bytes"] - narrow["weight_bytes"]
    allowed = 4 * extra_weights + 2 * BUDGET_MB * MB + 16 * MB
    growth = wide["growth_bytes"] - narrow["growth_bytes"]
    print(f"{eval_name}: peak grew {growth / MB:.1f} MB; allowed {allowed / MB:.1f} MB")
    assert growth <= allowed, (growth / MB, allowed / MB, narrow, wide)
    if eval_name != "core":  # the wide SAE's sums were kept sparse, the narrow one's not
        assert wide["max_texts"] > 0
        monkeypatch.setenv("SAEEVAL_WORKING_SET_MB", str(BUDGET_MB))
        assert sums_are_kept_sparse(wide["max_texts"], WIDE)
        assert not sums_are_kept_sparse(narrow["max_texts"], NARROW)


OUT_OF_MEMORY_SCRIPT = textwrap.dedent(
    """
    import logging, resource, sys
    import torch
    sys.path.insert(0, {tests!r})
    from helpers import random_sae
    from saeeval.evals.probing.sae_statistics import sae_statistics_of_texts
    from saeeval.evals.probing.text_activations import TextActivations

    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    torch.set_num_threads(1)
    sae = random_sae("topk", 16, 2**20, "blocks.0.hook_resid_post", seed=0, k=4)
    g = torch.Generator().manual_seed(0)
    counts = torch.full((20,), 30)
    acts = TextActivations(torch.randn(int(counts.sum()), 16, generator=g), counts, 32)
    want = sae_statistics_of_texts(sae, acts, batch_rows=16)  # 16 rows: 200 MB of latents
    # Real allocation failures: cap the address space 1.5 GB above what the process maps now.
    # 600 rows of 2**20 float32 latents are 2.5 GB a copy: the first batches cannot be allocated.
    mapped = int(open("/proc/self/statm").read().split()[0]) * resource.getpagesize()
    limit = mapped + 1536 * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, resource.RLIM_INFINITY))
    got = sae_statistics_of_texts(sae, acts, batch_rows=600)
    resource.setrlimit(resource.RLIMIT_AS, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    assert torch.equal(got.valid_sum, want.valid_sum)
    assert torch.equal(got.at_zero, want.at_zero)
    print("same statistics")
    """
)


LOADING_SCRIPT = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    sys.path.insert(0, {tests!r})
    from memory_peak import resident_bytes, resident_peak_bytes
    from saeeval.saes import load_sae

    before = resident_bytes()
    Path("/proc/self/clear_refs").write_text("5")  # restart the high-water mark from here
    loaded = load_sae({folder!r})
    weights = sum(t.numel() * t.element_size() for t in loaded.sae.state_dict().values())
    print(resident_peak_bytes() - before, weights)
    """
)


def test_loading_an_sae_holds_its_weights_once(tmp_path):
    """A 2**20-latent SAE (537 MB of float32 weights) is read into memory once: the SAE takes the
    tensors read from the file, and the finiteness check works a block at a time. (Allocating
    the SAE's own zero weights and copying the file's tensors into them doubled the peak.)"""
    from helpers import random_sae, saved

    folder = saved(random_sae("topk", 64, 2**20, "blocks.0.hook_resid_post"), tmp_path / "sae")
    script = tmp_path / "load.py"
    script.write_text(LOADING_SCRIPT.format(tests=str(TESTS), folder=str(folder)))
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": str(MB)}
    done = subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    growth, weights = map(int, done.stdout.split())
    print(f"loading: peak grew {growth / MB:.0f} MB for {weights / MB:.0f} MB of weights")
    assert weights == 2 * 64 * 2**20 * FLOAT32 + (2**20 + 64) * FLOAT32
    assert growth <= 1.1 * weights + 32 * MB


def test_a_batch_that_runs_out_of_memory_is_retried_at_half_the_size(tmp_path):
    script = tmp_path / "oom.py"
    script.write_text(OUT_OF_MEMORY_SCRIPT.format(tests=str(TESTS)))
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "same statistics" in done.stdout
    retries = [line for line in done.stderr.splitlines() if "out of memory on a" in line]
    # 600 -> 300 -> 150: pre-activations and latents of 600 or 300 rows do not fit in 1.5 GB
    assert retries[:2] == [
        "out of memory on a SAE encoding batch of 600 rows; retrying at 300",
        "out of memory on a SAE encoding batch of 300 rows; retrying at 150",
    ], done.stderr[-3000:]
    print("\n".join(retries))


def test_other_errors_are_not_retried_and_the_budget_is_checked(monkeypatch):
    from saeeval.errors import SaeevalError
    from saeeval.evals.working_set import in_batches, rows_within_budget

    calls = []

    def broken(start, stop):
        calls.append((start, stop))
        raise RuntimeError("mat1 and mat2 shapes cannot be multiplied")

    with pytest.raises(RuntimeError, match="shapes cannot be multiplied"):
        list(in_batches(10, 4, broken))
    assert calls == [(0, 4)]  # no retry: only a failed allocation is worth a smaller batch

    monkeypatch.setenv("SAEEVAL_WORKING_SET_MB", "1")
    assert rows_within_budget(1024, dense_copies=2) == 128  # 1 MiB / (2 x 4 B x 1,024)
    assert rows_within_budget(2**30, dense_copies=2) == 1  # never fewer than one row
    for bad in ("0", "-5", "lots"):
        monkeypatch.setenv("SAEEVAL_WORKING_SET_MB", bad)
        with pytest.raises(SaeevalError, match=r"\$SAEEVAL_WORKING_SET_MB must be a positive"):
            rows_within_budget(1024, dense_copies=2)


def test_weight_metrics_in_blocks_are_the_whole_tensor_metrics(monkeypatch):
    """Blocks of latents get the same per-latent arithmetic as the whole matrices, bit for bit;
    the all-pairs similarities only differ by the rounding of matrix products of other shapes."""
    import torch

    from saeeval.evals.core_metrics import weight_based_feature_metrics

    g = torch.Generator().manual_seed(0)
    W_enc, W_dec, b = torch.randn(24, 500, generator=g), torch.randn(500, 24, generator=g), None
    whole = weight_based_feature_metrics(W_enc, W_dec, b)
    monkeypatch.setenv("SAEEVAL_WORKING_SET_MB", str(24 * 4 * 4 * 37 / MB))  # blocks of 37
    blocks = weight_based_feature_metrics(W_enc, W_dec, b)
    for name in ("encoder_norm", "encoder_decoder_cosine_sim"):
        assert torch.equal(whole[name], blocks[name]), name
    for name in ("max_encoder_cosine_sim", "max_decoder_cosine_sim"):
        torch.testing.assert_close(whole[name], blocks[name], rtol=1e-6, atol=1e-7)


def test_a_bad_budget_stops_the_run_before_any_work(tmp_path, monkeypatch):
    from helpers import random_sae, saved
    from typer.testing import CliRunner

    from saeeval.cli import app

    folder = saved(random_sae("topk", 576, 64, "blocks.6.hook_resid_post"), tmp_path / "sae")
    monkeypatch.setenv("SAEEVAL_WORKING_SET_MB", "half")
    result = CliRunner().invoke(app, ["run", "--sae", str(folder), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2, result.output
    assert "$SAEEVAL_WORKING_SET_MB must be a positive number of MiB, got 'half'" in result.output
    assert not (tmp_path / "o" / "core").exists()


@pytest.mark.parametrize("family", ["llama", "gemma2"])
def test_core_losses_from_logits_built_a_few_contexts_at_a_time(monkeypatch, family):
    """Core builds logits from the unembedding's input a few contexts at a time; each context's
    KL and cross-entropy are those of whole-batch logits, bit for bit (Gemma-2's soft-capping
    included), however small the budget."""
    import torch
    from tiny_models import tiny_model

    from saeeval.evals.core import losses_against_clean
    from saeeval.evals.core_metrics import per_token_kl
    from saeeval.models import per_token_ce_loss

    model = tiny_model(family)
    tokens = torch.randint(1, model.vocab_size, (5, 12), generator=torch.Generator().manual_seed(0))
    clean, _ = model.final_hidden(tokens)
    hook = "blocks.0.hook_resid_post"
    other = model.final_hidden_from_hook(tokens, hook, torch.zeros(5, 12, model.d_model))
    clean_logits, other_logits = (model.logits_from_final_hidden(h) for h in (clean, other))
    expected = (
        per_token_kl(clean_logits, other_logits),
        per_token_ce_loss(other_logits, tokens),
        per_token_ce_loss(clean_logits, tokens),
    )
    one_context = 12 * model.vocab_size * FLOAT32 * 6  # LOGIT_COPIES_PER_TOKEN copies
    for budget in (one_context, 2 * one_context, 100 * one_context):
        monkeypatch.setenv("SAEEVAL_WORKING_SET_MB", str(budget / MB))
        got = losses_against_clean(model, tokens, clean, other, with_clean_ce=True)
        for have, want in zip(got, expected, strict=True):
            assert torch.equal(have, want)
    assert not torch.equal(expected[0], torch.zeros_like(expected[0]))  # the ablation did something
