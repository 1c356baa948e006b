"""The driver behind `--executor`: what it counts as finished (from the result files alone), how
it chunks SAEs into units, and the paths it hands to workers elsewhere. Runs with the local
executor on a tiny model; the Ray executor's own tests are in test_ray_executor.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import random_sae, saved
from tiny_models import tiny_model
from typer.testing import CliRunner

from saeeval.cli import app
from saeeval.distributed import LocalExecutor, make_executor
from saeeval.distributed.driver import run_many
from saeeval.errors import SaeevalError
from saeeval.runner import RunRequest, check_without_model

HOOKS = ("blocks.0.hook_resid_post", "blocks.1.hook_resid_post")
CORE_SIZES = {"n_eval_reconstruction_batches": 1, "n_eval_sparsity_variance_batches": 1}


class RecordingExecutor(LocalExecutor):
    """The local executor, keeping each unit it was given (what the driver submitted)."""

    name = "recording"

    def __init__(self, chunk_size=None):
        super().__init__(log=lambda _: None)
        self.chunk_size, self.units = chunk_size, []

    def map(self, units):
        self.units += list(units)
        return super().map(units)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("driver")
    model = tiny_model("llama")
    model.model.save_pretrained(root / "model")
    model.tokenizer.save_pretrained(root / "model")
    saes = [
        saved(random_sae("topk", 64, 32, hook, k=4, seed=seed), root / f"sae{seed}")
        for seed, hook in enumerate([HOOKS[0], HOOKS[1], HOOKS[0]])
    ]
    return root, saes


def _request(root: Path, saes: list[Path], out: Path, **kw) -> RunRequest:
    return RunRequest(
        saes=[str(s) for s in saes],
        evals=["core"],
        out=out,
        model=str(root / "model"),
        device="cpu",
        overrides={"core": dict(CORE_SIZES)},
        **kw,
    )


def test_units_hold_one_hook_each_and_a_rerun_submits_only_what_is_unfinished(setup, tmp_path):
    root, saes = setup
    executor = RecordingExecutor(chunk_size=2)
    first = run_many(_request(root, saes, tmp_path / "out"), executor, log=lambda _: None)
    assert len(first.written) == 3 and not first.failed
    chunks = [unit.request.sae_ids for unit in executor.units]
    assert chunks == [["sae0", "sae2"], ["sae1"]]  # the two SAEs at blocks.0 share a unit
    assert all(Path(s).is_absolute() for unit in executor.units for s in unit.request.saes)

    # Every pair is finished: nothing is submitted, everything is reported kept.
    executor.units.clear()
    again = run_many(_request(root, saes, tmp_path / "out"), executor, log=lambda _: None)
    assert executor.units == [] and len(again.skipped) == 3 and not again.written

    # One result file lost: only its SAE goes to a unit.
    (tmp_path / "out" / "core" / "sae1_eval_results.json").unlink()
    rerun = run_many(_request(root, saes, tmp_path / "out"), executor, log=lambda _: None)
    assert [unit.request.sae_ids for unit in executor.units] == [["sae1"]]
    assert [(e, s) for e, s, _ in rerun.written] == [("core", "sae1")]


def test_finished_means_the_stamp_answers_the_request(setup, tmp_path):
    root, saes = setup
    request = _request(root, saes[:1], tmp_path / "out")
    run_many(request, LocalExecutor(log=lambda _: None), log=lambda _: None)
    request = _request(root, saes[:1], (tmp_path / "out").resolve())
    assert check_without_model(request).finished == {("core", "sae0")}
    changed = [
        _request(root, saes[:1], request.out, seed=7),
        _request(root, saes[:1], request.out, dtype="bfloat16"),
        _request(root, saes[:1], request.out, force=True),
        _request(root, saes[:1], request.out, seeds=2),
    ]
    changed[0].overrides["core"]["n_eval_reconstruction_batches"] = 2
    for other in changed:
        assert check_without_model(other).finished == set(), other
    # The SAE's weights changed in place: its result no longer answers.
    saved(random_sae("topk", 64, 32, HOOKS[0], k=4, seed=99), Path(saes[0]))
    assert check_without_model(request).finished == set()


def test_a_sweep_file_names_its_local_files_relative_to_itself(setup, tmp_path, monkeypatch):
    root, _ = setup
    folder = tmp_path / "plans"
    folder.mkdir()
    (folder / "model").symlink_to(root / "model")
    (folder / "sweep.yaml").write_text(
        "model: model\nhook: blocks.1.hook_resid_post\ntokens: 2048\nbatch_size: 256\n"
        "d_sae: 32\nevals: []\ngrid:\n  - trainer: topk\n    k: [4]\n"
    )
    monkeypatch.chdir(tmp_path)  # the model folder is not in the working directory
    result = CliRunner().invoke(
        app, ["sweep", str(folder / "sweep.yaml"), "--out", "grid", "--device", "cpu"]
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "grid" / "topk_k4" / "sae" / "cfg.json").is_file()
    # The same run name with another plan: the finished run is not taken for this one.
    sweep = folder / "sweep.yaml"
    sweep.write_text(sweep.read_text().replace("tokens: 2048", "tokens: 4096"))
    result = CliRunner().invoke(app, ["sweep", str(sweep), "--out", "grid", "--device", "cpu"])
    assert result.exit_code != 0
    assert "holds a finished run of another job (tokens: 2048 there, 4096 now)" in result.output


def test_an_unknown_executor_is_one_clear_error(tmp_path):
    with pytest.raises(SaeevalError, match="--executor must be one of local, ray, slurm"):
        make_executor("dask", out=tmp_path)
    result = CliRunner().invoke(
        app, ["run", "--sae", str(tmp_path), "--executor", "dask", "--out", str(tmp_path)]
    )
    assert result.exit_code != 0 and "--executor must be one of" in result.output
