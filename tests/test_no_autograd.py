"""Evals run without autograd: loaded SAEs do not require grad, and no tensor an eval computes
carries a graph back to the model's or the SAE's weights (only probes an eval trains have one)."""

from __future__ import annotations

import torch
from helpers import random_sae, saved
from test_cache_keys import PROBING_TINY
from test_runner import SMALL as CORE_SMALL
from test_runner import text_file  # noqa: F401  (fixture)
from tiny_models import tiny_model
from torch.overrides import TorchFunctionMode

from saeeval.runner import RunRequest, run
from saeeval.saes import load_sae

HOOK = "blocks.1.hook_resid_post"


class GraphWatch(TorchFunctionMode):
    """Records every op output whose autograd graph reaches one of `watched` (by identity)."""

    def __init__(self, watched: set[int]):
        super().__init__()
        self.watched = watched
        self.offending: list[str] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        tensors = out if isinstance(out, (tuple, list)) else [out]
        for tensor in tensors:
            if isinstance(tensor, torch.Tensor) and tensor.grad_fn is not None:
                if self._reaches_watched(tensor.grad_fn):
                    self.offending.append(getattr(func, "__name__", str(func)))
        return out

    def _reaches_watched(self, node) -> bool:
        seen, stack = set(), [node]
        while stack:
            node = stack.pop()
            if node is None or id(node) in seen:
                continue
            seen.add(id(node))
            variable = getattr(node, "variable", None)
            if variable is not None and id(variable) in self.watched:
                return True
            stack.extend(next_node for next_node, _ in node.next_functions)
        return False


def test_loaded_saes_do_not_require_grad(tmp_path):
    folder = saved(random_sae("topk", 64, 128, HOOK), tmp_path / "sae")
    loaded = load_sae(folder)
    assert not any(p.requires_grad for p in loaded.sae.parameters())


def test_no_eval_tensor_has_a_graph_to_model_or_sae_weights(
    tmp_path,
    text_file,  # noqa: F811
    isolated_cache,
    monkeypatch,
):
    model = tiny_model("llama")
    sae_folder = saved(random_sae("topk", 64, 128, HOOK, model_name="tiny-llama"), tmp_path / "s")
    watched = {id(p) for p in model.model.parameters()}
    loaded_params: list[int] = []
    real_load = load_sae

    def load_and_watch(*args, **kwargs):
        loaded = real_load(*args, **kwargs)
        loaded.sae.requires_grad_(True)  # as an SAE fresh from a trainer would be
        loaded_params.extend(id(p) for p in loaded.sae.parameters())
        watched.update(loaded_params)
        return loaded

    monkeypatch.setattr("saeeval.runner.load_sae", load_and_watch)
    with GraphWatch(watched) as watch:
        run(
            RunRequest(
                saes=[str(sae_folder)],
                evals=["core", "sparse_probing", "tpp"],
                out=tmp_path / "out",
                device="cpu",
                dataset=str(text_file),
                overrides={
                    **CORE_SMALL,
                    **{k: PROBING_TINY[k] for k in ("sparse_probing", "tpp")},
                },
            ),
            log=lambda m: None,
            model_loader=lambda *_: model,
        )
    assert loaded_params, "the SAE was not loaded through the runner"
    assert not watch.offending, f"ops with a graph to the weights: {sorted(set(watch.offending))}"
