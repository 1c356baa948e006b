"""One interface over Hugging Face causal LMs: tokens in; activations, logits or losses out.

Evals never touch `transformers` directly. They ask the adapter for activations at a hook point
(the forward pass stops at that hook), or for logits with an intervention spliced in at a hook.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from contextlib import ExitStack

import torch
from torch import nn

from saeeval.errors import SaeevalError
from saeeval.models.hook_points import HookPoint, attach, decoder_blocks, parse_hook

# The order in which a block produces its hook tensors, to know which one ends the pass.
_ORDER_IN_BLOCK = {"hook_resid_pre": 0, "hook_attn_out": 1, "hook_mlp_out": 2, "hook_resid_post": 3}


class _StopForward(Exception):
    """Raised from a hook to end a forward pass once the wanted activation is captured."""


class ModelAdapter:
    def __init__(self, model: nn.Module, tokenizer, name: str, fingerprint: str | None = None):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.name = name
        self._fingerprint = fingerprint
        config = model.config
        self.model_type: str = config.model_type
        self.n_layers = len(decoder_blocks(model, self.model_type))
        self.d_model: int = config.hidden_size if hasattr(config, "hidden_size") else config.n_embd
        self.vocab_size: int = model.get_output_embeddings().weight.shape[0]

    # -- identity -------------------------------------------------------------------------------

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    @property
    def dtype_name(self) -> str:
        """The dtype as eval configs record it ("float32", "bfloat16")."""
        return str(self.dtype).replace("torch.", "")

    @property
    def fingerprint(self) -> str:
        """A content hash of the weights (computed once), used to key cached activations."""
        if self._fingerprint is None:
            digest = hashlib.sha256()
            for key, tensor in sorted(self.model.state_dict().items()):
                digest.update(key.encode())
                digest.update(tensor.detach().to("cpu", torch.float32).numpy().tobytes())
            self._fingerprint = "params-sha256:" + digest.hexdigest()[:32]
        return self._fingerprint

    # -- tokens ---------------------------------------------------------------------------------

    @property
    def bos_token_id(self) -> int | None:
        """The token that starts each context; models without a BOS token use their EOS token."""
        tok = self.tokenizer
        return tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id

    @property
    def special_token_ids(self) -> set[int]:
        """Pad, EOS and BOS: the tokens SAEBench's core eval leaves out of every metric."""
        tok = self.tokenizer
        ids = {tok.pad_token_id, tok.eos_token_id, tok.bos_token_id}
        return {i for i in ids if i is not None}

    def tokenize(self, texts: list[str]) -> list[list[int]]:
        """Token ids of each text without any special tokens (contexts add BOS themselves)."""
        return self.tokenizer(texts, add_special_tokens=False)["input_ids"]

    # -- hooks ----------------------------------------------------------------------------------

    def hook_point(self, hook_name: str) -> HookPoint:
        hook = parse_hook(hook_name)
        if hook.layer >= self.n_layers:
            raise SaeevalError(
                f"hook {hook_name!r} names layer {hook.layer}, but model {self.name!r} has layers "
                f"0..{self.n_layers - 1}"
            )
        return hook

    def hook_width(self, hook_name: str) -> int:
        self.hook_point(hook_name)
        return self.d_model  # every supported hook carries a residual-width vector

    # -- forward passes -------------------------------------------------------------------------

    def _forward(self, tokens: torch.Tensor):
        return self.model(input_ids=tokens.to(self.device), use_cache=False)

    @torch.no_grad()
    def activations(self, tokens: torch.Tensor, hook_names: list[str]) -> dict[str, torch.Tensor]:
        """Activations at each hook for `tokens` [batch, ctx], without computing later layers."""
        hooks = [self.hook_point(h) for h in hook_names]
        last = max(hooks, key=lambda h: (h.layer, _ORDER_IN_BLOCK[h.kind]))
        captured: dict[str, torch.Tensor] = {}

        def capture(name: str, stop: bool):
            def fn(tensor: torch.Tensor):
                captured[name] = tensor.detach()
                if stop:
                    raise _StopForward
                return None

            return fn

        with ExitStack() as stack:
            for hook in hooks:
                stack.enter_context(
                    attach(self.model, self.model_type, hook, capture(hook.name, hook is last))
                )
            try:
                self._forward(tokens)
            except _StopForward:
                pass
        return captured

    @torch.no_grad()
    def logits(
        self,
        tokens: torch.Tensor,
        hook_name: str | None = None,
        intervention: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Full-model logits (float32), optionally replacing the activation at `hook_name`."""
        return self.logits_and_final_hidden(tokens, hook_name, intervention)[0]

    @torch.no_grad()
    def logits_and_final_hidden(
        self,
        tokens: torch.Tensor,
        hook_name: str | None = None,
        intervention: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits and the hidden state the unembedding reads (so logits can be rebuilt cheaply)."""
        captured: list[torch.Tensor] = []
        head = self.model.get_output_embeddings()
        with ExitStack() as stack:
            handle = head.register_forward_pre_hook(lambda module, args: captured.append(args[0]))
            stack.callback(handle.remove)
            if intervention is not None:
                assert hook_name is not None
                hook = self.hook_point(hook_name)
                stack.enter_context(attach(self.model, self.model_type, hook, intervention))
            logits = self._forward(tokens).logits.float()
        return logits, captured[0].detach()

    @torch.no_grad()
    def logits_from_final_hidden(self, hidden: torch.Tensor) -> torch.Tensor:
        """The logits the model computes from `hidden` (the unembedding's input)."""
        logits = self.model.get_output_embeddings()(hidden.to(self.device))
        cap = getattr(self.model.config, "final_logit_softcapping", None)
        if cap:  # Gemma 2/3 squash logits after the unembedding
            logits = torch.tanh(logits / cap) * cap
        return logits.float()


def per_token_ce_loss(logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """Next-token cross-entropy at every position but the last: shape [batch, ctx - 1]."""
    log_probs = torch.log_softmax(logits[:, :-1].float(), dim=-1)
    targets = tokens[:, 1:].to(log_probs.device)
    return -log_probs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
