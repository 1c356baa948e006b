"""Finding, detecting and loading SAEs: folders (format detected) and SAELens' pretrained
releases by name (`RELEASE/SAE_ID`, see `saeeval.saes.pretrained`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from saeeval.errors import SaeevalError
from saeeval.saes.dictionary_learning_format import (
    is_dictionary_learning_folder,
    read_dictionary_learning_folder,
)
from saeeval.saes.pretrained import (
    load_pretrained,
    not_a_path_or_release,
    pretrained_reference,
    pretrained_result_id,
)
from saeeval.saes.sae import SAE, torch_dtype
from saeeval.saes.saelens_format import is_saelens_folder, read_saelens_folder
from saeeval.saes.validation import build_sae

FORMATS = ("saelens", "dictionary_learning")


@dataclass
class LoadedSAE:
    """An SAE together with where it came from and the name its results are filed under.

    For a pretrained SAE, `path` is RELEASE/SAE_ID, `format` is "pretrained", and `release` and
    `release_sae_id` are SAELens' names for it (what SAEBench records as sae_lens_release_id and
    sae_lens_id); `sae_id`, the result file's name, is SAEBench's `{release}_{sae_id}`.
    """

    sae: SAE
    sae_id: str
    path: Path
    format: str
    release: str | None = None
    release_sae_id: str | None = None


def detect_format(folder: Path) -> str:
    if is_saelens_folder(folder):
        return "saelens"
    if is_dictionary_learning_folder(folder):
        return "dictionary_learning"
    found = ", ".join(sorted(p.name for p in folder.iterdir())[:8]) or "nothing"
    raise SaeevalError(
        f"{folder} is not an SAE folder in a known format: expected cfg.json + "
        f"sae_weights.safetensors (SAELens/saeeval) or ae.pt + config.json (dictionary_learning); "
        f"found {found}"
    )


def sae_folder(path: str | Path) -> Path:
    """The folder an SAE lives in, given the folder or one of its files."""
    path = Path(path).expanduser()
    if not path.exists():
        raise SaeevalError(not_a_path_or_release(path) or f"SAE path {path} does not exist")
    return path.parent if path.is_file() else path


def default_sae_id(spec: str | Path, depth: int = 1) -> str:
    """The name results are filed under when none is given: SAEBench's for a pretrained SAE,
    else the folder's last `depth` path parts joined by "_"."""
    return pretrained_result_id(spec) or "_".join(Path(spec).resolve().parts[-depth:])


def load_sae(
    path: str | Path,
    format: str | None = None,
    dtype: str = "float32",
    device: str = "cpu",
    hook_name: str | None = None,
    sae_id: str | None = None,
) -> LoadedSAE:
    """Load an SAE folder, or a pretrained SAE named RELEASE/SAE_ID (an existing path wins);
    `format` overrides folder format detection, `hook_name` overrides the SAE's config."""
    ref = pretrained_reference(path)
    if ref is not None:
        if format is not None:
            raise SaeevalError(f"--format applies to SAE folders, not to pretrained {ref.name}")
        cfg, weights = load_pretrained(ref)
        if hook_name:
            cfg.hook_name = hook_name
        sae = build_sae(cfg, weights, Path(ref.name))
        sae.cfg.dtype = dtype
        sae = sae.to(device=device, dtype=torch_dtype(dtype))
        return LoadedSAE(
            sae=sae,
            sae_id=sae_id or ref.result_id,
            path=Path(ref.name),
            format="pretrained",
            release=ref.release,
            release_sae_id=ref.sae_id,
        )
    folder = sae_folder(path)
    if format is None:
        format = detect_format(folder)
    elif format not in FORMATS:
        raise SaeevalError(f"--format must be one of {', '.join(FORMATS)}, not {format!r}")
    if format == "saelens":
        if not is_saelens_folder(folder):
            raise SaeevalError(
                f"{folder} has no cfg.json + sae_weights.safetensors (--format saelens)"
            )
        cfg, weights = read_saelens_folder(folder)
        if hook_name:
            cfg.hook_name = hook_name
        sae = build_sae(cfg, weights, folder)
    else:
        if not is_dictionary_learning_folder(folder):
            raise SaeevalError(
                f"{folder} has no ae.pt + config.json (--format dictionary_learning)"
            )
        sae = read_dictionary_learning_folder(folder)
        if hook_name:
            sae.cfg.hook_name = hook_name
    sae.cfg.dtype = dtype
    sae = sae.to(device=device, dtype=torch_dtype(dtype))
    return LoadedSAE(sae=sae, sae_id=sae_id or folder.resolve().name, path=folder, format=format)
