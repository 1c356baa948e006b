"""Which code produced a result: the saeeval version and, when run from a checkout, its revision.

An installed wheel has only its version. A source checkout (an editable install, or `saeeval` run
from the repository) also has a git commit, and a dirty flag when tracked files differ from that
commit; both go into every result and the manifest, so that a number can be traced to the code
that computed it.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from saeeval import __version__

# The repository root of a checkout: the folder holding the saeeval package and pyproject.toml.
_CHECKOUT = Path(__file__).resolve().parent.parent


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "--no-optional-locks", "-C", str(_CHECKOUT), *args],
            capture_output=True,
            text=True,
            timeout=20,
            env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"},
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


@functools.lru_cache(maxsize=1)
def source_revision() -> dict[str, Any] | None:
    """{"commit": ..., "dirty": ...} when saeeval runs from a git checkout, else None.

    Dirty means tracked files differ from the commit (untracked files, such as results folders in
    the checkout, do not count). Computed once per process.
    """
    if not (_CHECKOUT / ".git").exists() or not (_CHECKOUT / "pyproject.toml").is_file():
        return None  # an installed wheel: site-packages is no checkout
    if shutil.which("git") is None:
        return None
    commit = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=no")
    if commit is None or status is None:
        return None
    return {"commit": commit.strip(), "dirty": bool(status.strip())}


def code_provenance() -> dict[str, Any]:
    """The saeeval version and source revision, as results and the manifest record them."""
    return {"saeeval_version": __version__, "source_revision": source_revision()}


def code_id() -> str:
    """One string naming the code: `saeeval-0.1.0`, plus `+g<commit>[.dirty]` from a checkout.

    Written as the result's `sae_bench_commit_hash`, the field SAEBench fills with its own commit.
    """
    revision = source_revision()
    if revision is None:
        return f"saeeval-{__version__}"
    dirty = ".dirty" if revision["dirty"] else ""
    return f"saeeval-{__version__}+g{revision['commit'][:12]}{dirty}"
