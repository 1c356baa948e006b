"""One spec per SAE architecture: everything the rest of saeeval needs to know about it.

An architecture differs from the others only in its extra parameters, its encoder, a few config
fields and how SAELens names it; the SAE class, the loaders, the writer, the weight checks and the
SCR/TPP ablation read those facts from the spec here instead of branching on the name. Adding an
architecture is adding one `ArchitectureSpec` to `ARCHITECTURE_SPECS` (and its name to
`ArchitectureName`).

Semantics follow SAELens' inference SAEs, so a folder SAELens loads gives the same latents here.
With sae_in = x - b_dec (or x when apply_b_dec_to_input is off):

- standard:  f = ReLU(sae_in W_enc + b_enc)
- topk:      the k largest pre-activations per token, then ReLU
- jumprelu:  f = ReLU(pre) * [pre > threshold]   (BatchTopK SAEs infer this way too)
- gated:     f = [sae_in W_enc + b_gate > 0] * ReLU(sae_in (W_enc * exp(r_mag)) + b_mag)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, get_args

import torch

from saeeval.errors import SaeevalError

if TYPE_CHECKING:  # annotations only: sae.py imports this module
    from saeeval.saes.sae import SAE, SAEConfig

ArchitectureName = Literal["standard", "topk", "jumprelu", "gated"]

# A parameter's shape, in named dimensions resolved against the config ("d_in", "d_sae").
Shape = tuple[str, ...]

# Every architecture has these, in this order (the order parameters are created and saved in).
COMMON_PARAMETERS: dict[str, Shape] = {
    "W_enc": ("d_in", "d_sae"),
    "W_dec": ("d_sae", "d_in"),
    "b_dec": ("d_in",),
}


def _plain_decoder(sae: SAE) -> torch.Tensor:
    return sae.W_dec


def _no_config_problem(cfg: SAEConfig) -> str | None:
    return None


def _identity(value: Any) -> Any:
    return value


@dataclass(frozen=True, eq=False)
class ArchitectureSpec:
    """The facts of one architecture.

    name:                 our name (SAEConfig.architecture).
    parameters:           parameters beyond W_enc/W_dec/b_dec, name -> named shape, in creation
                          order (which fixes the order of random initialisations and saved tensors).
    encode:               (sae, sae_in) -> latents, sae_in being the input after any b_dec
                          subtraction and input normalisation.
    encoder_bias:         the parameter SAEBench reports as the per-latent encoder bias.
    saelens_architecture: the `architecture` written to a SAELens 6 cfg.json.
    saelens_class:        the sae_lens class SAELens 6 then loads it as (for tests and messages).
    config_fields:        SAEConfig fields this architecture alone uses; each is written to
                          cfg.json under its own name and read back through its converter.
    check_config:         a problem with the config (a message) or None; run before loading.
    decoder_weights:      the [d_sae, d_in] matrix decode multiplies the latents by.
    decoder_is_affine:    decode(f) = f @ decoder_weights + b_dec; SCR/TPP's one-pass ablation
                          (saeeval.evals.probing.ablation) is exact only when this holds.
    """

    name: str
    parameters: Mapping[str, Shape]
    encode: Callable[[SAE, torch.Tensor], torch.Tensor]
    saelens_architecture: str
    saelens_class: str
    encoder_bias: str = "b_enc"
    config_fields: Mapping[str, Callable[[Any], Any]] = field(default_factory=dict)
    check_config: Callable[[SAEConfig], str | None] = _no_config_problem
    decoder_weights: Callable[[SAE], torch.Tensor] = _plain_decoder
    decoder_is_affine: bool = True

    def parameter_shapes(self, d_in: int, d_sae: int) -> dict[str, tuple[int, ...]]:
        """Every parameter's shape (the common three first), for building and checking SAEs."""
        dims = {"d_in": d_in, "d_sae": d_sae}
        named = {**COMMON_PARAMETERS, **self.parameters}
        return {name: tuple(dims[d] for d in shape) for name, shape in named.items()}

    def read_config(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        """This architecture's SAEConfig fields from a config dict (absent or null: the default)."""
        return {
            name: convert(raw[name])
            for name, convert in self.config_fields.items()
            if raw.get(name) is not None
        }

    def write_config(self, cfg: SAEConfig) -> dict[str, Any]:
        """This architecture's cfg.json keys, as SAELens 6 writes them."""
        return {name: getattr(cfg, name) for name in self.config_fields}


# -- the encoders: exactly SAELens' inference arithmetic -----------------------------------------


def _pre_activation(sae: SAE, sae_in: torch.Tensor) -> torch.Tensor:
    return sae_in @ sae.W_enc + sae.b_enc


def _encode_standard(sae: SAE, sae_in: torch.Tensor) -> torch.Tensor:
    return torch.relu(_pre_activation(sae, sae_in))


def _encode_jumprelu(sae: SAE, sae_in: torch.Tensor) -> torch.Tensor:
    pre = _pre_activation(sae, sae_in)
    return torch.relu(pre) * (pre > sae.threshold).to(pre.dtype)


def _encode_topk(sae: SAE, sae_in: torch.Tensor) -> torch.Tensor:
    pre = _pre_activation(sae, sae_in)
    if sae.cfg.rescale_acts_by_decoder_norm:
        pre = pre * sae.W_dec.norm(dim=-1)
    values, indices = torch.topk(pre, k=sae.cfg.k, dim=-1, sorted=False)
    return torch.zeros_like(pre).scatter_(-1, indices, values.relu())


def _encode_gated(sae: SAE, sae_in: torch.Tensor) -> torch.Tensor:
    gate = ((sae_in @ sae.W_enc + sae.b_gate) > 0).to(sae_in.dtype)
    magnitude = torch.relu(sae_in @ (sae.W_enc * sae.r_mag.exp()) + sae.b_mag)
    return gate * magnitude


def _topk_decoder(sae: SAE) -> torch.Tensor:
    """Unit-norm rows when the activations were rescaled by the decoder norms instead."""
    if sae.cfg.rescale_acts_by_decoder_norm:
        return sae.W_dec / sae.W_dec.norm(dim=-1, keepdim=True)
    return sae.W_dec


def _topk_config_problem(cfg: SAEConfig) -> str | None:
    k = cfg.k
    if not isinstance(k, int) or not 0 < k <= cfg.d_sae:
        return f"a topk SAE needs an integer k in 1..d_sae, got {k!r}"
    return None


# -- the registry --------------------------------------------------------------------------------

_VECTOR: Shape = ("d_sae",)

STANDARD = ArchitectureSpec(
    name="standard",
    parameters={"b_enc": _VECTOR},
    encode=_encode_standard,
    saelens_architecture="standard",
    saelens_class="StandardSAE",
)
TOPK = ArchitectureSpec(
    name="topk",
    parameters={"b_enc": _VECTOR},
    encode=_encode_topk,
    saelens_architecture="topk",
    saelens_class="TopKSAE",
    config_fields={"k": _identity, "rescale_acts_by_decoder_norm": bool},
    check_config=_topk_config_problem,
    decoder_weights=_topk_decoder,
)
JUMPRELU = ArchitectureSpec(
    name="jumprelu",
    parameters={"b_enc": _VECTOR, "threshold": _VECTOR},
    encode=_encode_jumprelu,
    saelens_architecture="jumprelu",
    saelens_class="JumpReLUSAE",
)
GATED = ArchitectureSpec(
    name="gated",
    parameters={"b_gate": _VECTOR, "r_mag": _VECTOR, "b_mag": _VECTOR},
    encode=_encode_gated,
    saelens_architecture="gated",
    saelens_class="GatedSAE",
    encoder_bias="b_mag",
)

ARCHITECTURE_SPECS: dict[str, ArchitectureSpec] = {
    spec.name: spec for spec in (STANDARD, TOPK, JUMPRELU, GATED)
}
if tuple(ARCHITECTURE_SPECS) != get_args(ArchitectureName):
    raise RuntimeError("ARCHITECTURE_SPECS and ArchitectureName must name the same architectures")


def architecture_spec(name: str) -> ArchitectureSpec:
    """The spec registered under `name`, or one clear error listing the supported ones."""
    spec = ARCHITECTURE_SPECS.get(name) if isinstance(name, str) else None
    if spec is None:
        raise SaeevalError(
            f"architecture {name!r} is not supported; expected one of "
            f"{', '.join(ARCHITECTURE_SPECS)}"
        )
    return spec


def architecture_config_fields() -> set[str]:
    """Config keys some architecture reads (so no loader files them under `extra`)."""
    return {name for spec in ARCHITECTURE_SPECS.values() for name in spec.config_fields}
