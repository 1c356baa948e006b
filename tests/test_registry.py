"""The eval registry: lazy imports, refusals, users' own evals, and settings one can discover."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import random_sae, saved
from tiny_models import tiny_model
from typer.testing import CliRunner

from saeeval.cli import app
from saeeval.errors import SaeevalError
from saeeval.evals import (
    HeadlineMetric,
    all_evals,
    get_eval,
    headline_metrics,
    register,
    registered_names,
)
from saeeval.runner import RunRequest, run

USER_EVAL = Path(__file__).parent / "data" / "decoder_norm_eval.py"
HOOK = "blocks.1.hook_resid_post"


def test_builtin_evals_are_imported_only_when_used():
    code = (
        "import sys; from saeeval.evals import get_eval; get_eval('core'); "
        "print(sorted(m for m in sys.modules if m.startswith('saeeval.evals.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = out.stdout
    assert "saeeval.evals.core" in loaded
    assert "saeeval.evals.probing" not in loaded and "saeeval.evals.absorption" not in loaded


def test_a_second_eval_with_a_taken_name_or_id_is_refused():
    core = get_eval("core")

    class Impostor:
        name = "core"
        eval_type_id = "core-2"
        config_class = core.config_class
        headline_metrics = ()
        default_config = core.default_config
        run = core.run

    with pytest.raises(SaeevalError, match="'core'"):
        register(Impostor())

    class SameFolder(Impostor):
        name = "other"
        eval_type_id = "core"

    with pytest.raises(SaeevalError, match="eval_type_id 'core'"):
        register(SameFolder())

    class Incomplete:
        name = "incomplete"

    with pytest.raises(SaeevalError, match="lacks eval_type_id"):
        register(Incomplete())
    assert get_eval("core") is core  # nothing was replaced


def test_unknown_eval_names_the_choices():
    with pytest.raises(SaeevalError, match="available evals: core, absorption"):
        get_eval("cores")
    with pytest.raises(SaeevalError, match="does not exist"):
        get_eval("missing/file.py:Eval")


def _schema_property(schema: dict, node: dict, key: str) -> dict:
    """The schema of property `key` of `node`, following a `$ref` to the definitions."""
    if "$ref" in node:
        node = schema["$defs"][node["$ref"].split("/")[-1]]
    return node["properties"][key]


def test_every_eval_declares_headline_metrics_found_in_its_schema():
    from helpers import saebench_schema

    for eval_ in all_evals():
        assert eval_.headline_metrics, eval_.name
        schema = saebench_schema(eval_.eval_type_id)
        for metric in eval_.headline_metrics:
            assert isinstance(metric, HeadlineMetric)
            node = schema["properties"]["eval_result_metrics"]
            for key in metric.path:  # a KeyError: the path is not in SAEBench's schema
                node = _schema_property(schema, node, key)
            types = {node.get("type")} | {option.get("type") for option in node.get("anyOf", [])}
            assert types & {"number", "integer"}, (eval_.name, metric.path)
        assert headline_metrics(eval_.eval_type_id) == tuple(eval_.headline_metrics)


def test_every_config_field_has_a_description():
    for eval_ in all_evals():
        for name, info in eval_.config_class.model_fields.items():
            assert info.description and len(info.description) > 10, (eval_.name, name)


def test_evals_fields_lists_defaults_and_descriptions():
    result = CliRunner().invoke(app, ["evals", "--fields", "core"])
    assert result.exit_code == 0, result.output
    assert "n_eval_reconstruction_batches" in result.output
    assert "batches for the CE-loss and KL metrics" in result.output
    bad = CliRunner().invoke(app, ["evals", "--fields", "nope"])
    assert bad.exit_code == 2 and "unknown eval 'nope'" in bad.output


def test_a_users_eval_runs_from_a_file(tmp_path, isolated_cache):
    sae = random_sae("topk", 64, 128, HOOK, model_name="tiny-llama")
    folder = saved(sae, tmp_path / "saes" / "mine")
    spec = f"{USER_EVAL}:DecoderNormEval"
    request = RunRequest(
        saes=[str(folder)],
        evals=[spec],
        out=tmp_path / "out",
        device="cpu",
        overrides={"decoder_norm": {"power": 1.0}},  # set by the eval's name
    )
    llama = tiny_model("llama")
    outcome = run(request, log=lambda m: None, model_loader=lambda *_: llama)
    (result,) = outcome.results
    expected = float(sae.W_dec.detach().abs().sum(dim=-1).mean())
    assert result["eval_result_metrics"]["norms"]["mean_norm"] == pytest.approx(expected)
    assert result["eval_config"]["power"] == 1.0
    path = tmp_path / "out" / "decoder_norm" / "mine_eval_results.json"
    assert json.loads(path.read_text())["eval_type_id"] == "decoder_norm"
    assert "decoder_norm" in registered_names()
    assert get_eval(spec) is get_eval("decoder_norm")  # the same file is one eval
