"""Defaults of the embedded offline setup, importable without torch (the CLI shows them)."""

DEFAULT_HOOK = "blocks.6.hook_resid_post"  # the embedded SmolLM2's default hook for training
