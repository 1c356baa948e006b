"""Native trainers on synthetic sparse data: each learns, exports what it trained, and checks
its hyperparameters."""

from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError

from saeeval.saes import load_sae, save_sae
from saeeval.trainers import TRAINERS
from saeeval.trainers.loop import fold_input_scale

D_IN, N_TRUE = 24, 48


def synthetic_batches(n_batches: int, batch_size: int = 256, seed: int = 0):
    """x = sparse codes @ a random unit dictionary: a problem with a known sparse answer."""
    dictionary = torch.randn(N_TRUE, D_IN, generator=torch.Generator().manual_seed(1234))
    dictionary /= dictionary.norm(dim=-1, keepdim=True)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(n_batches):
        active = torch.rand(batch_size, N_TRUE, generator=generator) < 4 / N_TRUE
        magnitude = 1 + 2 * torch.rand(batch_size, N_TRUE, generator=generator)
        yield (active * magnitude) @ dictionary  # norm about sqrt(d_in), as the loop scales to


def explained_variance(sae, x) -> float:
    return 1 - ((x - sae(x)).pow(2).sum() / (x - x.mean(0)).pow(2).sum()).item()


# Chosen so that 400 steps on the synthetic data give a sparse code (about 4 true causes).
HYPER = {
    "standard": {"sparsity_penalty": 0.5, "lr": 3e-3},
    "topk": {"k": 6, "lr": 3e-3},
    "batch_topk": {"k": 6, "lr": 3e-3, "threshold_start_step": 50},
    "matryoshka_batch_topk": {
        "k": 6,
        "lr": 3e-3,
        "threshold_start_step": 50,
        "group_fractions": [0.125, 0.375, 0.5],
    },
    "jumprelu": {"sparsity_penalty": 0.3, "lr": 1e-2, "bandwidth": 0.2, "initial_threshold": 0.1},
    "gated": {"sparsity_penalty": 1.0, "lr": 3e-3},
    "p_anneal": {"sparsity_penalty": 0.3, "lr": 3e-3, "p_end": 0.5},
    "temperature": {"sparsity_penalty": 0.05, "lr": 3e-3},
    "adaptive_ortho": {
        "sparsity_penalty": 0.5,
        "lr": 3e-3,
        "n_groups": 4,
        "group_update_every": 50,
    },
}


def train_synthetic(name: str, steps: int = 400, d_sae: int = 64, **overrides):
    cls = TRAINERS[name]
    cfg = cls.config_class(
        d_in=D_IN, d_sae=d_sae, total_steps=steps, warmup_steps=20, **{**HYPER[name], **overrides}
    )
    batches = synthetic_batches(steps + 1)
    trainer = cls(cfg, next(batches))
    logs = [trainer.update(step, x) for step, x in enumerate(batches) if step < steps]
    return trainer, logs


@pytest.mark.parametrize("name", sorted(HYPER))
def test_each_trainer_learns_a_sparse_code(name):
    trainer, logs = train_synthetic(name)
    held_out = next(synthetic_batches(1, 2048, seed=99))
    sae = trainer.export()
    assert logs[-1]["loss"] < 0.5 * logs[5]["loss"]
    assert explained_variance(sae, held_out) > 0.8, name
    l0 = (sae.encode(held_out) > 0).sum(-1).float().mean().item()
    assert 1 <= l0 <= 20, (name, l0)  # truly sparse: the data has about 4 active causes


@pytest.mark.parametrize("name", sorted(HYPER))
def test_export_saves_and_reloads_the_same_function(tmp_path, name):
    trainer, _ = train_synthetic(name, steps=60)
    sae = trainer.export()
    sae.cfg.hook_name = "blocks.0.hook_resid_post"
    x = next(synthetic_batches(1, 64, seed=5))
    loaded = load_sae(save_sae(sae, tmp_path / name)).sae
    torch.testing.assert_close(loaded(x), sae(x))


@pytest.mark.parametrize("name", ["standard", "topk", "jumprelu", "gated"])
def test_exported_sae_matches_the_training_forward_pass(name):
    trainer, _ = train_synthetic(name, steps=60)
    x = next(synthetic_batches(1, 64, seed=5))
    _, _, latents = trainer.loss(x, step=59)
    torch.testing.assert_close(
        trainer.export()(x), latents @ trainer.ae.W_dec + trainer.ae.b_dec, rtol=1e-4, atol=1e-4
    )


@pytest.mark.parametrize("name", sorted(HYPER))
def test_folding_the_input_scale(name):
    """Trained on c * x, exported for x: the SAE of x equals (trained SAE of c * x) / c."""
    trainer, _ = train_synthetic(name, steps=30)
    scaled = trainer.export()
    raw = trainer.export()
    scale = 0.37
    fold_input_scale(raw, scale)
    x = next(synthetic_batches(1, 64, seed=6))
    torch.testing.assert_close(raw(x), scaled(x * scale) / scale, rtol=1e-4, atol=1e-4)


def test_a_larger_penalty_gives_a_sparser_code():
    held_out = next(synthetic_batches(1, 2048, seed=99))
    l0 = {}
    for penalty in (0.25, 1.0):
        trainer, _ = train_synthetic("standard", sparsity_penalty=penalty)
        l0[penalty] = (trainer.export().encode(held_out) > 0).sum(-1).float().mean().item()
    assert l0[1.0] < 0.8 * l0[0.25]


def test_batch_topk_learns_an_inference_threshold_giving_about_k():
    trainer, _ = train_synthetic("batch_topk", steps=300)
    assert trainer.threshold > 0
    held_out = next(synthetic_batches(1, 2048, seed=99))
    l0 = (trainer.export().encode(held_out) > 0).sum(-1).float().mean().item()
    assert 3 <= l0 <= 9


def test_batch_topk_threshold_follows_the_end_of_a_short_run():
    # The smallest kept activation drops from 2 to 1 a third of the way in: the threshold must
    # end near 1 (the recipe's bare 0.999 decay would still sit near 1.5 after 400 steps).
    cls = TRAINERS["batch_topk"]
    cfg = cls.config_class(d_in=D_IN, d_sae=64, total_steps=500, k=4, threshold_start_step=100)
    trainer = cls(cfg, next(synthetic_batches(1, 64)))
    for step in range(500):
        trainer.after_step(step, torch.tensor([[0.0, 2.0 if step < 200 else 1.0, 3.0]]))
    assert trainer.threshold == pytest.approx(1.0, abs=0.01)


def test_matryoshka_with_one_group_is_batch_topk_exactly():
    matryoshka, _ = train_synthetic("matryoshka_batch_topk", steps=80, group_fractions=[1.0])
    batch_topk, _ = train_synthetic("batch_topk", steps=80)
    for name, value in batch_topk.ae.state_dict().items():
        assert torch.equal(matryoshka.ae.state_dict()[name], value), name
    assert matryoshka.threshold == batch_topk.threshold


def test_matryoshka_prefixes_reconstruct_on_their_own(tmp_path):
    """The first group alone (8 of 64 latents) must reconstruct far better than the same
    prefix of a BatchTopK SAE, whose first latents are no more general than any others; the
    nested widths are saved as SAELens saves a trained Matryoshka SAE, and SAELens loads it."""
    from sae_lens import SAE as SAELensSAE

    matryoshka, _ = train_synthetic("matryoshka_batch_topk")
    batch_topk, _ = train_synthetic("batch_topk")
    held_out = next(synthetic_batches(1, 2048, seed=99))

    def first_group_error(trainer) -> float:
        sae = trainer.export()
        latents = sae.encode(held_out)
        x_hat = latents[:, :8] @ sae.W_dec[:8] + sae.b_dec
        return ((held_out - x_hat).pow(2).sum() / (held_out - held_out.mean(0)).pow(2).sum()).item()

    assert first_group_error(matryoshka) < 0.8 * first_group_error(batch_topk)
    sae = matryoshka.export()
    assert sae.cfg.architecture == "matryoshka_batchtopk"
    assert sae.cfg.matryoshka_widths == [8, 32, 64]
    sae.cfg.hook_name = "blocks.0.hook_resid_post"
    folder = save_sae(sae, tmp_path / "matryoshka")
    theirs = SAELensSAE.load_from_disk(str(folder))
    assert type(theirs).__name__ == "JumpReLUSAE"
    assert theirs.cfg.metadata.training_architecture == "matryoshka_batchtopk"
    torch.testing.assert_close(theirs.encode(held_out), sae.encode(held_out))


@pytest.mark.parametrize(
    "fractions, message",
    [([0.5, 0.4], "sum to 1"), ([0.001, 0.999], "empty group"), ([1.5, -0.5], "positive")],
)
def test_matryoshka_groups_are_checked(fractions, message):
    cls = TRAINERS["matryoshka_batch_topk"]
    with pytest.raises(ValidationError, match=message):
        cls.config_class(d_in=D_IN, d_sae=64, total_steps=10, group_fractions=fractions)


@pytest.mark.parametrize("function", ["Lp^p", "Lp"])
def test_p_anneal_steps_p_down_and_keeps_the_penalty_continuous(function):
    """On constant latents, each update rescales alpha so that alpha * S_p(f) is unchanged
    while p steps from p_start to p_end."""
    cls = TRAINERS["p_anneal"]
    cfg = cls.config_class(
        d_in=D_IN,
        d_sae=64,
        total_steps=100,
        sparsity_function=function,
        p_end=0.25,
        n_sparsity_updates=4,
        anneal_start=0.5,
    )
    trainer = cls(cfg, next(synthetic_batches(1, 64)))
    latents = torch.rand(32, 64) * (torch.rand(32, 64) < 0.2)
    start = trainer.alpha * trainer.sparsity(latents, trainer.p).item()
    seen = set()
    for step in range(100):
        trainer.after_step(step, latents)
        seen.add(round(trainer.p, 4))
        penalty = trainer.alpha * trainer.sparsity(latents, trainer.p).item()
        assert penalty == pytest.approx(start, rel=1e-4), (step, trainer.p)
    assert seen == {1.0, 0.75, 0.5, 0.25}
    assert trainer.p == pytest.approx(0.25) and trainer.alpha != cfg.sparsity_penalty


def test_p_anneal_resumes_its_schedule():
    trainer, _ = train_synthetic("p_anneal", steps=300)
    state = trainer.state_dict()
    fresh = TRAINERS["p_anneal"](trainer.cfg, next(synthetic_batches(1, 64)))
    assert fresh.p == 1.0
    fresh.load_state_dict(state)
    assert (fresh.p, fresh.next_p, fresh.alpha) == (trainer.p, trainer.next_p, trainer.alpha)
    assert trainer.p < 1.0  # the schedule moved


def test_auxk_sends_gradient_to_dead_latents_only_when_switched_on():
    x = next(synthetic_batches(1, 128, seed=3))
    grads = {}
    for alpha in (0.0, 1 / 32):
        cls = TRAINERS["topk"]
        cfg = cls.config_class(d_in=D_IN, d_sae=64, total_steps=10, k=4, auxk_alpha=alpha)
        trainer = cls(cfg, x)
        trainer.tokens_since_fired[:32] = cfg.dead_after_tokens  # latents 0..31 are dead
        with torch.no_grad():  # make the dead latents lose every top-k contest, yet stay positive
            trainer.ae.b_enc[:32] = -0.5 * x.norm(dim=-1).max()
            trainer.ae.b_enc[:32] += (x @ trainer.ae.W_enc[:, :32]).abs().max() + 0.1
            trainer.ae.b_enc[32:] = 100.0
        loss, logs, latents = trainer.loss(x, step=0)
        assert (latents[:, :32] == 0).all()
        loss.backward()
        grads[alpha] = trainer.ae.W_enc.grad[:, :32].abs().sum().item()
    assert grads[0.0] == 0 and grads[1 / 32] > 0


def test_jumprelu_pre_activation_loss_revives_dead_latents():
    """Latents whose thresholds sit far above their pre-activations get no pseudo-gradient; the
    pre-activation loss on dead latents brings them back, and without it they stay dead."""
    fired = {}
    cls = TRAINERS["jumprelu"]
    for coefficient in (0.0, 0.1):
        cfg = cls.config_class(
            d_in=D_IN,
            d_sae=64,
            total_steps=240,
            warmup_steps=20,
            dead_after_tokens=1024,
            pre_act_loss_coefficient=coefficient,
            **HYPER["jumprelu"],
        )
        batches = synthetic_batches(241)
        trainer = cls(cfg, next(batches))
        for step, x in enumerate(batches):
            if step == 40:  # kill latents 0..15: thresholds far above anything they see
                with torch.no_grad():
                    trainer.extra_parameters["log_threshold"][:16] = torch.tensor(50.0).log()
            trainer.update(step, x)
        held_out = next(synthetic_batches(1, 2048, seed=99))
        fired[coefficient] = int((trainer.export().encode(held_out)[:, :16] > 0).any(0).sum())
    assert fired[0.0] == 0
    assert fired[0.1] >= 12


def test_a_jumprelu_target_brings_its_defaults_unless_given():
    from saeeval.trainers.jumprelu import TARGET_L0_DEFAULTS

    cls = TRAINERS["jumprelu"].config_class
    common = {"d_in": D_IN, "d_sae": 64, "total_steps": 10}
    recipe = cls(**common)
    targeted = cls(**common, target_l0=8)
    given = cls(**common, target_l0=8, sparsity_penalty=3.0, bandwidth=0.01)
    for name, value in TARGET_L0_DEFAULTS.items():
        assert getattr(targeted, name) == value != getattr(recipe, name)
    assert (given.sparsity_penalty, given.bandwidth) == (3.0, 0.01)
    assert given.threshold_lr_scale == TARGET_L0_DEFAULTS["threshold_lr_scale"]


def test_jumprelu_thresholds_can_learn_at_their_own_rate():
    trainer, logs = train_synthetic("jumprelu", steps=30, threshold_lr_scale=10.0)
    sae_group, threshold_group = trainer.optimizer.param_groups
    assert threshold_group["params"] == [trainer.extra_parameters["log_threshold"]]
    assert threshold_group["lr"] == pytest.approx(10 * sae_group["lr"])
    assert sae_group["lr"] == pytest.approx(logs[-1]["lr"])
    plain, _ = train_synthetic("jumprelu", steps=30)
    assert len(plain.optimizer.param_groups) == 1  # the recipe's single rate by default


def test_temperature_anneals_from_tau_start_to_tau_end():
    trainer, logs = train_synthetic("temperature", steps=100, tau_start=0.3, tau_end=0.05)
    taus = [log["tau"] for log in logs]
    assert taus[0] == pytest.approx(0.3) and taus[-1] == pytest.approx(0.05)
    assert all(a >= b for a, b in zip(taus, taus[1:], strict=False))
    assert taus[99 // 2] == pytest.approx(0.175, rel=0.02)  # near the cosine midpoint
    linear, _ = train_synthetic("temperature", steps=100, tau_schedule="linear", tau_span=51)
    assert linear.tau(25) == pytest.approx(0.175) and linear.tau(80) == pytest.approx(0.05)


def test_adaptive_ortho_on_shapes_that_are_not_square():
    """Group size 12 against d_in 24, batch 256 against 4 groups, group biases on."""
    trainer, logs = train_synthetic(
        "adaptive_ortho", steps=120, d_sae=48, group_biases=True, condition_every=10
    )
    assert "ortho_loss" in logs[-1] and logs[-1]["condition_max"] >= 1
    assert sorted(torch.bincount(trainer.group_of).tolist()) == [12, 12, 12, 12]
    x = next(synthetic_batches(1, 37, seed=7))  # an odd batch size
    _, _, latents = trainer.loss(x, step=119)
    expected = latents @ trainer.decoder_rows() + trainer.ae.b_dec
    torch.testing.assert_close(trainer.export()(x), expected, rtol=1e-4, atol=1e-4)


def test_adaptive_ortho_penalty_separates_groups():
    def overlap(trainer):
        rows = torch.nn.functional.normalize(trainer.decoder_rows(), dim=-1).detach()
        same = trainer.group_of[:, None] == trainer.group_of[None, :]
        return (rows @ rows.T).abs()[~same].mean().item()

    free, _ = train_synthetic("adaptive_ortho", steps=200, ortho_penalty_max=0.0)
    pushed, _ = train_synthetic("adaptive_ortho", steps=200, ortho_penalty_max=0.5)
    assert overlap(pushed) < overlap(free)


@pytest.mark.parametrize(
    "name, bad, message",
    [
        ("topk", {"k": 65}, "k .65. must not exceed d_sae .64."),
        ("standard", {"sparsity_penalty": -1.0}, "greater than or equal to 0"),
        ("temperature", {"tau_start": 0.05, "tau_end": 0.3}, "must not exceed tau_start"),
        ("adaptive_ortho", {"n_groups": 5}, "divisible by n_groups"),
        ("jumprelu", {"bandwidth": 0.0}, "greater than 0"),
        ("gated", {"unknown_knob": 1}, "Extra inputs are not permitted"),
    ],
)
def test_hyperparameters_out_of_range(name, bad, message):
    with pytest.raises(ValidationError, match=message):
        TRAINERS[name].config_class(d_in=D_IN, d_sae=64, total_steps=100, **bad)


def test_jumprelu_with_a_target_l0_starts_at_that_l0():
    """Thresholds start at each latent's first-batch quantile for the target firing rate, so a
    short run does not have to climb from 0.001 (where about half the latents fire)."""
    x = next(synthetic_batches(1, 2048, seed=3))
    l0 = {}
    for target in (None, 8.0):
        cfg = TRAINERS["jumprelu"].config_class(
            d_in=D_IN, d_sae=256, total_steps=10, target_l0=target
        )
        sae = TRAINERS["jumprelu"](cfg, x).export()
        l0[target] = (sae.encode(x) > 0).sum(-1).float().mean().item()
    assert l0[8.0] == pytest.approx(8.0, rel=0.05)
    assert l0[None] > 64
