"""The eval registry: a name maps to an eval object; adding an eval is adding one module."""

from __future__ import annotations

from saeeval.errors import SaeevalError
from saeeval.evals.absorption import AbsorptionEval
from saeeval.evals.base import Eval, EvalConfig, EvalContext
from saeeval.evals.core import CoreEval
from saeeval.evals.probing.scr_tpp import ScrEval, TppEval
from saeeval.evals.probing.sparse_probing import SparseProbingEval

REGISTRY: dict[str, Eval] = {}


def register(eval_: Eval) -> Eval:
    REGISTRY[eval_.name] = eval_
    return eval_


register(CoreEval())
register(AbsorptionEval())
register(SparseProbingEval())
register(ScrEval())
register(TppEval())


def get_eval(name: str) -> Eval:
    try:
        return REGISTRY[name]
    except KeyError:
        raise SaeevalError(
            f"unknown eval {name!r}; available evals: {', '.join(sorted(REGISTRY))}"
        ) from None


__all__ = ["REGISTRY", "Eval", "EvalConfig", "EvalContext", "get_eval", "register"]
