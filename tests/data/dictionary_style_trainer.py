"""A user trainer written the way dictionary_learning trainers are: an `ae` module with
encode/decode, `update(step, activations)` doing one optimisation step, and a `config` property.
Used by the custom-trainer tests; nothing here imports saeeval."""

import torch
from torch import nn


class TiedReLUAutoEncoder(nn.Module):
    def __init__(self, activation_dim, dict_size):
        super().__init__()
        self.W_enc = nn.Parameter(torch.randn(activation_dim, dict_size) * 0.1)
        self.b_enc = nn.Parameter(torch.zeros(dict_size))
        self.W_dec = nn.Parameter(self.W_enc.data.T.clone())
        self.b_dec = nn.Parameter(torch.zeros(activation_dim))

    def encode(self, x):
        return torch.relu((x - self.b_dec) @ self.W_enc + self.b_enc)

    def decode(self, f):
        return f @ self.W_dec + self.b_dec


class PlainL1Trainer:
    def __init__(
        self,
        activation_dim=512,
        dict_size=2048,
        lr=1e-3,
        l1_penalty=0.01,
        warmup_steps=100,
        seed=None,
        device=None,
        layer=None,
        lm_name=None,
        submodule_name=None,
        wandb_name="PlainL1Trainer",
    ):
        if seed is not None:
            torch.manual_seed(seed)
        self.ae = TiedReLUAutoEncoder(activation_dim, dict_size).to(device or "cpu")
        self.lr, self.l1_penalty, self.warmup_steps = lr, l1_penalty, warmup_steps
        self.layer, self.lm_name, self.submodule_name = layer, lm_name, submodule_name
        self.optimizer = torch.optim.Adam(self.ae.parameters(), lr=lr)

    def loss(self, x, step):
        f = self.ae.encode(x)
        x_hat = self.ae.decode(f)
        warm = min(1.0, (step + 1) / self.warmup_steps)
        return (x - x_hat).pow(2).sum(-1).mean() + warm * self.l1_penalty * f.sum(-1).mean()

    def update(self, step, activations):
        self.optimizer.zero_grad()
        self.loss(activations, step).backward()
        self.optimizer.step()

    @property
    def config(self):
        return {
            "trainer_class": "PlainL1Trainer",
            "lr": self.lr,
            "l1_penalty": self.l1_penalty,
            "warmup_steps": self.warmup_steps,
            "layer": self.layer,
            "lm_name": self.lm_name,
            "submodule_name": self.submodule_name,
        }


class NoUpdate:
    def __init__(self, activation_dim=8, dict_size=16):
        self.ae = TiedReLUAutoEncoder(activation_dim, dict_size)


class NoAutoencoder:
    def __init__(self, activation_dim=8, dict_size=16):
        pass

    def update(self, step, activations):
        pass
