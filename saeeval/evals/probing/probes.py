"""SAEBench's binary probes: probe-set construction, top-k selection, sklearn and torch probes.

This reproduces `sae_bench.evals.sparse_probing.probe_training` number for number, with one
change of plumbing: every random draw comes from an explicit CPU `torch.Generator` instead of the
global RNG. A `torch.Generator().manual_seed(s)` produces the same stream as the global generator
after `torch.manual_seed(s)` (randperm and the uniform draws of a Linear initialisation alike), so
seeding one generator per SAE with the eval seed and passing it everywhere, in the reference's call
order, gives the reference's draws without touching global state.

RNG consumption order, as in the reference:
- `one_vs_rest`: one randperm per negative class (one-vs-rest mode only), one to subsample the
  pooled negatives, one to shuffle the combined set.
- `train_torch_probe`: the probe's weight then bias initialisation, then one randperm per epoch.
- `train_probes`: per class in dict order, train set, test set, then the torch probe if any.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from torch import Tensor, nn

from saeeval.data.classification import PAIRED_CLASS_KEYS
from saeeval.evals.probing.sparse_rows import SparseClasses, SparseProbeSet

POSITIVE_LABEL = 1
NEGATIVE_LABEL = 0


def paired_partner(class_name: str) -> str:
    """The key whose examples are the negatives of `class_name` in SCR's paired mode."""
    if class_name in PAIRED_CLASS_KEYS:
        return PAIRED_CLASS_KEYS[class_name]
    for key, partner in PAIRED_CLASS_KEYS.items():
        if partner == class_name:
            return key
    raise ValueError(f"{class_name!r} is not one of SCR's paired class keys")


# -- probe sets --------------------------------------------------------------------------------


def one_vs_rest(
    acts: Mapping[str, Tensor],
    class_name: str,
    generator: torch.Generator,
    paired: bool = False,
) -> tuple[Tensor, Tensor]:
    """A balanced, shuffled binary probe set: `class_name` (label 1) against sampled negatives (0).

    `acts` maps class -> [N, ..., D] (pooled [N, D] or per-token [N, L, D]). As SAEBench's
    prepare_probe_data: in one-vs-rest mode, ceil(n_pos / n_other_classes) random rows are drawn
    from each other class in dict order and n_pos of the pooled rows are kept at random; in paired
    (SCR) mode the negatives are a random n_pos of the paired key's rows. Returns the inputs and
    int32 labels, shuffled together. Negatives are re-drawn on every call, as in the reference.
    """
    positives = acts[class_name]
    for key, value in acts.items():
        if value.shape[1:] != positives.shape[1:]:
            raise ValueError(
                f"class {class_name!r}: negatives {tuple(value.shape)} of {key!r} do not match "
                f"positives {tuple(positives.shape)}"
            )
    chosen, labels = one_vs_rest_rows(
        {k: len(v) for k, v in acts.items()}, class_name, generator, paired
    )
    # The rows are gathered once at the end: the same rows as concatenating the tensors and
    # indexing, without their copies.
    inputs = positives.new_empty((len(chosen), *positives.shape[1:]))
    start = 0
    for value in acts.values():
        at = ((chosen >= start) & (chosen < start + len(value))).nonzero().squeeze(1)
        if len(at):
            inputs[at.to(inputs.device)] = value[(chosen[at] - start).to(value.device)].to(
                inputs.dtype
            )
        start += len(value)
    return inputs, labels.to(positives.device)


def one_vs_rest_rows(
    lengths: Mapping[str, int], class_name: str, generator: torch.Generator, paired: bool = False
) -> tuple[Tensor, Tensor]:
    """The draws of `one_vs_rest` on row numbers alone: which rows, in order, with int32 labels.

    Each class's rows are numbered after the previous class's, in the order of `lengths` (class
    -> number of rows). The generator is consumed exactly as `one_vs_rest` consumes it, so a
    caller that keeps its rows elsewhere (as sparse sums) draws the same probe set.
    """
    offsets, start = {}, 0
    for key, length in lengths.items():
        offsets[key], start = start, start + length

    def numbers(key: str) -> Tensor:
        return torch.arange(offsets[key], offsets[key] + lengths[key])

    n_pos = lengths[class_name]
    if paired:
        negative_keys = [paired_partner(class_name)]
        pool = numbers(negative_keys[0])
    else:
        negative_keys = [key for key in lengths if key != class_name]
        if not negative_keys:
            raise ValueError("one-vs-rest probing needs at least two classes")
        per_class = math.ceil(n_pos / len(negative_keys))
        pool = torch.cat(
            [
                numbers(key)[torch.randperm(lengths[key], generator=generator)[:per_class]]
                for key in negative_keys
            ]
        )
    negatives = pool[torch.randperm(len(pool), generator=generator)[:n_pos]]
    if len(negatives) != n_pos:
        raise ValueError(
            f"class {class_name!r}: {len(negatives)} negatives do not match {n_pos} positives"
        )
    chosen = torch.cat([numbers(class_name), negatives])
    labels = torch.full((len(chosen),), NEGATIVE_LABEL, dtype=torch.int32)
    labels[:n_pos] = POSITIVE_LABEL
    order = torch.randperm(len(chosen), generator=generator)
    return chosen[order], labels[order]


def one_vs_rest_sparse(
    classes: SparseClasses, class_name: str, generator: torch.Generator, paired: bool = False
) -> tuple[SparseProbeSet, Tensor]:
    """`one_vs_rest` on rows kept sparse: the same draws, the rows left where they are."""
    chosen, labels = one_vs_rest_rows(classes.lengths(), class_name, generator, paired)
    probe_set = SparseProbeSet(classes.matrix, classes.matrix_rows(chosen))
    return probe_set, labels.to(probe_set.device)


def _probe_set(acts, class_name: str, generator: torch.Generator, paired: bool):
    if isinstance(acts, SparseClasses):
        return one_vs_rest_sparse(acts, class_name, generator, paired)
    return one_vs_rest(acts, class_name, generator, paired)


def _columns(x: Tensor | SparseProbeSet, columns: Tensor) -> Tensor:
    return x.columns(columns) if isinstance(x, SparseProbeSet) else x[:, columns]


def top_k_by_mean_difference(train_x: Tensor | SparseProbeSet, train_y: Tensor, k: int) -> Tensor:
    """Indices of the k columns with the largest |mean(positives) - mean(negatives)|, ascending.

    Computed in the inputs' dtype on the training set only, with the reference's (non-stable)
    descending argsort; the kept columns are then used in index order, not rank order.
    """
    if isinstance(train_x, SparseProbeSet):
        diff = train_x.mean_difference(train_y, POSITIVE_LABEL, NEGATIVE_LABEL).abs()
    else:
        diff = (
            train_x[train_y == POSITIVE_LABEL].mean(dim=0)
            - train_x[train_y == NEGATIVE_LABEL].mean(dim=0)
        ).abs()
    chosen = torch.argsort(diff, descending=True)[:k]
    return chosen.sort().values


# -- sklearn probe -----------------------------------------------------------------------------


def fit_sklearn_probe(
    train_x: Tensor, train_y: Tensor, test_x: Tensor, test_y: Tensor
) -> tuple[LogisticRegression, float]:
    """SAEBench's top-k probe: L2 logistic regression, C=1, lbfgs, max_iter=1000, on float32 inputs.

    The accuracy is sklearn's exact fraction of correct test predictions (not float32-rounded).
    """
    # No `penalty` argument: it is L2 by default everywhere, and deprecated in recent sklearn.
    probe = LogisticRegression(C=1.0, max_iter=1000)
    probe.fit(train_x.to(torch.float32).cpu().numpy(), train_y.cpu().numpy())
    predictions = probe.predict(test_x.to(torch.float32).cpu().numpy())
    return probe, float(accuracy_score(test_y.cpu().numpy(), predictions))


# -- torch probe -------------------------------------------------------------------------------


class Probe(nn.Module):
    """A single logistic output, laid out as SAEBench's Probe (`net` is the Linear layer).

    The parameters are initialised from `generator` exactly as nn.Linear's default initialisation
    draws them from the global RNG (kaiming_uniform_(a=sqrt(5)) on the weight, then a uniform bias
    in +-1/sqrt(fan_in)), so a seeded generator reproduces the reference's probe.
    """

    def __init__(self, dim: int, generator: torch.Generator, dtype: torch.dtype = torch.float32):
        super().__init__()
        # skip_init: building a plain nn.Linear would consume the global RNG.
        self.net = nn.utils.skip_init(nn.Linear, dim, 1, bias=True, dtype=dtype)
        with torch.no_grad():
            nn.init.kaiming_uniform_(self.net.weight, a=math.sqrt(5), generator=generator)
            bound = 1 / math.sqrt(dim) if dim > 0 else 0.0
            nn.init.uniform_(self.net.bias, -bound, bound, generator=generator)

    def forward(self, x: Tensor) -> Tensor:
        if x.is_sparse:  # a batch of rows kept sparse (`SparseProbeSet`)
            return (torch.sparse.mm(x, self.net.weight.T) + self.net.bias).squeeze(-1)
        return self.net(x).squeeze(-1)


@torch.no_grad()
def probe_accuracy(probe: nn.Module, x: Tensor, y: Tensor, batch_size: int) -> float:
    """Fraction of examples with (logit > 0) == label, a float32 mean (SAEBench's test_probe_gpu).

    `probe` is any module mapping [B, D] to [B] logits (ours or the reference's Probe).
    """
    correct = []
    for start in range(0, len(y), batch_size):
        logits = probe(x[start : start + batch_size])
        correct.append(((logits > 0.0).long() == y[start : start + batch_size]).float())
    return torch.cat(correct).mean().item()


def train_torch_probe(
    train_x: Tensor | SparseProbeSet,
    train_y: Tensor,
    test_x: Tensor | SparseProbeSet,
    test_y: Tensor,
    batch_size: int,
    epochs: int,
    lr: float,
    generator: torch.Generator,
    l1_penalty: float | None = None,
    patience: int = 10,
) -> tuple[Probe, float]:
    """SAEBench's train_probe_gpu: returns the probe of the epoch with the best TEST accuracy.

    Runs in the inputs' dtype and device. AdamW with PyTorch defaults (weight_decay 0.01 included),
    loss = mean BCE-with-logits + l1_penalty * sum|W| (weight only). Each epoch walks a fresh
    randperm in contiguous mini-batches. Model selection is on the test set, as SAEBench does: a
    strictly better test accuracy (starting from 0.0) keeps a copy of the probe and resets the
    patience counter; `patience` epochs without improvement stop training.
    """
    device, dtype = train_x.device, train_x.dtype
    probe = Probe(train_x.shape[1], generator, dtype).to(device)
    optimizer = torch.optim.AdamW(probe.parameters(), lr=lr)
    targets = train_y.to(device=device, dtype=dtype)

    best_accuracy, best_probe, stale_epochs = 0.0, None, 0
    with torch.enable_grad():
        for _ in range(epochs):
            order = torch.randperm(len(train_x), generator=generator)
            for start in range(0, len(train_x), batch_size):
                rows = order[start : start + batch_size]
                loss = F.binary_cross_entropy_with_logits(probe(train_x[rows]), targets[rows])
                if l1_penalty is not None:
                    loss = loss + l1_penalty * probe.net.weight.abs().sum()
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()

            # (The reference also computes a train accuracy here; it is unused and draws nothing.)
            accuracy = probe_accuracy(probe, test_x, test_y, batch_size)
            if accuracy > best_accuracy:
                best_accuracy, best_probe, stale_epochs = accuracy, copy.deepcopy(probe), 0
            else:
                stale_epochs += 1
            if stale_epochs >= patience:
                break

    if best_probe is None:
        raise RuntimeError("probe training never reached a test accuracy above 0")
    return best_probe, best_accuracy


# -- one probe per class -----------------------------------------------------------------------


def train_probes(
    train: Mapping[str, Tensor] | SparseClasses,
    test: Mapping[str, Tensor] | SparseClasses,
    *,
    generator: torch.Generator,
    k: int | None = None,
    use_sklearn: bool = True,
    batch_size: int = 16,
    epochs: int = 5,
    lr: float = 1e-3,
    patience: int = 10,
    paired: bool = False,
    l1_penalty: float | None = None,
) -> tuple[dict[str, LogisticRegression | Probe], dict[str, float]]:
    """SAEBench's train_probe_on_activations: one binary probe per class of `train`, in dict order.

    Per class: the train probe set, then the test probe set (both from `one_vs_rest`), then (with
    `k`) both restricted to the train set's top-k mean-difference columns, then an sklearn probe
    or a torch probe (`train_torch_probe`). Defaults are the reference function's defaults.
    With `SparseClasses` the same draws pick the same rows, and the torch probe reads them as
    sparse batches: equal to the dense probes up to float32 summation order.
    Returns ({class: probe}, {class: test accuracy}).
    """
    probes, accuracies = {}, {}
    for class_name in train:
        train_x, train_y = _probe_set(train, class_name, generator, paired)
        test_x, test_y = _probe_set(test, class_name, generator, paired)
        if k is not None:
            columns = top_k_by_mean_difference(train_x, train_y, k)
            train_x, test_x = _columns(train_x, columns), _columns(test_x, columns)
        if use_sklearn:
            probe, accuracy = fit_sklearn_probe(train_x, train_y, test_x, test_y)
        else:
            probe, accuracy = train_torch_probe(
                train_x,
                train_y,
                test_x,
                test_y,
                batch_size=batch_size,
                epochs=epochs,
                lr=lr,
                generator=generator,
                l1_penalty=l1_penalty,
                patience=patience,
            )
        probes[class_name] = probe
        accuracies[class_name] = accuracy
    return probes, accuracies
