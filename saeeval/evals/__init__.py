"""The eval registry: a name maps to an eval object; adding an eval is adding one module."""

from __future__ import annotations

from saeeval.errors import SaeevalError
from saeeval.evals.base import Eval, EvalConfig, EvalContext
from saeeval.evals.core import CoreEval

REGISTRY: dict[str, Eval] = {}


def register(eval_: Eval) -> Eval:
    REGISTRY[eval_.name] = eval_
    return eval_


register(CoreEval())


def get_eval(name: str) -> Eval:
    try:
        return REGISTRY[name]
    except KeyError:
        raise SaeevalError(
            f"unknown eval {name!r}; available evals: {', '.join(sorted(REGISTRY))}"
        ) from None


__all__ = ["REGISTRY", "Eval", "EvalConfig", "EvalContext", "get_eval", "register"]
