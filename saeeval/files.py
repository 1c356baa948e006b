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


def non_finite_kind(value: Any) -> str | None:
    """The kind ("nan", "inf" or "-inf") of a float that JSON cannot hold, else None."""
    if not isinstance(value, float) or math.isfinite(value):
        return None
    if math.isnan(value):
        return "nan"
    return "inf" if value > 0 else "-inf"


def non_finite_paths(value: Any, prefix: str = "") -> dict[str, str]:
    """Every NaN or infinite float inside `value`, as {"a.b[2].c": "nan"}."""
    kind = non_finite_kind(value)
    if kind is not None:
        return {prefix: kind}
    found: dict[str, str] = {}
    if isinstance(value, dict):
        for key, item in value.items():
            found.update(non_finite_paths(item, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            found.update(non_finite_paths(item, f"{prefix}[{index}]"))
    return found


def _json_safe(value: Any, non_finite_as: Any) -> Any:
    """NaN and infinities are not JSON: they become `non_finite_as` (null unless told)."""
    if non_finite_kind(value) is not None:
        return non_finite_as
    if isinstance(value, dict):
        return {k: _json_safe(v, non_finite_as) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v, non_finite_as) for v in value]
    return value


def atomic_write_json(target: str | Path, data: Any, non_finite_as: Any = None) -> None:
    """Write `data` as strict JSON. A NaN or infinity is written as `non_finite_as`: null by
    default, so that no reader takes it for a measured number; result files write SAEBench's -1
    and list the places it stands for (`saeeval.results.write_result`)."""
    text = json.dumps(_json_safe(data, non_finite_as), indent=2, allow_nan=False)
    atomic_write_text(target, text + "\n")


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
