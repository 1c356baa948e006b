"""Where saeeval keeps converted models, tokenized datasets and cached activations."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from saeeval.errors import SaeevalError

CACHE_ENV_VAR = "SAEEVAL_CACHE_DIR"


def cache_root() -> Path:
    """`$SAEEVAL_CACHE_DIR`, else `$XDG_CACHE_HOME/saeeval`, else `~/.cache/saeeval`."""
    override = os.environ.get(CACHE_ENV_VAR)
    if override:
        return Path(override).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "saeeval"


def _kind_of(path: Path, root: Path) -> str:
    """An entry's kind: `activations/acts`, `activations/scr-probes`, ..., else its top folder."""
    top = path.relative_to(root).parts[0]
    if top == "activations" and path.parent.name == "activations":
        return f"activations/{path.name.rsplit('-', 1)[0]}"
    return top


def cache_entries(root: Path | None = None) -> list[Path]:
    """Every entry under the cache: the activation store's entries, and each other top folder."""
    root = root or cache_root()
    if not root.is_dir():
        return []
    entries: list[Path] = []
    for top in sorted(p for p in root.iterdir() if p.is_dir()):
        if top.name == "activations":
            entries.extend(sorted(p for p in top.iterdir() if p.is_dir()))
        else:
            entries.append(top)
    return entries


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def cache_usage(root: Path | None = None) -> dict[str, tuple[int, int]]:
    """Per kind of entry: (number of entries, bytes on disk)."""
    root = root or cache_root()
    usage: dict[str, tuple[int, int]] = {}
    for entry in cache_entries(root):
        kind = _kind_of(entry, root)
        count, size = usage.get(kind, (0, 0))
        usage[kind] = (count + 1, size + _size(entry))
    return usage


def kind_matches(kind: str, requested: str) -> bool:
    """`requested` is `kind` or a prefix of it (`activations` covers `activations/acts`)."""
    return kind == requested or kind.startswith(requested.rstrip("/") + "/")


def clear_cache(kinds: list[str] | None = None, root: Path | None = None) -> tuple[int, int]:
    """Remove every entry, or those of `kinds` (as `cache_usage` names them, or a prefix of one:
    `activations` covers every activation entry). Returns (entries removed, bytes freed)."""
    root = root or cache_root()
    entries = cache_entries(root)
    known = {_kind_of(e, root) for e in entries}
    for kind in kinds or []:
        if not any(kind_matches(k, kind) for k in known):
            raise SaeevalError(
                f"--kind {kind!r}: no such entries in {root} (present: {', '.join(sorted(known))})"
            )
    removed = freed = 0
    for entry in entries:
        kind = _kind_of(entry, root)
        if kinds and not any(kind_matches(kind, k) for k in kinds):
            continue
        freed += _size(entry)
        shutil.rmtree(entry)
        removed += 1
    return removed, freed
