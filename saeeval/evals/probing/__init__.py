"""The probing family of evals (sparse probing, SCR, TPP): SAEBench's probe and ablation arithmetic.

`probes` builds SAEBench's one-vs-rest (or paired) probe sets and trains its probes; `ablation`
computes the SCR/TPP latent attributions, ablations and scores from per-example SAE statistics.
Every random draw comes from an explicit `torch.Generator`, in the reference's order.
"""
