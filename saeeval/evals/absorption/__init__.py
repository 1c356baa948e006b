"""Feature absorption (first letter), SAEBench's procedure on the SAE's own model."""

from saeeval.evals.absorption.eval import AbsorptionEval, AbsorptionEvalConfig

__all__ = ["AbsorptionEval", "AbsorptionEvalConfig"]
