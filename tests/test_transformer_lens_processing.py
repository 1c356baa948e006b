"""An SAE trained under TransformerLens weight processing reads its hook in that basis.

The reference is TransformerLens itself: a twin of each tiny model (TransformerLens' own config
and weight conversion), processed by TransformerLens' `process_weights_` with the SAE's options.
On LayerNorm models centring the writing weights centres every hook's activation, and the
adapter reproduces it at the hook, for reading and for splicing; on RMSNorm models
TransformerLens leaves the weights alone, and so does saeeval. Options that would change the
activations in ways no hook transform reproduces are refused, naming what differs.
"""

from __future__ import annotations

import pytest
import torch
from helpers import random_sae, saved
from reference_models import hooked_transformer_twin
from tiny_models import tiny_model

from saeeval.errors import SaeevalError
from saeeval.saes import apply_processing, load_sae

# Processed and plain weights round differently; compare in units of the largest value.
TOLERANCE = 1e-5
PROCESSING = {
    "center_writing_weights": True,
    "fold_ln": True,
    "center_unembed": True,
    "fold_value_biases": True,
}


def _tokens() -> torch.Tensor:
    tokens = torch.randint(4, 100, (3, 24), generator=torch.Generator().manual_seed(0))
    tokens[:, 0] = 0  # BOS
    return tokens


def _relative(got: torch.Tensor, want: torch.Tensor) -> float:
    return ((got - want).abs().max() / want.abs().max()).item()


def _sae(tmp_path, hook: str, kwargs: dict, **extra):
    sae = random_sae("standard", 64, 96, hook, model_name="tiny")
    sae.cfg.model_from_pretrained_kwargs = dict(kwargs)
    sae.cfg.extra.update(extra)
    return load_sae(saved(sae, tmp_path / "sae")).sae


def _processed_twin(model, **options):
    twin = hooked_transformer_twin(model.model)
    twin.process_weights_(**options)
    return twin


@pytest.mark.parametrize("family", ["gpt2", "gpt_neox"])
@pytest.mark.parametrize(
    "kind", ["hook_resid_pre", "hook_attn_out", "hook_mlp_out", "hook_resid_post"]
)
def test_centred_writing_weights_are_reproduced_at_the_hook(tmp_path, family, kind):
    model, tokens, hook = tiny_model(family), _tokens(), f"blocks.1.{kind}"
    plain = model.activations(tokens, [hook])[hook]
    sae = _sae(tmp_path, hook, PROCESSING)
    note = apply_processing(sae, model)
    assert note is not None and "centred" in note
    twin = _processed_twin(model, fold_ln=True, center_writing_weights=True, center_unembed=True)
    _, cache = twin.run_with_cache(tokens, names_filter=[hook])
    ours = model.activations(tokens, [hook])[hook]
    assert _relative(ours, cache[hook]) <= TOLERANCE
    assert _relative(plain, cache[hook]) > 100 * TOLERANCE  # the basis really differs
    assert ours.mean(dim=-1).abs().max() < 1e-5

    # A reconstruction spliced in at the hook: the same next-token distributions as in
    # TransformerLens' processed model (whose logits differ by a per-token constant).
    def splice(activation, hook=None):
        return sae(activation)

    want = twin.run_with_hooks(tokens, fwd_hooks=[(hook, splice)]).log_softmax(-1)
    got = model.logits(tokens, hook, splice).log_softmax(-1)
    assert _relative(got, want) <= TOLERANCE


def test_rms_norm_models_are_left_as_transformer_lens_leaves_them(tmp_path):
    model, tokens, hook = tiny_model("llama"), _tokens(), "blocks.1.hook_resid_post"
    sae = _sae(tmp_path, hook, PROCESSING)
    assert "changes nothing on llama (RMSNorm)" in apply_processing(sae, model)
    twin = _processed_twin(model, fold_ln=True, center_writing_weights=True, center_unembed=True)
    _, cache = twin.run_with_cache(tokens, names_filter=[hook])
    ours = model.activations(tokens, [hook])[hook]
    assert _relative(ours, cache[hook]) <= TOLERANCE
    assert ours.mean(dim=-1).abs().max() > 1e-2  # not centred
    assert "+" not in model.fingerprint


@pytest.mark.parametrize(
    "options",
    [
        {"fold_ln": True, "center_writing_weights": False, "center_unembed": True},
        {
            "fold_ln": False,
            "center_writing_weights": False,
            "center_unembed": False,
            "refactor_factored_attn_matrices": True,
        },
    ],
)
def test_the_other_options_change_nothing_at_the_hooks(options):
    """TransformerLens' processing without centring (value biases are folded in both cases)
    leaves every hook saeeval reads as the plain model computes it."""
    model, tokens = tiny_model("gpt2"), _tokens()
    hooks = [
        f"blocks.{layer}.{kind}"
        for layer in (0, 2)
        for kind in ("hook_resid_pre", "hook_attn_out", "hook_mlp_out", "hook_resid_post")
    ]
    _, cache = _processed_twin(model, **options).run_with_cache(tokens, names_filter=hooks)
    ours = model.activations(tokens, hooks)
    for hook in hooks:
        assert _relative(ours[hook], cache[hook]) <= TOLERANCE, hook


def test_without_the_option_nothing_changes(tmp_path):
    model, hook = tiny_model("gpt2"), "blocks.1.hook_resid_post"
    fingerprint = model.fingerprint
    for kwargs in ({}, {"center_writing_weights": False}):
        assert apply_processing(_sae(tmp_path / str(len(kwargs)), hook, kwargs), model) is None
    inert = {"fold_ln": True, "fold_value_biases": True, "dtype": "float32"}
    note = apply_processing(_sae(tmp_path / "inert", hook, inert), model)
    assert (
        note
        == f"{hook}: TransformerLens options fold_ln, fold_value_biases: no effect at this hook"
    )
    assert model.fingerprint == fingerprint


def test_centred_and_plain_activations_are_cached_apart_and_never_mixed(tmp_path):
    model, hook = tiny_model("gpt2"), "blocks.1.hook_resid_post"
    plain_fingerprint = model.fingerprint
    apply_processing(_sae(tmp_path / "a", hook, {"center_writing_weights": True}), model)
    assert model.fingerprint == f"{plain_fingerprint}+{hook}=centred"
    with pytest.raises(SaeevalError, match="is read centred for one SAE, and another SAE needs"):
        apply_processing(_sae(tmp_path / "b", hook, {}), model)


@pytest.mark.parametrize(
    "kwargs, expected",
    [
        (
            {"checkpoint_index": 12},
            "checkpoint_index is not supported: the SAE was trained on an "
            "intermediate training checkpoint",
        ),
        (
            {"first_n_layers": 2},
            "first_n_layers is not supported: the SAE was trained with the model truncated",
        ),
        (
            {"center_writing_weights": True, "warp": 1},
            "warp is not supported: saeeval cannot tell "
            "how it changes the activations at blocks.1.hook_resid_post",
        ),
    ],
)
def test_options_that_change_the_activations_otherwise_are_refused(tmp_path, kwargs, expected):
    with pytest.raises(SaeevalError, match=expected):
        _sae(tmp_path, "blocks.1.hook_resid_post", kwargs)


def test_a_model_class_saeeval_does_not_run_is_refused(tmp_path):
    with pytest.raises(SaeevalError, match="trained on a HookedMamba model, which saeeval"):
        _sae(tmp_path, "blocks.1.hook_resid_post", {}, model_class_name="HookedMamba")


def test_a_family_of_unknown_normalisation_is_refused_when_centring(tmp_path):
    model = tiny_model("gpt2")
    model.model_type = "opt"  # as if a family were added without saying how it normalises
    sae = _sae(tmp_path, "blocks.1.hook_resid_post", {"center_writing_weights": True})
    with pytest.raises(SaeevalError, match="cannot tell whether 'opt' normalises with LayerNorm"):
        apply_processing(sae, model)
