"""Failures say what they are: no made-up versions, no library error passed off as "no hub
access", and the user's own traceback when their eval or trainer file breaks."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError
from pathlib import Path

import pytest
from datasets.exceptions import DatasetNotFoundError
from huggingface_hub.errors import OfflineModeIsEnabled

from saeeval.data.text_datasets import hub_load_error
from saeeval.errors import SaeevalError
from saeeval.evals import get_eval
from saeeval.trainers.custom import CustomTrainer, load_trainer_class


@pytest.mark.parametrize(
    "exc, said, not_said",
    [
        (OfflineModeIsEnabled("offline mode"), "could not reach the Hugging Face hub", None),
        (DatasetNotFoundError("no such repo"), "has no dataset x/y", "could not reach"),
        (ValueError("BuilderConfig 'en' not found"), "loading x/y failed: ValueError", "reach"),
    ],
)
def test_each_kind_of_hub_failure_gets_its_own_message(exc, said, not_said):
    message = str(hub_load_error("--dataset x/y", "x/y", exc, "use --dataset offline"))
    assert said in message
    assert not_said is None or not_said not in message


def test_the_saelens_version_is_never_made_up(monkeypatch):
    import saeeval.saes.saelens_format as saelens_format

    def missing(name):
        raise PackageNotFoundError(name)

    monkeypatch.setattr(saelens_format, "version", missing)
    with pytest.raises(SaeevalError, match="sae-lens is not installed"):
        saelens_format.saelens_version()


def test_a_broken_eval_file_shows_where_in_it(tmp_path):
    path = tmp_path / "broken_eval.py"
    path.write_text("import math\n\n\nvalue = math.sqrt(-1)\n")
    with pytest.raises(SaeevalError) as caught:
        get_eval(f"{path}:Broken")
    message = str(caught.value)
    assert f'File "{path}", line 4' in message and "math domain error" in message


def test_a_custom_trainer_that_fails_to_construct_shows_its_traceback(tmp_path):
    path = tmp_path / "my_trainer.py"
    path.write_text(
        "class Trainer:\n"
        "    def __init__(self, activation_dim, dict_size):\n"
        "        self.scale = activation_dim / (dict_size - dict_size)\n"
        "    def update(self, step, x):\n"
        "        pass\n"
    )
    spec = f"{path}:Trainer"
    cls = load_trainer_class(spec)
    with pytest.raises(SaeevalError) as caught:
        CustomTrainer(cls, {"d_in": 8, "d_sae": 16}, {}, 100, spec=spec)
    message = str(caught.value)
    assert "constructing Trainer failed" in message
    assert f'File "{Path(path)}", line 3, in __init__' in message
    assert "ZeroDivisionError" in message
    assert isinstance(caught.value.__cause__, ZeroDivisionError)
