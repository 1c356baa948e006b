"""The `saeeval` block every result file carries beside SAEBench's fields.

SAEBench's schemas allow extra top-level keys, so each result records under `"saeeval"` what
produced it (code version and revision, the eval's version, the SAE's content fingerprint, the
config the eval was started with and the `--set` fields behind it, the model, dataset and seed) and
which of its numbers were not finite. That block decides whether a rerun may keep the result
(`mismatch`), and lets readers tell SAEBench's -1 placeholder from a measured -1 (`read_result`).
"""

from __future__ import annotations

import json
from typing import Any

from saeeval.files import atomic_write_json, non_finite_paths

STAMP_KEY = "saeeval"
# SAEBench's core eval writes NaN metrics as -1 (its schemas require numbers there); so do we, in
# result files only, and list each such place under STAMP_KEY["non_finite"].
NON_FINITE_PLACEHOLDER = -1
_METRICS_PREFIX = "eval_result_metrics."
# What a finished result must match to be kept on a rerun.
_MATCHED = ("eval_version", "sae_fingerprint", "inputs", "requested_config")


def json_normal(value: Any) -> Any:
    """`value` as it reads back from a JSON file (tuples become lists, and so on)."""
    return json.loads(json.dumps(value, default=str))


def write_result(path, result: dict[str, Any], stamp: dict[str, Any]) -> dict[str, Any]:
    """Stamp `result`, list its non-finite numbers, and write it atomically; returns the result.

    The returned dict keeps its NaN values (as in memory); the file holds -1 in their place.
    """
    body = {key: value for key, value in result.items() if key != STAMP_KEY}
    stamped = {**body, STAMP_KEY: {**stamp, "non_finite": non_finite_paths(body)}}
    atomic_write_json(path, stamped, non_finite_as=NON_FINITE_PLACEHOLDER)
    return stamped


def non_finite_metrics(result: dict[str, Any]) -> list[str]:
    """Paths (inside eval_result_metrics) of the metrics that came out NaN or infinite."""
    listed = (result.get(STAMP_KEY) or {}).get("non_finite") or {}
    return [path[len(_METRICS_PREFIX) :] for path in listed if path.startswith(_METRICS_PREFIX)]


def restore_non_finite(result: dict[str, Any]) -> None:
    """Put NaN/inf back where a result file wrote its -1 placeholder (in place)."""
    listed = (result.get(STAMP_KEY) or {}).get("non_finite") or {}
    for path, kind in listed.items():
        _set(result, path, float(kind))


def _set(data: Any, path: str, value: float) -> None:
    """Set the item at a `a.b[2].c` path, if the path exists (a hand-edited file may differ)."""
    parts: list[str | int] = []
    for piece in path.split("."):
        name, _, rest = piece.partition("[")
        if name:
            parts.append(name)
        for index in rest.split("[") if rest else []:
            parts.append(int(index.rstrip("]")))
    for key in parts[:-1]:
        try:
            data = data[key]
        except (KeyError, IndexError, TypeError):
            return
    try:
        if data[parts[-1]] == NON_FINITE_PLACEHOLDER:
            data[parts[-1]] = value
    except (KeyError, IndexError, TypeError):
        return


def mismatch(recorded: dict[str, Any], expected: dict[str, Any]) -> str | None:
    """Why a finished result does not answer what is asked now, or None when it does."""
    stamp = recorded.get(STAMP_KEY)
    if not isinstance(stamp, dict):
        return "it records no saeeval stamp (written by another tool or an older saeeval)"
    expected = json_normal(expected)
    for key in _MATCHED:
        was, now = stamp.get(key), expected.get(key)
        if was == now:
            continue
        if key == "eval_version":
            return f"the eval's version changed ({was} -> {now})"
        if key == "sae_fingerprint":
            return "the SAE's weights or config changed"
        return f"the {_WHAT[key]} changed ({_differences(was, now)})"
    return None


_WHAT = {"inputs": "model, data or seed", "requested_config": "eval config"}


def _differences(was: Any, now: Any) -> str:
    if not isinstance(was, dict) or not isinstance(now, dict):
        return f"{was!r} -> {now!r}"
    changed = [
        f"{key}: {was.get(key)!r} -> {now.get(key)!r}"
        for key in sorted(set(was) | set(now))
        if was.get(key) != now.get(key)
    ]
    return "; ".join(changed)
