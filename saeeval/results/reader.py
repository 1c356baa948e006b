"""Reading result folders written by saeeval or by SAEBench."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from saeeval.errors import SaeevalError, one_line
from saeeval.results.paths import RESULT_SUFFIX


def read_result(path: str | Path) -> dict[str, Any]:
    """One result file, with `_path` and `_sae_id` added.

    `_sae_id` is the file name's stem, which is how SAEBench's own readers key results too.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise SaeevalError(f"{path} is not a readable result file: {one_line(exc)}") from None
    data["_path"] = str(path)
    data["_sae_id"] = path.name[: -len(RESULT_SUFFIX)]
    return data


def read_results(folder: str | Path) -> list[dict[str, Any]]:
    """Every `*_eval_results.json` under `folder`."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SaeevalError(f"results folder {folder} does not exist")
    return [read_result(path) for path in sorted(folder.rglob(f"*{RESULT_SUFFIX}"))]
