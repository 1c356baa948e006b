"""Defaults of the embedded offline setup, importable without torch (the CLI shows them)."""

DEFAULT_HOOK = "blocks.6.hook_resid_post"  # the embedded SmolLM2's default hook for training
# The demo's SAE: TopK, 2,304 latents, k = 32, trained on this many tokens of the built-in corpus.
# At 1M tokens it tells itself from random directions on sparse probing, SCR, absorption and
# unlearning; at 200k on SCR, TPP and absorption (benchmarks/offline_discrimination.py).
DEMO_D_SAE = 2304
DEMO_TOKENS = 1_000_000
