"""saeeval: evaluate sparse autoencoders on language-model activations, SAEBench-compatible."""

__version__ = "0.1.0"
