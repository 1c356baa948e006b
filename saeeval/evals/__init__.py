"""Evals: each one a module with a config, headline metrics and a `run`; see `registry`."""

from saeeval.evals.base import Eval, EvalConfig, EvalContext, HeadlineMetric
from saeeval.evals.registry import (
    all_evals,
    eval_for_type_id,
    get_eval,
    headline_metrics,
    register,
    registered_names,
)

__all__ = [
    "Eval",
    "EvalConfig",
    "EvalContext",
    "HeadlineMetric",
    "all_evals",
    "eval_for_type_id",
    "get_eval",
    "headline_metrics",
    "register",
    "registered_names",
]
