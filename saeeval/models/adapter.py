"""One interface over Hugging Face causal LMs: tokens in; activations, logits or losses out.

Evals never touch `transformers` directly. They ask the adapter for activations at a hook point
(the forward pass stops at that hook), or for logits with an intervention spliced in at a hook.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import torch
from torch import nn

from saeeval.errors import SaeevalError
from saeeval.models.hook_points import HookPoint, attach, decoder_blocks, parse_hook

# The order in which a block produces its hook tensors, to know which one ends the pass.
_ORDER_IN_BLOCK = {"hook_resid_pre": 0, "hook_attn_out": 1, "hook_mlp_out": 2, "hook_resid_post": 3}

# Hooks on the residual stream, from which a pass can start: the activation there is all that the
# later layers read. (Not so a block's attention or MLP output: the residual it joins is needed.)
_PASS_CAN_START_AT = ("hook_resid_pre", "hook_resid_post")


def _capture_into(captured: dict[str, torch.Tensor], name: str, stop: bool):
    """A hook function that stores the activation it sees under `name` and, when `stop`, ends
    the forward pass (nothing past the deepest hook asked for is computed)."""

    def fn(tensor: torch.Tensor):
        captured[name] = tensor.detach()
        if stop:
            raise _StopForward
        return None

    return fn


class _StopForward(Exception):
    """Raised from a hook to end a forward pass once the wanted activation is captured."""


@contextmanager
def _passing_through(block: nn.Module, as_tuple: bool) -> Iterator[None]:
    """Inside this context `block` computes nothing: it returns its input hidden states, in the
    form the block's own forward returns them. (An instance attribute shadows the class's
    forward; whatever instance attribute was there before comes back afterwards.)"""
    previous = block.__dict__.get("forward")

    def forward(hidden_states, *args, **kwargs):
        return (hidden_states,) if as_tuple else hidden_states

    block.forward = forward
    try:
        yield
    finally:
        if previous is None:
            del block.forward
        else:
            block.forward = previous


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
        # hook name -> (label, fn or None): the basis an activation there is read in, and the
        # function it passes through before anyone sees it (None: as the model computes it)
        self._hook_transforms: dict[str, tuple[str, Callable[[torch.Tensor], torch.Tensor] | None]]
        self._hook_transforms = {}
        self._block_output_is_tuple: bool | None = None  # learnt on the first pass from a hook

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
        """A content hash of the weights (computed once) and the dtype they run in, used to key
        every cached artifact; it names any hook transforms too, since they change what the hooks
        carry. (A model loaded from a file is named by the file, which is the same whatever dtype
        it is loaded in: the dtype is part of the fingerprint for that reason.)"""
        if self._fingerprint is None:
            digest = hashlib.sha256()
            for key, tensor in sorted(self.model.state_dict().items()):
                digest.update(key.encode())
                digest.update(tensor.detach().to("cpu", torch.float32).numpy().tobytes())
            self._fingerprint = "params-sha256:" + digest.hexdigest()[:32]
        labels = ",".join(
            f"{hook}={label}"
            for hook, (label, fn) in sorted(self._hook_transforms.items())
            if fn is not None
        )
        base = f"{self._fingerprint}@{self.dtype_name}"
        return f"{base}+{labels}" if labels else base

    @property
    def cache_identity(self) -> str:
        """How cache keys name the model: its fingerprint and the kind of device it runs on.
        Another device's kernels round differently, so activations, probes and clean scores
        computed there are other numbers; a CPU entry must not answer a CUDA run, nor the
        reverse."""
        return f"{self.fingerprint} on {self.device.type}"

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

    def set_hook_transform(
        self,
        hook_name: str,
        label: str,
        fn: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        """Read `hook_name` in the basis `label` names: every activation read (or replaced)
        there passes through `fn` first (None: the activation as the model computes it).

        For SAEs trained on a processed model whose hook carries a transformed activation
        (saeeval.saes.transformer_lens_processing): reads return fn(x), and an intervention
        receives fn(x). The label of a transform is part of the fingerprint, so cached
        activations of the plain and the transformed hook never mix. One hook is read in one
        basis for the adapter's lifetime: asking for another is an error.
        """
        self.hook_point(hook_name)
        current = self._hook_transforms.get(hook_name)
        if current is not None and current[0] != label:
            raise SaeevalError(
                f"hook {hook_name!r} of {self.name!r} is read {current[0]} for one SAE, and "
                f"another SAE needs it {label}; evaluate those SAEs in separate runs"
            )
        self._hook_transforms[hook_name] = (label, fn)

    def _transformed(self, hook_name: str, fn: Callable):
        """`fn` applied to the hook's activation after its transform (if any)."""
        transform = self._hook_transforms.get(hook_name, ("plain", None))[1]
        if transform is None:
            return fn
        return lambda tensor: fn(transform(tensor))

    # -- forward passes -------------------------------------------------------------------------

    def _forward(self, tokens: torch.Tensor):
        return self.model(input_ids=tokens.to(self.device), use_cache=False)

    def _base_forward(self, tokens: torch.Tensor, use_cache: bool = False, past: Any = None):
        """The model without its unembedding: `last_hidden_state` is what the unembedding reads."""
        base = self.model.base_model
        # transformers renamed `past_key_values` to `cache` (5.x); take whichever it has.
        name = "cache" if "cache" in inspect.signature(base.forward).parameters else None
        cache = {name or "past_key_values": past}
        return base(input_ids=tokens.to(self.device), use_cache=use_cache, **cache)

    @torch.no_grad()
    def activations(self, tokens: torch.Tensor, hook_names: list[str]) -> dict[str, torch.Tensor]:
        """Activations at each hook for `tokens` [batch, ctx], without computing later layers."""
        hooks = [self.hook_point(h) for h in hook_names]
        last = max(hooks, key=lambda h: (h.layer, _ORDER_IN_BLOCK[h.kind]))
        captured: dict[str, torch.Tensor] = {}

        with ExitStack() as stack:
            for hook in hooks:
                fn = self._transformed(hook.name, _capture_into(captured, hook.name, hook is last))
                stack.enter_context(attach(self.model, self.model_type, hook, fn))
            try:
                self._forward(tokens)
            except _StopForward:
                pass
        return captured

    @torch.no_grad()
    def activations_continued(
        self, tokens: torch.Tensor, hook_names: list[str], past: Any = None
    ) -> tuple[dict[str, torch.Tensor], Any]:
        """As `activations` (the pass stops after the deepest hook), keeping a key/value cache:
        `past` (None: a new one) is continued and comes back filled for the layers that ran,
        so a later call on the same rows continues these tokens (and `repeat_cache` fans a
        prompt out to several continuations) without running the layers past the hook."""
        from transformers import DynamicCache

        hooks = [self.hook_point(h) for h in hook_names]
        last = max(hooks, key=lambda h: (h.layer, _ORDER_IN_BLOCK[h.kind]))
        captured: dict[str, torch.Tensor] = {}
        past = DynamicCache(config=self.model.config) if past is None else past

        with ExitStack() as stack:
            for hook in hooks:
                fn = self._transformed(hook.name, _capture_into(captured, hook.name, hook is last))
                stack.enter_context(attach(self.model, self.model_type, hook, fn))
            try:
                self._base_forward(tokens, use_cache=True, past=past)
            except _StopForward:
                pass
        return captured, past

    @torch.no_grad()
    def logits(
        self,
        tokens: torch.Tensor,
        hook_name: str | None = None,
        intervention: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Full-model logits (float32), optionally replacing the activation at `hook_name`."""
        with ExitStack() as stack:
            if intervention is not None:
                assert hook_name is not None
                hook = self.hook_point(hook_name)
                fn = self._transformed(hook_name, intervention)
                stack.enter_context(attach(self.model, self.model_type, hook, fn))
            return self._forward(tokens).logits.float()

    def pass_can_start_at(self, hook_name: str) -> bool:
        """Whether `logits_from_hook` can start a pass at this hook (residual-stream hooks)."""
        return self.hook_point(hook_name).kind in _PASS_CAN_START_AT

    @torch.no_grad()
    def logits_from_hook(
        self, tokens: torch.Tensor, hook_name: str, activation: torch.Tensor
    ) -> torch.Tensor:
        """Full-model logits (float32) for `tokens` [batch, ctx] when the activation at
        `hook_name` is `activation` [batch, ctx, d_model], computed from the hook on (see
        `final_hidden_from_hook`)."""
        return self.logits_from_final_hidden(
            self.final_hidden_from_hook(tokens, hook_name, activation)
        )

    @torch.no_grad()
    def final_hidden_from_hook(
        self, tokens: torch.Tensor, hook_name: str, activation: torch.Tensor
    ) -> torch.Tensor:
        """The unembedding's input for `tokens` [batch, ctx] when the activation at `hook_name`
        is `activation` [batch, ctx, d_model], computed from the hook on.

        The blocks before the hook pass their input through instead of running, so the pass
        costs the layers after the hook (and the embedding lookup). It gives what a whole pass
        with an intervention returning `activation` gives: the later layers see the same tensor,
        and the activation is written as given (the hook's transform, if any, is not applied to
        it: an intervention's output is not transformed either). The unembedding is left out, so
        a caller builds logits a few rows at a time (`logits_from_final_hidden`)."""
        hook = self.hook_point(hook_name)
        if hook.kind not in _PASS_CAN_START_AT:
            raise SaeevalError(
                f"a pass cannot start at {hook_name!r}: only the residual-stream hooks "
                f"({', '.join(_PASS_CAN_START_AT)}) carry all that later layers read"
            )
        skipped = hook.layer + (1 if hook.kind == "hook_resid_post" else 0)
        as_tuple = self._blocks_return_tuple()
        injected = activation.to(self.device, self.dtype)
        with ExitStack() as stack:
            for block in decoder_blocks(self.model, self.model_type)[:skipped]:
                stack.enter_context(_passing_through(block, as_tuple))
            stack.enter_context(attach(self.model, self.model_type, hook, lambda _: injected))
            return self._base_forward(tokens).last_hidden_state

    @torch.no_grad()
    def _blocks_return_tuple(self) -> bool:
        """Whether this model's decoder blocks return a tuple (older transformers) or the hidden
        states alone, seen once on a one-token pass that stops after the first block."""
        if self._block_output_is_tuple is None:
            seen: list[bool] = []

            def record(module, args, output):
                seen.append(isinstance(output, tuple))
                raise _StopForward

            first = decoder_blocks(self.model, self.model_type)[0]
            handle = first.register_forward_hook(record)
            try:
                self._forward(torch.tensor([[self.bos_token_id or 0]]))
            except _StopForward:
                pass
            finally:
                handle.remove()
            self._block_output_is_tuple = seen[0]
        return self._block_output_is_tuple

    @torch.no_grad()
    def final_hidden(
        self,
        tokens: torch.Tensor,
        hooks: dict[str, Callable[[torch.Tensor], torch.Tensor | None]] | None = None,
        past_key_values: Any = None,
        use_cache: bool = False,
    ) -> tuple[torch.Tensor, Any]:
        """The hidden state the unembedding reads, at every position of `tokens` [batch, ctx],
        with a function run on the activation at each hook in `hooks` (one that returns a tensor
        replaces the activation, as an intervention in `logits` does).

        The unembedding is left out, so a caller projects only the positions it scores
        (`logits_from_final_hidden`). With `use_cache` the key/value cache comes back too, and
        `past_key_values` continues one: a prompt run once is then continued by several
        continuations (`repeat_cache`)."""
        with ExitStack() as stack:
            for name, fn in (hooks or {}).items():
                hook = self.hook_point(name)
                transformed = self._transformed(name, fn)
                stack.enter_context(attach(self.model, self.model_type, hook, transformed))
            out = self._base_forward(tokens, use_cache, past_key_values)
        if not use_cache:
            return out.last_hidden_state, None
        cache = out.get("cache") if "cache" in out else out.get("past_key_values")
        return out.last_hidden_state, cache

    @torch.no_grad()
    def logits_from_final_hidden(self, hidden: torch.Tensor) -> torch.Tensor:
        """The logits the model computes from `hidden` (the unembedding's input)."""
        logits = self.model.get_output_embeddings()(hidden.to(self.device))
        cap = getattr(self.model.config, "final_logit_softcapping", None)
        if cap:  # Gemma 2/3 squash logits after the unembedding
            logits = torch.tanh(logits / cap) * cap
        return logits.float()


def repeat_cache(past: Any, repeats: int) -> Any:
    """A key/value cache (from `final_hidden`) with each batch row repeated `repeats` times in
    place, rows i*repeats .. i*repeats+repeats-1 continuing row i."""
    past.batch_repeat_interleave(repeats)
    return past


def select_cache(past: Any, rows: torch.Tensor) -> Any:
    """A key/value cache whose batch rows are the cache's rows `rows` (repeats allowed), in
    place: one cached prompt continued by several rows."""
    past.batch_select_indices(rows)
    return past


def per_token_ce_loss(logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """Next-token cross-entropy at every position but the last: shape [batch, ctx - 1]."""
    log_probs = torch.log_softmax(logits[:, :-1].float(), dim=-1)
    targets = tokens[:, 1:].to(log_probs.device)
    return -log_probs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
