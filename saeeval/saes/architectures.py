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
- abstopk:   the k pre-activations largest in magnitude per token, signs kept (no ReLU)
- matryoshka_batchtopk: a JumpReLU with its learned threshold, exactly as SAELens infers it
             (SAELens trains it as `matryoshka_batchtopk` and saves it as a `jumprelu`
             whose metadata names the training architecture and its nested widths)
- matching_pursuit: tied (W_enc is W_dec^T); per token, repeatedly pick the decoder row with
             the largest positive inner product with the residual, add that product to its
             latent and subtract its contribution, until the support stops changing, the
             residual norm falls below residual_threshold or max_iterations (default d_in)
             pass; decode adds b_dec only when apply_b_dec_to_input

SAELens architectures saeeval does not evaluate (transcoders, temporal SAEs, ...) are listed in
`UNSUPPORTED_ARCHITECTURES` with the reason, so each is refused in one clear sentence.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, get_args

import torch

from saeeval.errors import SaeevalError

if TYPE_CHECKING:  # annotations only: sae.py imports this module
    from saeeval.saes.sae import SAE, SAEConfig

ArchitectureName = Literal[
    "standard", "topk", "jumprelu", "gated", "abstopk", "matryoshka_batchtopk", "matching_pursuit"
]

# A parameter's shape, in named dimensions resolved against the config ("d_in", "d_sae").
Shape = tuple[str, ...]

# Every architecture has these, in this order (the order parameters are created and saved in);
# a tied one has no W_enc of its own.
COMMON_PARAMETERS: dict[str, Shape] = {
    "W_enc": ("d_in", "d_sae"),
    "W_dec": ("d_sae", "d_in"),
    "b_dec": ("d_in",),
}


def _plain_decoder(sae: SAE) -> torch.Tensor:
    return sae.W_dec


def _plain_decoder_bias(sae: SAE) -> torch.Tensor | None:
    return sae.b_dec


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
    encoder_bias:         the parameter SAEBench reports as the per-latent encoder bias (None:
                          the encoder has none, reported as zeros).
    saelens_architecture: the `architecture` written to a SAELens 6 cfg.json.
    saelens_class:        the sae_lens class SAELens 6 then loads it as (for tests and messages).
    config_fields:        SAEConfig fields this architecture alone uses; each is written to
                          cfg.json under its own name and read back through its converter.
    check_config:         a problem with the config (a message) or None; run before loading.
    decoder_weights:      the [d_sae, d_in] matrix decode multiplies the latents by.
    decoder_bias:         the vector decode adds (None: none).
    decoder_is_affine:    decode(f) = f @ decoder_weights + decoder_bias; SCR/TPP's one-pass
                          ablation (saeeval.evals.probing.ablation) is exact only when this holds.
    tied_encoder:         W_enc is W_dec^T rather than a parameter of its own: it is neither
                          created, saved nor read, and `SAE.W_enc` returns W_dec^T.
    training_architecture: for an architecture SAELens trains under one name and saves as
                          another (its `saelens_architecture`): the name it records in
                          `metadata.training_architecture`, which tells the two apart on load.
                          Its config fields then live in `metadata.training_architecture_details`,
                          where SAELens writes them.
    independent_latents:  each latent reads only its own encoder column and per-latent
                          parameters, so any block of latents can be encoded on its own
                          (saeeval.saes.column_blocks).
    top_k_entries:        for an encoder that keeps the k largest latents of a row: (sae, sae_in)
                          -> the kept (values, indices), ranked by |value|; a block's k largest
                          hold every latent the row keeps from that block.
    """

    name: str
    parameters: Mapping[str, Shape]
    encode: Callable[[SAE, torch.Tensor], torch.Tensor]
    saelens_architecture: str
    saelens_class: str
    encoder_bias: str | None = "b_enc"
    config_fields: Mapping[str, Callable[[Any], Any]] = field(default_factory=dict)
    check_config: Callable[[SAEConfig], str | None] = _no_config_problem
    decoder_weights: Callable[[SAE], torch.Tensor] = _plain_decoder
    decoder_bias: Callable[[SAE], torch.Tensor | None] = _plain_decoder_bias
    decoder_is_affine: bool = True
    training_architecture: str | None = None
    tied_encoder: bool = False
    independent_latents: bool = False
    top_k_entries: Callable[[SAE, torch.Tensor], tuple[torch.Tensor, torch.Tensor]] | None = None

    def parameter_shapes(self, d_in: int, d_sae: int) -> dict[str, tuple[int, ...]]:
        """Every parameter's shape (the common ones first), for building and checking SAEs."""
        dims = {"d_in": d_in, "d_sae": d_sae}
        common = {
            k: v for k, v in COMMON_PARAMETERS.items() if not (self.tied_encoder and k == "W_enc")
        }
        named = {**common, **self.parameters}
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


def _ranked_pre_activation(sae: SAE, sae_in: torch.Tensor) -> torch.Tensor:
    pre = _pre_activation(sae, sae_in)
    if sae.cfg.rescale_acts_by_decoder_norm:
        pre = pre * sae.W_dec.norm(dim=-1)
    return pre


def _topk_entries(sae: SAE, sae_in: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The values (ReLU'd) and latent indices of the k largest pre-activations per row."""
    values, indices = torch.topk(_ranked_pre_activation(sae, sae_in), k=sae.cfg.k, sorted=False)
    return values.relu(), indices


def _abstopk_entries(sae: SAE, sae_in: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """SAELens' AbsTopK: the signed values and indices of the k pre-activations largest in |.|."""
    pre = _ranked_pre_activation(sae, sae_in)
    indices = torch.topk(pre.abs(), k=sae.cfg.k, dim=-1, sorted=False).indices
    return pre.gather(-1, indices), indices


def _scattered(sae: SAE, entries: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    values, indices = entries
    dense = values.new_zeros(*values.shape[:-1], sae.cfg.d_sae)
    return dense.scatter_(-1, indices, values)


def _encode_topk(sae: SAE, sae_in: torch.Tensor) -> torch.Tensor:
    return _scattered(sae, _topk_entries(sae, sae_in))


def _encode_abstopk(sae: SAE, sae_in: torch.Tensor) -> torch.Tensor:
    return _scattered(sae, _abstopk_entries(sae, sae_in))


def _encode_matching_pursuit(sae: SAE, sae_in: torch.Tensor) -> torch.Tensor:
    """SAELens' matching pursuit, step for step (so its latents come out bit for bit)."""
    cfg, decoder = sae.cfg, sae.W_dec
    leading = sae_in.shape[:-1]
    residual = sae_in.reshape(-1, sae_in.shape[-1]).clone()
    rows = residual.shape[0]
    latents = torch.zeros(rows, cfg.d_sae, dtype=residual.dtype, device=decoder.device)
    last_support = torch.zeros(rows, cfg.d_sae, dtype=torch.bool, device=decoder.device)
    finished = torch.zeros(rows, dtype=torch.bool, device=decoder.device)
    use_threshold = cfg.residual_threshold > 0
    steps = cfg.max_iterations if cfg.max_iterations is not None else cfg.d_in
    for _ in range(steps):
        best = (residual @ decoder.T).relu().max(dim=1, keepdim=True).indices  # [rows, 1]
        direction = decoder[best.squeeze(1)]  # [rows, d_in]
        amount = (residual * direction).sum(dim=-1, keepdim=True).relu()
        amount = (amount * (~finished).unsqueeze(1).to(amount.dtype)).to(latents.dtype)
        latents.scatter_add_(1, best, amount)
        residual = residual - amount * direction
        if not (cfg.stop_on_duplicate_support or use_threshold):
            continue
        support = latents != 0
        if cfg.stop_on_duplicate_support:
            finished = finished | (support == last_support).all(dim=1)
            last_support = support
        if use_threshold:
            finished = finished | (residual.norm(dim=-1) < cfg.residual_threshold)
        if finished.all():
            break
    return latents.reshape(*leading, cfg.d_sae)


def _bias_if_subtracted(sae: SAE) -> torch.Tensor | None:
    """A tied SAE adds b_dec back only where it took it off the input."""
    return sae.b_dec if sae.cfg.apply_b_dec_to_input else None


def _optional_int(value: Any) -> Any:
    return int(value) if isinstance(value, (int, float)) and value == int(value) else value


def _matching_pursuit_config_problem(cfg: SAEConfig) -> str | None:
    steps = cfg.max_iterations
    if steps is not None and (not isinstance(steps, int) or steps <= 0):
        return f"max_iterations must be a positive integer or null, got {steps!r}"
    if not isinstance(cfg.residual_threshold, (int, float)):
        return f"residual_threshold must be a number, got {cfg.residual_threshold!r}"
    return None


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
        return f"a {cfg.architecture} SAE needs an integer k in 1..d_sae, got {k!r}"
    return None


def _int_list(value: Any) -> Any:
    """A JSON list of whole numbers as ints (anything else is left for the config check)."""
    if isinstance(value, list) and all(isinstance(v, (int, float)) and v == int(v) for v in value):
        return [int(v) for v in value]
    return value


def _matryoshka_config_problem(cfg: SAEConfig) -> str | None:
    widths = cfg.matryoshka_widths
    if widths is None:  # the nested widths only describe training; inference does not need them
        return None
    if (
        not isinstance(widths, list)
        or not widths
        or not all(isinstance(w, int) and w > 0 for w in widths)
        or any(a >= b for a, b in zip(widths, widths[1:], strict=False))
        or widths[-1] != cfg.d_sae
    ):
        return (
            f"matryoshka_widths must be strictly increasing positive integers ending at "
            f"d_sae={cfg.d_sae}, got {widths!r}"
        )
    return None


# -- the registry --------------------------------------------------------------------------------

_VECTOR: Shape = ("d_sae",)

STANDARD = ArchitectureSpec(
    name="standard",
    parameters={"b_enc": _VECTOR},
    encode=_encode_standard,
    saelens_architecture="standard",
    saelens_class="StandardSAE",
    independent_latents=True,
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
    top_k_entries=_topk_entries,
)
JUMPRELU = ArchitectureSpec(
    name="jumprelu",
    parameters={"b_enc": _VECTOR, "threshold": _VECTOR},
    encode=_encode_jumprelu,
    saelens_architecture="jumprelu",
    saelens_class="JumpReLUSAE",
    independent_latents=True,
)
GATED = ArchitectureSpec(
    name="gated",
    parameters={"b_gate": _VECTOR, "r_mag": _VECTOR, "b_mag": _VECTOR},
    encode=_encode_gated,
    saelens_architecture="gated",
    saelens_class="GatedSAE",
    encoder_bias="b_mag",
    independent_latents=True,
)

ABSTOPK = ArchitectureSpec(
    name="abstopk",
    parameters={"b_enc": _VECTOR},
    encode=_encode_abstopk,
    saelens_architecture="abstopk",
    saelens_class="AbsTopKSAE",
    config_fields={"k": _identity, "rescale_acts_by_decoder_norm": bool},
    check_config=_topk_config_problem,
    decoder_weights=_topk_decoder,
    top_k_entries=_abstopk_entries,
)
MATRYOSHKA_BATCHTOPK = ArchitectureSpec(
    name="matryoshka_batchtopk",
    parameters={"b_enc": _VECTOR, "threshold": _VECTOR},
    encode=_encode_jumprelu,  # SAELens infers it with JumpReLUSAE
    saelens_architecture="jumprelu",
    saelens_class="JumpReLUSAE",
    config_fields={"matryoshka_widths": _int_list},
    check_config=_matryoshka_config_problem,
    training_architecture="matryoshka_batchtopk",
    independent_latents=True,
)

MATCHING_PURSUIT = ArchitectureSpec(
    name="matching_pursuit",
    parameters={},
    encode=_encode_matching_pursuit,
    saelens_architecture="matching_pursuit",
    saelens_class="MatchingPursuitSAE",
    encoder_bias=None,
    config_fields={
        "residual_threshold": float,
        "max_iterations": _optional_int,
        "stop_on_duplicate_support": bool,
    },
    check_config=_matching_pursuit_config_problem,
    decoder_bias=_bias_if_subtracted,
    tied_encoder=True,
)

ARCHITECTURE_SPECS: dict[str, ArchitectureSpec] = {
    spec.name: spec
    for spec in (
        STANDARD,
        TOPK,
        JUMPRELU,
        GATED,
        ABSTOPK,
        MATRYOSHKA_BATCHTOPK,
        MATCHING_PURSUIT,
    )
}
if tuple(ARCHITECTURE_SPECS) != get_args(ArchitectureName):
    raise RuntimeError("ARCHITECTURE_SPECS and ArchitectureName must name the same architectures")


_TRANSCODER = (
    "a transcoder (it reads one hook and predicts another), not an SAE that reconstructs its "
    "input, which is what every eval here measures"
)
# SAELens 6 architectures saeeval refuses, each with the reason it is refused.
UNSUPPORTED_ARCHITECTURES: dict[str, str] = {
    "transcoder": _TRANSCODER,
    "skip_transcoder": _TRANSCODER,
    "jumprelu_transcoder": _TRANSCODER,
    "jumprelu_skip_transcoder": _TRANSCODER,
    "temporal": (
        "a temporal SAE, whose encoder attends over earlier positions, so a token's latents "
        "are not a function of that token's activation alone"
    ),
}


def architecture_spec(name: str) -> ArchitectureSpec:
    """The spec registered under `name`, or one clear error naming it and the supported ones."""
    spec = ARCHITECTURE_SPECS.get(name) if isinstance(name, str) else None
    if spec is None:
        reason = UNSUPPORTED_ARCHITECTURES.get(name) if isinstance(name, str) else None
        why = f": it is {reason}" if reason else ""
        raise SaeevalError(
            f"architecture {name!r} is not supported{why}; expected one of "
            f"{', '.join(ARCHITECTURE_SPECS)}"
        )
    return spec


def spec_for_saelens(architecture: Any, training_architecture: Any = None) -> ArchitectureSpec:
    """Our spec for a SAELens config's `architecture` (and `metadata.training_architecture`,
    which tells a saved Matryoshka BatchTopK from a plain JumpReLU)."""
    for spec in ARCHITECTURE_SPECS.values():
        if (
            spec.training_architecture is not None
            and spec.saelens_architecture == architecture
            and spec.training_architecture == training_architecture
        ):
            return spec
    for spec in ARCHITECTURE_SPECS.values():
        if spec.training_architecture is None and spec.saelens_architecture == architecture:
            return spec
    return architecture_spec(architecture)


def architecture_config_fields() -> set[str]:
    """Config keys some architecture reads (so no loader files them under `extra`)."""
    return {name for spec in ARCHITECTURE_SPECS.values() for name in spec.config_fields}
