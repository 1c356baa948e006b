"""SAEs: one module class, one spec per architecture, loaders for SAELens and dictionary_learning
folders, and a writer."""

from saeeval.saes.architectures import (
    ARCHITECTURE_SPECS,
    ArchitectureName,
    ArchitectureSpec,
    architecture_spec,
)
from saeeval.saes.loading import FORMATS, LoadedSAE, detect_format, load_sae
from saeeval.saes.sae import ARCHITECTURES, SAE, SAEConfig, fold_decoder_norms
from saeeval.saes.saelens_format import config_to_saelens_dict, save_sae

__all__ = [
    "ARCHITECTURES",
    "ARCHITECTURE_SPECS",
    "FORMATS",
    "SAE",
    "ArchitectureName",
    "ArchitectureSpec",
    "LoadedSAE",
    "SAEConfig",
    "architecture_spec",
    "config_to_saelens_dict",
    "detect_format",
    "fold_decoder_norms",
    "load_sae",
    "save_sae",
]
