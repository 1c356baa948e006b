"""`--executor ray` on a real Ray cluster: a head node and two one-CPU worker nodes, started here
inside a network namespace of the test's own where loopback is the only interface. (Ray
advertises the machine's outside address and probes public ones to find it; in the namespace
there is none, so every packet stays on 127.0.0.1.)

Each test runs the CLI as a user would, on a tiny model saved as a folder, and compares with the
same sweep or run under `--executor local`, run with one thread as Ray's one-CPU tasks are:
the same runs, the same numbers to the bit, one result per unit, whatever was killed on the way.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from tiny_models import tiny_model

BIN = Path(sys.executable).parent
# Drivers run from the checkout's root, whose saeeval/ source tree must not shadow the installed
# package in the workers (Ray starts them in the driver's directory, first on sys.path).
CHECKOUT = Path(__file__).resolve().parents[1]
HEAD_PORT = 6399
WORKER_PORTS = (7101, 7102)  # each worker node's raylet port, which names the node below
SWEEP = """\
model: {model}
hook: blocks.1.hook_resid_post
tokens: 32768
batch_size: 128
checkpoint_every: 32
d_sae: 4096
memory_budget_gb: 0.0001   # one run per training pass: four training units
evals: [core]
eval_overrides: [core.n_eval_reconstruction_batches=2, core.n_eval_sparsity_variance_batches=2]
grid:
  - trainer: topk
    k: [4, 8]
  - trainer: standard
    sparsity_penalty: [0.01, 0.05]
"""
RUNS = ("topk_k4", "topk_k8", "standard_sparsity_penalty0.01", "standard_sparsity_penalty0.05")
TIMING = ("train_wall_time_s", "train_tokens_per_s")


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        HF_HUB_OFFLINE="1",
        OMP_NUM_THREADS="1",  # what Ray gives a one-CPU task; the local runs match it
        RAY_DEDUP_LOGS="0",  # every worker line reaches the driver's output
        RAY_USAGE_STATS_ENABLED="0",
        # A token a local `ray.init()` left in ~/.ray would make the head demand it of the
        # workers; this cluster lives inside its own namespace and needs none.
        RAY_AUTH_MODE="disabled",
        # A node that stops answering is declared dead after about 3 s, not 30 s.
        RAY_health_check_period_ms="1000",
        RAY_health_check_failure_threshold="3",
        RAY_health_check_initial_delay_ms="1000",
    )
    return env


class Namespace:
    """A network namespace with only `lo`, held open by a sleeping process; commands enter it.
    `lo` carries 127.0.0.1 and, if given, one more address (`extra_address`, CIDR)."""

    def __init__(self, extra_address: str | None = None):
        setup = "ip link set lo up"
        if extra_address:
            setup += f" && ip addr add {extra_address} dev lo"
        self.holder = subprocess.Popen(
            ["unshare", "--net", "sh", "-c", f"{setup} && exec sleep infinity"]
        )
        wanted = (extra_address or "127.0.0.1").split("/")[0]
        own = os.readlink("/proc/self/ns/net")
        for _ in range(100):  # until unshare has moved the holder and `lo` is set up
            if os.readlink(f"/proc/{self.holder.pid}/ns/net") != own:
                shown = subprocess.run(
                    self.enter(["ip", "-o", "addr"]), capture_output=True, text=True
                ).stdout
                if wanted in shown:
                    break
            time.sleep(0.1)
        else:
            self.close()
            raise RuntimeError("could not make a network namespace with loopback up (needs root)")
        interfaces = {line.split()[1] for line in shown.splitlines()}
        if interfaces != {"lo"}:
            self.close()
            raise AssertionError(f"the namespace should hold only lo, not {interfaces}")

    def enter(self, command: list[str]) -> list[str]:
        return ["nsenter", "-t", str(self.holder.pid), "-n", *command]

    def close(self) -> None:
        self.holder.kill()
        self.holder.wait()


def _pids(pattern: str) -> list[int]:
    found = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout
    return [int(pid) for pid in found.split()]


def _children(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(child) for child in found.split()]


@pytest.fixture(scope="module")
def cluster():
    """The head (no CPUs: it runs no units) and two worker nodes of one CPU each."""
    namespace = Namespace()
    temp = tempfile.mkdtemp(prefix="ray-", dir="/tmp")  # Ray's socket paths must stay short
    env = _environment()

    def ray(*args):
        subprocess.run(
            namespace.enter([str(BIN / "ray"), *args]), env=env, check=True, capture_output=True
        )

    try:
        ray(
            "start",
            "--head",
            f"--port={HEAD_PORT}",
            "--num-cpus=0",
            "--node-ip-address=127.0.0.1",
            "--include-dashboard=false",
            f"--temp-dir={temp}",
            "--disable-usage-stats",
        )
        for port in WORKER_PORTS:
            ray(
                "start",
                f"--address=127.0.0.1:{HEAD_PORT}",
                "--num-cpus=1",
                "--node-ip-address=127.0.0.1",
                f"--node-manager-port={port}",
                "--disable-usage-stats",
            )
        yield namespace
    finally:
        subprocess.run(
            namespace.enter([str(BIN / "ray"), "stop", "--force"]), env=env, capture_output=True
        )
        namespace.close()
        shutil.rmtree(temp, ignore_errors=True)


def _saeeval(args: list, namespace: Namespace | None = None, **popen) -> subprocess.Popen:
    command = [str(BIN / "saeeval"), *map(str, args)]
    return subprocess.Popen(
        namespace.enter(command) if namespace else command,
        env=_environment(),
        cwd=CHECKOUT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **popen,
    )


def _finish(process: subprocess.Popen, timeout: float = 420) -> str:
    output, _ = process.communicate(timeout=timeout)
    assert process.returncode == 0, output[-4000:]
    return output


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """A tiny model folder, the sweep file, and the sweep and a four-SAE run done locally."""
    root = tmp_path_factory.mktemp("ray")
    model = tiny_model("llama")
    model.model.save_pretrained(root / "model")
    model.tokenizer.save_pretrained(root / "model")
    (root / "sweep.yaml").write_text(SWEEP.format(model=root / "model"))
    _finish(_saeeval(["sweep", root / "sweep.yaml", "--out", root / "local", "--device", "cpu"]))
    _finish(_saeeval(_run_args(root, root / "local_run")))
    return root


def _run_args(root: Path, out: Path) -> list:
    args = [
        "run",
        "--model",
        root / "model",
        "--evals",
        "core",
        "--out",
        out,
        "--device",
        "cpu",
        "--set",
        "core.n_eval_reconstruction_batches=2",
        "--set",
        "core.n_eval_sparsity_variance_batches=2",
    ]
    for run in RUNS:
        args += ["--sae", root / "local" / run / "sae"]
    return args


RAY = ["--executor", "ray", "--ray-address", f"127.0.0.1:{HEAD_PORT}", "--chunk-size", "2"]


def _ray_sweep(work: Path, out: str, namespace: Namespace) -> subprocess.Popen:
    command = ["sweep", work / "sweep.yaml", "--out", work / out, "--device", "cpu", *RAY]
    return _saeeval(command, namespace)


def _core_results(folder: Path) -> dict[str, list[Path]]:
    """Each SAE's core result files under `folder` (a sweep's or a run's)."""
    found: dict[str, list[Path]] = {}
    for path in sorted(folder.rglob("core/*_eval_results.json")):
        found.setdefault(path.name.removesuffix("_eval_results.json"), []).append(path)
    return found


def _metrics(folder: Path) -> dict[str, dict]:
    found = _core_results(folder)
    assert all(len(paths) == 1 for paths in found.values()), found  # one result per SAE
    return {
        sae: json.loads(paths[0].read_text())["eval_result_metrics"] for sae, paths in found.items()
    }


def _summary(folder: Path) -> list[dict]:
    import csv

    with open(folder / "summary.csv") as rows:
        return [{k: v for k, v in row.items() if k not in TIMING} for row in csv.DictReader(rows)]


def _assert_same_as_local(work: Path, out: str) -> None:
    ours, local = _metrics(work / out), _metrics(work / "local")
    assert sorted(ours) == sorted(RUNS)
    assert ours == local
    assert _summary(work / out) == _summary(work / "local")
    for run in RUNS:  # and every run is filed once in its own eval manifest
        manifest = json.loads((work / out / run / "eval" / "manifest.json").read_text())
        assert list(manifest["results"]) == [f"core/{run}"]


def test_a_sweep_on_ray_gives_the_local_runs_and_numbers(work, cluster):
    output = _finish(_ray_sweep(work, "ray", cluster))
    _assert_same_as_local(work, "ray")
    # Four training units and two eval units of two runs each ran as Ray tasks.
    for run in RUNS:
        assert f"(saeeval: train {run} pid=" in output
    assert "(saeeval: evaluate topk_k4, topk_k8 pid=" in output
    # Rerun: everything is read from the files, nothing is submitted.
    again = _finish(_ray_sweep(work, "ray", cluster))
    assert "(saeeval:" not in again and again.count("already trained") == len(RUNS)


def test_a_multi_sae_run_on_ray_matches_local(work, cluster):
    args = _run_args(work, work / "ray_run") + RAY
    output = _finish(_saeeval(args, cluster))
    assert "0 of 4 SAE(s) finished already; 2 unit(s) to run on ray" in output
    assert _metrics(work / "ray_run") == _metrics(work / "local_run")
    again = _finish(_saeeval(args, cluster))
    assert "4 of 4 SAE(s) finished already; 0 unit(s) to run on ray" in again


def _wait_for(condition, timeout: float = 300, what: str = "the condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _training_mid_run(work: Path, out: str):
    """(pid, run) of a training task that has written a checkpoint and not yet finished."""
    for run in RUNS:
        folder = work / out / run
        if (folder / "checkpoints" / "last.pt").is_file() and not (
            folder / "training_results.json"
        ).is_file():
            pids = _pids(f"ray::saeeval: train {run}$")
            if pids:
                return pids[0], run
    return None


def _raylet_of_second_node() -> int:
    (raylet,) = [
        pid
        for pid in _pids("raylet/raylet")
        if f"--node_manager_port={WORKER_PORTS[1]}" in _cmdline(pid)
    ]
    return raylet


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").replace("\0", " ")
    except OSError:  # it ended meanwhile
        return ""


def test_a_lost_node_and_a_killed_worker_end_with_every_result_once(work, cluster):
    """The second worker node is killed (its raylet and every process under it) while it trains:
    Ray retries its unit on the node that is left. Then a training unit's worker there is
    SIGKILLed after a checkpoint: Ray retries the unit and it resumes from the checkpoint."""
    raylet = _raylet_of_second_node()
    driver = _ray_sweep(work, "faults", cluster)

    def training_on_that_node():
        return any("ray::saeeval: train" in _cmdline(child) for child in _children(raylet))

    _wait_for(training_on_that_node, what="a training unit on the second worker node")
    for victim in [raylet, *_children(raylet)]:
        try:
            os.kill(victim, signal.SIGKILL)
        except ProcessLookupError:
            pass
    # The rest runs one unit at a time on the first node: at least two training units are left.
    pid, run = _wait_for(lambda: _training_mid_run(work, "faults"), what="a checkpoint")
    os.kill(pid, signal.SIGKILL)
    output = _finish(driver)
    assert f"(saeeval: train {run} pid=" in output
    assert "resuming from step" in output  # a retried unit started from its checkpoint
    _assert_same_as_local(work, "faults")


def test_the_driver_killed_and_rerun_finishes_only_the_rest(work, cluster):
    driver = _ray_sweep(work, "killed_driver", cluster)
    trained = lambda: [  # noqa: E731
        run for run in RUNS if (work / "killed_driver" / run / "training_results.json").is_file()
    ]
    _wait_for(lambda: len(trained()) >= 2, what="two trained runs")
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    done_before = trained()
    assert len(done_before) < len(RUNS) or not _core_results(work / "killed_driver")
    # Ray ends a dead driver's tasks; the rerun starts once they are gone.
    _wait_for(lambda: not _pids("ray::saeeval:"), timeout=60, what="the killed job's tasks")
    output = _finish(_ray_sweep(work, "killed_driver", cluster))
    for run in done_before:
        assert f"{run}: already trained" in output
        assert f"(saeeval: train {run} pid=" not in output
    _assert_same_as_local(work, "killed_driver")
