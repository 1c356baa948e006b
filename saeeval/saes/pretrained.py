"""SAEs from SAELens' pretrained directory, by name: `--sae RELEASE/SAE_ID`.

SAELens ships the directory (`pretrained_saes.yaml`: each release's hub repository, the path of
each SAE id in it, its loader and config overrides) and a loader per release family (SAELens
folders, Gemma Scope's params.npz, dictionary_learning's ae.pt, ...). This module uses SAELens'
own functions for all of it and reads the files through the Hugging Face hub cache
(`HF_HUB_CACHE`, default under `HF_HOME`), so `HF_HUB_OFFLINE=1` works from a filled cache.

The SAE comes back as SAEBench evaluates a pretrained SAE (its `load_and_format_sae`):
SAELens' `from_pretrained_with_cfg_and_sparsity` (which folds a release's norm scaling factor in),
then `fold_W_dec_norm()` where SAELens supports it. Results are filed under SAEBench's name for
them, `{release}_{sae_id}` with every "/" made "_" (`get_results_filepath`), and record the
release and id as SAEBench does (`sae_lens_release_id`, `sae_lens_id`).
"""

from __future__ import annotations

import difflib
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from saeeval.errors import SaeevalError, one_line
from saeeval.saes.sae import SAEConfig
from saeeval.saes.saelens_format import config_from_dict


@dataclass(frozen=True)
class PretrainedRef:
    """One SAE of SAELens' pretrained directory."""

    release: str
    sae_id: str

    @property
    def name(self) -> str:
        """How users write it: RELEASE/SAE_ID."""
        return f"{self.release}/{self.sae_id}"

    @property
    def result_id(self) -> str:
        """The name SAEBench files its results under (filesystem-safe)."""
        return f"{self.release}_{self.sae_id}".replace("/", "_")


def _directory() -> dict[str, Any]:
    from sae_lens.loading.pretrained_saes_directory import get_pretrained_saes_directory

    return get_pretrained_saes_directory()


def _looks_like_release(spec: str) -> tuple[str, str] | None:
    """(release, id) of a RELEASE/ID that is not a path (so the directory is worth asking)."""
    if Path(spec).expanduser().exists():
        return None  # an existing path wins
    release, sep, sae_id = spec.partition("/")
    if not sep or not release or not sae_id or Path(release).expanduser().exists():
        return None  # no id, an absolute path, or a path whose first folder exists
    return release, sae_id


def pretrained_reference(spec: str | Path) -> PretrainedRef | None:
    """The pretrained SAE `spec` names, or None when it is (or can only be) a path.

    An existing path wins; otherwise RELEASE/SAE_ID names a pretrained SAE when RELEASE is in
    SAELens' directory (the id is checked when it loads, with a list of valid ones).
    """
    parts = _looks_like_release(str(spec))
    if parts is None or parts[0] not in _directory():
        return None
    return PretrainedRef(*parts)


def pretrained_result_id(spec: str | Path) -> str | None:
    """SAEBench's result name for `spec` when it names a pretrained SAE, else None."""
    ref = pretrained_reference(spec)
    return ref.result_id if ref is not None else None


def _some(names: list[str], wanted: str, count: int = 5) -> str:
    """A few of `names`: the closest to `wanted` first, then the first ones."""
    close = difflib.get_close_matches(wanted, names, n=count, cutoff=0.6)
    shown = close + [n for n in names if n not in close][: max(0, count - len(close))]
    more = f" (and {len(names) - len(shown)} more)" if len(names) > len(shown) else ""
    return ", ".join(shown) + more


def not_a_path_or_release(spec: str | Path) -> str | None:
    """Why `spec` is neither an existing path nor a pretrained SAE, when it reads as
    RELEASE/SAE_ID with an unknown release; None when it can only be a missing path."""
    parts = _looks_like_release(str(spec))
    if parts is None:
        return None
    release = parts[0]
    directory = _directory()
    if release in directory:
        return None
    close = difflib.get_close_matches(release, list(directory), n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return (
        f"SAE {spec} is neither an existing path nor RELEASE/SAE_ID of SAELens' pretrained "
        f"directory: {release!r} is not a release there{hint}"
    )


@contextmanager
def _hub_errors(ref: PretrainedRef, repo_id: str, folder: str) -> Iterator[None]:
    """Hub and SAELens loader failures as one sentence saying what to do."""
    from huggingface_hub import constants
    from huggingface_hub.errors import (
        EntryNotFoundError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
    )

    # Most releases keep each SAE in a folder; a few keep it in one weights file.
    is_file = folder.rsplit(".", 1)[-1] in ("pt", "pth", "npz", "safetensors")
    pattern = folder if is_file else f"{folder}/*"
    try:
        yield
    except SaeevalError:
        raise
    except (LocalEntryNotFoundError, OfflineModeIsEnabled) as exc:
        why = (
            "downloads are off (HF_HUB_OFFLINE=1)"
            if constants.HF_HUB_OFFLINE
            else "the hub could not be reached"
        )
        raise SaeevalError(
            f"{ref.name}: its files ({folder} in hub repo {repo_id}) are not in the local "
            f"Hugging Face cache {constants.HF_HUB_CACHE} and {why}; fetch them once with "
            f"network access (for example: hf download {repo_id} --include '{pattern}'), or "
            f"point HF_HUB_CACHE at a cache that has them"
        ) from exc
    except (RepositoryNotFoundError, EntryNotFoundError, HfHubHTTPError) as exc:
        raise SaeevalError(
            f"{ref.name}: could not fetch {folder} from hub repo {repo_id}: {one_line(exc)}"
        ) from exc
    except Exception as exc:  # a SAELens loader failing on what it found
        raise SaeevalError(
            f"{ref.name}: SAELens could not load it ({type(exc).__name__}: {one_line(exc)})"
        ) from exc


def load_pretrained(ref: PretrainedRef) -> tuple[SAEConfig, dict[str, torch.Tensor]]:
    """The config and weights of a pretrained SAE, loaded through SAELens as SAEBench does."""
    from sae_lens import SAE as SAELensSAE
    from sae_lens.loading.pretrained_sae_loaders import load_sae_config_from_huggingface
    from sae_lens.loading.pretrained_saes_directory import get_repo_id_and_folder_name

    lookup = _directory()[ref.release]
    if ref.sae_id not in lookup.saes_map:
        raise SaeevalError(
            f"{ref.name}: release {ref.release!r} has no SAE {ref.sae_id!r}; its ids include "
            f"{_some(list(lookup.saes_map), ref.sae_id)}"
        )
    repo_id, folder = get_repo_id_and_folder_name(ref.release, ref.sae_id)
    with _hub_errors(ref, repo_id, folder):
        raw = load_sae_config_from_huggingface(ref.release, ref.sae_id, device="cpu")
    config_from_dict(raw, ref.name)  # refuse what saeeval cannot run before fetching weights
    with _hub_errors(ref, repo_id, folder), warnings.catch_warnings():
        # saeeval applies model_from_pretrained_kwargs itself (transformer_lens_processing)
        warnings.filterwarnings("ignore", message=r"(?s).*non-empty model_from_pretrained_kwargs")
        sae, _, _ = SAELensSAE.from_pretrained_with_cfg_and_sparsity(
            ref.release, ref.sae_id, device="cpu", dtype="float32"
        )
        try:
            sae.fold_W_dec_norm()  # as SAEBench's load_and_format_sae does
        except NotImplementedError:
            pass  # TopK SAEs without decoder-norm rescaling: SAEBench leaves them as they are
    cfg = config_from_dict(sae.cfg.to_dict(), ref.name)
    return cfg, {name: tensor.detach() for name, tensor in sae.state_dict().items()}
