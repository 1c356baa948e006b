"""Activation collection and the on-disk activation cache."""

from saeeval.activations.cache import ActivationCache, CachedActivations, CacheEntry, content_key

__all__ = ["ActivationCache", "CacheEntry", "CachedActivations", "content_key"]
