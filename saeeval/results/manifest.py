"""OUT/manifest.json: what produced the results in a folder, and how long each took.

The manifest is rewritten atomically after every finished (SAE, eval) pair, and a later run into
the same folder adds to it rather than replacing it.
"""

from __future__ import annotations

import json
import os
import platform
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import torch

from saeeval import __version__
from saeeval.files import atomic_write_json

MANIFEST_NAME = "manifest.json"
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


class Manifest:
    def __init__(self, out_dir: str | Path):
        self.path = Path(out_dir) / MANIFEST_NAME
        self.data: dict[str, Any] = {"results": {}, "models": {}, "datasets": {}, "runs": []}
        if self.path.is_file():
            try:
                self.data.update(json.loads(self.path.read_text()))
            except (OSError, json.JSONDecodeError):
                pass  # an unreadable manifest is replaced; result files are untouched

    def start_run(self, command: str, seed: int, device: torch.device) -> None:
        self.data["saeeval_version"] = __version__
        self.data["packages"] = _package_versions()
        self.data["python"] = platform.python_version()
        self.data["platform"] = platform.platform()
        self.data["hardware"] = hardware(device)
        self.data["seed"] = seed
        self.data["runs"].append(
            {"command": command, "started": time.strftime("%Y-%m-%dT%H:%M:%S")}
        )
        self.save()

    def record_model(self, name: str, fingerprint: str, dtype: str, device: str) -> None:
        self.data["models"][name] = {"fingerprint": fingerprint, "dtype": dtype, "device": device}

    def record_dataset(self, name: str, fingerprint: str, provenance: str) -> None:
        self.data["datasets"][name] = {"fingerprint": fingerprint, "provenance": provenance}

    def record_result(self, eval_type_id: str, sae_id: str, entry: dict[str, Any]) -> None:
        self.data["results"][f"{eval_type_id}/{sae_id}"] = entry
        self.save()

    def finish_run(self, wall_time_s: float) -> None:
        self.data["runs"][-1]["wall_time_s"] = round(wall_time_s, 2)
        self.save()

    def save(self) -> None:
        atomic_write_json(self.path, self.data)
