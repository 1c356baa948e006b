"""Whole-eval parity of absorption with SAEBench's own entry point, over seeds.

saeeval runs through its eval's `run`; the reference through
`sae_bench.evals.absorption.main.run_eval` on a TransformerLens twin of the same weights, with the
SAE as SAELens loads it. Both read `blocks.{L}.hook_resid_post` (SAEBench always reads that hook,
saeeval the SAE's own, which is the same for a resid_post SAE).

The comparison is over seeds, not aligned: SAEBench's absorption never reads its config's
`random_seed`; its word split, prompts and probe initialisations come from Python's and torch's
global generators, drawn in its own order, while saeeval draws each from a generator seeded with
`random_seed`. So each side runs once per seed (saeeval: `random_seed`; the reference: the global
generators seeded before `run_eval`) and the means over seeds must agree within two pooled
standard errors.

What is replaced on the reference side, and why (nothing of its arithmetic):
- the model loader returns the twin, and the twin stops after the block it reads (the rest of
  the forward pass cannot change that block's activations; it only costs time);
- its vocabulary (`get_alpha_tokens`, read in the order of `tokenizer.vocab`, a Rust hash map
  whose order changes from call to call) comes in token-id order, the same words, so that a seed
  fixes every draw;
- for the probe words it gets at most `words_per_letter` of each letter, drawn with its global
  generator: saeeval's `max_words_per_letter` cap, which SAEBench lacks (it reads the whole
  vocabulary, 47k words on SmolLM2, too many for a CPU). The in-context examples of the
  absorption prompts still come from the whole vocabulary, on both sides;
- its artifact folders (probes, parquet files) live under `work_dir`, one per seed, so that no run
  reads another's cached probe.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import functools
import random
from pathlib import Path
from unittest import mock

import numpy as np
import torch
from parity import Comparison
from reference_models import hooked_transformer_twin, reference_sae

from saeeval.activations import ActivationCache
from saeeval.evals import EvalContext, get_eval
from saeeval.evals.absorption.prompts import prompt_activations
from saeeval.evals.absorption.words import (
    alpha_words,
    first_letter,
    icl_prompt,
    letter_index,
    split_words,
)
from saeeval.saes import load_sae

METRICS = (
    "mean_absorption_fraction_score",
    "mean_full_absorption_score",
    "mean_num_split_features",
)


def ours_absorption(
    model, sae_folder: Path, work_dir: Path, seed: int, words_per_letter: int, overrides=None
):
    """saeeval's absorption result for one seed; `overrides`: config fields both sides have
    (e.g. `min_feats_for_eval`)."""
    eval_ = get_eval("absorption")
    context = EvalContext(model=model, cache=ActivationCache(Path(work_dir) / "cache"))
    config = eval_.default_config(context).model_copy(
        update={"random_seed": seed, "max_words_per_letter": words_per_letter, **(overrides or {})}
    )
    results = [result for _, result in eval_.run(context, [load_sae(sae_folder)], config)]
    assert results, f"saeeval measured no absorption: {context.notes}"
    return results[0]


def absorption_twin(model, layer: int):
    """The TransformerLens twin, stopping after block `layer` (the one SAEBench reads)."""
    from transformer_lens import HookedTransformer

    twin = hooked_transformer_twin(model.model, tokenizer=model.tokenizer)
    twin.run_with_cache = functools.partial(
        HookedTransformer.run_with_cache, twin, stop_at_layer=layer + 1
    )
    return twin


def _reference_vocabulary(tokenizer):
    """SAEBench's alpha tokens in token-id order (checked to be the same words)."""
    from sae_bench.evals.absorption.vocab import get_alpha_tokens

    words = alpha_words(tokenizer)
    assert collections.Counter(words) == collections.Counter(get_alpha_tokens(tokenizer))
    return words


def _capped(words: list[str], words_per_letter: int) -> list[str]:
    """At most `words_per_letter` words of each letter, drawn with the global generator."""
    by_letter = collections.defaultdict(list)
    for word in words:
        by_letter[letter_index(word)].append(word)
    return [
        w
        for letter in sorted(by_letter)
        for w in random.sample(by_letter[letter], min(words_per_letter, len(by_letter[letter])))
    ]


def reference_absorption(
    twin,
    sae_folder: Path,
    work_dir: Path,
    seed: int,
    words_per_letter: int,
    overrides=None,
    extra_patches=(),
):
    """SAEBench's `run_eval` result for one seed; `extra_patches`: more context managers to
    enter around it (the aligned comparison's)."""
    import sae_bench.evals.absorption.common as common
    import sae_bench.evals.absorption.feature_absorption as feature_absorption
    import sae_bench.evals.absorption.main as main
    from sae_bench.evals.absorption.eval_config import AbsorptionEvalConfig
    from transformer_lens import HookedTransformer

    work_dir = Path(work_dir)
    (work_dir / "results").mkdir(parents=True, exist_ok=True)  # its runner's job, not run_eval's
    vocabulary = _reference_vocabulary(twin.tokenizer)
    sae = reference_sae(sae_folder)
    config = AbsorptionEvalConfig(model_name="smollm2-twin", random_seed=seed, **(overrides or {}))
    grad = torch.is_grad_enabled()  # run_eval switches autograd on for good
    with contextlib.ExitStack() as stack:
        stack.callback(torch.set_grad_enabled, grad)  # restored even if run_eval fails
        patch = stack.enter_context
        patch(
            mock.patch.object(
                HookedTransformer, "from_pretrained_no_processing", lambda *a, **k: twin
            )
        )
        patch(
            mock.patch.object(
                common, "get_alpha_tokens", lambda *a, **k: _capped(vocabulary, words_per_letter)
            )
        )
        patch(
            mock.patch.object(
                feature_absorption, "get_alpha_tokens", lambda *a, **k: list(vocabulary)
            )
        )
        patch(
            mock.patch.object(
                main,
                "run_k_sparse_probing_experiment",
                functools.partial(
                    main.run_k_sparse_probing_experiment,
                    experiment_dir=work_dir / "k_sparse_probing",
                    probes_dir=work_dir / "probes",
                ),
            )
        )
        patch(
            mock.patch.object(
                main,
                "run_feature_absortion_experiment",
                functools.partial(
                    main.run_feature_absortion_experiment,
                    experiment_dir=work_dir / "feature_absorption",
                    sparse_probing_experiment_dir=work_dir / "k_sparse_probing",
                    probes_dir=work_dir / "probes",
                ),
            )
        )
        patch(contextlib.chdir(work_dir))  # it writes artifacts/absorption/ below the cwd
        for extra in extra_patches:
            patch(extra)
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
        results = main.run_eval(
            config, [("reference", sae)], "cpu", str(work_dir / "results"), force_rerun=True
        )
    assert results, "SAEBench measured no absorption (too few letters with a good probe)"
    return next(iter(results.values()))


def absorption_comparisons(
    model,
    sae_folder: Path,
    work_dir: Path,
    *,
    seeds: list[int],
    words_per_letter: int,
    layer: int = 6,
    reference_seeds: list[int] | None = None,
    overrides: dict | None = None,
) -> list[Comparison]:
    """One seed comparison per headline metric: saeeval with `random_seed` = each of `seeds`,
    SAEBench with the global generators seeded with each of `reference_seeds` (default: the
    same numbers). `overrides` sets config fields on both sides: at few words per letter,
    `{"min_feats_for_eval": 1}` lets both measure the letters whose probe reaches F1 > 0.6
    instead of stopping below 20 such letters."""
    work_dir = Path(work_dir)
    ours = [
        ours_absorption(model, sae_folder, work_dir / f"ours-{s}", s, words_per_letter, overrides)
        for s in seeds
    ]
    twin = absorption_twin(model, layer)
    reference = [
        reference_absorption(
            twin, sae_folder, work_dir / f"reference-{s}", s, words_per_letter, overrides
        )
        for s in (reference_seeds if reference_seeds is not None else seeds)
    ]
    why = (
        f"seeds: SAEBench draws from the global RNG, saeeval from seeded generators; "
        f"{words_per_letter} words per letter"
    )
    return [
        Comparison(
            "absorption",
            metric,
            [float(o["eval_result_metrics"]["mean"][metric]) for o in ours],
            [float(r["eval_result_metrics"]["mean"][metric]) for r in reference],
            why=why,
        )
        for metric in METRICS
    ]


# -- aligned: the reference reads saeeval's words and prompts, saeeval uses the reference's probes

# Float32 rounding: the twin's activations and SAELens' encoder differ from ours in the last
# bits; a count moves by a whole word (at least 1 / 60 of a letter's rate here), far more.
ALIGNED = 1e-6


@dataclasses.dataclass
class OurPrompts:
    """The words and prompts saeeval's absorption draws for `seed` (as `LetterData` draws them):
    the probe's training and test prompts, and a generator of the absorption prompts, which
    are drawn word by word in letter order, once the probe has picked the words."""

    train: list[tuple[str, str]]  # (word, prompt)
    test: list[tuple[str, str]]
    vocabulary: list[str]
    absorption_rng: random.Random

    @classmethod
    def draw(cls, tokenizer, seed: int, words_per_letter: int, template: str) -> OurPrompts:
        vocabulary = alpha_words(tokenizer)
        split = split_words(vocabulary, seed, words_per_letter)
        rng = random.Random(seed + 1)
        train = [(w, icl_prompt(w, split.train, template, rng)) for w in split.train]
        test = [(w, icl_prompt(w, split.test, template, rng)) for w in split.test]
        return cls(train, test, vocabulary, random.Random(seed + 2))

    def absorption_prompt(self, word: str, template: str) -> str:
        return icl_prompt(word, self.vocabulary, template, self.absorption_rng)


def aligned_absorption_comparisons(
    model,
    sae_folder: Path,
    work_dir: Path,
    *,
    seed: int,
    words_per_letter: int,
    layer: int = 6,
    overrides: dict | None = None,
) -> list[Comparison]:
    """Both sides on one stream: SAEBench reads saeeval's word split, probe prompts and
    absorption prompts (in place of its global-RNG draws, at the functions that make them),
    then saeeval uses the letter probe and the L1 probe SAEBench trained (in place of its own
    training, which tests/test_absorption.py compares with SAEBench's separately). Everything
    else runs as each side runs it: activations, SAE latents, the k-sparse probes and their F1,
    the split latents, the absorption rules and the means. So the metrics must agree to float
    rounding (`ALIGNED`), letter by letter."""
    import sae_bench.evals.absorption.common as common
    import sae_bench.evals.absorption.k_sparse_probing as k_sparse_probing
    from sae_bench.evals.absorption.feature_absorption_calculator import (
        FeatureAbsorptionCalculator,
    )
    from sae_bench.evals.absorption.prompting import SpellingPrompt

    import saeeval.evals.absorption.eval as absorption_eval
    from saeeval.evals.absorption.probes import LinearProbe

    work_dir = Path(work_dir)
    ours_config = get_eval("absorption").config_class()
    template = ours_config.prompt_template
    prompts = OurPrompts.draw(model.tokenizer, seed, words_per_letter, template)

    def spelling(word: str, prompt: str):
        return SpellingPrompt(base=prompt, answer=first_letter(word), word=word)

    def our_probe_data(*args, **kwargs):
        return tuple(
            [(spelling(w, p), letter_index(w)) for w, p in part]
            for part in (prompts.train, prompts.test)
        )

    def our_absorption_prompts(self, words):
        return [spelling(w, prompts.absorption_prompt(w, template)) for w in words]

    trained = {}

    def keep(name, train):
        def wrapper(*args, **kwargs):
            result = train(*args, **kwargs)
            probe = result[0] if isinstance(result, tuple) else result
            trained[name] = LinearProbe(
                probe.weights.detach().float().clone(), probe.biases.detach().float().clone()
            )
            return result

        return wrapper

    reference = reference_absorption(
        absorption_twin(model, layer),
        sae_folder,
        work_dir / "reference",
        seed,
        words_per_letter,
        overrides,
        extra_patches=[
            mock.patch.object(common, "create_dataset_probe_training", our_probe_data),
            mock.patch.object(
                FeatureAbsorptionCalculator, "_build_prompts", our_absorption_prompts
            ),
            mock.patch.object(
                common,
                "train_linear_probe_for_task",
                keep("letter", common.train_linear_probe_for_task),
            ),
            mock.patch.object(
                k_sparse_probing,
                "train_sparse_multi_probe",
                keep("l1", k_sparse_probing.train_sparse_multi_probe),
            ),
        ],
    )

    def reference_probe(*args, l1_decay: float = 0.0, **kwargs):
        return trained["l1" if l1_decay else "letter"]

    seen_prompts: list[str] = []

    def recording(model_, prompts_, *args, **kwargs):
        seen_prompts.extend(prompts_)
        return prompt_activations(model_, prompts_, *args, **kwargs)

    prompts.absorption_rng = random.Random(seed + 2)  # ours draws the same sequence afresh
    with (
        mock.patch.object(absorption_eval, "train_letter_probe", reference_probe),
        mock.patch.object(absorption_eval, "prompt_activations", recording),
    ):
        ours = ours_absorption(
            model, sae_folder, work_dir / "ours", seed, words_per_letter, overrides
        )
    # saeeval read exactly the probe prompts SAEBench was given (the absorption prompts follow
    # from the same generator, and the per-letter counts below check the words).
    given = [p for _, p in prompts.train + prompts.test]
    assert seen_prompts[: len(given)] == given

    why = f"aligned: saeeval's words and prompts, SAEBench's probes; seed {seed}"

    def aligned(metric, mine, theirs):
        return Comparison("absorption", metric, [float(mine)], [float(theirs)], ALIGNED, why)

    comparisons = [
        aligned(
            metric, ours["eval_result_metrics"]["mean"][metric],
            reference["eval_result_metrics"]["mean"][metric],
        )
        for metric in METRICS
    ]  # fmt: skip
    ours_rows = {d["first_letter"]: d for d in ours["eval_result_details"]}
    reference_rows = {d["first_letter"]: d for d in reference["eval_result_details"]}
    comparisons.append(aligned("letters measured", len(ours_rows), len(reference_rows)))
    for letter in sorted(set(ours_rows) & set(reference_rows)):
        for field in ("num_probe_true_positives", "num_full_absorption", "num_split_features"):
            comparisons.append(
                aligned(
                    f"{letter}: {field}", ours_rows[letter][field], reference_rows[letter][field]
                )
            )
    return comparisons
