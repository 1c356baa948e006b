"""Reading weight files and checking them before any eval touches them."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from saeeval.errors import SaeevalError, one_line
from saeeval.saes.architectures import architecture_spec
from saeeval.saes.sae import SAE, SAEConfig, torch_dtype


def read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise SaeevalError(
            f"{path} is not a readable safetensors file (corrupt or truncated?): {one_line(exc)}"
        ) from None


def read_torch_state_dict(path: Path) -> dict[str, torch.Tensor]:
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a damaged pickle/zip
        raise SaeevalError(
            f"{path} is not a readable PyTorch state dict (corrupt or truncated?): {one_line(exc)}"
        ) from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise SaeevalError(f"{path} must hold a dict of tensors (a state_dict)")
    return state


def expected_shapes(cfg: SAEConfig) -> dict[str, tuple[int, ...]]:
    return architecture_spec(cfg.architecture).parameter_shapes(cfg.d_in, cfg.d_sae)


def _non_finite_count(tensor: torch.Tensor, block: int = 1 << 22) -> int:
    """How many NaN or infinite values `tensor` holds, checked a block at a time (a whole-tensor
    check would allocate a mask as large as the weights)."""
    flat = tensor.reshape(-1)
    return sum(int((~torch.isfinite(piece)).sum()) for piece in flat.split(block))


def check_config(cfg: SAEConfig, source: Path) -> None:
    """Refuse a config its architecture cannot run (e.g. a topk SAE without a usable k)."""
    problem = architecture_spec(cfg.architecture).check_config(cfg)
    if problem is not None:
        raise SaeevalError(f"{source}: {problem}")


def build_sae(cfg: SAEConfig, weights: dict[str, torch.Tensor], source: Path) -> SAE:
    """An SAE from `weights`, after checking its config, weight names, shapes and that every
    value is finite."""
    check_config(cfg, source)
    shapes = expected_shapes(cfg)
    for name, shape in shapes.items():
        if name not in weights:
            raise SaeevalError(
                f"{source}: weight {name!r} is missing for a {cfg.architecture} SAE "
                f"(found {', '.join(sorted(weights)) or 'nothing'})"
            )
        if tuple(weights[name].shape) != shape:
            raise SaeevalError(
                f"{source}: weight {name!r} has shape {tuple(weights[name].shape)}, "
                f"expected {shape} for d_in={cfg.d_in}, d_sae={cfg.d_sae}"
            )
        bad = _non_finite_count(weights[name])
        if bad:
            raise SaeevalError(f"{source}: weight {name!r} holds {bad} NaN or infinite values")
    # The SAE takes the loaded tensors themselves (built on the meta device, it allocates
    # nothing), so its weights are in memory once, not twice (4.8 GB at 1M latents, d_in 576).
    with torch.device("meta"):
        sae = SAE(cfg)
    dtype = torch_dtype(cfg.dtype)
    for name in shapes:
        weight = weights[name].to(dtype).contiguous()
        setattr(sae, name, torch.nn.Parameter(weight, requires_grad=False))
    return sae.requires_grad_(False)  # a loaded SAE is only evaluated, never trained
