"""The eval registry: a name maps to an eval; adding an eval is adding one module and one line.

Built-in evals are imported only when first used, so `saeeval evals` or a run of `core` does not
import the probing or absorption code. A user's own eval is given as `path/to/file.py:MyEval`
(see `saeeval.evals.base.Eval` for the protocol it must follow) and is registered under its own
`name` the first time it is asked for.
"""

from __future__ import annotations

import importlib

from saeeval.errors import SaeevalError
from saeeval.evals.base import Eval, HeadlineMetric
from saeeval.plugins import is_file_spec, load_class_from_file

# name -> "module:Class" of the built-in evals, in the order `saeeval evals` lists them.
BUILTIN_EVALS: dict[str, str] = {
    "core": "saeeval.evals.core:CoreEval",
    "absorption": "saeeval.evals.absorption.eval:AbsorptionEval",
    "sparse_probing": "saeeval.evals.probing.sparse_probing:SparseProbingEval",
    "scr": "saeeval.evals.probing.scr_tpp:ScrEval",
    "tpp": "saeeval.evals.probing.scr_tpp:TppEval",
    "unlearning": "saeeval.evals.unlearning.eval:UnlearningEval",
}

_REQUIRED = ("name", "eval_type_id", "config_class", "headline_metrics", "default_config", "run")
_registered: dict[str, Eval] = {}


def register(eval_: Eval) -> Eval:
    """Add an eval object under its `name`; a second eval with a taken name or id is refused."""
    missing = [attribute for attribute in _REQUIRED if not hasattr(eval_, attribute)]
    if missing:
        raise SaeevalError(
            f"eval {type(eval_).__name__} lacks {', '.join(missing)} "
            f"(see saeeval.evals.base.Eval for what an eval provides)"
        )
    taken = _registered.get(eval_.name)
    if taken is not None and type(taken) is not type(eval_):
        raise SaeevalError(f"an eval named {eval_.name!r} is registered already")
    if taken is None and eval_.name in BUILTIN_EVALS and not _is_builtin(eval_):
        raise SaeevalError(f"eval name {eval_.name!r} is taken by a built-in eval")
    for other in _registered.values():
        if other.name != eval_.name and other.eval_type_id == eval_.eval_type_id:
            raise SaeevalError(
                f"eval {eval_.name!r} writes eval_type_id {eval_.eval_type_id!r}, which eval "
                f"{other.name!r} writes already"
            )
    _registered[eval_.name] = eval_
    return eval_


def _is_builtin(eval_: Eval) -> bool:
    module, _, class_name = BUILTIN_EVALS[eval_.name].partition(":")
    cls = type(eval_)
    return cls.__module__ == module and cls.__name__ == class_name


def _import_builtin(name: str) -> Eval:
    module, _, class_name = BUILTIN_EVALS[name].partition(":")
    return register(getattr(importlib.import_module(module), class_name)())


def get_eval(name: str) -> Eval:
    """The eval for a name users type (`core`), or for `path/to/file.py:MyEval`."""
    if name in _registered:
        return _registered[name]
    if name in BUILTIN_EVALS:
        return _import_builtin(name)
    if is_file_spec(name):
        cls = load_class_from_file(name, "--evals")
        for eval_ in _registered.values():
            if type(eval_) is cls:
                return eval_
        return register(cls())
    raise SaeevalError(
        f"unknown eval {name!r}; available evals: {', '.join(registered_names())}, or "
        f"path/to/file.py:MyEval for your own"
    )


def registered_names() -> list[str]:
    """Every built-in eval's name, then those of user evals loaded in this process."""
    return list(BUILTIN_EVALS) + [n for n in _registered if n not in BUILTIN_EVALS]


def all_evals() -> list[Eval]:
    return [get_eval(name) for name in registered_names()]


def eval_for_type_id(eval_type_id: str) -> Eval | None:
    """The eval that writes results with this `eval_type_id`, if one is known."""
    for eval_ in all_evals():
        if eval_.eval_type_id == eval_type_id:
            return eval_
    return None


def headline_metrics(eval_type_id: str) -> tuple[HeadlineMetric, ...]:
    """The headline metrics declared for results of this `eval_type_id` (none if unknown)."""
    eval_ = eval_for_type_id(eval_type_id)
    return tuple(eval_.headline_metrics) if eval_ is not None else ()
