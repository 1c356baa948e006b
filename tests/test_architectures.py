"""Every registered architecture spec works end to end, and SCR/TPP refuses non-affine decoders."""

from __future__ import annotations

import dataclasses
import json
from typing import get_args

import pytest
import torch

from saeeval.errors import SaeevalError
from saeeval.evals.probing.ablation import decoder_matrix
from saeeval.saes import (
    ARCHITECTURE_SPECS,
    ARCHITECTURES,
    SAE,
    ArchitectureName,
    SAEConfig,
    load_sae,
    save_sae,
)
from saeeval.saes.architectures import STANDARD

HOOK = "blocks.1.hook_resid_post"


def _random_sae(architecture: str, d_in: int = 16, d_sae: int = 48, seed: int = 0) -> SAE:
    """An SAE of any registered architecture with random weights (k = 5 where it has a k)."""
    spec = ARCHITECTURE_SPECS[architecture]
    cfg = SAEConfig(
        architecture=architecture,
        d_in=d_in,
        d_sae=d_sae,
        hook_name=HOOK,
        model_name="tiny-llama",
        **({"k": 5} if "k" in spec.config_fields else {}),
    )
    sae = SAE(cfg)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in sae.parameters():
            param.copy_(torch.randn(param.shape, generator=generator) * 0.3)
        sae.W_dec.div_(sae.W_dec.norm(dim=-1, keepdim=True))
    return sae


def test_registry_matches_the_literal_and_the_name_tuple():
    assert tuple(ARCHITECTURE_SPECS) == get_args(ArchitectureName) == ARCHITECTURES
    for name, spec in ARCHITECTURE_SPECS.items():
        assert spec.name == name


@pytest.mark.parametrize("architecture", list(ARCHITECTURE_SPECS))
def test_every_spec_round_trips_through_save_and_load(tmp_path, architecture):
    spec = ARCHITECTURE_SPECS[architecture]
    ours = _random_sae(architecture)
    assert [name for name, _ in ours.named_parameters()] == list(
        spec.parameter_shapes(ours.d_in, ours.d_sae)
    )
    save_sae(ours, tmp_path)
    written = json.loads((tmp_path / "cfg.json").read_text())
    assert written["architecture"] == spec.saelens_architecture
    loaded = load_sae(tmp_path).sae
    assert loaded.cfg.architecture == architecture
    for name in spec.config_fields:
        assert getattr(loaded.cfg, name) == getattr(ours.cfg, name)
    x = torch.randn(4, 6, ours.d_in, generator=torch.Generator().manual_seed(1))
    latents = ours.encode(x)
    assert latents.count_nonzero() > 0
    assert torch.equal(loaded.encode(x), latents)
    assert torch.equal(loaded(x), ours(x))
    assert torch.equal(loaded.encoder_bias, ours.encoder_bias)


@pytest.mark.parametrize("architecture", list(ARCHITECTURE_SPECS))
def test_saelens_loads_each_spec_as_its_class(tmp_path, architecture):
    from sae_lens import SAE as SAELensSAE

    save_sae(_random_sae(architecture), tmp_path)
    theirs = SAELensSAE.load_from_disk(tmp_path)
    assert type(theirs).__name__ == ARCHITECTURE_SPECS[architecture].saelens_class


@pytest.mark.parametrize("architecture", list(ARCHITECTURE_SPECS))
def test_ablation_uses_the_matrix_decode_multiplies_by(architecture):
    sae = _random_sae(architecture)
    latents = torch.rand(3, sae.d_sae)
    torch.testing.assert_close(sae.decode(latents), latents @ decoder_matrix(sae) + sae.b_dec)


def test_ablation_refuses_an_architecture_whose_decoder_is_not_affine(monkeypatch):
    throwaway = dataclasses.replace(STANDARD, name="curved", decoder_is_affine=False)
    monkeypatch.setitem(ARCHITECTURE_SPECS, "curved", throwaway)
    sae = SAE(SAEConfig(architecture="curved", d_in=8, d_sae=16, hook_name=HOOK))
    with pytest.raises(SaeevalError, match="cannot ablate a curved SAE: its decoder is not affine"):
        decoder_matrix(sae)


def test_unknown_architecture_is_refused_when_building():
    with pytest.raises(SaeevalError, match="architecture 'temporal' is not supported"):
        SAE(SAEConfig(architecture="temporal", d_in=8, d_sae=16, hook_name=HOOK))


# -- the architectures beyond the four classic ones, against SAELens' own classes ---------------


@pytest.mark.parametrize("rescale", [False, True])
def test_abstopk_encodes_as_saelens_abstopk_sae(tmp_path, rescale):
    from sae_lens import SAE as SAELensSAE

    ours = _random_sae("abstopk")
    ours.cfg.rescale_acts_by_decoder_norm = rescale
    with torch.no_grad():
        ours.W_dec.mul_(torch.rand(ours.d_sae, 1, generator=torch.Generator().manual_seed(5)) + 0.5)
    save_sae(ours, tmp_path)
    theirs = SAELensSAE.load_from_disk(tmp_path)
    assert (
        type(theirs).__name__ == "AbsTopKSAE" and theirs.cfg.rescale_acts_by_decoder_norm is rescale
    )
    x = torch.randn(3, 7, ours.d_in, generator=torch.Generator().manual_seed(6))
    latents = ours.encode(x)
    assert (latents < 0).any() and (latents > 0).any()  # signed: both directions fire
    assert ((latents != 0).sum(dim=-1) == 5).all()
    assert torch.equal(latents, theirs.encode(x))
    torch.testing.assert_close(ours(x), theirs(x), rtol=1e-6, atol=1e-6)


def test_matryoshka_batchtopk_encodes_bit_for_bit_as_saelens_infers_it(tmp_path):
    """SAELens saves a trained Matryoshka BatchTopK SAE as a JumpReLUSAE with its threshold."""
    from sae_lens import SAE as SAELensSAE

    ours = _random_sae("matryoshka_batchtopk")
    ours.cfg.matryoshka_widths = [8, 20, ours.d_sae]
    with torch.no_grad():
        ours.threshold.fill_(0.15)  # one learned threshold for every latent, as BatchTopK has
    save_sae(ours, tmp_path / "ours")
    written = json.loads((tmp_path / "ours" / "cfg.json").read_text())
    assert written["architecture"] == "jumprelu"
    assert written["metadata"]["training_architecture"] == "matryoshka_batchtopk"
    assert written["metadata"]["training_architecture_details"]["matryoshka_widths"] == [8, 20, 48]
    theirs = SAELensSAE.load_from_disk(tmp_path / "ours")
    x = torch.randn(4, 6, ours.d_in, generator=torch.Generator().manual_seed(8))
    assert torch.equal(ours.encode(x), theirs.encode(x))
    assert torch.equal(ours.decode(ours.encode(x)), theirs.decode(theirs.encode(x)))
    # SAELens keeps the metadata when it saves the SAE again, so the name round-trips.
    theirs.save_model(tmp_path / "theirs")
    again = load_sae(tmp_path / "theirs").sae
    assert again.cfg.architecture == "matryoshka_batchtopk"
    assert again.cfg.matryoshka_widths == [8, 20, 48]
    assert torch.equal(again.encode(x), ours.encode(x))


def test_a_plain_jumprelu_stays_a_jumprelu(tmp_path):
    save_sae(_random_sae("jumprelu"), tmp_path)
    assert load_sae(tmp_path).sae.cfg.architecture == "jumprelu"


def test_matryoshka_widths_are_checked(tmp_path):
    ours = _random_sae("matryoshka_batchtopk")
    ours.cfg.matryoshka_widths = [8, 30, 20]
    save_sae(ours, tmp_path)
    with pytest.raises(SaeevalError, match=r"matryoshka_widths must be strictly increasing"):
        load_sae(tmp_path)


@pytest.mark.parametrize(
    "settings",
    [
        {},  # SAELens' defaults: stop when the support repeats or the residual is small
        {"stop_on_duplicate_support": False, "residual_threshold": 0.0, "max_iterations": 5},
        {"apply_b_dec_to_input": False, "residual_threshold": 0.5},
    ],
)
def test_matching_pursuit_encodes_bit_for_bit_as_saelens(tmp_path, settings):
    import sae_lens

    cfg = sae_lens.MatchingPursuitSAEConfig(d_in=16, d_sae=48, **settings)
    cfg.metadata.hook_name = HOOK
    torch.manual_seed(2)
    theirs = sae_lens.MatchingPursuitSAE(cfg)
    with torch.no_grad():
        theirs.b_dec.add_(torch.randn_like(theirs.b_dec) * 0.1)
        theirs.W_dec.div_(theirs.W_dec.norm(dim=-1, keepdim=True))
    theirs.save_model(tmp_path / "theirs")
    ours = load_sae(tmp_path / "theirs").sae
    assert ours.cfg.architecture == "matching_pursuit" and "W_enc" not in dict(
        ours.named_parameters()
    )
    assert torch.equal(ours.W_enc, theirs.W_dec.T)  # tied
    x = torch.randn(4, 5, 16, generator=torch.Generator().manual_seed(3))
    latents = ours.encode(x)
    assert (latents != 0).sum(dim=-1).float().mean() > 1  # several picks per token
    assert torch.equal(latents, theirs.encode(x))
    assert torch.equal(ours(x), theirs(x))
    # What we save, SAELens loads as its class with the same settings.
    save_sae(ours, tmp_path / "ours")
    again = sae_lens.SAE.load_from_disk(tmp_path / "ours")
    assert type(again).__name__ == "MatchingPursuitSAE"
    for name in ("residual_threshold", "max_iterations", "stop_on_duplicate_support"):
        assert getattr(again.cfg, name) == getattr(theirs.cfg, name)
    assert torch.equal(again.encode(x), latents)
