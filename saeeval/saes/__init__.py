"""SAEs: one module class, loaders for SAELens and dictionary_learning folders, and a writer."""

from saeeval.saes.loading import FORMATS, LoadedSAE, detect_format, load_sae
from saeeval.saes.sae import ARCHITECTURES, SAE, SAEConfig
from saeeval.saes.saelens_format import config_to_saelens_dict, save_sae

__all__ = [
    "ARCHITECTURES",
    "FORMATS",
    "SAE",
    "LoadedSAE",
    "SAEConfig",
    "config_to_saelens_dict",
    "detect_format",
    "load_sae",
    "save_sae",
]
