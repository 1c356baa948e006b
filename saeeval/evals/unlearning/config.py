"""The unlearning eval's config: SAEBench's `UnlearningEvalConfig` plus saeeval's additions."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from saeeval.data.unlearning import (
    BUILTIN_FORGET_SET,
    BUILTIN_RETAIN_SETS,
    SAEBENCH_DATASET_NAMES,
)
from saeeval.evals.base import EvalConfig

# SAEBench's runner passes `llm_batch_size // 8` of its Gemma batch size (32): the sparsity
# contexts are 1,024 tokens long, eight times the other evals' 128.
SAEBENCH_LLM_BATCH_SIZE = 4


class UnlearningEvalConfig(EvalConfig):
    """SAEBench's `UnlearningEvalConfig` (same fields, same defaults) plus saeeval's additions."""

    random_seed: int = Field(42, description="seed of the forget-text sample and its shuffle")
    dataset_names: list[str] = Field(
        default_factory=lambda: list(SAEBENCH_DATASET_NAMES),
        description="question sets: the forget set (wmdp-bio, or the built-in forget bank) and "
        "the sets whose accuracy must survive (MMLU subjects, or the built-in retain banks)",
    )
    intervention_method: Literal["clamp_feature_activation"] = Field(
        "clamp_feature_activation",
        description="how selected latents are changed: clamped to -multiplier where active "
        "(the only method SAEBench runs)",
    )
    retain_thresholds: list[float] = Field(
        default_factory=lambda: [0.001, 0.01],
        description="latents firing on at least this fraction of retain-text tokens are never "
        "selected (one sweep block per threshold)",
    )
    n_features_list: list[int] = Field(
        default_factory=lambda: [10, 20],
        description="how many of the top forget-text latents are clamped, one sweep block each",
    )
    multipliers: list[int] = Field(
        default_factory=lambda: [25, 50, 100, 200],
        description="the values selected latents are clamped to, negated (-25, -50, ...)",
    )
    dataset_size: int = Field(
        1024, gt=0, description="contexts of forget and of retain text for the firing frequencies"
    )
    seq_len: int = Field(
        1024, gt=1, description="tokens per context for the firing frequencies, BOS included"
    )
    n_batch_loss_added: int = Field(
        50, description="kept for SAEBench compatibility (its loss-added metric is not run)"
    )
    target_metric: Literal["correct"] = Field(
        "correct",
        description="which questions count: those the unmodified model answers correctly under "
        "every ordering of the choices (SAEBench's default and the one its sweep reads)",
    )
    save_metrics: bool = Field(
        True, description="kept for SAEBench compatibility (every sweep row is in the details)"
    )
    model_name: str = Field(
        "", description="the model the SAE is evaluated on (filled in from the loaded model)"
    )
    llm_batch_size: int = Field(
        SAEBENCH_LLM_BATCH_SIZE,
        gt=0,
        description="contexts per model batch for the firing frequencies; question prompts are "
        "batched twice as wide, as in SAEBench",
    )
    llm_dtype: str = Field(
        "", description="the model's dtype during the eval (filled in from --dtype)"
    )
    # saeeval's additions: where the questions and texts come from, how answers are scored,
    # and which size preset filled the sizes.
    dataset_source: Literal["offline", "hub"] = Field(
        "hub",
        description="offline: the built-in question banks and texts; hub: WMDP, MMLU and "
        "wikitext through `datasets` (hub ids or local folders shaped like them)",
    )
    scoring: Literal["letter", "cloze"] = Field(
        "letter",
        description="letter: SAEBench's A/B/C/D probabilities after the chat-formatted question; "
        "cloze: each option's mean token log-probability after the question (order-free, so one "
        "ordering replaces the 24)",
    )
    wmdp_dataset: str = Field(
        "cais/wmdp", description="hub id or local folder of the WMDP questions (config wmdp-bio)"
    )
    mmlu_dataset: str = Field(
        "cais/mmlu", description="hub id or local folder of MMLU (one config per subject)"
    )
    retain_corpus: str = Field(
        "wikitext",
        description="hub id or local folder of the retain text (config wikitext-2-raw-v1, test "
        "split, as SAEBench)",
    )
    forget_corpus: str | None = Field(
        None,
        description="local .jsonl or .parquet copy of WMDP's gated bio forget corpus (a text "
        "column); needed on hub data",
    )
    max_questions: int | None = Field(
        None,
        gt=0,
        description="use only the first this many questions of each set (None: all, as SAEBench)",
    )
    data_fingerprint: str | None = Field(
        None, description="content hash of every question set and text read (filled in)"
    )
    size_preset: str = Field(
        "none",
        description=(
            "the size preset behind these settings: saebench (SAEBench's published results), "
            "offline (small CPU sizes) or none (this class's own defaults)"
        ),
    )

    @property
    def forget_set(self) -> str:
        """The question set whose accuracy the clamp should destroy."""
        return forget_set_name(self.dataset_names)

    @property
    def retain_sets(self) -> list[str]:
        """The sets pooled into the side-effect accuracy (SAEBench leaves college_biology out)."""
        return [n for n in self.dataset_names if n != self.forget_set and n != "college_biology"]


def forget_set_name(names: list[str]) -> str:
    for name in names:
        if name == "wmdp-bio" or name == BUILTIN_FORGET_SET:
            return name
    return ""


# SAEBench's own defaults are its published settings; offline shrinks the firing-frequency texts
# (1,024 x 1,024 tokens -> 64 x 256) and sweeps the same 16 settings.
PRESETS: dict[str, dict[str, Any]] = {
    "saebench": {"dataset_size": 1024, "seq_len": 1024},
    "offline": {"dataset_size": 64, "seq_len": 256},
}

# What the data source decides (not the size preset): the question sets and the scoring.
SOURCES: dict[str, dict[str, Any]] = {
    "hub": {"dataset_names": list(SAEBENCH_DATASET_NAMES), "scoring": "letter"},
    "offline": {"dataset_names": [BUILTIN_FORGET_SET, *BUILTIN_RETAIN_SETS], "scoring": "cloze"},
}
