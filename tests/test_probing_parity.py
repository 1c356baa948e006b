"""Parity of the probing family's tensor arithmetic with SAEBench 0.6.0 (sparse probing, SCR, TPP).

Reference functions and ours run on the same small random tensors. The reference draws from the
global torch RNG after `torch.manual_seed(s)`; ours from `torch.Generator().manual_seed(s)`, and
must draw the same numbers in the same order (checked by comparing the next draw afterwards).
SAEs are built with `saeeval.saes`, saved, and loaded back through SAELens for the reference.
"""

from __future__ import annotations

import math

import pytest
import torch
from helpers import pooled_activations, random_sae, saved, text_activations_from_padded
from reference_models import reference_sae

from saeeval.data.classification import PAIRED_CLASS_KEYS
from saeeval.evals.probing.ablation import (
    ablated_pooled,
    all_node_effects,
    average_over,
    decoder_matrix,
    probe_test_accuracies,
    scr_scores,
    select_top_n,
    tpp_scores,
)
from saeeval.evals.probing.probes import (
    Probe,
    fit_sklearn_probe,
    one_vs_rest,
    probe_accuracy,
    top_k_by_mean_difference,
    train_probes,
    train_torch_probe,
)
from saeeval.evals.probing.sae_statistics import (
    pooled_latents_of_texts,
    sae_statistics_of_texts,
)

# The reference passes penalty="l2", which sklearn 1.8+ deprecates.
pytestmark = pytest.mark.filterwarnings("ignore:'penalty' was deprecated:FutureWarning")

D, F, L = 24, 48, 6
HOOK = "blocks.0.hook_resid_post"
SAE_BATCH = 16
SCR_KEYS = [key for pair in PAIRED_CLASS_KEYS.items() for key in pair]
SCR_CHOSEN = list(PAIRED_CLASS_KEYS)
TPP_CLASSES = ["0", "1", "2", "6", "9"]
N_VALUES = [2, 5, 10, 20]


@pytest.fixture(scope="module")
def ref():
    """The reference modules (imported lazily: they pull in SAELens and TransformerLens).

    Its runtime shape checks are switched off: jaxtyping's pytest plugin imports jaxtyping before
    conftest sets JAXTYPING_DISABLE, and with them on the reference's own sklearn path fails.
    """
    import jaxtyping

    previous = jaxtyping.config.jaxtyping_disable
    jaxtyping.config.update("jaxtyping_disable", True)
    import sae_bench.evals.scr_and_tpp.main as scr_tpp
    import sae_bench.evals.sparse_probing.probe_training as probe_training
    import sae_bench.sae_bench_utils.activation_collection as activation_collection
    import sae_bench.sae_bench_utils.general_utils as general_utils

    class Ref:
        PT, ST, AC, GU = probe_training, scr_tpp, activation_collection, general_utils

    yield Ref
    jaxtyping.config.update("jaxtyping_disable", previous)


def same_stream_afterwards(generator: torch.Generator) -> bool:
    """Whether `generator` and the global RNG are at the same point of the same stream."""
    return torch.equal(torch.randperm(997), torch.randperm(997, generator=generator))


def _statistics(sae, acts_bld):
    """Our per-text statistics of SAEBench-layout activations (masked positions zeroed)."""
    return sae_statistics_of_texts(sae, text_activations_from_padded(acts_bld))


# -- synthetic activations -------------------------------------------------------------------


def _tokens(n: int, signal: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """[n, L, D] activations carrying `signal` ([n, D]) at every valid token; position 0 (BOS)
    and a random-length tail (PAD) are zero rows, as SAEBench's masked activations."""
    x = torch.randn(n, L, D, generator=g) + signal[:, None, :]
    x[:, 0] = 0.0
    lengths = torch.randint(2, L + 1, (n,), generator=g)  # 1..L-1 valid positions
    x[torch.arange(L)[None, :] >= lengths[:, None]] = 0.0
    return x


def tpp_data(n_per_class: int, seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    directions = torch.randn(len(TPP_CLASSES), D, generator=torch.Generator().manual_seed(99))
    sizes = [n_per_class + delta for delta in (0, -3, 4, 1, -2)]
    return {
        name: _tokens(size, 0.6 * direction.expand(size, D), g)
        for name, direction, size in zip(TPP_CLASSES, directions, sizes, strict=True)
    }


def scr_data(n_per_key: int, seed: int) -> dict[str, torch.Tensor]:
    """The six SCR keys from two binary attributes (column2 "gender" g, column1 "profession" p)."""
    g = torch.Generator().manual_seed(seed)
    u_g, u_p = torch.randn(2, D, generator=torch.Generator().manual_seed(98))
    mixed = lambda: torch.randint(0, 2, (n_per_key, 1), generator=g).float() * 2 - 1  # noqa: E731
    plus = torch.ones(n_per_key, 1)
    attributes = {  # (gender sign, profession sign): +1 = male / professor
        "male / female": (plus, mixed()),
        "female_data_only": (-plus, mixed()),
        "professor / nurse": (mixed(), plus),
        "nurse_data_only": (mixed(), -plus),
        "male_professor / female_nurse": (plus, plus),
        "female_nurse_data_only": (-plus, -plus),
    }
    return {
        key: _tokens(n_per_key, 0.5 * (s_g * u_g + s_p * u_p), g)
        for key, (s_g, s_p) in attributes.items()
    }


@pytest.fixture(scope="module")
def tpp_sets():
    return tpp_data(30, seed=1), tpp_data(24, seed=2)


@pytest.fixture(scope="module")
def scr_sets():
    return scr_data(40, seed=3), scr_data(30, seed=4)


def pooled(bld: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Mean over the valid (non-zero) positions, the LLM-side probe inputs."""
    return {key: x.sum(1) / (x.sum(-1) != 0).float().sum(1, keepdim=True) for key, x in bld.items()}


@pytest.fixture(scope="module")
def saes(tmp_path_factory):
    """Ours and the reference's view of the same SAE, per architecture. The standard SAE has a
    positive encoder bias, so the zeroed (masked) positions fire latents and matter in ablation."""
    pairs = {}
    for architecture in ("standard", "topk", "jumprelu"):
        sae = random_sae(architecture, D, F, HOOK, seed=5, model_name="tiny-llama", k=6)
        if architecture == "standard":
            with torch.no_grad():
                sae.b_enc.copy_(sae.b_enc.abs() + 0.05)
        pairs[architecture] = (
            sae,
            reference_sae(saved(sae, tmp_path_factory.mktemp(architecture))),
        )
    return pairs


# -- RNG plumbing ------------------------------------------------------------------------------


def test_a_seeded_generator_replays_the_global_stream(ref):
    for seed in (0, 42):
        torch.manual_seed(seed)
        theirs = [torch.randperm(n) for n in (3, 100, 5000)]
        reference_probe = ref.PT.Probe(D, torch.float32)
        g = torch.Generator().manual_seed(seed)
        ours = [torch.randperm(n, generator=g) for n in (3, 100, 5000)]
        probe = Probe(D, g)
        assert all(torch.equal(a, b) for a, b in zip(theirs, ours, strict=True))
        assert torch.equal(probe.net.weight, reference_probe.net.weight)
        assert torch.equal(probe.net.bias, reference_probe.net.bias)
        assert same_stream_afterwards(g)


def test_probe_init_leaves_the_global_rng_alone():
    torch.manual_seed(0)
    expected = torch.randperm(50)
    torch.manual_seed(0)
    Probe(D, torch.Generator().manual_seed(1))
    assert torch.equal(torch.randperm(50), expected)


# -- probe sets, top-k, sklearn ----------------------------------------------------------------


@pytest.mark.parametrize("paired", [False, True])
@pytest.mark.parametrize("per_token", [False, True])
def test_one_vs_rest_is_bit_exact(ref, tpp_sets, scr_sets, paired, per_token):
    bld = scr_sets[0] if paired else tpp_sets[0]
    acts = bld if per_token else pooled(bld)
    for seed, class_name in enumerate(acts):
        torch.manual_seed(seed)
        want_x, want_y = ref.PT.prepare_probe_data(acts, class_name, perform_scr=paired)
        g = torch.Generator().manual_seed(seed)
        got_x, got_y = one_vs_rest(acts, class_name, g, paired=paired)
        assert got_y.dtype == want_y.dtype == torch.int32
        assert torch.equal(got_x, want_x) and torch.equal(got_y, want_y)
        assert same_stream_afterwards(g)


def test_top_k_columns_match(ref, tpp_sets):
    acts = pooled(tpp_sets[0])
    x, y = one_vs_rest(acts, "2", torch.Generator().manual_seed(0))
    for k in (1, 3, 10, D):
        dropped = ref.PT.get_top_k_mean_diff_mask(x, y, k)
        want = torch.nonzero(~dropped).squeeze(1)
        assert torch.equal(top_k_by_mean_difference(x, y, k), want)
        assert torch.equal(x[:, want], ref.PT.apply_topk_mask_reduce_dim(x, dropped))


def test_sklearn_accuracy_matches(ref, tpp_sets):
    train, test = pooled(tpp_sets[0]), pooled(tpp_sets[1])
    g = torch.Generator().manual_seed(0)
    train_x, train_y = one_vs_rest(train, "1", g)
    test_x, test_y = one_vs_rest(test, "1", g)
    _, want = ref.PT.train_sklearn_probe(train_x, train_y, test_x, test_y)
    got = fit_sklearn_probe(train_x, train_y, test_x, test_y)[1]
    assert got == want and 0.5 < got <= 1.0


# -- torch probes ------------------------------------------------------------------------------


def test_torch_probe_training_matches(ref, tpp_sets):
    train, test = pooled(tpp_sets[0]), pooled(tpp_sets[1])
    g = torch.Generator().manual_seed(3)
    train_x, train_y = one_vs_rest(train, "6", g)
    test_x, test_y = one_vs_rest(test, "6", g)
    for l1, patience in ((None, 10), (1e-3, 2)):
        torch.manual_seed(7)
        want_probe, want_acc = ref.PT.train_probe_gpu(
            train_x, train_y, test_x, test_y, dim=D, batch_size=16, epochs=8, lr=1e-2,
            l1_penalty=l1, early_stopping_patience=patience,
        )  # fmt: skip
        g = torch.Generator().manual_seed(7)
        got_probe, got_acc = train_torch_probe(
            train_x, train_y, test_x, test_y, batch_size=16, epochs=8, lr=1e-2, generator=g,
            l1_penalty=l1, patience=patience,
        )  # fmt: skip
        assert got_acc == want_acc
        assert (got_probe.net.weight - want_probe.net.weight).abs().max() <= 1e-6
        assert (got_probe.net.bias - want_probe.net.bias).abs().max() <= 1e-6
        assert same_stream_afterwards(g)
        assert probe_accuracy(got_probe, test_x, test_y, 7) == ref.PT.test_probe_gpu(
            test_x, test_y, 7, want_probe
        )


@pytest.mark.parametrize(
    "options",
    [
        dict(k=3, use_sklearn=True),
        dict(
            k=None, use_sklearn=False, batch_size=16, epochs=4, lr=1e-2, patience=2, l1_penalty=1e-3
        ),
        dict(k=5, use_sklearn=False, batch_size=8, epochs=3, lr=1e-2),
    ],
    ids=["sklearn-top-k", "torch-full", "torch-top-k"],
)
def test_train_probes_matches_train_probe_on_activations(ref, tpp_sets, options):
    train, test = pooled(tpp_sets[0]), pooled(tpp_sets[1])
    # The reference's names for our options.
    theirs = {key: value for key, value in options.items() if key not in ("k", "patience")}
    theirs.update(select_top_k=options["k"], early_stopping_patience=options.get("patience", 10))
    torch.manual_seed(11)
    want_probes, want_accs = ref.PT.train_probe_on_activations(train, test, **theirs)
    g = torch.Generator().manual_seed(11)
    got_probes, got_accs = train_probes(train, test, generator=g, **options)
    assert got_accs == want_accs
    if not options["use_sklearn"]:
        for name, probe in got_probes.items():
            assert torch.allclose(probe.net.weight, want_probes[name].net.weight, rtol=0, atol=1e-6)
    assert same_stream_afterwards(g)


# -- SAE statistics, attribution, selection, ablation ----------------------------------------


def test_sae_statistics_pool_as_the_reference(ref, saes, tpp_sets):
    sae, ref_sae = saes["standard"]
    bld = tpp_sets[0]
    stats = {key: _statistics(sae, x) for key, x in bld.items()}
    want_llm = ref.AC.create_meaned_model_activations(bld)
    want_sae = ref.AC.get_sae_meaned_activations(bld, ref_sae, SAE_BATCH)
    for key in bld:
        torch.testing.assert_close(
            pooled_activations(stats[key]), want_llm[key], rtol=1e-6, atol=1e-6
        )
        got_sae = pooled_latents_of_texts(sae, text_activations_from_padded(bld[key]))
        torch.testing.assert_close(got_sae, want_sae[key], rtol=1e-6, atol=1e-6)


def _relative_error(got: torch.Tensor, want: torch.Tensor) -> float:
    return ((got - want).abs().max() / want.abs().max()).item()


def _trained_probes(train_bld, test_bld, scr: bool) -> dict[str, Probe]:
    probes, _ = train_probes(
        pooled(train_bld), pooled(test_bld), generator=torch.Generator().manual_seed(0),
        use_sklearn=False, batch_size=16, epochs=4, lr=1e-2, paired=scr, l1_penalty=1e-3,
    )  # fmt: skip
    return probes


@pytest.mark.parametrize("architecture", ["standard", "topk", "jumprelu"])
@pytest.mark.parametrize("scr", [True, False], ids=["scr", "tpp"])
def test_node_effects_match(ref, saes, tpp_sets, scr_sets, architecture, scr):
    sae, ref_sae = saes[architecture]
    train, test = scr_sets if scr else tpp_sets
    chosen = SCR_CHOSEN if scr else TPP_CLASSES
    probes = _trained_probes(train, test, scr)

    torch.manual_seed(21)
    want = ref.ST.get_all_node_effects_for_one_sae(ref_sae, probes, chosen, scr, train, SAE_BATCH)
    g = torch.Generator().manual_seed(21)
    means = {key: _statistics(sae, x).mean_latents_fp32() for key, x in train.items()}
    got = all_node_effects(means, probes, chosen, sae.W_dec, g, scr)

    assert list(got) == list(want)
    for name in chosen:
        assert _relative_error(got[name], want[name]) <= 1e-6, name
        if scr:
            assert (got[name] >= 0).all()
        for n in N_VALUES:
            assert torch.equal(
                select_top_n(got[name], n), ref.ST.select_top_n_features(want[name], n, name)
            )
    assert same_stream_afterwards(g)


def test_select_top_n_matches(ref):
    g = torch.Generator().manual_seed(0)
    effects = torch.randn(F, generator=g)
    effects[::5] = 0.0
    cases = [
        (effects, [1, 5, 30, F]),  # n beyond the non-zero count: only the non-zero ones
        (effects.abs(), [3, F]),
        (torch.tensor([0.0, -1.0, -2.0, 0.5, 0.0, 0.0]), [1, 3, 6]),  # zeros outrank negatives
        (torch.zeros(F), [4]),  # nothing to ablate
    ]
    for values, ns in cases:
        for n in ns:
            assert torch.equal(
                select_top_n(values, n), ref.ST.select_top_n_features(values, n, "c")
            )
    assert select_top_n(torch.tensor([0.0, -1.0, -2.0, 0.5, 0.0, 0.0]), 3).nonzero().squeeze(
        1
    ).tolist() == [3, 4, 5]
    assert not select_top_n(torch.zeros(F), 4).any()
    with pytest.raises(ValueError):
        select_top_n(effects, F + 1)


@pytest.mark.parametrize("architecture", ["standard", "topk", "jumprelu"])
def test_ablated_pooled_matches(ref, saes, scr_sets, architecture):
    sae, ref_sae = saes[architecture]
    x = scr_sets[1]["professor / nurse"]
    stats = _statistics(sae, x)
    g = torch.Generator().manual_seed(0)
    masks = [
        torch.zeros(F, dtype=torch.bool),
        torch.rand(F, generator=g) < 0.3,
        torch.ones(F, dtype=torch.bool),
    ]
    W = decoder_matrix(sae)
    for mask in masks:
        with torch.no_grad():
            want = ref.ST.ablated_precomputed_activations(x, ref_sae, mask, SAE_BATCH)
        got = ablated_pooled(stats.act_sum, stats.count, stats.all_sum_columns(mask), W[mask])
        assert _relative_error(got, want) <= 1e-5
    if architecture == "standard":
        # The masked positions fire latents here, and the reference counts their ablation too.
        valid_only = stats.act_sum - stats.valid_sum[:, mask] @ W[mask]
        assert _relative_error(valid_only / stats.count[:, None], want) > 1e-2


@pytest.mark.parametrize("architecture", ["standard", "topk"])
def test_ablation_at_valid_positions_only(architecture):
    """`ablate_padding_positions=false`: the SAE round trip with the ablated latents zeroed at the
    valid positions, padding and BOS left at zero, pooled over the valid positions. The SAE fires
    on the zero vector here, so leaving padding alone must differ from SAEBench's ablation."""
    sae = random_sae(architecture, D, F, HOOK, seed=9, k=6)
    with torch.no_grad():
        sae.b_enc.add_(0.5)
    x = tpp_data(12, seed=6)["0"]
    mask = torch.rand(F, generator=torch.Generator().manual_seed(2)) < 0.4
    valid = x.abs().sum(-1) != 0
    with torch.no_grad():
        latents = sae.encode(x)
        ablated = latents.clone()
        ablated[..., mask] = 0.0
        modified = x + sae.decode(ablated) - sae.decode(latents)
    modified[~valid] = 0.0
    want = modified.sum(1) / valid.sum(1, keepdim=True)
    stats = _statistics(sae, x)
    W = decoder_matrix(sae)[mask]
    got = ablated_pooled(stats.act_sum, stats.count, stats.valid_sum_columns(mask), W)
    assert _relative_error(got, want) <= 1e-5
    everywhere = ablated_pooled(stats.act_sum, stats.count, stats.all_sum_columns(mask), W)
    assert stats.at_zero[mask].abs().sum() > 0  # the zero vector fires some ablated latent
    assert _relative_error(everywhere, want) > 1e-3


def test_ablation_of_a_layer_norm_sae_scales_each_token():
    """SAEBench cannot ablate runtime-normalised SAELens SAEs (decode consumes the stored state);
    ours applies the ablation with each token's own de-normalisation."""
    sae = random_sae("standard", D, F, HOOK, seed=8)
    sae.cfg.normalize_activations = "layer_norm"
    x = tpp_data(12, seed=5)["0"]
    mask = torch.rand(F, generator=torch.Generator().manual_seed(1)) < 0.5
    with torch.no_grad():
        _, state = sae._normalise(x)
        latents = sae.encode(x)
        ablated = latents.clone()
        ablated[..., mask] = 0.0
        modified = x + sae.decode(ablated, state) - sae.decode(latents, state)
    valid = (x.sum(-1) != 0).float().sum(1)
    want = modified.sum(1) / valid[:, None]
    stats = _statistics(sae, x)
    sums, W = stats.all_sum_columns(mask), decoder_matrix(sae)[mask]
    got = ablated_pooled(stats.act_sum, stats.count, sums, W)
    assert _relative_error(got, want) <= 1e-5


# -- accuracies and scores ---------------------------------------------------------------------


@pytest.mark.parametrize("scr", [True, False], ids=["scr", "tpp"])
def test_ablation_sweep_accuracies_and_scores_match(ref, saes, tpp_sets, scr_sets, scr):
    sae, ref_sae = saes["standard"]
    train, test = scr_sets if scr else tpp_sets
    chosen = SCR_CHOSEN if scr else TPP_CLASSES
    probes = _trained_probes(train, test, scr)

    torch.manual_seed(5)
    want_clean = ref.ST.get_probe_test_accuracy(probes, chosen, pooled(test), 500, scr)
    want_effects = ref.ST.get_all_node_effects_for_one_sae(
        ref_sae, probes, chosen, scr, train, SAE_BATCH
    )
    with torch.no_grad():
        want = ref.ST.perform_feature_ablations(
            probes, ref_sae, SAE_BATCH, test, want_effects, N_VALUES, chosen, 500, scr
        )

    g = torch.Generator().manual_seed(5)
    test_stats = {key: _statistics(sae, x) for key, x in test.items()}
    got_clean = probe_test_accuracies(
        probes, chosen, {k: pooled_activations(s) for k, s in test_stats.items()}, 500, g, scr
    )
    means = {key: _statistics(sae, x).mean_latents_fp32() for key, x in train.items()}
    effects = all_node_effects(means, probes, chosen, sae.W_dec, g, scr)
    W = decoder_matrix(sae)
    got = {}
    for name in chosen:
        got[name] = {}
        for n in N_VALUES:
            mask = select_top_n(effects[name], n)
            ablated = {
                k: ablated_pooled(s.act_sum, s.count, s.all_sum_columns(mask), W[mask])
                for k, s in test_stats.items()
            }
            got[name][n] = probe_test_accuracies(probes, chosen, ablated, 500, g, scr)

    assert got_clean == want_clean
    assert len(got_clean) == (9 if scr else 5)
    assert got == want
    assert same_stream_afterwards(g)
    if scr:
        assert scr_scores(got, got_clean) == ref.ST.get_scr_plotting_dict(want, want_clean)
    else:
        assert tpp_scores(got, got_clean) == ref.ST.create_tpp_plotting_dict(want, want_clean)


def _scr_accuracies(seed: int, dir1_clean: float, dir2_clean: float, clean_gap: float):
    g = torch.Generator().manual_seed(seed)
    accuracy = lambda: round(0.5 + 0.5 * torch.rand(1, generator=g).item(), 3)  # noqa: E731
    biased = f"{'male_professor / female_nurse'} probe on"
    clean = {key: accuracy() for key in SCR_CHOSEN}
    clean[f"{biased} professor / nurse data"] = dir1_clean
    clean[f"{biased} male / female data"] = dir2_clean
    clean["professor / nurse"] = dir1_clean + clean_gap
    clean["male / female"] = dir2_clean + 0.2
    measured = list(clean)
    ablated = {
        name: {n: {key: accuracy() for key in measured} for n in N_VALUES} for name in SCR_CHOSEN
    }
    return ablated, clean


@pytest.mark.parametrize(
    "dir1_clean, dir2_clean, clean_gap",
    [(0.6, 0.7, 0.25), (0.75, 0.62, 0.1), (0.65, 0.65, 0.2), (0.6, 0.7, 0.0005), (0.6, 0.7, -0.05)],
    ids=["dir1", "dir2", "equal-no-metric", "guard", "negative-gap"],
)
def test_scr_scores_match(ref, dir1_clean, dir2_clean, clean_gap):
    ablated, clean = _scr_accuracies(0, dir1_clean, dir2_clean, clean_gap)
    got = scr_scores(ablated, clean)
    want = ref.ST.get_scr_plotting_dict(ablated, clean)
    assert got == want and list(got) == list(want)
    has_metric = any(key.startswith("scr_metric") for key in got)
    assert has_metric == (dir1_clean != dir2_clean)
    if clean_gap < 0.001:
        assert all(got[f"scr_dir1_threshold_{n}"] == 0 for n in N_VALUES)


def test_tpp_scores_and_averages_match(ref):
    g = torch.Generator().manual_seed(1)
    clean = {name: 0.8 + 0.2 * torch.rand(1, generator=g).item() for name in TPP_CLASSES}
    ablated = {
        name: {
            n: {other: 0.5 + 0.5 * torch.rand(1, generator=g).item() for other in TPP_CLASSES}
            for n in N_VALUES
        }
        for name in TPP_CLASSES
    }
    got = tpp_scores(ablated, clean)
    assert got == ref.ST.create_tpp_plotting_dict(ablated, clean)
    with pytest.raises(ValueError):
        tpp_scores(ablated, {**clean, "a probe on b data": 0.5})

    # Averages over runs, some of which lack a key (SCR's missing metric on equal accuracies).
    runs = {
        "a_scr_x_y": scr_scores(*_scr_accuracies(1, 0.6, 0.7, 0.2)),
        "a_scr_u_v": scr_scores(*_scr_accuracies(2, 0.65, 0.65, 0.2)),
        "b_scr_x_y": scr_scores(*_scr_accuracies(3, 0.8, 0.7, 0.1)),
    }
    want = ref.GU.average_results_dictionaries(
        {f"{k}_results": v for k, v in runs.items()}, list(runs)
    )
    averaged = average_over(runs.values())
    assert averaged == want and list(averaged) == list(want)
    assert math.isclose(
        averaged["scr_metric_threshold_2"],
        (runs["a_scr_x_y"]["scr_metric_threshold_2"] + runs["b_scr_x_y"]["scr_metric_threshold_2"])
        / 2,
    )
