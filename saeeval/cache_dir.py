"""Where saeeval keeps converted models, tokenized datasets and cached activations."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV_VAR = "SAEEVAL_CACHE_DIR"


def cache_root() -> Path:
    """`$SAEEVAL_CACHE_DIR`, else `$XDG_CACHE_HOME/saeeval`, else `~/.cache/saeeval`."""
    override = os.environ.get(CACHE_ENV_VAR)
    if override:
        return Path(override).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "saeeval"
