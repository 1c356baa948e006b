"""Encoding a wide SAE a block of latents at a time: the same latents as the dense encoder."""

import pytest
import torch
from helpers import random_sae

from saeeval.evals.working_set import latent_entries_in_batches
from saeeval.saes import ARCHITECTURE_SPECS
from saeeval.saes.column_blocks import encode_entries, encodes_in_column_blocks

HOOK = "blocks.0.hook_resid_post"
BLOCKED = [name for name in ARCHITECTURE_SPECS if name != "matching_pursuit"]


def _dense(entries, n: int, d_sae: int, dtype) -> torch.Tensor:
    dense = torch.zeros(n, d_sae, dtype=dtype)
    dense[entries.rows, entries.cols] = entries.values
    return dense


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["fp32", "bf16"])
@pytest.mark.parametrize("normalisation", ["none", "layer_norm"])
@pytest.mark.parametrize("architecture", BLOCKED)
def test_blocks_of_latents_give_the_dense_latents(architecture, normalisation, dtype):
    """The dense encoder's latents, for blocks wider and narrower than k (5 < k = 8) and a last
    block narrower than the others (200 = 3 x 64 + 8): the same latents fire, with values equal
    to rounding. Not bit for bit here: with 16 inputs, the matrix product takes another kernel
    for a narrow block than for the whole matrix, which sums the 16 products in another order
    (one or two float32 ulps), as a dense batch of another row count may too."""
    sae = random_sae(architecture, 16, 200, HOOK, seed=1).to(dtype)
    sae.cfg.normalize_activations = normalisation
    x = torch.randn(37, 16, generator=torch.Generator().manual_seed(2))
    rounding = {"rtol": 1e-5, "atol": 1e-5} if dtype == torch.float32 else {}
    with torch.no_grad():
        want = sae.encode(x)
        assert encodes_in_column_blocks(sae)
        for width in (64, 5, 200):
            entries = encode_entries(sae, x, width)
            assert entries.values.dtype == dtype and bool((entries.values != 0).all())
            got = _dense(entries, 37, 200, dtype)
            if dtype == torch.bfloat16 and sae.spec.top_k_entries is not None:
                # bfloat16 pre-activations tie often (in |.|); the two may keep other tied ones
                ranked = [latents.abs().sort(dim=1).values for latents in (got, want)]
                torch.testing.assert_close(*ranked)
                continue
            assert torch.equal(got != 0, want != 0), width
            torch.testing.assert_close(got, want, **rounding)
    assert 0 < int((want != 0).sum()) < want.numel()


def test_topk_blocks_keep_only_the_row_s_k_largest():
    """A row whose block holds more than k of its largest latents keeps k of them, not every
    block's k (the merge across blocks is what makes it TopK)."""
    sae = random_sae("topk", 4, 12, HOOK, k=2)
    with torch.no_grad():
        sae.W_enc.zero_()
        sae.b_dec.zero_()
        sae.b_enc.copy_(torch.tensor([1.0, 9, 8, 7, 2, 3, 4, 5, 6, 0.5, 0.1, 0.2]))
        entries = encode_entries(sae, torch.zeros(1, 4), 3)
    assert sorted(entries.cols.tolist()) == [1, 2] and sorted(entries.values.tolist()) == [8, 9]


@pytest.mark.parametrize("in_one_block", [False, True], ids=["spread", "in-one-block"])
@pytest.mark.parametrize("architecture", ["topk", "abstopk"])
def test_ties_at_the_k_th_value_keep_what_the_dense_encoder_keeps(architecture, in_one_block):
    """Small whole-number weights and inputs: exact pre-activations (no rounding anywhere) full
    of ties, so many rows' k-th value ties with latents left out: in other blocks, or (all of a
    row's largest in the first block) only in the same block, left out by the block's own top k.
    Which tied latent the dense encoder keeps is up to its top-k kernel; the blocks keep the
    same ones, bit for bit."""
    sae = random_sae(architecture, 8, 240, HOOK, seed=9, k=6)
    g = torch.Generator().manual_seed(10)
    with torch.no_grad():
        sae.W_enc.copy_(torch.randint(-2, 3, (8, 240), generator=g).float())
        sae.b_enc.copy_(torch.randint(-2, 3, (240,), generator=g).float())
        if in_one_block:
            sae.b_enc[:40] += 30
        sae.b_dec.zero_()
        x = torch.randint(-2, 3, (300, 8), generator=g).float()
        want = sae.encode(x)
        for width in (40, 7, 100):
            entries = encode_entries(sae, x, width)
            assert torch.equal(_dense(entries, 300, 240, torch.float32), want), width


def test_matching_pursuit_is_not_encoded_in_blocks():
    sae = random_sae("matching_pursuit", 16, 40, HOOK)
    assert not encodes_in_column_blocks(sae)
    with pytest.raises(ValueError, match="matching_pursuit"):
        encode_entries(sae, torch.randn(3, 16), 8)


@pytest.mark.parametrize("architecture", ["topk", "jumprelu", "matching_pursuit"])
def test_entry_batches_take_the_blocked_path_only_when_dense_batches_would_be_small(
    monkeypatch, architecture
):
    """With a budget that holds fewer than 128 dense rows, the batches are of 1,024 rows in
    blocks of latents (matching pursuit: dense, as it cannot be blocked); either way every row's
    latents are the dense encoder's, and `max_rows` caps the batches."""
    import saeeval.evals.working_set as working_set

    sae = random_sae(architecture, 16, 300, HOOK, seed=3)
    x = torch.randn(2100, 16, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        if architecture == "jumprelu":  # sparse, as trained ones are: a few latents a row
            sae.threshold.fill_(3.0)
        want = sae.encode(x)
    assert 0 < (want != 0).sum(dim=1).float().mean() <= 16
    blocked_calls = []
    monkeypatch.setattr(
        working_set,
        "encode_entries",
        lambda *args, **kw: blocked_calls.append(args[2]) or encode_entries(*args, **kw),
    )
    monkeypatch.setenv("SAEEVAL_WORKING_SET_MB", "1")  # 291 dense rows of 300 latents
    batches = list(latent_entries_in_batches(sae, x))
    assert [stop - start for start, stop, _ in batches] == [291] * 7 + [63] and not blocked_calls
    monkeypatch.setenv("SAEEVAL_WORKING_SET_MB", "0.1")  # 29 dense rows: too few
    batches = list(latent_entries_in_batches(sae, x))
    got = torch.zeros_like(want)
    for start, _, entries in batches:
        got[entries.rows + start, entries.cols] = entries.values
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)  # rounding: see the first test
    assert torch.equal(got != 0, want != 0)
    if architecture == "matching_pursuit":
        assert [stop - start for start, stop, _ in batches][0] == 29 and not blocked_calls
    else:
        assert [stop - start for start, stop, _ in batches] == [1024, 1024, 52]
        assert blocked_calls == [8] * 3  # 0.1 MiB / (3 copies x 4 bytes x 1,024 rows)
    capped = list(latent_entries_in_batches(sae, x, max_rows=500))
    assert max(stop - start for start, stop, _ in capped) == (29 if not blocked_calls else 500)


def test_chosen_columns_of_a_wide_sae_come_from_its_entries(monkeypatch):
    """`encoded_rows` with columns (absorption's k-sparse probe inputs) on the blocked path: the
    chosen latents of every row, in the order asked for, as the dense encoder gives them."""
    from saeeval.evals.working_set import encoded_rows, encodes_in_blocks

    sae = random_sae("topk", 16, 300, HOOK, seed=5, k=20)
    x = torch.randn(1500, 16, generator=torch.Generator().manual_seed(6))
    columns = torch.tensor([299, 0, 17, 150, 42])
    with torch.no_grad():
        want = sae.encode(x)[:, columns]
    monkeypatch.setenv("SAEEVAL_WORKING_SET_MB", "0.1")
    assert encodes_in_blocks(sae)
    got = encoded_rows(sae, x, columns=columns, max_rows=700)
    assert got.shape == (1500, 5) and got.dtype == torch.float32
    assert torch.equal(got != 0, want != 0) and int((want != 0).sum()) > 100
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_an_sae_far_from_sparse_gets_fewer_rows_not_more_memory(monkeypatch, caplog):
    """A standard SAE whose latents nearly all fire: 1,024 rows would make 20 bytes of entry per
    latent of every row, far past the budget, so the batch backs off to fewer rows (with a
    warning that says why) and the latents are still all there."""
    sae = random_sae("standard", 16, 300, HOOK, seed=7)
    with torch.no_grad():
        sae.b_enc.add_(3.0)
    x = torch.randn(1100, 16, generator=torch.Generator().manual_seed(8))
    with torch.no_grad():
        want = sae.encode(x)
    assert (want != 0).float().mean() > 0.95
    monkeypatch.setenv("SAEEVAL_WORKING_SET_MB", "0.1")  # 5,242 entries: 17 dense rows
    with caplog.at_level("WARNING", logger="saeeval"):
        batches = list(latent_entries_in_batches(sae, x))
    sizes = [stop - start for start, stop, _ in batches]
    assert max(sizes) == 16 and sum(sizes) == 1100
    assert "non-zero latents on a SAE encoding batch of 32 rows; retrying at 16" in caplog.text
    got = torch.zeros_like(want)
    for start, _, entries in batches:
        got[entries.rows + start, entries.cols] = entries.values
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
