"""`--executor slurm` on a real single-node SLURM with accounting (Debian's slurm-wlm, slurmdbd on
MariaDB, munge), started here. Marked `slurm`: the normal suite leaves it out (installing and
starting the daemons takes a few minutes); run it with

    .tox/test/bin/python -m pytest -m slurm tests/test_slurm_executor.py

as root. Every daemon is configured on 127.0.0.1 and runs in a network namespace of the test's
own, so no packet can leave the machine. Slurm resolves addresses with AI_ADDRCONFIG, which
finds nothing where only loopback addresses exist; the namespace's `lo` therefore also carries
one private address (10.254.254.1/32) that nothing is configured on.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from test_ray_executor import (
    RUNS,
    Namespace,
    _assert_same_as_local,
    _finish,
    _saeeval,
)
from test_ray_executor import work as work  # noqa: F401 (the same local sweep and run)

pytestmark = pytest.mark.slurm
PACKAGES = ("slurm-wlm", "slurmdbd", "mariadb-server", "munge")
DB_PASSWORD = "saeeval-test"


class SlurmNamespace(Namespace):
    """The test's namespace (loopback only), holding munged, MariaDB and the SLURM daemons."""

    def __init__(self, root: Path):
        self.root = root
        os.chmod(root, 0o755)  # the munge and mysql users work below it
        super().__init__(extra_address="10.254.254.1/32")  # for AI_ADDRCONFIG, see above

    def run(self, command: list[str], **kw) -> subprocess.CompletedProcess:
        env = {**os.environ, "SLURM_CONF": str(self.root / "slurm.conf")}
        return subprocess.run(self.enter(command), env=env, **kw)

    def close(self) -> None:
        # Job steps first (a job still running would outlive the daemons), then the daemons.
        for daemon in ("slurmstepd", "slurmd", "slurmctld", "slurmdbd", "mariadbd", "munged"):
            subprocess.run(["pkill", "-KILL", "-x", daemon], capture_output=True)
        # Job scripts run from the spool folder under root; none may outlive the test.
        subprocess.run(["pkill", "-KILL", "-f", str(self.root)], capture_output=True)
        super().close()


def _install() -> None:
    if all(shutil.which(tool) for tool in ("slurmctld", "slurmdbd", "mariadbd", "munged")):
        return
    subprocess.run(["apt-get", "update", "-q"], check=True, capture_output=True)
    subprocess.run(
        ["apt-get", "install", "-y", "-q", *PACKAGES],
        check=True,
        capture_output=True,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    )


def _wait(condition, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.5)
    raise RuntimeError(f"timed out waiting for {what}")


def _start_munge(ns: SlurmNamespace) -> Path:
    munge = ns.root / "munge"
    for part, mode in (("etc", 0o700), ("run", 0o755), ("log", 0o700), ("lib", 0o700)):
        (munge / part).mkdir(parents=True)
        os.chmod(munge / part, mode)
    os.chmod(munge, 0o755)
    (munge / "etc" / "munge.key").write_bytes(os.urandom(1024))
    os.chmod(munge / "etc" / "munge.key", 0o400)
    subprocess.run(["chown", "-R", "munge:munge", str(munge)], check=True)
    socket = munge / "run" / "munge.socket"
    ns.run(
        ["runuser", "-u", "munge", "--", "munged", f"--key-file={munge / 'etc' / 'munge.key'}",
         f"--socket={socket}", f"--pid-file={munge / 'run' / 'munged.pid'}",
         f"--log-file={munge / 'log' / 'munged.log'}", f"--seed-file={munge / 'lib' / 'seed'}"],
        check=True,
    )  # fmt: skip
    _wait(socket.exists, "munged")
    return socket


def _start_database(ns: SlurmNamespace) -> None:
    data, run = ns.root / "db", ns.root / "dbrun"
    subprocess.run(
        ["mariadb-install-db", "--user=mysql", f"--datadir={data}"], check=True, capture_output=True
    )
    run.mkdir()
    subprocess.run(["chown", "-R", "mysql:mysql", str(data), str(run)], check=True)
    socket = run / "mysql.sock"
    subprocess.Popen(
        ns.enter(["mariadbd", "--user=mysql", f"--datadir={data}", f"--socket={socket}",
                  "--bind-address=127.0.0.1", "--port=3307", f"--pid-file={run / 'mysql.pid'}",
                  f"--log-error={run / 'mysql.err'}"]),
    )  # fmt: skip
    _wait(socket.exists, "MariaDB")
    grants = " ".join(
        f"CREATE USER 'slurm'@'{host}' IDENTIFIED BY '{DB_PASSWORD}'; "
        f"GRANT ALL ON slurm_acct_db.* TO 'slurm'@'{host}';"
        for host in ("localhost", "127.0.0.1")
    )
    ns.run(
        ["mariadb", "-S", str(socket), "-u", "root", "-e",
         f"CREATE DATABASE slurm_acct_db; {grants}"],
        check=True,
    )  # fmt: skip


def _write_configs(ns: SlurmNamespace, munge_socket: Path) -> None:
    root = ns.root
    (root / "state").mkdir()
    (root / "log").mkdir()
    dbd = root / "slurmdbd.conf"
    dbd.write_text(
        f"AuthType=auth/munge\nAuthInfo=socket={munge_socket}\nDbdHost=localhost\n"
        f"DbdAddr=127.0.0.1\nDbdPort=6819\nSlurmUser=root\n"
        f"StorageType=accounting_storage/mysql\nStorageHost=127.0.0.1\nStoragePort=3307\n"
        f"StorageUser=slurm\nStoragePass={DB_PASSWORD}\nStorageLoc=slurm_acct_db\n"
        f"PidFile={root}/state/slurmdbd.pid\nLogFile={root}/log/slurmdbd.log\n"
    )
    os.chmod(dbd, 0o600)
    (root / "slurm.conf").write_text(
        f"ClusterName=saeevaltest\nSlurmctldHost=localhost(127.0.0.1)\nSlurmctldPort=6817\n"
        f"SlurmdPort=6818\nSlurmUser=root\nAuthType=auth/munge\n"
        f"AuthInfo=socket={munge_socket}\nCredType=cred/munge\n"
        f"StateSaveLocation={root}/state\nSlurmdSpoolDir={root}/spool-%n\n"
        f"SlurmctldPidFile={root}/state/slurmctld.pid\nSlurmdPidFile={root}/state/slurmd-%n.pid\n"
        f"SlurmctldLogFile={root}/log/slurmctld.log\nSlurmdLogFile={root}/log/slurmd-%n.log\n"
        f"ProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\nSelectType=select/cons_tres\n"
        f"SelectTypeParameters=CR_Core\nMpiDefault=none\nReturnToService=2\n"
        # Accounting through slurmdbd: submitit reads job states with sacct.
        f"AccountingStorageType=accounting_storage/slurmdbd\nAccountingStorageHost=127.0.0.1\n"
        f"AccountingStoragePort=6819\nAccountingStoragePass={munge_socket}\n"
        f"JobAcctGatherType=jobacct_gather/linux\nSchedulerType=sched/backfill\n"
        f"NodeName=node1 NodeAddr=127.0.0.1 NodeHostname=localhost CPUs=2 RealMemory=8000\n"
        f"PartitionName=debug Nodes=node1 Default=YES MaxTime=INFINITE State=UP\n"
    )


@pytest.fixture(scope="module")
def slurm():
    _install()
    ns = SlurmNamespace(Path(tempfile.mkdtemp(prefix="slurm-", dir="/tmp")))
    try:
        munge_socket = _start_munge(ns)
        _start_database(ns)
        _write_configs(ns, munge_socket)
        ns.run(["slurmdbd"], check=True)
        _wait(
            lambda: ns.run(["sacctmgr", "-i", "add", "cluster", "saeevaltest"],
                           capture_output=True).returncode == 0,
            "slurmdbd",
        )  # fmt: skip
        ns.run(["slurmctld"], check=True)
        ns.run(["slurmd", "-N", "node1"], check=True)
        _wait(
            lambda: "idle" in ns.run(["sinfo", "-h", "-o", "%t"], capture_output=True,
                                     text=True).stdout,
            "the SLURM node",
        )  # fmt: skip
        yield ns
    finally:
        ns.close()
        shutil.rmtree(ns.root, ignore_errors=True)


def test_a_sweep_on_slurm_gives_the_local_runs_and_numbers(work, slurm):  # noqa: F811
    command = [
        "sweep", work / "sweep.yaml", "--out", work / "slurm", "--device", "cpu",
        "--executor", "slurm", "--slurm-partition", "debug", "--slurm-time", "10",
    ]  # fmt: skip
    os.environ["SLURM_CONF"] = str(slurm.root / "slurm.conf")
    try:
        output = _finish(_saeeval(command, slurm))
        assert "submitted 4 SLURM job(s)" in output  # the four training passes, one array
        _assert_same_as_local(work, "slurm")

        # submitit returns once a job has written its result; its batch step may still be
        # ending in the accounting for a moment.
        def states() -> list[str]:
            listed = slurm.run(["sacct", "-n", "-X", "-o", "State"], capture_output=True, text=True)
            return listed.stdout.split()

        _wait(lambda: states() and "RUNNING" not in states(), "the jobs to end in the accounting")
        assert set(states()) == {"COMPLETED"}, states()
        # A rerun reads everything from the files and submits nothing.
        again = _finish(_saeeval(command, slurm))
        assert "submitted" not in again and again.count("already trained") == len(RUNS)
    finally:
        os.environ.pop("SLURM_CONF", None)


LONG_RUN = """\
model: {model}
hook: blocks.1.hook_resid_post
tokens: 655360
batch_size: 128
checkpoint_every: 256
d_sae: 4096
evals: []
grid:
  - trainer: topk
    k: [8]
"""


def test_a_job_at_its_time_limit_is_requeued_and_resumes(work, slurm, tmp_path):  # noqa: F811
    """A training unit of more than a minute under a 1-minute limit: submitit requeues the job
    shortly before the limit and the requeued job resumes from the unit's last checkpoint."""
    sweep = tmp_path / "long.yaml"
    sweep.write_text(LONG_RUN.format(model=work / "model"))
    out = tmp_path / "long"
    command = [
        "sweep", sweep, "--out", out, "--device", "cpu", "--executor", "slurm",
        "--slurm-partition", "debug", "--slurm-time", "1",
    ]  # fmt: skip
    os.environ["SLURM_CONF"] = str(slurm.root / "slurm.conf")
    try:
        _finish(_saeeval(command, slurm), timeout=900)
    finally:
        os.environ.pop("SLURM_CONF", None)
    logs = "".join(path.read_text() for path in (out / ".slurm").rglob("*.out"))
    assert "resuming from step" in logs, logs[-3000:]
    assert (out / "topk_k8" / "training_results.json").is_file()
