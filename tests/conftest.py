"""Shared fixtures. Tests run against a cache directory of their own (one per session, removed at
its end), so the converted embedded model, the tokenised corpus and cached activations never leak in
from a user's cache; set SAEEVAL_TEST_CACHE_DIR to reuse one across sessions while developing."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))  # tiny_models, reference_models

# The reference's sklearn probe path trips its own runtime shape checks (a dimension name bound to
# the per-class size is reused for the two-class probe set); switching them off changes no result.
# jaxtyping is already imported by its pytest plugin here, so its config is set, not the env var.
try:
    import jaxtyping

    jaxtyping.config.update("jaxtyping_disable", True)
except ImportError:  # only the reference needs it
    pass

_session_cache = os.environ.get("SAEEVAL_TEST_CACHE_DIR")
_session_cache_is_temporary = False


def pytest_configure(config):
    global _session_cache, _session_cache_is_temporary
    # No test may reach a model or dataset hub; offline mode makes any attempt fail at once.
    os.environ["HF_HUB_OFFLINE"] = "1"
    if not _session_cache:
        import tempfile

        _session_cache = tempfile.mkdtemp(prefix="saeeval-test-cache-")
        _session_cache_is_temporary = True
    os.environ["SAEEVAL_CACHE_DIR"] = _session_cache
    torch.set_num_threads(max(1, os.cpu_count() or 1))


def pytest_unconfigure(config):
    # A session's cache holds a converted model and cached activations (about 0.7 GB); left behind,
    # every run would add another to the temp folder until the disk fills.
    if _session_cache_is_temporary:
        shutil.rmtree(_session_cache, ignore_errors=True)


# Markers of tests that run only when `-m` names them: `slurm` installs and starts daemons, `cuda`
# needs a CUDA GPU. Every other selection leaves them out, `-m "not embedded"` included.
OPT_IN_MARKERS = ("slurm", "cuda")


def pytest_collection_modifyitems(config, items):
    """Leave out the tests of each opt-in marker that `-m` does not name."""
    named = config.getoption("markexpr") or ""
    left_out = [marker for marker in OPT_IN_MARKERS if marker not in named]
    kept = [item for item in items if not any(item.get_closest_marker(m) for m in left_out)]
    if len(kept) < len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in kept])
        items[:] = kept


@pytest.fixture
def isolated_cache(tmp_path, monkeypatch) -> Path:
    """A cache directory used by this test alone (for tests about caching itself)."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("SAEEVAL_CACHE_DIR", str(folder))
    return folder


@pytest.fixture(scope="session")
def embedded_model():
    """The embedded SmolLM2, converted once per session (about 30 s the first time)."""
    from saeeval.models import load_model

    return load_model("smollm2-135m", "cpu")
