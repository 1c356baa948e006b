"""Reading result folders written by saeeval or by SAEBench."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from saeeval.errors import SaeevalError, one_line
from saeeval.results.paths import RESULT_SUFFIX, SEED_RUNS_DIR
from saeeval.results.stamp import restore_non_finite


def read_result(path: str | Path) -> dict[str, Any]:
    """One result file, with `_path` and `_sae_id` added.

    `_sae_id` is the file name's stem, which is how SAEBench's own readers key results too. Where
    the file's saeeval stamp lists a metric as NaN or infinite, that value is restored in place of
    the -1 the file holds, so no reader takes it for a measured -1.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SaeevalError(f"{path} is not a readable result file: {one_line(exc)}") from None
    if not isinstance(data, dict) or not isinstance(data.get("eval_type_id"), str):
        raise SaeevalError(f"{path} is not a result file: it holds no eval_type_id")
    if not isinstance(data.get("eval_result_metrics"), dict):
        raise SaeevalError(f"{path} is not a result file: it holds no eval_result_metrics object")
    restore_non_finite(data)
    data["_path"] = str(path)
    data["_sae_id"] = path.name[: -len(RESULT_SUFFIX)]
    return data


def read_results(
    folder: str | Path, unreadable: list[tuple[Path, str]] | None = None
) -> list[dict[str, Any]]:
    """Every readable `*_eval_results.json` under `folder`, except the extra seeds' reruns
    under `folder/seed_runs/` (their spread is recorded in the results they rerun).

    A damaged file never stops a report or a summary: it is left out, and (path, why) is appended
    to `unreadable` when the caller passes a list to hear about it.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise SaeevalError(f"results folder {folder} does not exist")
    results = []
    for path in sorted(folder.rglob(f"*{RESULT_SUFFIX}")):
        if SEED_RUNS_DIR in path.relative_to(folder).parts[:-1]:
            continue
        try:
            results.append(read_result(path))
        except SaeevalError as exc:
            if unreadable is not None:
                unreadable.append((path, str(exc)))
    return results
