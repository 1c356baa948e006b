"""Feature absorption (first letter): do an SAE's letter latents miss words that other, more
specific latents have absorbed?

The letter probe and every model activation are SAE-independent, so they are computed once per
(model, hook) and cached; each SAE then costs only encoding cached activations, one L1 probe on
its latents, 260 small logistic regressions and the absorption arithmetic. Several SAEs at one
hook share all of the set-up.
"""

from __future__ import annotations

import hashlib
import random
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import torch
from pydantic import Field

from saeeval import uncertainty
from saeeval.errors import SaeevalError
from saeeval.evals.absorption.calculator import (
    LetterAbsorption,
    decoder_cosines,
    letter_absorption,
)
from saeeval.evals.absorption.probes import (
    LatentColumns,
    LinearProbe,
    fit_k_sparse_probes,
    letter_metrics,
    probed_latent_ids,
    train_letter_probe,
)
from saeeval.evals.absorption.prompts import prompt_activations
from saeeval.evals.absorption.words import (
    LETTERS,
    N_ICL_EXAMPLES,
    alpha_words,
    icl_prompt,
    letter_index,
    split_words,
)
from saeeval.evals.base import (
    ConfigContext,
    EvalConfig,
    EvalContext,
    HeadlineMetric,
    preset_config,
)
from saeeval.evals.envelope import build_result
from saeeval.evals.probing.sae_statistics import sparse_latents_of_rows
from saeeval.evals.probing.sparse_rows import SparseRows
from saeeval.evals.working_set import (
    FLOAT32_BYTES,
    encoded_rows,
    rows_within_budget,
    working_set_bytes,
)
from saeeval.saes import SAE, LoadedSAE

EVAL_TYPE_ID = "absorption_first_letter"
# The L1 probe's training latents are held dense when they fit the working-set budget, else as
# their non-zero entries while those fit it (row, column and value: 20 bytes each, and buffers
# that double as they fill), else encoded a few rows at a time for every mini-batch.
SPARSE_ENTRY_BYTES = 20


def _dense_train_latents_fit(n_rows: int, d_sae: int) -> bool:
    return n_rows * d_sae * FLOAT32_BYTES <= working_set_bytes()


def _sparse_entries_limit() -> int:
    return working_set_bytes() // (2 * SPARSE_ENTRY_BYTES)


class AbsorptionEvalConfig(EvalConfig):
    """SAEBench's `AbsorptionEvalConfig` (same fields, same defaults) plus saeeval's additions.

    SAEBench reads `blocks.L.hook_resid_post` whatever the SAE's hook; saeeval reads the SAE's own
    hook (identical for resid_post SAEs), so an SAE is measured where it reads.
    """

    model_name: str = Field(
        "", description="the model the SAE is evaluated on (filled in from the loaded model)"
    )
    random_seed: int = Field(42, description="seed of the word split and probe training")
    f1_jump_threshold: float = Field(
        0.03,
        description="minimum F1 gain for a latent to count as a further split latent of a letter",
    )
    max_k_value: int = Field(
        10, gt=0, description="largest number of latents tried in the k-sparse letter probes"
    )
    prompt_template: str = Field(
        "{word} has the first letter:",
        description="ICL prompt that asks for a word's first letter; {word} is replaced",
    )
    prompt_token_pos: int = Field(
        -6, lt=0, description="position (from the end) of the token whose activation is read"
    )
    llm_batch_size: int = Field(10, gt=0, description="prompts per model batch")
    llm_dtype: str = Field(
        "float32", description="the model's dtype during the eval (filled in from --dtype)"
    )
    k_sparse_probe_l1_decay: float = Field(
        0.01, ge=0, description="L1 penalty of the k-sparse probes' selection probe"
    )
    k_sparse_probe_batch_size: int = Field(
        4096, gt=0, description="batch size for training the k-sparse probes"
    )
    k_sparse_probe_num_epochs: int = Field(
        50, gt=0, description="epochs for training the k-sparse probes"
    )
    min_GT_probe_f1: float = Field(
        0.6, description="letters whose linear probe scores below this F1 are not evaluated"
    )
    min_feats_for_eval: int = Field(
        20, ge=1, description="letters with fewer split latents than this are not evaluated"
    )
    eval_k_sparse_probe_batch_size: int = Field(
        24, gt=0, description="batch size when scoring the k-sparse probes"
    )
    precalc_k_sparse_probe_sae_acts: bool = Field(
        False, description="precompute SAE latents of every probe word (SAEBench's memory switch)"
    )
    # saeeval's additions: a cap on words per letter (None: the whole vocabulary, as SAEBench).
    size_preset: str = Field(
        "none",
        description=(
            "the size preset behind these settings: saebench (SAEBench's published results), "
            "offline (small CPU sizes) or none (this class's own defaults)"
        ),
    )
    max_words_per_letter: int | None = Field(
        None, gt=0, description="cap on vocabulary words per letter (None: every word, as SAEBench)"
    )


# SAEBench's runner used the config class's defaults; offline caps the words per letter for a CPU.
PRESETS: dict[str, dict[str, Any]] = {"saebench": {}, "offline": {"max_words_per_letter": 250}}

# Bump when the letter probe's code changes what it computes: cached probes are then retrained.
LETTER_PROBE_VERSION = 1
# SAEBench's fixed recipe for the letter probe.
LETTER_PROBE = {"epochs": 50, "batch_size": 64, "lr": 1e-2, "end_lr": 1e-5, "weight_decay": 1e-4}


class NotMeasurable(SaeevalError):
    """The eval cannot run at this model/hook; every SAE there gets this as its note."""


def _check_words(model_name: str, split) -> None:
    smallest = min(len(split.train), len(split.test))
    if smallest <= N_ICL_EXAMPLES:
        raise NotMeasurable(
            f"absorption not measured: {model_name}'s tokenizer has {len(split.all)} "
            f"single-token alphabetic words; each split needs more than {N_ICL_EXAMPLES} to "
            f"draw in-context examples from (the train/test split has {len(split.train)}/"
            f"{len(split.test)})"
        )
    missing = set(LETTERS) - {LETTERS[letter_index(w)] for w in split.train}
    if missing:
        raise NotMeasurable(
            f"absorption not measured: no training word starts with "
            f"{', '.join(sorted(missing))} in {model_name}'s vocabulary, so those letters "
            f"have no probe"
        )


def letter_probe_key(
    model_identity: str, hook: str, config: AbsorptionEvalConfig, train_words: list[str]
) -> dict[str, Any]:
    """Everything the letter probe depends on (the model's cache identity names its weights,
    dtype and device)."""
    return {
        "model": model_identity,
        "hook": hook,
        "config": config.model_dump(
            include={"random_seed", "prompt_template", "prompt_token_pos", "max_words_per_letter"}
        ),
        "recipe": LETTER_PROBE,
        "train_words": hashlib.sha256("\n".join(train_words).encode()).hexdigest(),
        "code": LETTER_PROBE_VERSION,
    }


class LetterData:
    """Everything SAE-independent at one hook: words, activations, the letter probe."""

    def __init__(self, context: EvalContext, hook: str, config: AbsorptionEvalConfig):
        model, cache, progress = context.model, context.cache, context.progress
        seed, template = config.random_seed, config.prompt_template
        vocabulary = alpha_words(model.tokenizer)
        split = split_words(vocabulary, seed, config.max_words_per_letter)
        _check_words(model.name, split)
        rng = random.Random(seed + 1)
        train_prompts = [icl_prompt(w, split.train, template, rng) for w in split.train]
        test_prompts = [icl_prompt(w, split.test, template, rng) for w in split.test]

        def acts(prompts, batch_size, description):
            return prompt_activations(
                model,
                prompts,
                hook,
                config.prompt_token_pos,
                cache,
                batch_size,
                progress,
                description,
            ).float()

        self.train_acts = acts(train_prompts, 64, "absorption: training prompts")
        self.test_acts = acts(test_prompts, 64, "absorption: test prompts")
        self.train_labels = torch.tensor([letter_index(w) for w in split.train])
        self.test_labels = torch.tensor([letter_index(w) for w in split.test])
        self.n_words = {
            "vocabulary": len(vocabulary),
            "train": len(split.train),
            "test": len(split.test),
        }

        entry = cache.entry(
            "absorption-letter-probe",
            letter_probe_key(model.cache_identity, hook, config, split.train),
        )
        if entry.complete:
            stored = entry.load_chunk(0)
            self.probe = LinearProbe(stored["weight"], stored["bias"])
        else:
            self.probe = train_letter_probe(
                self.train_acts,
                self.train_labels,
                model.d_model,
                seed=seed,
                progress=progress,
                description="absorption: letter probe",
                **LETTER_PROBE,
            )
            entry.save_chunk(0, {"weight": self.probe.weight, "bias": self.probe.bias})
            entry.mark_complete({"model": model.name, "hook": hook})
        self.test_scores = self.probe.scores(self.test_acts)
        # 26-way accuracy: the letter whose output scores highest.
        self.probe_accuracy = float(
            (self.test_scores.argmax(dim=1) == self.test_labels).float().mean()
        )

        # The words the probe gets right are the ones absorption is measured on, each in a
        # fresh prompt whose examples come from the whole vocabulary (as in SAEBench).
        rng = random.Random(seed + 2)
        self.true_positives: dict[int, list[int]] = {}
        absorption_prompts = []
        for letter in range(len(LETTERS)):
            rows = [
                i
                for i in range(len(split.test))
                if self.test_labels[i] == letter and self.test_scores[i, letter] > 0
            ]
            self.true_positives[letter] = rows
            absorption_prompts += [
                icl_prompt(split.test[i], vocabulary, template, rng) for i in rows
            ]
        all_acts = acts(absorption_prompts, config.llm_batch_size, "absorption: absorption prompts")
        self.absorption_acts: dict[int, torch.Tensor] = {}
        start = 0
        for letter, rows in self.true_positives.items():
            self.absorption_acts[letter] = all_acts[start : start + len(rows)]
            start += len(rows)


def _encode(sae: SAE, x: torch.Tensor, batch_size: int) -> torch.Tensor:
    return encoded_rows(sae, x, max_rows=batch_size)


def _letter_absorption_in_batches(
    sae: SAE,
    acts: torch.Tensor,
    batch_size: int,
    probe_direction: torch.Tensor,
    main_feature_ids: list[int],
) -> LetterAbsorption:
    """`letter_absorption` of a letter's words, as many at a time as the working-set budget
    holds their latents and probe projections for: a wide SAE's [n_words, d_sae] latents never
    exist at once. At widths where the budget holds all the words, one batch, as before."""
    cos = decoder_cosines(sae.W_dec.detach(), probe_direction)
    size = rows_within_budget(sae.d_sae, dense_copies=4)  # latents, projections, encoding's two
    fractions, full = [], []
    for start in range(0, len(acts), size):
        part = acts[start : start + size]
        result = letter_absorption(
            part,
            _encode(sae, part, batch_size),
            sae.W_dec.detach(),
            probe_direction,
            main_feature_ids,
            cos=cos,
        )
        fractions += result.absorption_fraction
        full += result.is_full_absorption
    return LetterAbsorption(fractions, full)


def _rows_within_working_set(d_sae: int) -> int:
    """Rows whose float32 latents, pre-activations and gradient fit in the working-set budget."""
    return rows_within_budget(d_sae, dense_copies=3)


def _encode_columns(sae: SAE, x: torch.Tensor, batch_size: int, ids: torch.Tensor) -> LatentColumns:
    """The latents `ids` of each row of `x`, encoded batch by batch: never [n, d_sae] at once."""
    return LatentColumns(ids, encoded_rows(sae, x, columns=ids, max_rows=batch_size))


class AbsorptionEval:
    name: ClassVar[str] = "absorption"
    eval_type_id: ClassVar[str] = EVAL_TYPE_ID
    version: ClassVar[int] = 1  # bump when a change alters the numbers
    config_class: ClassVar[type[EvalConfig]] = AbsorptionEvalConfig
    headline_metrics: ClassVar[tuple[HeadlineMetric, ...]] = (
        HeadlineMetric(
            "mean_absorption_fraction",
            "mean absorption fraction",
            ("mean", "mean_absorption_fraction_score"),
            False,
        ),
        HeadlineMetric(
            "mean_full_absorption",
            "mean full absorption",
            ("mean", "mean_full_absorption_score"),
            False,
        ),
        HeadlineMetric(
            "mean_split_features", "mean split features", ("mean", "mean_num_split_features"), None
        ),
    )

    presets: ClassVar[dict[str, dict[str, Any]]] = PRESETS

    def default_config(self, context: EvalContext | ConfigContext) -> AbsorptionEvalConfig:
        return preset_config(AbsorptionEvalConfig, PRESETS, context)

    def run(
        self, context: EvalContext, saes: list[LoadedSAE], config: AbsorptionEvalConfig
    ) -> Iterator[tuple[LoadedSAE, dict[str, Any]]]:
        groups: dict[str, list[LoadedSAE]] = defaultdict(list)
        for loaded in saes:
            groups[loaded.sae.hook_name].append(loaded)
        for hook, group in groups.items():
            try:
                data = LetterData(context, hook, config)
            except NotMeasurable as reason:
                for loaded in group:
                    context.note(loaded, str(reason))
                continue
            reliable = [
                letter
                for letter in range(len(LETTERS))
                if self._probe_f1(data, letter) > config.min_GT_probe_f1
            ]
            if len(reliable) < config.min_feats_for_eval:
                for loaded in group:
                    context.note(
                        loaded,
                        f"absorption not measured: the letter probe at {hook} "
                        f"reaches F1 > {config.min_GT_probe_f1} on only "
                        f"{len(reliable)} letters (needs "
                        f"{config.min_feats_for_eval})",
                    )
                continue
            for loaded in group:
                yield loaded, self._evaluate(context, loaded, data, config)

    @staticmethod
    def _probe_f1(data: LetterData, letter: int) -> float:
        from sklearn.metrics import f1_score

        y = (data.test_labels == letter).numpy()
        return float(f1_score(y, (data.test_scores[:, letter] > 0).numpy(), zero_division=0.0))

    def _evaluate(
        self,
        context: EvalContext,
        loaded: LoadedSAE,
        data: LetterData,
        config: AbsorptionEvalConfig,
    ) -> dict[str, Any]:
        sae, progress = loaded.sae, context.progress
        batch = config.k_sparse_probe_batch_size
        n_train = len(data.train_labels)
        # The L1 probe trains where the SAE is, on latents kept there: dense when they fit,
        # otherwise as their non-zero entries (a wide sparse SAE's few per row), so each word is
        # encoded once and not once per epoch; an SAE too dense for that is encoded as it goes.
        train_latents: torch.Tensor | SparseRows | None = None
        chunk_rows = None
        if config.precalc_k_sparse_probe_sae_acts or _dense_train_latents_fit(n_train, sae.d_sae):
            train_latents = encoded_rows(sae, data.train_acts, max_rows=batch, on_sae_device=True)
            inputs: torch.Tensor | Callable = train_latents
        else:
            train_latents = sparse_latents_of_rows(
                sae, data.train_acts, batch, max_entries=_sparse_entries_limit()
            )
            if train_latents is not None:
                inputs = train_latents.sparse_rows
            else:  # as SAEBench does by default: encode each mini-batch, a chunk at a time

                def inputs(rows: torch.Tensor) -> torch.Tensor:
                    return encoded_rows(
                        sae, data.train_acts[rows], max_rows=batch, on_sae_device=True
                    )

                chunk_rows = min(batch, _rows_within_working_set(sae.d_sae))

        chunk = min(batch, _rows_within_working_set(sae.d_sae))
        ranking = train_letter_probe(
            inputs,
            data.train_labels,
            sae.d_sae,
            epochs=config.k_sparse_probe_num_epochs,
            batch_size=batch,
            lr=0.01,
            end_lr=1e-5,
            weight_decay=1e-6,
            l1_decay=config.k_sparse_probe_l1_decay,
            seed=config.random_seed,
            chunk_rows=chunk_rows,
            device=sae.device,
            progress=progress,
            description=f"absorption: L1 probe on {loaded.sae_id}'s latents",
        ).weight
        # The k-sparse probes read at most 26 * max_k latents: keep only those columns.
        kept = probed_latent_ids(ranking, config.max_k_value)
        if train_latents is None:
            train_columns = _encode_columns(sae, data.train_acts, chunk, kept)
        elif isinstance(train_latents, SparseRows):
            mask = torch.zeros(sae.d_sae, dtype=torch.bool, device=sae.device)
            mask[kept.to(sae.device)] = True
            train_columns = LatentColumns(kept, train_latents.columns(mask).cpu())
        else:
            train_columns = LatentColumns(kept, train_latents[:, kept.to(sae.device)].cpu())
        del train_latents
        probes = fit_k_sparse_probes(train_columns, data.train_labels, ranking, config.max_k_value)
        rows = letter_metrics(
            data.test_labels,
            data.test_scores,
            _encode_columns(sae, data.test_acts, chunk, kept),
            probes,
            config.max_k_value,
            config.f1_jump_threshold,
        )

        details, notes, untracked = [], [], []
        for letter, row in enumerate(rows):
            words = data.true_positives[letter]
            if row["f1_probe"] <= config.min_GT_probe_f1:
                notes.append(
                    f"{LETTERS[letter]}: letter probe F1 {row['f1_probe']:.2f} is not "
                    f"above {config.min_GT_probe_f1}; letter left out"
                )
                continue
            if not words:
                notes.append(f"{LETTERS[letter]}: the letter probe detects no test word")
                continue
            k = len(row["split_feats"])
            if row[f"f1_sparse_sae_{k}"] <= config.min_GT_probe_f1:
                untracked.append(row[f"f1_sparse_sae_{k}"])
                notes.append(
                    f"{LETTERS[letter]}: no SAE latent tracks this letter (best "
                    f"k-sparse F1 {row[f'f1_sparse_sae_{k}']:.2f} with {k} latent(s)); "
                    f"its absorption numbers say little"
                )
            result = _letter_absorption_in_batches(
                sae,
                data.absorption_acts[letter],
                batch,
                data.probe.weight[letter],
                row["split_feats"],
            )
            n = len(words)
            full = sum(result.is_full_absorption)
            details.append(
                {
                    "first_letter": LETTERS[letter],
                    "mean_absorption_fraction": sum(result.absorption_fraction) / n,
                    "full_absorption_rate": full / n,
                    "num_full_absorption": full,
                    "num_probe_true_positives": n,
                    "num_split_features": k,
                }
            )
        # One line per kind of problem on the console; every letter's note stays in the result.
        for note in notes:
            if "no SAE latent tracks" not in note:
                context.note(loaded, note)
        if untracked:
            context.note(
                loaded,
                f"no SAE latent tracks the letter for {len(untracked)} of {len(details)} "
                f"measured letters (their k-sparse F1 is at most {config.min_GT_probe_f1}, "
                f"median {statistics.median(untracked):.2f}); absorption on those letters "
                f"says little",
            )
        metrics = {"mean": _means(details)}
        unstructured = {
            "words": data.n_words,
            "letter_probe": {
                "mean_f1": statistics.mean(r["f1_probe"] for r in rows),
                "accuracy": data.probe_accuracy,
            },
            "letters": [
                {
                    "letter": r["letter"],
                    "letter_probe_f1": r["f1_probe"],
                    "split_feats": r["split_feats"],
                    "k_sparse_f1": [
                        r[f"f1_sparse_sae_{k}"] for k in range(1, config.max_k_value + 1)
                    ],
                }
                for r in rows
            ],
            "notes": notes,
            uncertainty.KEY: uncertainty.record(_letter_units(details)),
        }
        return build_result(
            EVAL_TYPE_ID, config.model_dump(), metrics, details, loaded, unstructured
        )


def _letter_units(details: list[dict[str, Any]]) -> dict[str, uncertainty.UnitValues]:
    """The headline metrics are means over the measured letters: a letter is the unit."""
    ids = [d["first_letter"] for d in details]
    columns = {
        "mean_absorption_fraction": "mean_absorption_fraction",
        "mean_full_absorption": "full_absorption_rate",
        "mean_split_features": "num_split_features",
    }
    return {
        key: uncertainty.UnitValues(
            "letter", ids, {"value": [float(d[name]) for d in details]}, "mean"
        )
        for key, name in columns.items()
    }


def _means(details: list[dict[str, Any]]) -> dict[str, float]:
    def column(name):
        return [float(d[name]) for d in details]

    def stdev(values):
        return statistics.stdev(values) if len(values) > 1 else 0.0

    fractions = column("mean_absorption_fraction")
    full = column("full_absorption_rate")
    splits = column("num_split_features")
    return {
        "mean_absorption_fraction_score": statistics.mean(fractions),
        "mean_full_absorption_score": statistics.mean(full),
        "mean_num_split_features": statistics.mean(splits),
        "std_dev_absorption_fraction_score": stdev(fractions),
        "std_dev_full_absorption_score": stdev(full),
        "std_dev_num_split_features": stdev(splits),
    }
