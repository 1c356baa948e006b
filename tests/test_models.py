"""The model adapter on tiny random models of every supported family."""

from __future__ import annotations

import pytest
import torch
from tiny_models import FAMILIES, tiny_model

from saeeval.errors import SaeevalError
from saeeval.models import per_token_ce_loss
from saeeval.models.hook_points import decoder_blocks, parse_hook

KINDS = ["hook_resid_pre", "hook_attn_out", "hook_mlp_out", "hook_resid_post"]


def _tokens(model, n=2):
    ids = model.tokenize(["The quick brown fox jumps over the lazy dog."])[0]
    return torch.tensor([ids] * n)


@pytest.mark.parametrize("family", FAMILIES)
def test_activations_match_hidden_states_and_sum_to_residual(family):
    model = tiny_model(family)
    tokens = _tokens(model)
    hidden = model.model(input_ids=tokens, output_hidden_states=True).hidden_states
    for layer in range(model.n_layers):
        acts = model.activations(tokens, [f"blocks.{layer}.{kind}" for kind in KINDS])
        pre, attn, mlp, post = (acts[f"blocks.{layer}.{kind}"] for kind in KINDS)
        # hidden_states[L] is the residual entering block L; the last entry is normalised, so
        # only inner blocks' outputs coincide with hidden_states[L + 1].
        torch.testing.assert_close(pre, hidden[layer], rtol=0, atol=0)
        if layer < model.n_layers - 1:
            torch.testing.assert_close(post, hidden[layer + 1], rtol=0, atol=0)
        # Each block adds its attention and MLP write-outs to the residual stream.
        torch.testing.assert_close(pre + attn + mlp, post, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("family", ["llama", "gpt2", "gpt_neox"])
def test_activation_pass_stops_at_the_hook(family):
    model = tiny_model(family)
    blocks = model.model.get_decoder().layers if family != "gpt2" else model.model.transformer.h
    calls = []
    handles = [
        b.register_forward_hook(lambda *a, i=i: calls.append(i)) for i, b in enumerate(blocks)
    ]
    model.activations(_tokens(model), ["blocks.0.hook_resid_post"])
    for h in handles:
        h.remove()
    assert calls == [0]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("family", FAMILIES)
def test_splicing_identity_keeps_logits_and_ablation_changes_them(family, kind):
    model = tiny_model(family)
    tokens = _tokens(model)
    clean = model.logits(tokens)
    same = model.logits(tokens, f"blocks.1.{kind}", lambda x: x.clone())
    ablated = model.logits(tokens, f"blocks.1.{kind}", torch.zeros_like)
    torch.testing.assert_close(same, clean, rtol=0, atol=0)
    assert (ablated - clean).abs().max() > 1e-3


@pytest.mark.parametrize("kind", ["hook_resid_pre", "hook_resid_post"])
@pytest.mark.parametrize("family", FAMILIES)
def test_a_pass_from_the_hook_gives_the_spliced_logits_and_runs_only_later_blocks(family, kind):
    model = tiny_model(family)
    tokens = _tokens(model)
    blocks = decoder_blocks(model.model, model.model_type)
    ran: list[int] = []
    # A block's MLP runs only when the block does (a block passing its input through runs none).
    for index, block in enumerate(blocks):
        block.mlp.register_forward_hook(lambda *args, index=index: ran.append(index))
    zeros = torch.zeros(*tokens.shape, model.d_model)
    model.logits_from_hook(tokens, "blocks.0.hook_resid_pre", zeros)
    ran.clear()  # that first call also ran block 0 once, to see what form blocks return
    for layer in range(model.n_layers):
        hook = f"blocks.{layer}.{kind}"
        generator = torch.Generator().manual_seed(layer)
        replacement = model.activations(tokens, [hook])[hook]
        replacement = replacement + torch.randn(replacement.shape, generator=generator)
        expected = model.logits(tokens, hook, lambda _, new=replacement: new)
        ran.clear()
        got = model.logits_from_hook(tokens, hook, replacement)
        torch.testing.assert_close(got, expected, rtol=0, atol=0)
        first = layer + (kind == "hook_resid_post")
        assert ran == list(range(first, model.n_layers)), (hook, ran)
    # The blocks are themselves again afterwards.
    ran.clear()
    torch.testing.assert_close(model.logits(tokens), model.logits(tokens), rtol=0, atol=0)
    assert ran == list(range(model.n_layers)) * 2


@pytest.mark.parametrize("kind", ["hook_attn_out", "hook_mlp_out"])
def test_a_pass_cannot_start_at_a_block_write_out(kind):
    model = tiny_model("llama")
    assert not model.pass_can_start_at(f"blocks.0.{kind}")
    with pytest.raises(SaeevalError, match="cannot start"):
        model.logits_from_hook(_tokens(model), f"blocks.0.{kind}", torch.zeros(2, 3, 64))


@pytest.mark.parametrize("family", FAMILIES)
def test_logits_rebuilt_from_final_hidden_state_equal_the_model_logits(family):
    """Core builds logits from the unembedding's input: they are the model's own, bit for bit."""
    model = tiny_model(family)
    tokens = _tokens(model)
    hidden, _ = model.final_hidden(tokens)
    rebuilt = model.logits_from_final_hidden(hidden)
    torch.testing.assert_close(rebuilt, model.logits(tokens), rtol=0, atol=0)


def test_ce_loss_matches_the_model_loss():
    model = tiny_model("llama")
    tokens = _tokens(model)
    logits = model.logits(tokens)
    expected = model.model(input_ids=tokens, labels=tokens).loss
    torch.testing.assert_close(per_token_ce_loss(logits, tokens).mean(), expected)


def test_special_tokens_and_bos():
    model = tiny_model("llama")
    assert model.bos_token_id == 0
    assert model.special_token_ids == {0, 1, 2}
    assert model.tokenize(["ab"])[0] == model.tokenizer.convert_tokens_to_ids(["a", "b"])


@pytest.mark.parametrize("name", ["blocks.x.hook_resid_post", "blocks.1.hook_z", "resid_post"])
def test_bad_hook_names_are_rejected(name):
    with pytest.raises(SaeevalError, match="not a supported hook name"):
        parse_hook(name)


def test_hook_beyond_the_last_layer_is_rejected():
    model = tiny_model("llama")
    with pytest.raises(SaeevalError, match="has layers 0..2"):
        model.hook_width("blocks.7.hook_resid_post")


def test_fingerprint_follows_the_weights():
    a, b = tiny_model("llama", seed=0), tiny_model("llama", seed=0)
    c = tiny_model("llama", seed=1)
    assert a.fingerprint == b.fingerprint != c.fingerprint


def test_unknown_model_offline_gives_a_clear_error():
    from saeeval.models import load_model

    with pytest.raises(
        SaeevalError,
        match=r"could not load model 'gemma-2-2b' \(looked for "
        r"'google/gemma-2-2b'.*use --model smollm2-135m",
    ):
        load_model("gemma-2-2b", "cpu")
