"""A user's own eval, run with `--evals tests/data/decoder_norm_eval.py:DecoderNormEval`.

It follows the protocol in `saeeval.evals.base.Eval`: a config with described fields, headline
metrics, `default_config` and `run`, which wraps its metrics with `build_result`.
"""

from __future__ import annotations

from pydantic import Field

from saeeval.evals import EvalConfig, HeadlineMetric
from saeeval.evals.envelope import build_result


class DecoderNormConfig(EvalConfig):
    model_name: str = Field("", description="the model the SAE is evaluated on")
    power: float = Field(2.0, gt=0, description="the norm's exponent")


class DecoderNormEval:
    name = "decoder_norm"
    eval_type_id = "decoder_norm"
    version = 1
    config_class = DecoderNormConfig
    headline_metrics = (
        HeadlineMetric("mean_norm", "mean decoder norm", ("norms", "mean_norm"), None),
    )

    def default_config(self, context):
        return DecoderNormConfig(model_name=context.model.name)

    def run(self, context, saes, config):
        for loaded in saes:
            norms = loaded.sae.W_dec.detach().norm(p=config.power, dim=-1)
            metrics = {"norms": {"mean_norm": float(norms.mean()), "d_sae": loaded.sae.d_sae}}
            yield loaded, build_result(self.eval_type_id, config.model_dump(), metrics, [], loaded)
