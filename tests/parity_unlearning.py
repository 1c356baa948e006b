"""Whole-eval parity of unlearning with SAEBench's own entry point, on aligned inputs.

saeeval runs through its eval's `run`; the reference through
`sae_bench.evals.unlearning.main.run_eval` (its whole pipeline: firing sparsities, latent ranking,
baseline, the sweep of clamps, its pickled metrics and `get_unlearning_scores`) on a
TransformerLens twin of the same weights, with the SAE as SAELens loads it. Only its data sources
are replaced, at the functions that load or draw them:

- the questions (`load_dataset_with_retries`): saeeval's built-in banks, the forget bank under
  SAEBench's forget name "wmdp-bio", each retain bank under its subject's name (SAEBench writes
  "about {name with spaces}" in the prompt; saeeval "about {subject}"), and the forget bank's
  subject line in place of "about biology";
- the chat format (`GEMMA_INST_FORMAT`, which SAEBench uses for the models it names): the one
  saeeval is given here too, SmolLM2's user turn with a single BOS (SmolLM2's own template opens
  every turn with its BOS token, and SAEBench asserts one BOS per prompt);
- the frequency contexts (`get_shuffled_forget_retain_tokens`): saeeval's, cut from the built-in
  forget and retain texts. SAEBench shuffles them with torch's global generator after loading its
  model, saeeval with a seeded one; with the contexts given, nothing random is left on either side;
- which questions count (its `question_ids` files, which it would write from 24 orderings): the
  questions the unmodified twin answers right in the identity ordering, found by its own
  `calculate_MCQ_metrics`. saeeval's known set is found the same way by its own scorer (its
  `orderings` cut to the identity). SmolLM2-135M gives one letter whatever the order, so under
  SAEBench's 24-ordering rule it knows no question at all and both sides would stop; with the
  identity ordering it knows the questions whose answer is that letter, the baseline is 100% by
  construction on both sides (as in SAEBench), and every clamp that moves the letter shows.

So every stream is aligned, and the comparisons are exact: a clamp's answers are argmaxes of
letter probabilities, which differ between the two implementations only in float32 rounding
(about 1e-6), far below any gap between two letters' probabilities seen here.
"""

from __future__ import annotations

import contextlib
import os
import statistics
from pathlib import Path
from unittest import mock

import numpy as np
import torch
from parity import Comparison
from reference_models import hooked_transformer_twin, reference_sae

from saeeval.activations import ActivationCache
from saeeval.data.unlearning import load_forget_corpus, load_question_set, load_retain_corpus
from saeeval.evals import EvalContext, get_eval
from saeeval.evals.unlearning.scoring import ALL_PERMUTATIONS, PRE_QUESTION, Scorer
from saeeval.evals.unlearning.selection import frequency_tokens
from saeeval.saes import load_sae

# Exact: accuracies are counts over the same questions, and nothing random is left.
EXACT = 1e-9
REFERENCE_MODEL_NAME = "gemma-2-2b-it"  # SAEBench's letter scoring runs only for models it names


def one_bos_frame(tokenizer) -> tuple[str, str]:
    """SmolLM2's user turn and the assistant's opening, with one BOS."""
    return f"{tokenizer.bos_token}user\n", f"{tokenizer.eos_token}\nassistant\n"


def _config(model, sizes: dict):
    eval_ = get_eval("unlearning")
    default = eval_.default_config(EvalContext(model=model, cache=None))
    return default.model_copy(update={"scoring": "letter", **sizes})


def ours_unlearning(model, sae_folder: Path, work_dir: Path, sizes: dict) -> dict:
    """saeeval's unlearning result, letter-scored in the one-BOS frame, with the questions the
    model answers right in the identity ordering as the known ones."""
    import saeeval.evals.unlearning.scoring as scoring

    eval_ = get_eval("unlearning")
    config = _config(model, sizes)
    context = EvalContext(model=model, cache=ActivationCache(Path(work_dir) / "cache"))
    frame = one_bos_frame(model.tokenizer)
    identity = property(lambda self: (ALL_PERMUTATIONS[0],))
    with (
        mock.patch.object(scoring, "chat_frame", lambda tokenizer, name: frame),
        mock.patch.object(Scorer, "orderings", identity),
    ):
        results = [r for _, r in eval_.run(context, [load_sae(sae_folder)], config)]
    assert results, f"saeeval measured no unlearning: {context.notes}"
    return results[0]


def _reference_names(config) -> dict[str, str]:
    """Our bank of each name the reference is given: the forget bank as "wmdp-bio", each retain
    bank under its subject (spaces as underscores, which SAEBench turns back into spaces)."""
    names = {"wmdp-bio": config.forget_set}
    for bank in config.retain_sets:
        subject = load_question_set(bank, "offline").subject
        names[subject.replace(" ", "_")] = bank
    return names


def _write_known(twin, reference_config, artifacts_folder: str, batch_size: int) -> dict:
    """The reference's question-id files: the questions its own scoring gets right in the
    identity ordering (all three kinds and splits it looks for; it reads `all/..._correct`).
    Returns how many each set has."""
    from sae_bench.evals.unlearning.utils.metrics import calculate_MCQ_metrics

    known = {}
    for name in reference_config.dataset_names:
        metrics = calculate_MCQ_metrics(
            twin, batch_size, artifacts_folder, name, target_metric=None, verbose=False
        )
        ids = np.flatnonzero(metrics["is_correct"])
        full_name = f"mmlu-{name.replace('_', '-')}" if name != "wmdp-bio" else name
        for split in ("train", "test", "all"):
            for kind in ("correct", "correct-iff-question", "correct-no-tricks"):
                path = Path(artifacts_folder, "data/question_ids", split, f"{full_name}_{kind}.csv")
                path.parent.mkdir(parents=True, exist_ok=True)
                np.savetxt(path, ids, fmt="%d")
        known[name] = len(ids)
    return known


def reference_unlearning(model, twin, sae_folder: Path, work_dir: Path, sizes: dict):
    """SAEBench's `run_eval` on the same inputs: its result and its per-setting metrics."""
    import sae_bench.evals.unlearning.main as main
    import sae_bench.evals.unlearning.utils.feature_activation as feature_activation
    import sae_bench.evals.unlearning.utils.metrics as metrics
    from sae_bench.evals.unlearning.eval_config import UnlearningEvalConfig
    from transformer_lens import HookedTransformer

    ours = _config(model, sizes)
    names = _reference_names(ours)
    banks = {
        name: load_question_set(bank, "offline", limit=ours.max_questions)
        for name, bank in names.items()
    }
    tokens = (
        frequency_tokens(
            model,
            load_forget_corpus("offline", None),
            ours.dataset_size,
            ours.seq_len,
            ours.random_seed,
            True,
        ),
        frequency_tokens(
            model,
            load_retain_corpus("offline"),
            ours.dataset_size,
            ours.seq_len,
            ours.random_seed,
            False,
        ),
    )

    def questions(path, name, split, **kwargs):
        bank = banks[name]
        return [
            {"question": q, "choices": list(c), "answer": a}
            for q, c, a in zip(bank.questions, bank.choices, bank.answers, strict=True)
        ]

    config = UnlearningEvalConfig(
        model_name=REFERENCE_MODEL_NAME,
        random_seed=ours.random_seed,
        dataset_names=list(names),
        retain_thresholds=list(ours.retain_thresholds),
        n_features_list=list(ours.n_features_list),
        multipliers=list(ours.multipliers),
        dataset_size=ours.dataset_size,
        seq_len=ours.seq_len,
        llm_batch_size=ours.llm_batch_size,
        llm_dtype="float32",
    )
    work_dir = Path(work_dir)
    artifacts = work_dir / "artifacts"
    artifacts_folder = os.path.join(artifacts, "unlearning", REFERENCE_MODEL_NAME)
    frame = one_bos_frame(model.tokenizer)
    twin.cfg.model_name = REFERENCE_MODEL_NAME
    sae = reference_sae(sae_folder)
    with contextlib.ExitStack() as stack:
        patch = stack.enter_context
        patch(
            mock.patch.object(
                HookedTransformer, "from_pretrained_no_processing", lambda *a, **k: twin
            )
        )
        patch(mock.patch.object(metrics, "load_dataset_with_retries", questions))
        patch(mock.patch.object(metrics, "GEMMA_INST_FORMAT", frame[0] + "{prompt}" + frame[1]))
        subject = load_question_set(ours.forget_set, "offline").subject
        patch(mock.patch.object(metrics, "PRE_WMDP_BIO", PRE_QUESTION.format(subject=subject)))
        patch(
            mock.patch.object(
                feature_activation, "get_shuffled_forget_retain_tokens", lambda *a, **k: tokens
            )
        )
        patch(torch.no_grad())
        known = _write_known(twin, config, artifacts_folder, 2 * config.llm_batch_size)
        results = main.run_eval(
            config,
            [("reference", sae)],
            "cpu",
            str(work_dir / "results"),
            force_rerun=True,
            artifacts_path=str(artifacts),
        )
    result = next(iter(results.values()))
    rows = main.get_metrics_df(
        os.path.join(artifacts_folder, "reference_custom_sae", "results/metrics")
    )
    return result, rows, known, names


def unlearning_comparisons(
    model, sae_folder: Path, work_dir: Path, *, sizes: dict | None = None
) -> list[Comparison]:
    """Aligned comparisons: the score, each set's known questions, and the forget and pooled
    retain accuracies averaged over the sweep's settings (matched by threshold, number of
    latents clamped and multiplier, as SAEBench names its files)."""
    sizes = dict(sizes or {})
    work_dir = Path(work_dir)
    ours = ours_unlearning(model, sae_folder, work_dir / "ours", sizes)
    twin = hooked_transformer_twin(model.model, tokenizer=model.tokenizer)
    reference, rows, reference_known, names = reference_unlearning(
        model, twin, sae_folder, work_dir / "reference", sizes
    )

    # One value per setting SAEBench runs: settings that clamp the same latents share a file.
    def key(threshold, n, multiplier):
        return (round(float(threshold), 6), int(n), int(multiplier))

    ours_rows = {
        key(r["retain_threshold"], r["n_features_selected"], r["multiplier"]): r
        for r in ours["eval_result_details"]
    }
    reference_index = {
        key(r.retain_thres, r.n_features, r.multiplier): i for i, r in rows.iterrows()
    }
    assert len(reference_index) == len(rows)
    assert set(ours_rows) == set(reference_index), (sorted(ours_rows), sorted(reference_index))
    settings = sorted(ours_rows)
    forget = [ours_rows[k]["forget_accuracy"] for k in settings]
    retain = [ours_rows[k]["retain_accuracy"] for k in settings]
    reference_forget = [float(rows.loc[reference_index[k], "wmdp-bio"]) for k in settings]
    reference_retain = [
        float(rows.loc[reference_index[k], "all_side_effects_mcq"]) for k in settings
    ]

    why = "aligned: the same contexts, questions and prompts; no random draw is left"

    def exact(metric: str, mine: float, theirs: float) -> Comparison:
        return Comparison("unlearning", metric, [mine], [theirs], EXACT, why)

    questions = ours["eval_result_unstructured"]["questions"]
    comparisons = [
        exact(
            "unlearning_score",
            ours["eval_result_metrics"]["unlearning"]["unlearning_score"],
            reference["eval_result_metrics"]["unlearning"]["unlearning_score"],
        ),
        exact(
            "mean forget accuracy over settings",
            statistics.fmean(forget),
            statistics.fmean(reference_forget),
        ),
        exact(
            "mean retain accuracy over settings",
            statistics.fmean(retain),
            statistics.fmean(reference_retain),
        ),
    ]
    for name, bank in names.items():
        comparisons.append(
            exact(
                f"known questions: {bank}",
                float(questions[bank]["n_known"]),
                float(reference_known[name]),
            )
        )
    return comparisons
