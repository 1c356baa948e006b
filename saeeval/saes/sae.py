"""The SAE module every eval runs: one class, five inference architectures.

Semantics follow SAELens' inference SAEs, so a folder SAELens loads gives the same latents here:

- standard:  f = ReLU((x - b_dec) W_enc + b_enc)
- topk:      the k largest pre-activations per token, then ReLU
- jumprelu:  f = ReLU(pre) * [pre > threshold]   (BatchTopK SAEs infer this way too)
- gated:     f = [(x - b_dec) W_enc + b_gate > 0] * ReLU((x - b_dec)(W_enc * exp(r_mag)) + b_mag)

and x_hat = f W_dec + b_dec. `apply_b_dec_to_input` controls the `- b_dec` on the input.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

ARCHITECTURES = ("standard", "topk", "jumprelu", "gated")
NORMALIZATIONS = ("none", "expected_average_only_in", "constant_norm_rescale", "layer_norm")


@dataclass
class SAEConfig:
    architecture: str
    d_in: int
    d_sae: int
    hook_name: str
    model_name: str | None = None
    k: int | None = None  # topk only
    rescale_acts_by_decoder_norm: bool = False  # topk only
    apply_b_dec_to_input: bool = True
    normalize_activations: str = "none"
    dtype: str = "float32"
    prepend_bos: bool = True
    context_size: int | None = None
    dataset_path: str | None = None
    # Anything else the source config carried (trainer hyperparameters, training tokens, ...).
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def hook_layer(self) -> int:
        return int(self.hook_name.split(".")[1])

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_TORCH_DTYPES = {
    "float32": torch.float32,
    "float64": torch.float64,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
}


def torch_dtype(name: str) -> torch.dtype:
    return _TORCH_DTYPES[name]


class SAE(nn.Module):
    def __init__(self, cfg: SAEConfig):
        super().__init__()
        self.cfg = cfg
        dtype = torch_dtype(cfg.dtype)
        d_in, d_sae = cfg.d_in, cfg.d_sae
        self.W_enc = nn.Parameter(torch.zeros(d_in, d_sae, dtype=dtype))
        self.W_dec = nn.Parameter(torch.zeros(d_sae, d_in, dtype=dtype))
        self.b_dec = nn.Parameter(torch.zeros(d_in, dtype=dtype))
        if cfg.architecture == "gated":
            self.b_gate = nn.Parameter(torch.zeros(d_sae, dtype=dtype))
            self.r_mag = nn.Parameter(torch.zeros(d_sae, dtype=dtype))
            self.b_mag = nn.Parameter(torch.zeros(d_sae, dtype=dtype))
        else:
            self.b_enc = nn.Parameter(torch.zeros(d_sae, dtype=dtype))
        if cfg.architecture == "jumprelu":
            self.threshold = nn.Parameter(torch.zeros(d_sae, dtype=dtype))

    # -- shape and identity -----------------------------------------------------------------------

    @property
    def d_in(self) -> int:
        return self.cfg.d_in

    @property
    def d_sae(self) -> int:
        return self.cfg.d_sae

    @property
    def hook_name(self) -> str:
        return self.cfg.hook_name

    @property
    def dtype(self) -> torch.dtype:
        return self.W_enc.dtype

    @property
    def device(self) -> torch.device:
        return self.W_enc.device

    @property
    def encoder_bias(self) -> torch.Tensor:
        """The per-latent encoder bias SAEBench reports (b_mag for gated SAEs)."""
        return self.b_mag if self.cfg.architecture == "gated" else self.b_enc

    # -- input normalisation (SAELens' run-time schemes) ----------------------------------------

    def _normalise(self, x: torch.Tensor) -> tuple[torch.Tensor, Any]:
        scheme = self.cfg.normalize_activations
        if scheme == "constant_norm_rescale":
            coeff = (self.cfg.d_in**0.5) / x.norm(dim=-1, keepdim=True)
            return x * coeff, coeff
        if scheme == "layer_norm":
            mu = x.mean(dim=-1, keepdim=True)
            centred = x - mu
            std = centred.std(dim=-1, keepdim=True)
            return centred / (std + 1e-5), (mu, std)
        # "expected_average_only_in" is folded into the weights before inference, as in SAELens.
        return x, None

    def _denormalise(self, x_hat: torch.Tensor, state: Any) -> torch.Tensor:
        scheme = self.cfg.normalize_activations
        if scheme == "constant_norm_rescale":
            return x_hat / state
        if scheme == "layer_norm":
            mu, std = state
            return x_hat * std + mu
        return x_hat

    # -- encode / decode --------------------------------------------------------------------------

    def _latents(self, sae_in: torch.Tensor) -> torch.Tensor:
        arch = self.cfg.architecture
        if self.cfg.apply_b_dec_to_input:
            sae_in = sae_in - self.b_dec
        if arch == "gated":
            gate = ((sae_in @ self.W_enc + self.b_gate) > 0).to(sae_in.dtype)
            magnitude = torch.relu(sae_in @ (self.W_enc * self.r_mag.exp()) + self.b_mag)
            return gate * magnitude
        pre = sae_in @ self.W_enc + self.b_enc
        if arch == "standard":
            return torch.relu(pre)
        if arch == "jumprelu":
            return torch.relu(pre) * (pre > self.threshold).to(pre.dtype)
        # topk
        if self.cfg.rescale_acts_by_decoder_norm:
            pre = pre * self.W_dec.norm(dim=-1)
        values, indices = torch.topk(pre, k=self.cfg.k, dim=-1, sorted=False)
        return torch.zeros_like(pre).scatter_(-1, indices, values.relu())

    def _decoder_weights(self) -> torch.Tensor:
        if self.cfg.architecture == "topk" and self.cfg.rescale_acts_by_decoder_norm:
            return self.W_dec / self.W_dec.norm(dim=-1, keepdim=True)
        return self.W_dec

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        sae_in, _ = self._normalise(x.to(self.dtype))
        return self._latents(sae_in)

    def decode(self, latents: torch.Tensor, norm_state: Any = None) -> torch.Tensor:
        x_hat = latents @ self._decoder_weights() + self.b_dec
        return self._denormalise(x_hat, norm_state)

    def encode_decode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Latents and reconstruction of `x` (any leading shape), undoing input normalisation."""
        sae_in, state = self._normalise(x.to(self.dtype))
        latents = self._latents(sae_in)
        return latents, self.decode(latents, state)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encode_decode(x)[1]
