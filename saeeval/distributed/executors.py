"""Where work units run: this process, Ray Core tasks, or SLURM job arrays through submitit.

An executor only runs units and hands back each one's outcome (or the error it ended with); what
to run, and what is already finished, is the driver's business. Ray and submitit are optional
dependencies (`pip install saeeval[ray]`, `saeeval[slurm]`), imported only when chosen.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from saeeval.cache_dir import CACHE_ENV_VAR, cache_root
from saeeval.distributed.units import run_unit, sharing_inputs
from saeeval.errors import SaeevalError, one_line

EXECUTORS = ("local", "ray", "slurm")
MAX_REQUEUES = 100  # times a SLURM job may reach its time limit and be requeued
# Environment a worker needs to see what the driver sees: the shared cache, offline mode.
_FORWARDED_ENV = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "HF_HOME", "TOKENIZERS_PARALLELISM")


def worker_environment() -> dict[str, str]:
    env = {CACHE_ENV_VAR: str(cache_root().resolve())}
    env.update({name: os.environ[name] for name in _FORWARDED_ENV if name in os.environ})
    return env


class Executor:
    """Runs units; `map` returns, for each unit in order, its outcome or the exception it raised.

    `chunk_size` is how many SAEs (or trained runs) an eval unit gets by default: everything in
    one unit where units run one after another, a few where they run side by side."""

    name = "executor"
    chunk_size: int | None = None

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc) -> None:
        return None

    def map(self, units: Sequence[Any]) -> list[Any]:
        raise NotImplementedError


class LocalExecutor(Executor):
    """Each unit in this process, one after another, with the caller's progress bars and log."""

    name = "local"

    def __init__(self, progress=None, log: Callable[[str], None] = print):
        self.progress, self.log = progress, log
        self._inputs: dict = {}  # a sweep's model and contexts, loaded by its first unit

    def map(self, units: Sequence[Any]) -> list[Any]:
        outcomes = []
        with sharing_inputs(self._inputs):
            for unit in units:
                try:
                    outcomes.append(run_unit(unit, self.progress, self.log))
                except SaeevalError as exc:  # a user-facing error: the other units still run
                    outcomes.append(exc)
        return outcomes


class RayExecutor(Executor):
    """Each unit a Ray Core task (`num_gpus` each); Ray retries a unit whose worker or node
    died, and the unit resumes from its files. With no address, a local Ray cluster is started
    here and stopped at the end. Workers read and write the driver's paths and cache folder, so
    on a cluster those must be on a disk every node mounts."""

    name = "ray"
    chunk_size = 4

    def __init__(
        self,
        workdir: Path,
        address: str | None = None,
        gpus_per_unit: float = 0,
        cpus_per_unit: float = 1,
        max_retries: int = 3,
        log: Callable[[str], None] = print,
    ):
        self.workdir, self.address = Path(workdir), address
        self.gpus_per_unit, self.cpus_per_unit = gpus_per_unit, cpus_per_unit
        self.max_retries, self.log = max_retries, log

    def __enter__(self) -> RayExecutor:
        ray = _import("ray", "ray")
        runtime_env = {"env_vars": worker_environment()}
        # Ray starts workers in the driver's working directory, first on their sys.path: from a
        # checkout of saeeval that would import its source tree instead of the installed
        # package. The output folder holds no Python packages.
        self.workdir.mkdir(parents=True, exist_ok=True)
        here = os.getcwd()
        os.chdir(self.workdir)
        try:
            if self.address:
                self.log(f"connecting to the Ray cluster at {self.address}")
                ray.init(address=self.address, runtime_env=runtime_env, log_to_driver=True)
            else:
                self.log("starting a local Ray cluster (pass --ray-address to use a running one)")
                ray.init(runtime_env=runtime_env, include_dashboard=False, log_to_driver=True)
        finally:
            os.chdir(here)
        self._ray = ray
        return self

    def __exit__(self, *exc) -> None:
        self._ray.shutdown()  # stops the cluster if this driver started it

    def map(self, units: Sequence[Any]) -> list[Any]:
        ray = self._ray
        # Ray gives a task as many threads (OMP_NUM_THREADS) as the CPUs it asks for.
        task = ray.remote(
            num_cpus=self.cpus_per_unit,
            num_gpus=self.gpus_per_unit,
            max_retries=self.max_retries,
        )(run_unit)
        refs = [task.options(name=f"saeeval: {unit.label}").remote(unit) for unit in units]
        outcomes = []
        for unit, ref in zip(units, refs, strict=True):
            try:
                outcomes.append(ray.get(ref))
            except ray.exceptions.RayTaskError as exc:  # the unit itself raised
                cause = exc.cause if isinstance(exc.cause, Exception) else exc
                outcomes.append(_as_error(unit, cause))
            except ray.exceptions.RayError as exc:  # retries used up: workers or nodes lost
                outcomes.append(_as_error(unit, exc))
        return outcomes


class SlurmExecutor(Executor):
    """The units as one SLURM job array through submitit. A job that reaches its time limit is
    requeued and its unit resumes from its files (submitit's checkpoint hook resubmits it)."""

    name = "slurm"
    chunk_size = 4

    def __init__(
        self,
        workdir: Path,
        folder: Path,
        partition: str | None = None,
        gpus_per_task: int = 0,
        time_min: int = 240,
        log: Callable[[str], None] = print,
    ):
        self.workdir, self.folder, self.partition = Path(workdir), Path(folder), partition
        self.gpus_per_task, self.time_min, self.log = gpus_per_task, time_min, log

    def map(self, units: Sequence[Any]) -> list[Any]:
        submitit = _import("submitit", "slurm")
        self.workdir.mkdir(parents=True, exist_ok=True)
        # Each requeue resumes from the unit's last checkpoint, so a long unit may take many
        # time limits to finish; submitit gives up after 3 by default.
        executor = submitit.AutoExecutor(
            folder=self.folder / "%j", cluster="slurm", slurm_max_num_timeout=MAX_REQUEUES
        )
        parameters: dict[str, Any] = {
            "timeout_min": self.time_min,
            # submitit requeues a job this long before its time limit (90 s by default, which
            # would requeue a job of a minute or two at once, forever).
            "slurm_signal_delay_s": max(10, min(90, self.time_min * 6)),
            "slurm_setup": [f"export {k}={v!r}" for k, v in worker_environment().items()],
        }
        # Jobs start in the output folder, not the driver's working directory, which submitit's
        # `python -m` would put first on sys.path (a checkout's source tree, say).
        parameters["slurm_additional_parameters"] = {"chdir": str(self.workdir)}
        if self.partition:
            parameters["slurm_partition"] = self.partition
        if self.gpus_per_task:
            parameters["slurm_gpus_per_task"] = self.gpus_per_task
        executor.update_parameters(**parameters)
        jobs = executor.map_array(_requeueable(submitit)(), list(units))
        self.log(f"submitted {len(jobs)} SLURM job(s): {', '.join(j.job_id for j in jobs)}")
        outcomes = []
        for unit, job in zip(units, jobs, strict=True):
            try:
                outcomes.append(job.result())
            except Exception as exc:  # submitit re-raises the job's error, or reports it lost
                outcomes.append(_as_error(unit, exc))
        return outcomes


def _requeueable(submitit):
    class RequeueableUnit(submitit.helpers.Checkpointable):
        """A unit that submitit requeues at its time limit: resubmitting it resumes it."""

        def __call__(self, unit):
            return run_unit(unit)

    return RequeueableUnit


def make_executor(
    name: str,
    *,
    out: Path,
    progress=None,
    log: Callable[[str], None] = print,
    ray_address: str | None = None,
    gpus_per_unit: float = 0,
    cpus_per_unit: float = 1,
    slurm_partition: str | None = None,
    slurm_gpus_per_task: int = 0,
    slurm_time_min: int = 240,
) -> Executor:
    """The executor `--executor NAME` asks for (SLURM's logs go to OUT/.slurm)."""
    if name == "local":
        return LocalExecutor(progress, log)
    out = Path(out).resolve()
    if name == "ray":
        return RayExecutor(out, ray_address, gpus_per_unit, cpus_per_unit, log=log)
    if name == "slurm":
        return SlurmExecutor(
            out,
            out / ".slurm",
            slurm_partition,
            slurm_gpus_per_task,
            slurm_time_min,
            log,
        )
    raise SaeevalError(f"--executor must be one of {', '.join(EXECUTORS)}, not {name!r}")


def _as_error(unit, exc: BaseException) -> SaeevalError:
    if isinstance(exc, SaeevalError):
        return exc
    return SaeevalError(f"{unit.label} failed: {type(exc).__name__}: {one_line(exc)}")


def _import(module: str, extra: str):
    try:
        return __import__(module)
    except ImportError:
        raise SaeevalError(
            f"--executor {extra} needs the {module} package: pip install 'saeeval[{extra}]'"
        ) from None
