"""Evals: each one a module with a config, headline metrics and a `run`; see `registry`."""

from saeeval.evals.base import (
    SIZE_PRESETS,
    ConfigContext,
    Eval,
    EvalConfig,
    EvalContext,
    HeadlineMetric,
    ModelInfo,
)
from saeeval.evals.registry import (
    all_evals,
    eval_for_type_id,
    get_eval,
    headline_metrics,
    register,
    registered_names,
)

__all__ = [
    "SIZE_PRESETS",
    "ConfigContext",
    "Eval",
    "EvalConfig",
    "EvalContext",
    "HeadlineMetric",
    "ModelInfo",
    "all_evals",
    "eval_for_type_id",
    "get_eval",
    "headline_metrics",
    "register",
    "registered_names",
]
