"""Files at the bottom of every layer: atomic writes (a reader or a crash never sees a half-written
file) and JSON reads that fail with one clear message."""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from saeeval.errors import SaeevalError, one_line


@contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """A temporary path beside `target`; on success it is renamed onto `target`."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write_text(target: str | Path, text: str) -> None:
    with atomic_path(target) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())


def _json_safe(value: Any) -> Any:
    """NaN and infinities are not JSON; SAEBench writes NaN metrics as -1, and so do we."""
    if isinstance(value, float) and not math.isfinite(value):
        return -1
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def atomic_write_json(target: str | Path, data: Any) -> None:
    atomic_write_text(target, json.dumps(_json_safe(data), indent=2, allow_nan=False) + "\n")


def read_json_object(path: str | Path) -> dict[str, Any]:
    """A JSON file that must hold an object, or one clear error naming the file."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SaeevalError(f"{path} is not a readable JSON file: {one_line(exc)}") from None
    if not isinstance(data, dict):
        raise SaeevalError(f"{path} must hold a JSON object, found {type(data).__name__}")
    return data
