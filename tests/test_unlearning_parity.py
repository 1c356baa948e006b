"""The unlearning eval's pieces beside SAEBench's own functions, on the same inputs: context
cutting, firing frequencies, latent ranking, the clamp, prompts, letter probabilities, the
permutation filter and the score."""

from __future__ import annotations

import pickle
import string

import numpy as np
import pytest
import torch
from helpers import random_sae, saved
from reference_models import hooked_transformer_twin, reference_sae
from tiny_models import SPECIALS, tiny_model
from tokenizers import Regex, Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from saeeval.activations import ActivationCache
from saeeval.data.unlearning import TextCorpus, question_set_from_rows
from saeeval.evals.unlearning.eval import accuracy_row, unlearning_score
from saeeval.evals.unlearning.intervention import clamp_features, clamp_latents
from saeeval.evals.unlearning.scoring import (
    ALL_PERMUTATIONS,
    Scorer,
    chat_frame,
    choice_scores,
    known_by_permutation,
    letter_prompt,
    permuted_answer,
)
from saeeval.evals.unlearning.selection import (
    concat_tokens,
    context_set,
    firing_frequencies,
    top_features,
)
from saeeval.models import ModelAdapter
from saeeval.saes import load_sae

HOOK = "blocks.1.hook_resid_post"
# A chat template written for these tests that formats a user turn as Gemma 2's does.
GEMMA_LIKE_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<start_of_turn>"
    "{{ 'model' if m['role'] == 'assistant' else m['role'] }}\n{{ m['content'] }}<end_of_turn>\n"
    "{% endfor %}{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)


def letter_tokenizer() -> PreTrainedTokenizerFast:
    """The tiny models' character tokenizer plus single tokens for " A" .. " D" (as Gemma's
    vocabulary has) and a Gemma-like chat template, so SAEBench's letter scoring runs on it."""
    chars = [c for c in string.printable if c not in SPECIALS]
    vocab = {t: i for i, t in enumerate(SPECIALS + chars + [" A", " B", " C", " D"])}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Split(Regex(r" [A-D]|[\s\S]"), behavior="isolated")
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token="<bos>",
        eos_token="<eos>",
        pad_token="<pad>",
        unk_token="<unk>",
    )
    tokenizer.chat_template = GEMMA_LIKE_TEMPLATE
    return tokenizer


def test_contexts_are_cut_as_saebench_cuts_them():
    from sae_bench.sae_bench_utils.dataset_utils import tokenize_and_concat_dataset

    tokenizer = tiny_model("llama").tokenizer
    texts = [
        f"document {i}: " + "some words about the sea and the weather " * (i + 1) for i in range(9)
    ]
    for seq_len in (16, 33):
        ours = concat_tokens(tokenizer, texts, seq_len, tokenizer.bos_token_id)
        reference = tokenize_and_concat_dataset(tokenizer, texts, seq_len=seq_len)
        assert ours.shape[0] > 5
        assert torch.equal(ours, reference)


@pytest.mark.parametrize("architecture", ["standard", "topk", "jumprelu"])
def test_firing_frequencies_match_get_feature_activation_sparsity(tmp_path, architecture):
    from sae_bench.evals.unlearning.utils.feature_activation import (
        load_sparsity_data,
        save_results,
    )
    from sae_bench.sae_bench_utils.activation_collection import get_feature_activation_sparsity

    model = tiny_model("llama")
    texts = [f"text {i} about the weather, the sea and a town by the river " * 2 for i in range(10)]
    tokens = concat_tokens(model.tokenizer, texts, 24, model.bos_token_id)
    tokens[2, 5] = model.tokenizer.eos_token_id  # masked like BOS, as SAEBench masks them
    tokens[3, 7] = model.tokenizer.pad_token_id
    folder = saved(random_sae(architecture, 64, 256, HOOK, model_name="tiny-llama"), tmp_path / "s")
    reference = get_feature_activation_sparsity(
        tokens,
        hooked_transformer_twin(model.model, model.tokenizer),
        reference_sae(folder),
        batch_size=5,
        layer=1,
        hook_name=HOOK,
        mask_bos_pad_eos_tokens=True,
    )
    # SAEBench writes the frequencies as text and reads them back before ranking them.
    save_results(str(tmp_path / "art"), "sae", reference.numpy(), reference.numpy())
    expected, _ = load_sparsity_data(str(tmp_path / "art"), "sae")
    corpus = TextCorpus("texts", texts, "test", "sha256:test")
    (ours,) = firing_frequencies(
        model,
        ActivationCache(tmp_path / "cache"),
        context_set(corpus, tokens, seed=0),
        HOOK,
        [load_sae(folder).sae],
        batch_size=5,
    )
    assert np.count_nonzero(expected) > 20
    assert np.array_equal(ours, expected)


def test_latents_are_ranked_as_get_top_features_ranks_them():
    from sae_bench.evals.unlearning.utils.feature_activation import get_top_features

    rng = np.random.default_rng(0)
    for trial in range(5):
        # Frequencies with six decimals, half the latents silent on the forget text, many ties.
        forget = np.round(rng.random(2000) * (rng.random(2000) < 0.5) * 0.002, 6)
        retain = np.round(rng.random(2000) * 0.02, 4)
        for threshold in (0.001, 0.01, 0.0):
            reference = get_top_features(forget, retain, retain_threshold=threshold)
            assert np.array_equal(top_features(forget, retain, threshold), reference), trial


@pytest.mark.parametrize("architecture", ["standard", "topk", "jumprelu", "gated"])
def test_clamp_matches_anthropic_clamp_resid_sae_features(tmp_path, architecture):
    from sae_bench.evals.unlearning.utils.intervention import anthropic_clamp_resid_SAE_features

    folder = saved(random_sae(architecture, 64, 128, HOOK, model_name="tiny-llama"), tmp_path / "s")
    ours, reference = load_sae(folder).sae, reference_sae(folder)
    resid = torch.randn(3, 7, 64, generator=torch.Generator().manual_seed(1)) * 2
    settings = [(np.array([5, 17, 3, 99, 64]), 50), (np.array([1, 2]), 25), (np.arange(40), 200)]
    expected = [
        anthropic_clamp_resid_SAE_features(resid.clone(), None, reference, features, m)
        for features, m in settings
    ]
    for (features, m), want in zip(settings, expected, strict=True):
        got = clamp_features(resid.clone(), ours, features.tolist(), m)
        assert torch.equal(got, want)
        assert not torch.equal(got[:, 1:], resid[:, 1:])  # the clamp does something
        assert torch.equal(got[:, 0], want[:, 0])  # BOS passes through
    # One batch whose rows each carry their own setting gives each row its own answer.
    selected = torch.zeros(3, ours.d_sae, dtype=torch.bool)
    for row, (features, _) in enumerate(settings):
        selected[row, features] = True
    rows = clamp_latents(resid.clone(), ours, selected, torch.tensor([50.0, 25.0, 200.0]))
    for row, want in enumerate(expected):
        assert torch.equal(rows[row], want[row])
    assert clamp_features(resid, ours, [], 50) is None  # no latent: the activation is left alone
    assert anthropic_clamp_resid_SAE_features(resid, None, reference, np.array([]), 50) is None


def test_letter_prompts_and_answers_match_saebench():
    from sae_bench.evals.unlearning.utils.metrics import convert_wmdp_data_to_prompt
    from sae_bench.evals.unlearning.utils.var import GEMMA_INST_FORMAT, PRE_QUESTION_FORMAT

    frame = chat_frame(letter_tokenizer(), "gemma-like")
    assert "{prompt}".join(frame) == GEMMA_INST_FORMAT  # the chat template's frame is SAEBench's
    question, choices = "Which organ pumps blood?", ["liver", "heart", "lung", "skin"]
    for subject, pre in [
        ("biology", "The following are multiple choice questions (with answers) about biology.\n"),
        ("human aging", PRE_QUESTION_FORMAT.format(subject="human aging")),
    ]:
        for permutation in ALL_PERMUTATIONS:
            reference = convert_wmdp_data_to_prompt(
                question,
                choices,
                prompt_format="GEMMA_INST_FORMAT",
                pre_question=pre,
                permute_choices=permutation,
            )
            assert letter_prompt(question, choices, subject, frame, permutation) == reference
            # SAEBench's answers under a permutation: [p.index(answer) for p in permutations]
            assert permuted_answer(1, permutation) == list(permutation).index(1)


def test_letter_probabilities_match_get_output_probs_abcd():
    from sae_bench.evals.unlearning.utils.metrics import get_output_probs_abcd

    tokenizer = letter_tokenizer()
    tiny = tiny_model("llama")
    model = ModelAdapter(tiny.model, tokenizer, name="tiny-llama-it")
    rows = [
        {
            "question": f"Question {i}: which word{'s' * i} fits?",
            "choices": list("wxyz"),
            "answer": i % 4,
        }
        for i in range(5)
    ]
    questions = question_set_from_rows("wmdp-bio", "biology", rows, "test")
    scorer = Scorer(model, "letter")
    orderings = ALL_PERMUTATIONS[:3]
    items = scorer.items(questions, range(5), orderings)
    ours = choice_scores(model, scorer, items, batch_size=4)
    twin = hooked_transformer_twin(tiny.model, tokenizer)
    twin.cfg.model_name = "gemma-2-2b-it"  # the reference scores letters only for named models
    prompts = [
        letter_prompt(q, c, "biology", scorer.frame, p)
        for q, c in zip(questions.questions, questions.choices, strict=True)
        for p in orderings
    ]
    reference = get_output_probs_abcd(twin, prompts, batch_size=4, n_batches=4, verbose=False)
    assert reference.shape == ours.shape == (15, 4)
    np.testing.assert_allclose(ours, reference.numpy(), rtol=1e-5, atol=1e-7)
    assert np.array_equal(ours.argmax(axis=1), reference.argmax(dim=1).numpy())


def test_permutation_filter_matches_saebench():
    from sae_bench.evals.unlearning.utils.metrics import _find_all_permutation_correct_ans

    rng = np.random.default_rng(3)
    is_correct = (rng.random(30 * 24) < 0.97).astype(np.float32)
    is_correct[24 * 4 : 24 * 5] = 1.0  # at least one question right under every ordering
    reference = _find_all_permutation_correct_ans({"is_correct": is_correct})
    ours = known_by_permutation(is_correct, 24)
    assert len(ours) > 0 and np.array_equal(ours, reference)


def test_score_matches_get_unlearning_scores(tmp_path):
    from sae_bench.evals.unlearning.main import get_metrics_df, get_unlearning_scores

    rng = np.random.default_rng(4)
    sizes = {
        "wmdp-bio": 150,
        "high_school_geography": 120,
        "human_aging": 80,
        "college_biology": 60,  # SAEBench leaves it out of the side effects
    }
    retain = ["high_school_geography", "human_aging"]
    clean = {name: np.ones(n, dtype=bool) for name, n in sizes.items()}
    rows = []
    for index, (multiplier, n_features) in enumerate([(25, 10), (50, 10), (100, 20), (200, 20)]):
        flags = {
            name: rng.random(n) > (0.5 if name == "wmdp-bio" else 0.004 * index)
            for name, n in sizes.items()
        }
        rows.append(accuracy_row(flags, clean, "wmdp-bio", retain))
        metrics = {
            name: {
                "mean_correct": float(f.mean()),
                "total_correct": int(f.sum()),
                "is_correct": f.astype(np.float32),
            }
            for name, f in flags.items()
        }
        name = f"clamp_feature_activation_multiplier{multiplier}_nfeatures{n_features}"
        path = tmp_path / f"{name}_layer3_retainthres0.01.pkl"
        path.write_bytes(pickle.dumps({**metrics, "ablate_params": {}}))
    frame = get_metrics_df(str(tmp_path))
    reference = get_unlearning_scores(frame)
    assert sum(r["qualifies"] for r in rows) not in (0, len(rows))  # both kinds of row occur
    assert sorted(frame["all_side_effects_mcq"]) == sorted(r["retain_accuracy"] for r in rows)
    assert unlearning_score(rows) == pytest.approx(reference, abs=1e-12)


def test_clamped_letter_probabilities_match_the_reference_with_its_hook(tmp_path):
    """The sweep's batches, where each row carries its own setting, against SAEBench's
    `modify_model` hook run one setting at a time."""
    from sae_bench.evals.unlearning.utils.metrics import get_output_probs_abcd, modify_model

    tokenizer = letter_tokenizer()
    tiny = tiny_model("llama")
    model = ModelAdapter(tiny.model, tokenizer, name="tiny-llama-it")
    folder = saved(random_sae("topk", 64, 128, HOOK, model_name="tiny-llama", k=8), tmp_path / "s")
    sae, reference = load_sae(folder).sae, reference_sae(folder)
    rows = [
        {"question": f"Question {i}: pick one{'!' * i}", "choices": list("wxyz"), "answer": 0}
        for i in range(6)
    ]
    questions = question_set_from_rows("wmdp-bio", "biology", rows, "test")
    scorer = Scorer(model, "letter")
    items = scorer.items(questions, range(6), ALL_PERMUTATIONS[:1])
    prompts = [
        letter_prompt(q, c, "biology", scorer.frame)
        for q, c in zip(questions.questions, questions.choices, strict=True)
    ]
    settings = [(list(range(0, 128, 3)), 50.0), (list(range(1, 128, 2)), 200.0)]
    selected = torch.zeros(2, 128, dtype=torch.bool)
    for index, (features, _) in enumerate(settings):
        selected[index, features] = True
    multipliers = torch.tensor([m for _, m in settings])
    which = torch.tensor([0, 1, 0, 1, 1, 0])  # the setting of each question

    def row_hook(batch_rows, starts_at_bos):
        chosen = which[batch_rows]
        return lambda resid: clamp_latents(
            resid, sae, selected[chosen], multipliers[chosen], first_is_bos=starts_at_bos
        )

    ours = choice_scores(model, scorer, items, 4, hook=HOOK, row_hook=row_hook)
    clean = choice_scores(model, scorer, items, 4)
    twin = hooked_transformer_twin(tiny.model, tokenizer)
    twin.cfg.model_name = "gemma-2-2b-it"
    for index, (features, multiplier) in enumerate(settings):
        modify_model(
            twin,
            reference,
            intervention_method="clamp_feature_activation",
            features_to_ablate=np.array(features),
            multiplier=multiplier,
        )
        expected = get_output_probs_abcd(twin, prompts, batch_size=3, n_batches=2, verbose=False)
        twin.reset_hooks()
        mine = (which == index).numpy()
        np.testing.assert_allclose(ours[mine], expected.numpy()[mine], rtol=1e-4, atol=1e-6)
    assert np.abs(ours - clean).max() > 1e-3  # the clamps moved the probabilities


def test_cloze_scores_continue_the_prompt_as_whole_sequences_would(tmp_path):
    """Cloze scoring runs a prompt once and continues its cache with each choice; with and
    without a clamp, each choice's score is the mean log-probability a whole sequence gives."""
    model = tiny_model("llama")
    folder = saved(random_sae("topk", 64, 128, HOOK, model_name="tiny-llama", k=8), tmp_path / "s")
    sae = load_sae(folder).sae
    rows = [
        {"question": "Which one?", "choices": ["a", "bb", "cat", "dome"], "answer": 1},
        {"question": "Which two?", "choices": ["eel", "f", "gull", "hen"], "answer": 2},
        {"question": "What else?", "choices": ["ice", "jar", "k", "lamp"], "answer": 0},
    ]
    questions = question_set_from_rows("builtin-animals", "animals", rows, "test")
    scorer = Scorer(model, "cloze")
    items = scorer.items(questions, range(3), scorer.orderings)
    features, multiplier = list(range(0, 128, 2)), 100.0

    def row_hook(batch_rows, starts_at_bos):
        selected = torch.zeros(len(batch_rows), 128, dtype=torch.bool)
        selected[:, features] = True
        multipliers = torch.full((len(batch_rows),), multiplier)
        return lambda resid: clamp_latents(
            resid, sae, selected, multipliers, first_is_bos=starts_at_bos
        )

    for hooked in (False, True):
        ours = choice_scores(
            model, scorer, items, 2, **({"hook": HOOK, "row_hook": row_hook} if hooked else {})
        )
        for item, scores in zip(items, ours, strict=True):
            for option, score in zip(item.options, scores, strict=True):
                tokens = torch.tensor([list(item.prompt) + list(option)])
                intervention = (
                    (lambda r: clamp_features(r, sae, features, multiplier)) if hooked else None
                )
                logits = model.logits(tokens, HOOK if hooked else None, intervention)
                log_probs = logits[0, len(item.prompt) - 1 : -1].log_softmax(dim=-1)
                expected = log_probs.gather(1, torch.tensor(option)[:, None]).mean().item()
                assert score == pytest.approx(expected, abs=2e-5)


@pytest.mark.parametrize("mode", ["letter", "cloze"])
def test_a_clamped_run_continues_the_clean_prefix_exactly(tmp_path, mode):
    """The sweep runs the prompt before the first position a clamp changes once, clean, and
    continues its cache: the scores are those of clamping the whole sequence."""
    tiny = tiny_model("llama")
    model = ModelAdapter(tiny.model, letter_tokenizer(), name="tiny-llama-it")
    folder = saved(random_sae("topk", 64, 128, HOOK, model_name="tiny-llama", k=8), tmp_path / "s")
    sae = load_sae(folder).sae
    rows = [
        {"question": f"Is {w} the word?", "choices": ["on", "off", "up", "dn"], "answer": 1}
        for w in ("cat", "dog", "owl", "emu")
    ]
    questions = question_set_from_rows("wmdp-bio", "biology", rows, "test")
    scorer = Scorer(model, mode)
    items = scorer.items(questions, range(4), scorer.orderings[:1])
    features, multiplier = [int(f) for f in torch.randperm(128)[:6]], 100.0
    starts = []
    for item in items:
        prompt = torch.tensor([item.prompt])
        fired = (sae.encode(model.activations(prompt, [HOOK])[HOOK])[0, :, features] > 0).any(-1)
        fired[0] = False  # BOS is never clamped
        starts.append(int(fired.int().argmax()) if fired.any() else len(item.prompt) - 1)

    def row_hook(batch_rows, starts_at_bos):
        selected = torch.zeros(len(batch_rows), 128, dtype=torch.bool)
        selected[:, features] = True
        multipliers = torch.full((len(batch_rows),), multiplier)
        return lambda resid: clamp_latents(
            resid,
            sae,
            selected,
            multipliers,
            first_is_bos=starts_at_bos,
            exact_where_unclamped=True,
        )

    shared = choice_scores(model, scorer, items, 3, hook=HOOK, row_hook=row_hook, starts=starts)
    alone = choice_scores(model, scorer, items, 1, hook=HOOK, row_hook=row_hook, starts=starts)
    whole = choice_scores(model, scorer, items, 3, hook=HOOK, row_hook=row_hook)
    clean = choice_scores(model, scorer, items, 3)
    assert min(starts) > 1  # some prompt is shared before the clamp acts
    np.testing.assert_allclose(shared, whole, rtol=1e-4, atol=1e-6)
    # A batch runs from its earliest start: rows that start later are run from before their
    # own start, and score as they do alone, from it.
    mixed = [start - i % 2 for i, start in enumerate(starts)]
    batched = choice_scores(model, scorer, items, 4, hook=HOOK, row_hook=row_hook, starts=mixed)
    np.testing.assert_allclose(batched, alone, rtol=1e-5, atol=1e-7)
    assert np.abs(whole - clean).max() > 1e-4


def test_the_sweep_clamp_leaves_unclamped_positions_exactly_as_they_were(tmp_path):
    """Where no selected latent fires, the sweep's clamp returns the activation itself, not its
    rounded recomposition; where one fires, exactly the reference's recomposition."""
    sae = load_sae(saved(random_sae("topk", 64, 128, HOOK, k=8), tmp_path / "s")).sae
    torch.manual_seed(0)
    resid = torch.randn(3, 9, 64)
    selected = torch.zeros(3, 128, dtype=torch.bool)
    selected[:, torch.randperm(128)[:4]] = True
    multipliers = torch.tensor([25.0, 50.0, 100.0])
    exact = clamp_latents(resid.clone(), sae, selected, multipliers, exact_where_unclamped=True)
    rounded = clamp_latents(resid.clone(), sae, selected, multipliers)
    latents = sae.encode(resid)
    latents[:, 0] = 0
    touched = (latents > 0)[..., selected[0]].any(dim=2)
    assert 0 < int(touched.sum()) < touched.numel()  # both kinds of position occur
    assert torch.equal(exact[~touched], resid[~touched])
    assert not torch.equal(rounded[~touched], resid[~touched])  # the recomposition rounds
    assert torch.equal(exact[touched], rounded[touched])
