"""Unlearning: SAEBench's eval of clamping SAE latents to erase one topic's knowledge (config,
latent selection, the clamp, multiple-choice scoring, and the eval in `eval`)."""
