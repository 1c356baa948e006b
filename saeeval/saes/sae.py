"""The SAE module every eval runs: one class for every architecture in `architectures`.

Each architecture's parameters, encoder and decoder matrix come from its `ArchitectureSpec`;
x_hat = f W_dec + b_dec for all of them (W_dec row-normalised for TopK SAEs that rescale their
activations by decoder norm). `apply_b_dec_to_input` controls the `- b_dec` on the input.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from saeeval.errors import SaeevalError
from saeeval.saes.architectures import (
    ARCHITECTURE_SPECS,
    ArchitectureName,
    ArchitectureSpec,
    architecture_spec,
)

# The names registered at import; look specs up in ARCHITECTURE_SPECS, which tests may extend.
ARCHITECTURES: tuple[str, ...] = tuple(ARCHITECTURE_SPECS)
NORMALIZATIONS = ("none", "expected_average_only_in", "constant_norm_rescale", "layer_norm")


@dataclass
class SAEConfig:
    architecture: ArchitectureName
    d_in: int
    d_sae: int
    hook_name: str
    model_name: str | None = None
    k: int | None = None  # topk and abstopk only
    rescale_acts_by_decoder_norm: bool = False  # topk and abstopk only
    matryoshka_widths: list[int] | None = None  # matryoshka_batchtopk only: the nested widths
    residual_threshold: float = 1e-2  # matching_pursuit only: stop below this residual norm
    max_iterations: int | None = None  # matching_pursuit only: at most this many picks (d_in)
    stop_on_duplicate_support: bool = True  # matching_pursuit only: stop when no new latent
    apply_b_dec_to_input: bool = True
    normalize_activations: str = "none"
    dtype: str = "float32"
    prepend_bos: bool = True
    context_size: int | None = None
    dataset_path: str | None = None
    # TransformerLens' from_pretrained options the SAE's activations were read under
    # (saeeval.saes.transformer_lens_processing says which apply and how).
    model_from_pretrained_kwargs: dict[str, Any] = field(default_factory=dict)
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


def dtype_name(value: Any) -> str | None:
    """Our name for a config's dtype, or None if it names none. SAELens before 6.0 wrote
    `str(torch.float32)`, i.e. "torch.float32"; SAELens 6 writes "float32"."""
    if isinstance(value, torch.dtype):
        value = str(value)
    if not isinstance(value, str):
        return None
    name = value.removeprefix("torch.")
    return name if name in _TORCH_DTYPES else None


def torch_dtype(name: str) -> torch.dtype:
    known = dtype_name(name)
    if known is None:
        raise SaeevalError(
            f"dtype {name!r} is not supported; expected one of {', '.join(_TORCH_DTYPES)}"
        )
    return _TORCH_DTYPES[known]


class SAE(nn.Module):
    """An inference SAE; its architecture's further parameters (b_enc, threshold, ...) are
    attributes too, named by its spec."""

    W_enc: nn.Parameter
    W_dec: nn.Parameter
    b_dec: nn.Parameter

    def __init__(self, cfg: SAEConfig):
        super().__init__()
        self.cfg = cfg
        dtype = torch_dtype(cfg.dtype)
        shapes = architecture_spec(cfg.architecture).parameter_shapes(cfg.d_in, cfg.d_sae)
        for name, shape in shapes.items():
            setattr(self, name, nn.Parameter(torch.zeros(shape, dtype=dtype)))

    @property
    def spec(self) -> ArchitectureSpec:
        """Looked up on every use, so it always follows `cfg.architecture`."""
        return architecture_spec(self.cfg.architecture)

    def __getattr__(self, name: str) -> Any:
        """Parameters (nn.Module's lookup), and W_enc = W_dec^T for a tied architecture."""
        try:
            return super().__getattr__(name)
        except AttributeError:
            cfg = self.__dict__.get("cfg")
            if (
                name == "W_enc"
                and cfg is not None
                and architecture_spec(cfg.architecture).tied_encoder
            ):
                return super().__getattr__("W_dec").T
            raise

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
        """The per-latent encoder bias SAEBench reports (b_mag for gated SAEs, zeros for an
        encoder without one)."""
        if self.spec.encoder_bias is None:
            return torch.zeros(self.d_sae, dtype=self.dtype, device=self.device)
        return getattr(self, self.spec.encoder_bias)

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

    def encoder_input(self, x: torch.Tensor) -> tuple[torch.Tensor, Any]:
        """What the architecture's encoder reads (`x` in the SAE's dtype, normalised, less b_dec
        where the config says so), and the normalisation state `decode` needs to undo."""
        sae_in, state = self._normalise(x.to(self.dtype))
        if self.cfg.apply_b_dec_to_input:
            sae_in = sae_in - self.b_dec
        return sae_in, state

    def _decoder_weights(self) -> torch.Tensor:
        return self.spec.decoder_weights(self)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.spec.encode(self, self.encoder_input(x)[0])

    def encode_with_norm_state(self, x: torch.Tensor) -> tuple[torch.Tensor, Any]:
        """Latents of `x` and the input-normalisation state `decode` needs to undo it, for
        callers that decode edited latents (the unlearning clamp)."""
        sae_in, state = self.encoder_input(x)
        return self.spec.encode(self, sae_in), state

    def decode(self, latents: torch.Tensor, norm_state: Any = None) -> torch.Tensor:
        x_hat = latents @ self._decoder_weights()
        bias = self.spec.decoder_bias(self)
        if bias is not None:
            x_hat = x_hat + bias
        return self._denormalise(x_hat, norm_state)

    def encode_decode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Latents and reconstruction of `x` (any leading shape), undoing input normalisation."""
        sae_in, state = self.encoder_input(x)
        latents = self.spec.encode(self, sae_in)
        return latents, self.decode(latents, state)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encode_decode(x)[1]


@torch.no_grad()
def fold_decoder_norms(sae: SAE) -> None:
    """Give every decoder row unit norm without changing reconstructions (standard SAEs).

    Dictionaries trained with the April-2024 recipe keep unnormalised decoders; scaling each
    latent's encoder column and bias by its decoder norm (and the decoder row down by it) leaves
    x_hat unchanged and makes latent magnitudes comparable, as SAEBench's loader does.
    """
    norms = sae.W_dec.norm(dim=-1)
    if torch.allclose(norms, torch.ones_like(norms), atol=1e-5):
        return
    norms = norms.clamp(min=1e-8)
    sae.W_dec.div_(norms[:, None])
    sae.W_enc.mul_(norms[None, :])
    sae.b_enc.mul_(norms)
