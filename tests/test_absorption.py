"""Feature absorption: each step against SAEBench's own functions on the same inputs."""

from __future__ import annotations

import random
import statistics

import numpy as np
import pandas as pd
import pytest
import torch
from helpers import (
    RecordingCache,
    assert_intervals_match_headlines,
    random_sae,
    saebench_schema,
    saved,
)
from reference_models import hooked_transformer_twin, reference_sae
from tiny_models import char_tokenizer, tiny_model

from saeeval.evals.absorption.calculator import letter_absorption
from saeeval.evals.absorption.eval import _means
from saeeval.evals.absorption.probes import (
    fit_k_sparse_probes,
    letter_metrics,
    train_letter_probe,
)
from saeeval.evals.absorption.words import LETTERS, alpha_words, icl_prompt, split_words

TEMPLATE = "{word} has the first letter:"


def test_alpha_words_are_saebench_s():
    from sae_bench.evals.absorption.vocab import get_alpha_tokens

    tokenizer = char_tokenizer()
    ours = alpha_words(tokenizer)
    assert sorted(ours) == sorted(get_alpha_tokens(tokenizer))
    assert len(ours) == 52  # the single letters, both cases


@pytest.mark.embedded
def test_alpha_words_of_the_embedded_tokenizer(embedded_model):
    from sae_bench.evals.absorption.vocab import get_alpha_tokens

    ours = alpha_words(embedded_model.tokenizer)
    assert sorted(ours) == sorted(get_alpha_tokens(embedded_model.tokenizer))
    assert len(ours) == 47078 and ours == alpha_words(embedded_model.tokenizer)  # stable order
    # -6 counted from the end is the word itself in every prompt (a single token each).
    prompt = icl_prompt(" Crisis", ours, TEMPLATE, random.Random(0))
    ids = embedded_model.tokenize([prompt])[0]
    assert embedded_model.tokenizer.decode(ids[-6]) == " Crisis"


def test_prompts_are_saebench_s_for_the_same_random_draws():
    from sae_bench.evals.absorption.prompting import create_icl_prompt, first_letter_formatter

    pool = [
        "apple",
        " Banana",
        "cherry",
        "Date",
        " elder",
        "fig",
        "grape",
        " hazel",
        "iris",
        "juniper",
        " kiwi",
        "lemon",
        "mango",
    ]
    for seed, word in enumerate(["apple", " kiwi", "zebra"]):
        random.seed(seed)
        theirs = create_icl_prompt(
            word,
            pool,
            base_template=TEMPLATE,
            max_icl_examples=10,
            answer_formatter=first_letter_formatter(),
            prepend_separator_to_first_example=True,
        ).base
        assert icl_prompt(word, pool, TEMPLATE, random.Random(seed)) == theirs


def test_word_split_is_seeded_and_caps_each_letter():
    words = [f"{c}{i}" for c in "abc" for i in range(100)]
    a, b = split_words(words, 7, max_words_per_letter=40), split_words(words, 7, 40)
    assert a == b and len(a.all) == 120 and len(a.train) == 96
    assert {w[0] for w in a.all} == {"a", "b", "c"}
    assert split_words(words, 8, 40).train != a.train


# -- probes -------------------------------------------------------------------------------------


def letter_blobs(n_per_letter: int, dim: int, seed: int):
    """Activations with a noisy, linearly decodable first letter."""
    generator = torch.Generator().manual_seed(seed)
    centres = torch.randn(len(LETTERS), dim, generator=torch.Generator().manual_seed(99)) * 2
    labels = torch.arange(len(LETTERS)).repeat_interleave(n_per_letter)
    x = centres[labels] + torch.randn(len(labels), dim, generator=generator) * 1.5
    return x, labels


def test_letter_probe_matches_saebench_training():
    """Same objective and schedule; only the initialisation and batch order differ (both are
    random), and the logistic objective is convex, so both land on nearly the same classifier."""
    from sae_bench.evals.absorption.probing import train_multi_probe

    x, labels = letter_blobs(60, 32, seed=0)
    test_x, test_labels = letter_blobs(30, 32, seed=1)
    recipe = dict(batch_size=64, lr=1e-2, end_lr=1e-5, weight_decay=1e-4)
    ours = train_letter_probe(x, labels, 32, epochs=50, seed=0, **recipe)
    torch.manual_seed(0)
    y = torch.nn.functional.one_hot(labels, 26).float()
    theirs = train_multi_probe(x, y, num_epochs=50, show_progress=False, device="cpu", **recipe)
    with torch.no_grad():
        ours_pred = ours.scores(test_x) > 0
        theirs_pred = theirs(test_x) > 0
    assert (ours_pred == theirs_pred).float().mean() > 0.98
    ours_acc = (ours.scores(test_x).argmax(-1) == test_labels).float().mean()
    theirs_acc = (theirs(test_x).argmax(-1) == test_labels).float().mean()
    assert abs(ours_acc - theirs_acc) < 0.02 and ours_acc > 0.6


@pytest.fixture(scope="module")
def k_sparse_setup(tmp_path_factory):
    from sae_bench.evals.absorption.k_sparse_probing import train_k_sparse_probes

    x, labels = letter_blobs(40, 32, seed=2)
    sae_folder = saved(
        random_sae("standard", 32, 96, "blocks.1.hook_resid_post", seed=4, model_name="tiny-llama"),
        tmp_path_factory.mktemp("sae"),
    )
    sae = reference_sae(sae_folder)
    torch.manual_seed(0)
    theirs = train_k_sparse_probes(
        sae,
        [(f"w{i}", int(y)) for i, y in enumerate(labels)],
        x,
        ks=[1, 2, 3, 4],
        num_epochs=10,
        batch_size=256,
    )
    return x, labels, sae, sae_folder, theirs


def test_k_sparse_probes_match_saebench(k_sparse_setup):
    x, labels, sae, _, theirs = k_sparse_setup
    with torch.no_grad():
        latents = sae.encode(x)
    # Their k = 4 features, in order, are the L1 probe's ranking; rebuild it as scores.
    ranking = torch.full((26, 96), float("-inf"))
    for letter in range(26):
        for rank, feature in enumerate(theirs[4][letter].feature_ids.tolist()):
            ranking[letter, feature] = 4 - rank
    ours = fit_k_sparse_probes(latents, labels, ranking, max_k=4)
    for k in range(1, 5):
        for letter in range(26):
            mine, ref = ours[letter, k], theirs[k][letter]
            assert mine.feature_ids == ref.feature_ids.tolist()
            np.testing.assert_allclose(mine.weight, ref.weight.numpy(), rtol=1e-6)
            assert mine.bias == pytest.approx(float(ref.bias), rel=1e-6)


def test_l1_selection_probe_ranks_latents_as_saebench_s():
    """The L1-penalised probe on SAE latents that picks each letter's k-sparse latents: same
    objective and schedule as SAEBench's `train_sparse_multi_probe`. On latents where one
    latent per letter fires for that letter's words (the other 70 fire at random), both rank
    each letter's own latent first, whatever the seed, once they take enough steps (here 17 a
    epoch; at 5 a epoch both still rank by their random start for some letter)."""
    from sae_bench.evals.absorption.k_sparse_probing import train_sparse_multi_probe

    generator = torch.Generator().manual_seed(1)
    labels = torch.arange(26).repeat_interleave(40)
    # Latent j fires (at a random strength) on 90% of letter j's words and nowhere else.
    fires = torch.rand(len(labels), generator=generator) < 0.9
    strength = 0.5 + torch.rand(len(labels), generator=generator)
    letter_latents = torch.nn.functional.one_hot(labels, 26) * (fires * strength)[:, None]
    noise = torch.relu(torch.randn(len(labels), 70, generator=generator))
    latents = torch.cat([letter_latents, noise], dim=1).float()
    recipe = dict(batch_size=64, lr=0.01, end_lr=1e-5)

    def ours(seed):
        probe = train_letter_probe(
            latents, labels, 96, epochs=50, weight_decay=1e-6, l1_decay=0.01, seed=seed, **recipe
        )
        return probe.weight.argmax(dim=1)

    def theirs(seed):
        torch.manual_seed(seed)
        y = torch.nn.functional.one_hot(labels, 26)
        probe = train_sparse_multi_probe(
            latents, y, device="cpu", num_epochs=50, show_progress=False, **recipe
        )
        return probe.weights.detach().argmax(dim=1)

    own = torch.arange(26)
    for seed in (0, 1):
        assert torch.equal(ours(seed), own)
        assert torch.equal(theirs(seed), own)


def test_metrics_and_split_features_match_saebench(k_sparse_setup):
    from sae_bench.evals.absorption.k_sparse_probing import (
        add_feature_splits_to_metrics_df,
        build_metrics_df,
        eval_probe_and_sae_k_sparse_raw_scores,
        sae_k_sparse_metadata,
    )
    from sae_bench.evals.absorption.probing import LinearProbe as ReferenceProbe

    x, labels, sae, _, theirs = k_sparse_setup
    test_x, test_labels = letter_blobs(20, 32, seed=3)
    probe = train_letter_probe(
        x, labels, 32, epochs=5, batch_size=64, lr=1e-2, end_lr=1e-5, weight_decay=1e-4
    )
    reference_probe = ReferenceProbe(32, 26)
    with torch.no_grad():
        reference_probe.fc.weight.copy_(probe.weight)
        reference_probe.fc.bias.copy_(probe.bias)
    raw = eval_probe_and_sae_k_sparse_raw_scores(
        sae, reference_probe, theirs, [(f"w{i}", int(y)) for i, y in enumerate(test_labels)], test_x
    )
    metadata = sae_k_sparse_metadata(sae, reference_probe, theirs, "sae", 1)
    expected = build_metrics_df(raw, metadata, max_k_value=4)
    add_feature_splits_to_metrics_df(expected, max_k_value=4, f1_jump_threshold=0.03)

    ours_probes = {
        (letter, k): _ours_from(theirs[k][letter]) for k in range(1, 5) for letter in range(26)
    }
    with torch.no_grad():
        rows = letter_metrics(
            test_labels,
            probe.scores(test_x),
            sae.encode(test_x),
            ours_probes,
            max_k=4,
            f1_jump_threshold=0.03,
        )
    for row, (_, ref) in zip(rows, expected.iterrows(), strict=True):
        assert row["letter"] == ref["letter"]
        assert row["f1_probe"] == pytest.approx(ref["f1_probe"])
        for k in range(1, 5):
            assert row[f"f1_sparse_sae_{k}"] == pytest.approx(ref[f"f1_sparse_sae_{k}"])
        assert row["split_feats"] == list(ref["split_feats"])


# The L1 probe recipe both streaming-path tests train with.
L1_RECIPE = dict(
    epochs=5, batch_size=256, lr=1e-2, end_lr=1e-5, weight_decay=1e-6, l1_decay=0.01, seed=3
)


def _assert_same_probe_steps(candidate, reference, other_seed) -> None:
    """Adam divides each gradient by its running magnitude, so where a weight's gradient is
    nearly zero a rounding-sized difference can still move it by a visible amount: the latents
    each letter ranks highest (all the probe is used for) and all but a few weights must agree
    with the reference, and a probe trained from another seed must not.

    The biases move the same way. Measured with this recipe on an AVX-512 CPU: the reference's
    own inputs changed by one float32 ulp move a bias by up to 2.5e-5 and 0.4% of the weights
    past the weights' tolerance; another seed moves the biases by 0.1 (median). So a bias may be
    off by 1e-4, four times that rounding floor and a thousandth of a seed's difference."""

    def close(a, b):
        return torch.isclose(a.weight, b.weight, rtol=1e-4, atol=1e-5).float().mean().item()

    def top4(p):
        return torch.topk(p.weight, 4, dim=1).indices

    assert close(candidate, reference) > 0.99 and close(other_seed, reference) < 0.5
    assert torch.equal(top4(candidate), top4(reference))
    torch.testing.assert_close(candidate.bias, reference.bias, rtol=0, atol=1e-4)
    assert (other_seed.bias - reference.bias).abs().median() > 1e-2


def test_chunked_l1_probe_takes_the_same_steps():
    """Reading each mini-batch a few rows at a time (a wide SAE's streaming path) sums the same
    gradient, up to float rounding."""
    x, labels = letter_blobs(40, 32, seed=5)

    def probe(**changes):
        return train_letter_probe(lambda rows: x[rows], labels, 32, **{**L1_RECIPE, **changes})

    whole, chunked, other_seed = probe(), probe(chunk_rows=37), probe(seed=4)
    _assert_same_probe_steps(chunked, whole, other_seed)


def test_l1_probe_on_sparse_rows_takes_the_same_steps():
    """A wide SAE's training latents kept as their non-zero entries give the probe sparse
    batches: the same objective and steps as the dense rows, up to the rounding of a sparse
    against a dense matrix product."""
    from saeeval.evals.probing.sparse_rows import SparseRows

    x, labels = letter_blobs(40, 32, seed=5)
    x = torch.relu(x - 1.0)  # about a third of the entries are zero
    assert 0.2 < (x == 0).float().mean() < 0.8
    rows, cols = x.nonzero(as_tuple=True)
    sparse = SparseRows(rows, cols, x[rows, cols], tuple(x.shape))

    def probe(inputs, **changes):
        return train_letter_probe(inputs, labels, 32, **{**L1_RECIPE, **changes})

    dense = probe(lambda picked: x[picked])
    from_sparse, other_seed = probe(sparse.sparse_rows), probe(sparse.sparse_rows, seed=4)
    _assert_same_probe_steps(from_sparse, dense, other_seed)


def test_k_sparse_probes_read_only_the_latents_they_rank(k_sparse_setup):
    """Keeping only the columns some k-sparse probe reads (at most 26 * max_k, whatever the
    width) gives the same probes and the same letter metrics as the whole latent matrix."""
    from saeeval.evals.absorption.eval import _encode_columns
    from saeeval.evals.absorption.probes import probed_latent_ids
    from saeeval.saes import load_sae

    x, labels, _, sae_folder, _ = k_sparse_setup
    sae = load_sae(sae_folder).sae
    test_x, test_labels = letter_blobs(20, 32, seed=3)
    ranking = torch.randn(26, sae.d_sae, generator=torch.Generator().manual_seed(0))
    kept = probed_latent_ids(ranking, 2)
    assert len(kept) <= 26 * 2 < sae.d_sae
    with torch.no_grad():
        full_train, full_test = sae.encode(x), sae.encode(test_x)
    # Encoded in one batch, the kept columns are the whole matrix's; in batches of 17, the same
    # up to the float rounding of a differently blocked matrix product.
    columns = _encode_columns(sae, x, len(x), kept)
    assert torch.equal(columns.values, full_train[:, kept])
    torch.testing.assert_close(_encode_columns(sae, x, 17, kept).values, full_train[:, kept])
    whole = fit_k_sparse_probes(full_train, labels, ranking, 2)
    streamed = fit_k_sparse_probes(columns, labels, ranking, 2)
    for key, probe in whole.items():
        assert streamed[key].feature_ids == probe.feature_ids
        np.testing.assert_array_equal(streamed[key].weight, probe.weight)
    scores = torch.zeros(len(test_x), 26)
    rows = letter_metrics(test_labels, scores, full_test, whole, 2, 0.03)
    assert rows == letter_metrics(
        test_labels, scores, _encode_columns(sae, test_x, len(test_x), kept), streamed, 2, 0.03
    )


def _ours_from(reference_probe):
    from saeeval.evals.absorption.probes import KSparseProbe

    return KSparseProbe(
        reference_probe.feature_ids.tolist(),
        reference_probe.weight.numpy(),
        float(reference_probe.bias),
    )


# -- the absorption arithmetic ------------------------------------------------------------------


def test_absorption_matches_saebench_calculator(tmp_path):
    """SAEBench's calculator runs its own prompts through a TransformerLens twin of our model;
    ours gets the activations of the very same prompts."""
    from sae_bench.evals.absorption.feature_absorption_calculator import (
        FeatureAbsorptionCalculator,
    )
    from sae_bench.evals.absorption.prompting import first_letter_formatter

    model = tiny_model("llama")
    twin = hooked_transformer_twin(model.model, tokenizer=model.tokenizer)
    hook = "blocks.1.hook_resid_post"
    generator = torch.Generator().manual_seed(5)
    probe = torch.randn(64, generator=generator)
    probe /= probe.norm()
    sae = random_sae("standard", 64, 96, hook, seed=6, model_name="tiny-llama")
    with torch.no_grad():  # latents 1-6 lean towards the probe: candidate absorbers
        for j in range(1, 7):
            direction = probe + 0.8 * torch.randn(64, generator=generator) / 8
            sae.W_dec[j] = direction / direction.norm()
        sae.W_dec[0] = probe
        sae.W_enc.copy_(sae.W_dec.T * 3)
        sae.b_enc.fill_(-0.2)
    folder = saved(sae, tmp_path / "sae")
    words = list("abcdefghijklmnopqrstuvwxyz")
    calculator = FeatureAbsorptionCalculator(
        twin,
        icl_word_list=words,
        max_icl_examples=10,
        base_template="{word}:",
        answer_formatter=first_letter_formatter(),
        word_token_pos=-2,
        batch_size=8,
    )
    random.seed(11)
    theirs = calculator.calculate_absorption(
        reference_sae(folder), words, probe, [0], layer=1, show_progress=False
    )
    random.seed(11)
    prompts = [p.base for p in calculator._build_prompts(words)]
    _, cache = twin.run_with_cache(prompts, names_filter=[hook])
    acts = cache[hook][:, -2, :]
    ours = letter_absorption(acts, sae.encode(acts).detach(), sae.W_dec.detach(), probe, [0])
    expected = [r.absorption_fraction for r in theirs.word_results]
    np.testing.assert_allclose(ours.absorption_fraction, expected, rtol=1e-6, atol=1e-9)
    assert ours.is_full_absorption == [r.is_full_absorption for r in theirs.word_results]
    assert 0 < sum(f > 0 for f in expected) < len(words)  # both branches are exercised


def test_absorption_of_a_letter_in_batches_of_words(monkeypatch):
    """Each word is judged on its own, so a wide SAE's letter may come a few words at a time
    within the working-set budget: the same fractions and full absorptions as all at once."""
    from saeeval.evals.absorption.eval import _letter_absorption_in_batches

    generator = torch.Generator().manual_seed(5)
    probe = torch.randn(64, generator=generator)
    probe /= probe.norm()
    sae = random_sae("standard", 64, 96, "blocks.1.hook_resid_post", seed=6)
    with torch.no_grad():  # latents 1-6 lean towards the probe: candidate absorbers
        for j in range(1, 7):
            direction = probe + 0.1 * torch.randn(64, generator=generator)
            sae.W_dec[j] = direction / direction.norm()
        sae.W_dec[0] = probe
        sae.W_enc.copy_(sae.W_dec.T * 3)
        sae.b_enc.fill_(-0.2)
        sae.b_enc[0] = -2.0  # the main latent often stays silent: partial and full absorption
    noise = torch.randn(40, 64, generator=generator) * 0.3
    acts = probe * torch.rand(40, 1, generator=generator) * 3 + noise
    # Latents encoded 7 rows at a time, as the batched path encodes them (a product over other
    # row counts may round differently).
    with torch.no_grad():
        latents = torch.cat([sae.encode(acts[i : i + 7]) for i in range(0, 40, 7)])
    whole = letter_absorption(acts, latents, sae.W_dec.detach(), probe, [0])
    fractions = whole.absorption_fraction
    assert 0 < sum(0 < f < 1 for f in fractions) and 0 < sum(whole.is_full_absorption) < 40
    monkeypatch.setenv("SAEEVAL_WORKING_SET_MB", str(96 * 4 * 4 * 7 / 2**20))  # 7 words a batch
    batched = _letter_absorption_in_batches(sae, acts, 64, probe, [0])
    # Word by word the same, up to the rounding of the probe projection P, a float32 product
    # over 7 rows here and 40 there: a few ulps of P, which a fraction taken of P - M can carry
    # as ~1e-7 absolute (measured: 9e-8 at most).
    assert batched.is_full_absorption == whole.is_full_absorption
    np.testing.assert_allclose(batched.absorption_fraction, fractions, rtol=0, atol=1e-6)


def test_decoder_cosines_in_blocks_are_the_whole_matrix_s(monkeypatch):
    """Each latent's cosine with the probe is its own row's: blocks of latents within the budget
    give the very values of one cosine over the whole decoder (without its weight-sized
    temporaries)."""
    from saeeval.evals.absorption.calculator import decoder_cosines

    generator = torch.Generator().manual_seed(0)
    W_dec, probe = torch.randn(1000, 64, generator=generator), torch.randn(64, generator=generator)
    whole = torch.nn.functional.cosine_similarity(probe / probe.norm(), W_dec, dim=-1)
    monkeypatch.setenv("SAEEVAL_WORKING_SET_MB", str(64 * 4 * 3 * 37 / 2**20))  # 37 latents
    assert torch.equal(decoder_cosines(W_dec, probe), whole)


def test_letter_means_match_saebench_aggregation():
    from sae_bench.evals.absorption.main import _aggregate_results_df

    rng = np.random.default_rng(0)
    rows = []
    for letter in "abcd":
        n = int(rng.integers(3, 9))
        for _ in range(n):
            rows.append(
                {
                    "letter": letter,
                    "absorption_fraction": float(rng.random()),
                    "is_full_absorption": bool(rng.random() < 0.3),
                    "num_probe_true_positives": n,
                    "split_feats": [1, 2][: 1 + (letter > "b")],
                }
            )
    agg = _aggregate_results_df(pd.DataFrame(rows))
    details = []
    for letter, group in pd.DataFrame(rows).groupby("letter"):
        full = int(group["is_full_absorption"].sum())
        details.append(
            {
                "first_letter": letter,
                "mean_absorption_fraction": group["absorption_fraction"].sum() / len(group),
                "full_absorption_rate": full / len(group),
                "num_full_absorption": full,
                "num_probe_true_positives": len(group),
                "num_split_features": len(group["split_feats"].iloc[0]),
            }
        )
    means = _means(details)
    assert means["mean_absorption_fraction_score"] == pytest.approx(
        statistics.mean(agg["mean_absorption_fraction"])
    )
    assert means["mean_full_absorption_score"] == pytest.approx(
        statistics.mean(agg["full_absorption_rate"])
    )
    assert means["mean_num_split_features"] == pytest.approx(
        statistics.mean(agg["num_split_feats"])
    )
    assert means["std_dev_absorption_fraction_score"] == pytest.approx(
        statistics.stdev(agg["mean_absorption_fraction"])
    )


# -- the whole eval through `saeeval run` -------------------------------------------------------


def test_a_tokenizer_with_too_few_words_is_reported_not_measured(tmp_path, isolated_cache):
    """The character tokenizer's only words are the 52 letters: too few for a probe per letter
    after the 80/20 split. The run says so, writes no result and records why."""
    import json

    from saeeval.runner import RunRequest, run

    model = tiny_model("llama")
    sae = saved(
        random_sae("topk", 64, 128, "blocks.1.hook_resid_post", model_name="tiny-llama"),
        tmp_path / "saes" / "a",
    )
    messages = []
    outcome = run(
        RunRequest(saes=[str(sae)], evals=["absorption"], out=tmp_path / "out", device="cpu"),
        log=messages.append,
        model_loader=lambda *_: model,
    )
    assert not outcome.written
    assert not (tmp_path / "out" / "absorption_first_letter" / "a_eval_results.json").exists()
    entry = json.loads((tmp_path / "out" / "manifest.json").read_text())["results"][
        "absorption_first_letter/a"
    ]
    assert entry["result"] is None
    assert entry["diagnostics"][0].startswith("absorption not measured")
    assert "tiny-llama's vocabulary" in entry["diagnostics"][0]
    assert any("absorption not measured" in m for m in messages)


@pytest.mark.embedded
def test_absorption_end_to_end_on_the_embedded_model(
    tmp_path, embedded_model, isolated_cache, monkeypatch
):
    """Two SAEs at one SmolLM2 hook: SAEBench-schema results, and the second SAE reuses every
    model activation and the letter probe."""
    import json

    import jsonschema

    from saeeval.runner import RunRequest, run

    hook = "blocks.6.hook_resid_post"
    saes = [
        saved(
            random_sae(arch, 576, 1152, hook, seed=i, model_name="smollm2-135m", k=32),
            tmp_path / "saes" / arch,
        )
        for i, arch in enumerate(["topk", "standard"])
    ]
    overrides = {"absorption": {"max_words_per_letter": 60}}

    def run_one(sae, cache, out="out"):
        return run(
            RunRequest(
                saes=[str(sae)],
                evals=["absorption"],
                out=tmp_path / out,
                device="cpu",
                overrides=overrides,
            ),
            log=lambda m: None,
            model_loader=lambda *_: embedded_model,
            cache=cache,
        )

    first_cache, second_cache = RecordingCache(), RecordingCache()
    first = run_one(saes[0], first_cache)
    second = run_one(saes[1], second_cache)
    assert first_cache.model_forward_passes > 0
    assert second_cache.model_forward_passes == 0  # prompts and probe all from the cache
    assert {"prompt-acts", "absorption-letter-probe"} <= set(first_cache.models)
    first_cache.assert_keys_name(embedded_model)

    schema = saebench_schema("absorption_first_letter")
    for outcome in (first, second):
        assert len(outcome.written) == 1
        result = json.loads(outcome.written[0][2].read_text())
        jsonschema.validate(result, schema)
        assert result["eval_config"]["max_words_per_letter"] == 60
        mean = result["eval_result_metrics"]["mean"]
        details = result["eval_result_details"]
        assert len(details) >= 20 and all(d["num_probe_true_positives"] > 0 for d in details)
        # The means are those of the letters' rows, and each full-absorption rate is a count over
        # the letter's true positives.
        for score, column in (
            ("mean_absorption_fraction_score", "mean_absorption_fraction"),
            ("mean_full_absorption_score", "full_absorption_rate"),
            ("mean_num_split_features", "num_split_features"),
        ):
            assert mean[score] == pytest.approx(sum(d[column] for d in details) / len(details))
        for d in details:
            rate = d["num_full_absorption"] / d["num_probe_true_positives"]
            assert d["full_absorption_rate"] == pytest.approx(rate)
        assert_intervals_match_headlines(result, min_metrics=3)
        probe = result["eval_result_unstructured"]["letter_probe"]
        # SmolLM2 knows first letters: its residual stream at layer 6 spells them out well.
        assert probe["mean_f1"] > 0.6 and probe["accuracy"] > 0.6
        # A random SAE has no latent that tracks letters, and the run says so.
        assert any("no SAE latent tracks" in w for _, sae_id, w in outcome.warnings)

    # Past the working-set budget (a wide SAE), the L1 probe's latents are encoded once and kept
    # as their non-zero entries: the same letters and metrics as the dense matrix.
    from saeeval.evals.absorption import eval as absorption_eval

    stores = []

    def spy(*args, **kwargs):
        stores.append(absorption_eval_sparse(*args, **kwargs))
        return stores[-1]

    absorption_eval_sparse = absorption_eval.sparse_latents_of_rows
    monkeypatch.setattr(absorption_eval, "_dense_train_latents_fit", lambda *_: False)
    monkeypatch.setattr(absorption_eval, "sparse_latents_of_rows", spy)
    wide = run_one(saes[0], second_cache, out="wide")
    assert len(stores) == 1 and stores[0] is not None
    dense_result = json.loads(first.written[0][2].read_text())
    sparse_result = json.loads(wide.written[0][2].read_text())
    # The probe's steps differ only by the rounding of sparse against dense products, which
    # moves none of the latents each letter ranks highest here.
    assert sparse_result["eval_result_details"] == dense_result["eval_result_details"]
    assert sparse_result["eval_result_metrics"] == dense_result["eval_result_metrics"]


def test_too_few_words_for_in_context_examples():
    from saeeval.evals.absorption.eval import NotMeasurable, _check_words

    split = split_words(list("abcdefghijklmnopqrstuvwxyz"), seed=0)  # 20 train, 6 test
    with pytest.raises(NotMeasurable, match="26 single-token alphabetic words"):
        _check_words("some-model", split)
