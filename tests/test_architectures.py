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
    with pytest.raises(SaeevalError, match="architecture 'matching_pursuit' is not supported"):
        SAE(SAEConfig(architecture="matching_pursuit", d_in=8, d_sae=16, hook_name=HOOK))
