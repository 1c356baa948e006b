"""Adapter for user-written, dictionary_learning-style trainers: `--trainer path/to/file.py:Class`.

Such a trainer is a class whose instances have `update(step, activations)` (one optimisation step),
an `ae` module with `encode`/`decode` and the usual SAE weights, and a `config` property. It is
constructed with whichever of the usual keyword arguments its `__init__` accepts (activation_dim,
dict_size, lr, l1_penalty / sparsity_penalty, warmup_steps, steps, seed, device, layer, lm_name,
submodule_name) plus any `--param` the user passes. Our loop streams activations, checkpoints,
tracks dead latents (by encoding each batch) and writes records for it like for a native trainer.
On export its `ae` is mapped onto one of our SAE architectures, and that mapping is checked by
comparing reconstructions on real activations.
"""

from __future__ import annotations

import copy
import inspect
from typing import Any

import torch

from saeeval.errors import SaeevalError
from saeeval.plugins import load_class_from_file, user_code_error
from saeeval.saes import SAE, SAEConfig, fold_decoder_norms


def load_trainer_class(spec: str) -> type:
    """The custom trainer class named by `path/to/file.py:Class`, checked for `update`."""
    cls = load_class_from_file(spec, "--trainer")
    if not callable(getattr(cls, "update", None)):
        raise SaeevalError(
            f"--trainer {spec!r}: class {cls.__name__} has no update(step, activations)"
        )
    return cls


_ARGUMENT_ALIASES = {
    "activation_dim": "d_in",
    "dict_size": "d_sae",
    "lr": "lr",
    "l1_penalty": "sparsity_penalty",
    "sparsity_penalty": "sparsity_penalty",
    "warmup_steps": "warmup_steps",
    "steps": "total_steps",
    "seed": "seed",
    "device": "device",
    "layer": "layer",
    "lm_name": "lm_name",
    "submodule_name": "submodule_name",
    "k": "k",
}


class CustomTrainer:
    """Drives a user trainer with our loop; same surface as the native `SAETrainer`."""

    name = "custom"

    def __init__(
        self,
        cls: type,
        values: dict[str, Any],
        extra: dict[str, Any],
        dead_after_tokens: int,
        spec: str,
    ):
        signature = inspect.signature(cls.__init__)
        takes_any = any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
        kwargs = {
            theirs: values[ours]
            for theirs, ours in _ARGUMENT_ALIASES.items()
            if ours in values
            and values[ours] is not None
            and (takes_any or theirs in signature.parameters)
        }
        unknown = [k for k in extra if not takes_any and k not in signature.parameters]
        if unknown:
            raise SaeevalError(
                f"--trainer {spec}: {cls.__name__} takes no parameter(s) {', '.join(unknown)}"
            )
        # Seeded here too, so a trainer that takes no seed still starts the same every time
        # (alone, resumed, or trained beside other runs).
        torch.manual_seed(int(values.get("seed") or 0))
        try:
            self.inner = cls(**{**kwargs, **extra})
        except Exception as exc:
            where = spec.rpartition(":")[0]
            raise user_code_error(
                f"--trainer {spec}: constructing {cls.__name__} failed", exc, where
            ) from exc
        self.ae = getattr(self.inner, "ae", None)
        if not isinstance(self.ae, torch.nn.Module) or not all(
            callable(getattr(self.ae, m, None)) for m in ("encode", "decode")
        ):
            raise SaeevalError(
                f"--trainer {spec}: {cls.__name__} has no `ae` module with encode/decode"
            )
        self.spec = spec
        self.trainer_class = cls.__name__
        self.device = next(self.ae.parameters()).device
        self.d_sae = int(values["d_sae"])
        self.dead_after_tokens = dead_after_tokens
        self.tokens_since_fired = torch.zeros(self.d_sae, device=self.device)
        self.cfg = values

    @property
    def dead_mask(self) -> torch.Tensor:
        return self.tokens_since_fired >= self.dead_after_tokens

    def update(self, step: int, activations: torch.Tensor) -> dict[str, float]:
        x = activations.to(self.device)
        self.inner.update(step, x)
        with torch.no_grad():
            latents = self.ae.encode(x)
            x_hat = self.ae.decode(latents)
            mse = (x - x_hat).pow(2).sum(dim=-1).mean()
            self.tokens_since_fired += x.shape[0]
            self.tokens_since_fired[(latents > 0).any(dim=0)] = 0
        return {
            "loss": mse.item(),
            "mse": mse.item(),
            "l0": (latents > 0).sum(dim=-1).float().mean().item(),
        }

    @property
    def config(self) -> dict[str, Any]:
        config = getattr(self.inner, "config", None)
        config = dict(config) if isinstance(config, dict) else {}
        config.setdefault("trainer_class", self.trainer_class)
        config.setdefault("dict_size", self.d_sae)
        config["custom_trainer"] = self.spec
        return config

    def state_dict(self) -> dict[str, Any]:
        state = {"ae": self.ae.state_dict(), "tokens_since_fired": self.tokens_since_fired}
        optimizer = getattr(self.inner, "optimizer", None)
        if optimizer is not None:
            state["optimizer"] = optimizer.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.ae.load_state_dict(state["ae"])
        self.tokens_since_fired = state["tokens_since_fired"].to(self.device)
        if "optimizer" in state and getattr(self.inner, "optimizer", None) is not None:
            self.inner.optimizer.load_state_dict(state["optimizer"])

    def export(self, probe: torch.Tensor) -> SAE:
        """Our SAE equal to the user's `ae`, verified on `probe` activations."""
        params = {n: p.detach() for n, p in self.ae.named_parameters()}
        params.update({n: b.detach() for n, b in self.ae.named_buffers()})
        weights = _standard_weights(params)
        if weights is None:
            raise SaeevalError(
                f"--trainer {self.spec}: cannot find the SAE weights in {type(self.ae).__name__} "
                f"(expected W_enc/W_dec/b_enc/b_dec or encoder.weight/decoder.weight); found "
                f"{', '.join(sorted(params))}"
            )
        candidates = []
        for architecture, apply_b_dec in (
            ("standard", True),
            ("standard", False),
            ("jumprelu", True),
            ("jumprelu", False),
            ("topk", True),
        ):
            if architecture == "jumprelu" and "threshold" not in params:
                continue
            if architecture == "topk" and getattr(self.ae, "k", None) is None:
                continue
            candidates.append(self._build(weights, params, architecture, apply_b_dec))
        x = probe.to(self.device)
        with torch.no_grad():
            target = self.ae.decode(self.ae.encode(x))
            for sae in candidates:
                if torch.allclose(sae(x), target, rtol=1e-4, atol=1e-4 * target.abs().max()):
                    if sae.cfg.architecture == "standard":
                        fold_decoder_norms(sae)
                    return sae
        raise SaeevalError(
            f"--trainer {self.spec}: the trained {type(self.ae).__name__} does not compute any "
            f"architecture saeeval can save (standard ReLU, TopK, JumpReLU; with or without "
            f"subtracting b_dec from the input); its checkpoint is kept"
        )

    def _build(self, weights, params, architecture, apply_b_dec) -> SAE:
        d_in, d_sae = weights["W_enc"].shape
        k = getattr(self.ae, "k", None)
        cfg = SAEConfig(
            architecture=architecture,
            d_in=int(d_in),
            d_sae=int(d_sae),
            hook_name="",
            k=int(k) if architecture == "topk" else None,
            apply_b_dec_to_input=apply_b_dec,
        )
        sae = SAE(cfg).to(self.device)
        with torch.no_grad():
            for name, value in weights.items():
                getattr(sae, name).copy_(value)
            if architecture == "jumprelu":
                sae.threshold.copy_(params["threshold"].float().expand(d_sae))
        return copy.deepcopy(sae)


def _standard_weights(params: dict[str, torch.Tensor]) -> dict[str, torch.Tensor] | None:
    if {"W_enc", "W_dec"} <= params.keys():
        d_in = params["W_enc"].shape[0]
        return {
            "W_enc": params["W_enc"],
            "W_dec": params["W_dec"],
            "b_enc": params.get("b_enc", torch.zeros(params["W_enc"].shape[1])),
            "b_dec": params.get("b_dec", torch.zeros(d_in)),
        }
    if {"encoder.weight", "decoder.weight"} <= params.keys():
        W_enc = params["encoder.weight"].T
        return {
            "W_enc": W_enc,
            "W_dec": params["decoder.weight"].T,
            "b_enc": params.get("encoder.bias", torch.zeros(W_enc.shape[1])),
            "b_dec": params.get("b_dec", params.get("bias", torch.zeros(W_enc.shape[0]))),
        }
    return None
