"""SAEs: one module class, one spec per architecture, loaders for SAELens and dictionary_learning
folders and SAELens' pretrained releases, TransformerLens processing at the hook, and a writer."""

from saeeval.saes.architectures import (
    ARCHITECTURE_SPECS,
    UNSUPPORTED_ARCHITECTURES,
    ArchitectureName,
    ArchitectureSpec,
    architecture_spec,
)
from saeeval.saes.loading import FORMATS, LoadedSAE, default_sae_id, detect_format, load_sae
from saeeval.saes.pretrained import PretrainedRef, pretrained_reference
from saeeval.saes.sae import ARCHITECTURES, SAE, SAEConfig, fold_decoder_norms
from saeeval.saes.saelens_format import config_to_saelens_dict, save_sae
from saeeval.saes.transformer_lens_processing import apply_processing

__all__ = [
    "ARCHITECTURES",
    "ARCHITECTURE_SPECS",
    "FORMATS",
    "SAE",
    "UNSUPPORTED_ARCHITECTURES",
    "ArchitectureName",
    "ArchitectureSpec",
    "LoadedSAE",
    "PretrainedRef",
    "SAEConfig",
    "apply_processing",
    "architecture_spec",
    "config_to_saelens_dict",
    "default_sae_id",
    "detect_format",
    "fold_decoder_norms",
    "load_sae",
    "pretrained_reference",
    "save_sae",
]
