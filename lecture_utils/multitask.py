"""Multi-task learning vs transfer learning on two Omniglot tasks, measured side by side.

Task **B** (source) classifies the characters of several alphabets with many drawers per class;
task **A** (target) classifies the characters of another alphabet from 1-10 drawers per class.
Four ways to solve A (and what happens to B):

* ``scratch``: a fresh network trained on A alone;
* ``multitask``: one shared trunk, a head per task, trained on ``w·L_A + (1-w)·L_B`` at once;
* ``finetune``: pretrain on B, re-initialise the head, train the whole network on A;
* ``linear_probe``: pretrain on B, freeze the trunk, train a new linear head on A.

The pretrained trunk is trained once per seed and cached in memory; every run result is
memoised, so that the notebook's widget only trains what it has not seen before.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace

import torch
from torch import nn

from . import convnet, episodes, runtime, supervised
from .omniglot import OmniglotData
from .supervised import LabelledImages

METHODS = ("scratch", "multitask", "finetune", "linear_probe")
METHOD_LABELS = {
    "scratch": "A from scratch",
    "multitask": "multi-task (A+B jointly)",
    "finetune": "transfer: fine-tune all",
    "linear_probe": "transfer: linear probe",
}
METHOD_COLORS = {
    "scratch": "tab:gray",
    "multitask": "tab:purple",
    "finetune": "tab:blue",
    "linear_probe": "tab:orange",
}


# --------------------------------------------------------------------------------------------
# The two tasks
# --------------------------------------------------------------------------------------------


@dataclass
class TwoTasks:
    """Source task B and target task A, split by drawer (test drawers never trained on).

    ``target_pool`` holds ``pool_per_class`` drawers per A character, from which every run
    draws its 1-10 examples per class; ``target_test`` is the same for every method and shot.
    """

    source_train: LabelledImages
    source_test: LabelledImages
    target_pool: LabelledImages
    target_test: LabelledImages
    source_alphabets: list[str]
    target_alphabet: str
    pool_per_class: int

    def summary(self) -> str:
        nb, na = self.source_train.num_classes, self.target_test.num_classes
        return "\n".join(
            [
                f"task B (source): {nb} characters of {len(self.source_alphabets)} alphabets "
                f"({', '.join(self.source_alphabets)})",
                f"  train {len(self.source_train)} images "
                f"({len(self.source_train) // nb} drawers per character), "
                f"test {len(self.source_test)} images "
                f"({len(self.source_test) // nb} other drawers)",
                f"task A (target): {na} characters of {self.target_alphabet}",
                f"  pool of {self.pool_per_class} drawers per character to draw 1-"
                f"{self.pool_per_class} training examples from, "
                f"test {len(self.target_test)} images "
                f"({len(self.target_test) // na} other drawers, "
                "the same for every method and shot count)",
            ]
        )


def make_tasks(
    data: OmniglotData,
    target_alphabet: str | None = None,
    source_train_drawers: int = 15,
    pool_per_class: int = 10,
    split_seed: int = 0,
) -> TwoTasks:
    """B = the meta-train alphabets of ``split_by_alphabet``; A = one held-out alphabet.

    ``target_alphabet`` defaults to the largest meta-test alphabet. B keeps
    ``source_train_drawers`` drawers per character for training and the rest for testing; A
    keeps ``pool_per_class`` for training and the rest (``20 - pool_per_class``) for testing.
    """
    split = episodes.split_by_alphabet(data, seed=split_seed)
    held_out = split.alphabets["test"] + split.alphabets["val"]
    if target_alphabet is None:
        target_alphabet = max(split.alphabets["test"], key=lambda a: len(data.character_indices(a)))
    if target_alphabet not in held_out:
        raise ValueError(
            f"target_alphabet={target_alphabet!r} must be a held-out alphabet so that B never "
            f"sees it; choose one of {held_out}."
        )
    source = split["train"]
    target = data.character_indices(target_alphabet)
    b_train, b_test = supervised.drawer_split(
        data.images, source, source_train_drawers, seed=split_seed
    )
    a_pool, a_test = supervised.drawer_split(
        data.images, target, pool_per_class, seed=split_seed + 1
    )
    return TwoTasks(
        source_train=b_train,
        source_test=b_test,
        target_pool=a_pool,
        target_test=a_test,
        source_alphabets=split.alphabets["train"],
        target_alphabet=target_alphabet,
        pool_per_class=pool_per_class,
    )


def few_shot(pool: LabelledImages, shots: int, seed: int = 0) -> LabelledImages:
    """``shots`` images per class drawn at random (with ``seed``) from a class-sorted pool."""
    per_class = len(pool) // pool.num_classes
    if not 1 <= shots <= per_class:
        raise ValueError(
            f"shots={shots} must be from 1 to the {per_class} pool drawers per class; "
            "enlarge pool_per_class in make_tasks for more."
        )
    gen = torch.Generator().manual_seed(seed)
    pick = torch.rand(pool.num_classes, per_class, generator=gen).argsort(dim=1)[:, :shots]
    idx = (torch.arange(pool.num_classes)[:, None] * per_class + pick).flatten()
    return LabelledImages(pool.x[idx], pool.y[idx], pool.num_classes)


# --------------------------------------------------------------------------------------------
# Budgets
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Budget:
    """Training lengths (optimiser steps), batch sizes and learning rates of every method.

    Pretraining and multi-task training draw B batches the same way (``batch_size`` images per
    step, each shifted by up to ``max_shift`` pixels, learning rate ``lr`` decayed to 0 on a
    cosine); multi-task adds ``multitask_target_batch`` images of A to each step.
    """

    channels: int = 32
    pretrain_steps: int = 800
    multitask_steps: int = 200
    adapt_steps: int = 100
    probe_steps: int = 300
    batch_size: int = 48
    multitask_target_batch: int = 16
    adapt_batch_size: int = 32
    lr: float = 3e-3
    finetune_lr: float = 1e-3
    head_lr: float = 1e-2
    max_shift: int = 2

    def __post_init__(self) -> None:
        for name in ("channels", "pretrain_steps", "multitask_steps", "adapt_steps", "probe_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"Budget.{name}={getattr(self, name)} must be at least 1.")
        if self.max_shift < 0:
            raise ValueError(f"Budget.max_shift={self.max_shift} must be 0 (no shifts) or more.")


def default_budget() -> Budget:
    """The full-mode budget, or a much smaller one in fast mode (same code paths)."""
    return runtime.budget(
        Budget(),
        Budget(pretrain_steps=20, multitask_steps=20, adapt_steps=10, probe_steps=30),
    )


def _epochs_for(steps: int, n: int, batch_size: int) -> int:
    return max(1, math.ceil(steps / math.ceil(n / batch_size)))


# --------------------------------------------------------------------------------------------
# Training: pretraining (cached), joint multi-task training, adaptation
# --------------------------------------------------------------------------------------------

_PRETRAINED: dict[tuple, convnet.Classifier] = {}
_RESULTS: dict[tuple, RunResult] = {}


def clear_caches() -> None:
    """Forget cached pretrained networks and memoised runs."""
    _PRETRAINED.clear()
    _RESULTS.clear()


def _new_trunk(budget: Budget, seed: int) -> convnet.ConvTrunk:
    torch.manual_seed(seed)
    return convnet.ConvTrunk(channels=budget.channels)


def random_shift(x: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Move every image of ``x`` ``[B, C, S, S]`` by its own random offset of up to
    ``max_shift`` pixels along each axis. Ink pushed past the border is lost; the gap is filled
    by repeating the border pixels (the paper, also for inverted images)."""
    if max_shift < 0:
        raise ValueError(f"max_shift={max_shift} must be 0 (no shift) or more pixels.")
    if max_shift == 0:
        return x
    n, size = x.shape[0], x.shape[-1]
    padded = nn.functional.pad(x, (max_shift,) * 4, mode="replicate")
    dy, dx = torch.randint(0, 2 * max_shift + 1, (2, n, 1), generator=generator)
    rows = (dy + torch.arange(size)).to(x.device)  # [B, S]
    cols = (dx + torch.arange(size)).to(x.device)
    batch = torch.arange(n, device=x.device)[:, None, None]
    return padded[batch, :, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)


def _index_batches(n: int, size: int, gen: torch.Generator) -> Iterator[torch.Tensor]:
    """Endless shuffled mini-batches of indices ``0..n-1`` (full batches only)."""
    size = min(size, n)
    while True:
        order = torch.randperm(n, generator=gen)
        for start in range(0, n - size + 1, size):
            yield order[start : start + size]


def train_on_source(
    model: nn.Module,
    data: LabelledImages,
    steps: int,
    lr: float = 3e-3,
    batch_size: int = 64,
    max_shift: int = 0,
    seed: int = 0,
    progress: bool | str = True,
) -> list[float]:
    """Supervised pretraining: ``steps`` Adam steps with the learning rate decayed from ``lr``
    to 0 on a cosine, every image shifted by up to ``max_shift`` pixels. Returns the losses."""
    from tqdm.auto import tqdm

    if steps < 1:
        raise ValueError(f"steps={steps} must be at least 1.")
    device = next(model.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    loss_fn = nn.CrossEntropyLoss()
    batches = _index_batches(len(data), batch_size, gen)
    desc = progress if isinstance(progress, str) else "pretrain"
    losses = []
    model.train()
    for _ in tqdm(range(steps), desc=desc, disable=progress is False, leave=False):
        idx = next(batches)
        x = random_shift(data.x[idx], max_shift, gen).to(device)
        loss = loss_fn(model(x), data.y[idx].to(device))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
    return losses


def pretrained_on_source(
    tasks: TwoTasks, budget: Budget, seed: int, progress: bool = True
) -> convnet.Classifier:
    """A trunk + B head trained on B; trained once per (seed, budget) and cached in memory.

    Returns a deep copy, so callers may fine-tune it freely.
    """
    key = (
        id(tasks), seed, budget.channels, budget.pretrain_steps, budget.batch_size, budget.lr,
        budget.max_shift,
    )  # fmt: skip
    if key not in _PRETRAINED:
        model = convnet.Classifier(_new_trunk(budget, seed), tasks.source_train.num_classes)
        model.to(runtime.get_device())
        train_on_source(
            model, tasks.source_train, budget.pretrain_steps, lr=budget.lr,
            batch_size=budget.batch_size, max_shift=budget.max_shift, seed=seed,
            progress=f"pretrain on B (seed {seed})" if progress else False,
        )  # fmt: skip
        _PRETRAINED[key] = model
    return copy.deepcopy(_PRETRAINED[key])


def train_multitask(
    model: convnet.MultiHeadClassifier,
    target: LabelledImages,
    source: LabelledImages,
    weight: float,
    steps: int,
    lr: float = 1e-3,
    batch_size: int = 64,
    target_batch_size: int = 32,
    seed: int = 0,
    progress: bool | str = True,
    max_shift: int = 0,
) -> list[float]:
    """Minimise ``weight·L_A + (1-weight)·L_B`` with heads ``"A"`` and ``"B"``; returns losses.

    Every step sees a batch of B (shifted by up to ``max_shift`` pixels, as in pretraining) and
    a batch of A (A cycles through its few examples); the learning rate decays on a cosine.
    """
    from tqdm.auto import tqdm

    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"weight={weight} is the share of task A's loss: pick it in [0, 1].")
    device = next(model.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    loss_fn = nn.CrossEntropyLoss()
    a_batches = _index_batches(len(target), target_batch_size, gen)
    b_batches = _index_batches(len(source), batch_size, gen)
    losses = []
    desc = progress if isinstance(progress, str) else "multi-task"
    model.train()
    for _ in tqdm(range(steps), desc=desc, disable=progress is False, leave=False):
        ia, ib = next(a_batches), next(b_batches)
        xb = random_shift(source.x[ib], max_shift, gen).to(device)
        loss_a = loss_fn(model(target.x[ia].to(device), "A"), target.y[ia].to(device))
        loss_b = loss_fn(model(xb, "B"), source.y[ib].to(device))
        loss = weight * loss_a + (1.0 - weight) * loss_b
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
    return losses


@torch.no_grad()
def features(trunk: nn.Module, data: LabelledImages, batch_size: int = 512) -> LabelledImages:
    """The frozen trunk's features (evaluation mode) of every image in ``data``."""
    trunk.eval()
    device = next(trunk.parameters()).device
    feats = [trunk(data.x[i : i + batch_size].to(device)) for i in range(0, len(data), batch_size)]
    return LabelledImages(torch.cat(feats).cpu(), data.y, data.num_classes)


@dataclass
class RunResult:
    """One method, one shot count, one seed: final accuracies and what was trained."""

    method: str
    shots: int
    seed: int
    weight: float | None
    target_accuracy: float
    source_accuracy: float | None  # accuracy on B with B's head (None: the method has none)
    trained_parameters: int
    seconds: float
    # Fine-tuning only: accuracy on B and on A after each fine-tuning epoch (epoch 0 = before).
    source_curve: list[float] = field(default_factory=list)
    target_curve: list[float] = field(default_factory=list)


def run_method(
    tasks: TwoTasks,
    method: str,
    shots: int,
    seed: int,
    budget: Budget,
    weight: float = 0.5,
    track_forgetting: bool = False,
    progress: bool = True,
) -> RunResult:
    """Train one method on ``shots`` examples per A character; evaluate on A's and B's tests.

    Memoised: the same arguments return the stored result without training again.
    """
    if method not in METHODS:
        raise ValueError(f"Unknown method {method!r}; choose from {list(METHODS)}.")
    key = (id(tasks), method, shots, seed, budget, weight if method == "multitask" else None)
    tracked = (*key, method == "finetune")
    if tracked in _RESULTS:  # a run that tracked forgetting also answers one that does not
        return _RESULTS[tracked]
    key = (*key, track_forgetting and method == "finetune")
    if key in _RESULTS:
        return _RESULTS[key]
    device = runtime.get_device()
    target = few_shot(tasks.target_pool, shots, seed=seed)
    n_a, n_b = tasks.target_test.num_classes, tasks.source_train.num_classes
    start = time.perf_counter()
    label = f"{method}, {shots}-shot, seed {seed}" if progress else False
    adapt_epochs = _epochs_for(budget.adapt_steps, len(target), budget.adapt_batch_size)
    source_acc: float | None = None
    source_curve: list[float] = []
    target_curve: list[float] = []
    if method == "scratch":
        model = convnet.Classifier(_new_trunk(budget, seed), n_a).to(device)
        supervised.fit(
            model, target, epochs=adapt_epochs, lr=budget.lr,
            batch_size=budget.adapt_batch_size, seed=seed, progress=label,
        )  # fmt: skip
        trained = convnet.count_parameters(model)
        target_acc = supervised.accuracy(model, tasks.target_test)
    elif method == "multitask":
        model = convnet.MultiHeadClassifier(_new_trunk(budget, seed), {"A": n_a, "B": n_b})
        model.to(device)
        train_multitask(
            model, target, tasks.source_train, weight, budget.multitask_steps, lr=budget.lr,
            batch_size=budget.batch_size, target_batch_size=budget.multitask_target_batch,
            seed=seed, progress=label, max_shift=budget.max_shift,
        )  # fmt: skip
        trained = convnet.count_parameters(model)
        target_acc = supervised.accuracy(model, tasks.target_test, task="A")
        source_acc = supervised.accuracy(model, tasks.source_test, task="B")
    else:
        model = pretrained_on_source(tasks, budget, seed, progress=progress)
        source_view = nn.Sequential(model.trunk, copy.deepcopy(model.head))  # B's head, aside
        if method == "finetune":
            torch.manual_seed(seed)
            model.reset_head(n_a)
            curve_hook = None
            if track_forgetting:
                source_curve.append(supervised.accuracy(source_view, tasks.source_test))
                target_curve.append(supervised.accuracy(model, tasks.target_test))

                def curve_hook(epoch: int, m: nn.Module) -> None:
                    source_curve.append(supervised.accuracy(source_view, tasks.source_test))
                    target_curve.append(supervised.accuracy(m, tasks.target_test))

            optimizer = torch.optim.Adam(
                [
                    {"params": model.trunk.parameters(), "lr": budget.finetune_lr},
                    {"params": model.head.parameters(), "lr": budget.head_lr},
                ]
            )
            supervised.fit(
                model, target, epochs=adapt_epochs, optimizer=optimizer,
                batch_size=budget.adapt_batch_size, seed=seed, progress=label,
                on_epoch_end=curve_hook,
            )  # fmt: skip
            trained = convnet.count_parameters(model)
            target_acc = supervised.accuracy(model, tasks.target_test)
        else:  # linear probe: the trunk is frozen (and kept in evaluation mode)
            torch.manual_seed(seed)
            head = nn.Linear(model.trunk.out_features, n_a).to(device)
            train_feats = features(model.trunk, target)
            supervised.fit(
                head, train_feats,
                epochs=_epochs_for(budget.probe_steps, len(target), budget.adapt_batch_size),
                lr=budget.head_lr, batch_size=budget.adapt_batch_size, seed=seed, progress=label,
            )  # fmt: skip
            trained = convnet.count_parameters(head)
            target_acc = supervised.accuracy(head, features(model.trunk, tasks.target_test))
        source_acc = supervised.accuracy(source_view, tasks.source_test)
    result = RunResult(
        method=method,
        shots=shots,
        seed=seed,
        weight=weight if method == "multitask" else None,
        target_accuracy=target_acc,
        source_accuracy=source_acc,
        trained_parameters=trained,
        seconds=time.perf_counter() - start,
        source_curve=source_curve,
        target_curve=target_curve,
    )
    _RESULTS[key] = result
    return result


# --------------------------------------------------------------------------------------------
# The experiment over seeds and shots
# --------------------------------------------------------------------------------------------


@dataclass
class Experiment:
    """Every run of one call to :func:`run_experiment`, with helpers to summarise them."""

    results: list[RunResult]
    budget: Budget
    seconds: float
    classes: dict[str, int] = field(default_factory=dict)  # {"A": n_A, "B": n_B}

    def select(self, method: str, shots: int | None = None, weight: float | None = None) -> list:
        return [
            r
            for r in self.results
            if r.method == method
            and (shots is None or r.shots == shots)
            and (weight is None or r.weight is None or math.isclose(r.weight, weight))
        ]

    def mean_std(
        self, method: str, shots: int, metric: str = "target_accuracy", weight: float | None = None
    ) -> tuple[float, float, int]:
        """Mean and standard deviation over seeds (``nan`` when there is no run)."""
        values = [getattr(r, metric) for r in self.select(method, shots, weight)]
        values = [v for v in values if v is not None]
        if not values:
            return float("nan"), float("nan"), 0
        t = torch.tensor(values, dtype=torch.float64)
        std = t.std().item() if len(values) > 1 else 0.0
        return t.mean().item(), std, len(values)

    @property
    def shots(self) -> list[int]:
        return sorted({r.shots for r in self.results})

    @property
    def methods(self) -> list[str]:
        present = {r.method for r in self.results}
        return [m for m in METHODS if m in present]


def run_experiment(
    tasks: TwoTasks,
    shots: Sequence[int],
    methods: Sequence[str] = METHODS,
    seeds: Sequence[int] = (0, 1, 2),
    budget: Budget | None = None,
    weight: float = 0.5,
    extra_weights: Sequence[float] = (),
    sweep_shots: int | None = None,
    forgetting_shots: int | None = None,
    track_forgetting: bool = True,
    progress: bool = True,
    single_thread: bool = True,
) -> Experiment:
    """Every method x shot count x seed, plus a multi-task weight sweep at ``sweep_shots``.

    ``forgetting_shots`` (default: the largest shot count) records fine-tuning's per-epoch
    accuracy on B. One outer progress bar counts the runs; each training loop has its own bar.
    ``single_thread`` trains on one torch thread (restored afterwards): these small networks gain
    little from a second thread, and on a busy 2-core machine two threads ran ~3x slower.
    """
    from tqdm.auto import tqdm

    budget = budget or default_budget()
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise ValueError(f"methods={list(methods)} must be a non-empty subset of {list(METHODS)}.")
    if not shots or not seeds:
        raise ValueError("run_experiment needs at least one shot count and one seed.")
    forgetting_shots = max(shots) if forgetting_shots is None else forgetting_shots
    plan: list[tuple[str, int, int, float]] = []
    for seed in seeds:  # seed-major, so each pretrained trunk is reused while it is fresh
        for k in shots:
            plan += [(m, k, seed, weight) for m in methods]
        if "multitask" in methods and sweep_shots is not None:
            plan += [("multitask", sweep_shots, seed, w) for w in extra_weights if w != weight]
    start = time.perf_counter()
    results = []
    with runtime.single_thread(enabled=single_thread):
        for method, k, seed, w in tqdm(plan, desc="runs", disable=not progress):
            results.append(
                run_method(
                    tasks, method, k, seed, budget, weight=w,
                    track_forgetting=track_forgetting and k == forgetting_shots,
                    progress=progress,
                )
            )  # fmt: skip
    classes = {"A": tasks.target_test.num_classes, "B": tasks.source_train.num_classes}
    return Experiment(results, budget, time.perf_counter() - start, classes)


# --------------------------------------------------------------------------------------------
# Tables and figures
# --------------------------------------------------------------------------------------------


def _fmt(mean: float, std: float) -> str:
    return "   n/a     " if math.isnan(mean) else f"{100 * mean:5.1f} ± {100 * std:4.1f}"


def accuracy_table(exp: Experiment, weight: float = 0.5) -> str:
    """Accuracy on A's test drawers (%, mean ± std over seeds): methods x shots."""
    head = f"{'method':<28}" + "".join(f"{f'{k}-shot':>14}" for k in exp.shots)
    rows = [head, "-" * len(head)]
    for m in exp.methods:
        cells = "".join(f"{_fmt(*exp.mean_std(m, k, weight=weight)[:2]):>14}" for k in exp.shots)
        rows.append(f"{METHOD_LABELS[m]:<28}" + cells)
    return "\n".join(rows)


def summary_table(exp: Experiment, shots: int, weight: float = 0.5) -> str:
    """A and B accuracy after adaptation at one shot count, and what each method trains."""
    head = f"{'method':<28}{'acc. on A':>14}{'acc. on B':>14}{'params trained':>16}"
    rows = [head, "-" * len(head)]
    for m in exp.methods:
        a = exp.mean_std(m, shots, weight=weight)
        b = exp.mean_std(m, shots, "source_accuracy", weight=weight)
        runs = exp.select(m, shots, weight)
        params = f"{runs[0].trained_parameters:,}" if runs else "n/a"
        b_text = _fmt(*b[:2]) if b[2] else "   (no B head)"
        rows.append(f"{METHOD_LABELS[m]:<28}{_fmt(*a[:2]):>14}{b_text:>14}{params:>16}")
    return "\n".join(rows)


def weight_sweep_table(exp: Experiment, shots: int) -> str:
    """Multi-task accuracy on A and B for each loss weight w at ``shots`` examples per class."""
    weights = sorted({r.weight for r in exp.select("multitask", shots)})
    rows = [f"{'w (share of L_A)':<18}{'acc. on A':>14}{'acc. on B':>14}", "-" * 46]
    for w in weights:
        a = exp.mean_std("multitask", shots, weight=w)
        b = exp.mean_std("multitask", shots, "source_accuracy", weight=w)
        rows.append(f"{w:<18.2f}{_fmt(*a[:2]):>14}{_fmt(*b[:2]):>14}")
    return "\n".join(rows)


def cost_table(tasks: TwoTasks, budget: Budget) -> str:
    """What each method needs when task A arrives (computed from the actual models)."""
    n_a, n_b = tasks.target_test.num_classes, tasks.source_train.num_classes
    trunk = convnet.ConvTrunk(channels=budget.channels)
    full_a = convnet.count_parameters(convnet.Classifier(trunk, n_a))
    multi = convnet.count_parameters(convnet.MultiHeadClassifier(trunk, {"A": n_a, "B": n_b}))
    probe = convnet.count_parameters(nn.Linear(trunk.out_features, n_a))
    b_images = len(tasks.source_train)
    rows = [
        ("scratch", "no", "no", f"{full_a:,}", f"{budget.adapt_steps} steps on A"),
        (
            "multitask",
            f"yes ({b_images} images)",
            "no: 1 joint run",
            f"{multi:,}",
            f"{budget.multitask_steps} steps on A+B",
        ),
        ("finetune", "no", "yes: after pretrain", f"{full_a:,}", f"{budget.adapt_steps} on A"),
        ("linear_probe", "no", "yes: after pretrain", f"{probe:,}", f"{budget.probe_steps} on A"),
    ]
    head = (
        f"{'method':<28}{'needs B data when A arrives':<29}{'second training run':<22}"
        f"{'params trained':>15}  {'adaptation compute'}"
    )
    lines = [head, "-" * len(head)]
    for m, needs_b, second, params, compute in rows:
        lines.append(f"{METHOD_LABELS[m]:<28}{needs_b:<29}{second:<22}{params:>15}  {compute}")
    lines.append(
        f"(transfer methods also pay one pretraining run on B: {budget.pretrain_steps} steps, "
        "done once and reused for every A)"
    )
    return "\n".join(lines)


def plot_accuracy_vs_shots(exp: Experiment, weight: float = 0.5, ax=None):
    """Accuracy on A against examples per class, one line per method, ± std error bars."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 4.2))
    for m in exp.methods:
        stats = [exp.mean_std(m, k, weight=weight) for k in exp.shots]
        ax.errorbar(
            exp.shots,
            [100 * s[0] for s in stats],
            yerr=[100 * s[1] for s in stats],
            marker="o",
            capsize=4,
            color=METHOD_COLORS[m],
            label=METHOD_LABELS[m] + (f" (w={weight})" if m == "multitask" else ""),
        )
    seeds = len({r.seed for r in exp.results})
    ax.set_xscale("log")
    ax.set_xticks(exp.shots, [str(k) for k in exp.shots])
    ax.minorticks_off()
    ax.set_xlabel("labelled examples per class of task A (log scale)")
    ax.set_ylabel("accuracy on A's test drawers (%)")
    ax.set_title(f"Task A accuracy vs data (mean ± std over {seeds} seeds)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return ax.figure


def plot_forgetting(
    exp: Experiment,
    shots: int,
    weight: float = 0.5,
    compare: dict[str, Experiment] | None = None,
):
    """Fine-tuning's accuracy on B and on A per epoch, against multi-task and the probe.

    ``compare`` adds the fine-tuning curves of other experiments (e.g. a larger learning rate).
    """
    import matplotlib.pyplot as plt

    curves_by_label = {"transfer: fine-tune all (per epoch)": exp, **(compare or {})}
    tracked = {
        label: [r for r in e.select("finetune", shots) if r.source_curve]
        for label, e in curves_by_label.items()
    }
    if not all(tracked.values()):
        raise ValueError(f"No fine-tuning run tracked forgetting at {shots} shots.")
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.0), sharey=False)
    colors = [METHOD_COLORS["finetune"], "tab:red", "tab:green", "tab:brown"]
    for ax, curve, metric, title in (
        (axes[0], "source_curve", "source_accuracy", "task B (source) — B's own head"),
        (axes[1], "target_curve", "target_accuracy", "task A (target)"),
    ):
        for (label, runs), color in zip(tracked.items(), colors, strict=False):
            curves = torch.tensor([getattr(r, curve) for r in runs]) * 100
            epochs = range(curves.shape[1])
            mean = curves.mean(0)
            std = curves.std(0) if len(runs) > 1 else torch.zeros(curves.shape[1])
            ax.plot(epochs, mean, color=color, marker=".", label=label)
            ax.fill_between(epochs, mean - std, mean + std, color=color, alpha=0.2)
        for m in ("multitask", "linear_probe"):
            mu, sd, n = exp.mean_std(m, shots, metric, weight=weight)
            if n:
                label = METHOD_LABELS[m] + " (after training)"
                ax.axhline(100 * mu, color=METHOD_COLORS[m], ls="--", label=label)
                ax.axhspan(100 * (mu - sd), 100 * (mu + sd), color=METHOD_COLORS[m], alpha=0.1)
        classes = exp.classes.get("B" if curve == "source_curve" else "A")
        if classes:
            chance = 100 / classes
            ax.axhline(chance, color="k", ls=":", lw=1, label=f"chance ({chance:.1f}%)")
        ax.set_ylim(0, 100)
        ax.set_xlabel("fine-tuning epoch on A (0 = right after pretraining on B)")
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"What fine-tuning on {shots} examples per A class does to B (and to A)")
    fig.tight_layout()
    return fig


def forgetting_numbers(exp: Experiment, shots: int) -> dict[str, object]:
    """Fine-tuning's accuracy on B (%, mean over seeds): before, after, drop and per epoch."""
    runs = [r for r in exp.select("finetune", shots) if r.source_curve]
    if not runs:
        raise ValueError(f"No fine-tuning run tracked forgetting at {shots} shots.")
    curve = (torch.tensor([r.source_curve for r in runs]) * 100).mean(0).tolist()
    return {"before": curve[0], "after": curve[-1], "drop": curve[0] - curve[-1], "curve": curve}


def transfer_verdict(exp: Experiment, weight: float = 0.5) -> str:
    """Where transfer helps most over training A from scratch, and how the gap shrinks."""
    if "scratch" not in exp.methods or not {"finetune", "linear_probe"} & set(exp.methods):
        return "(needs A-from-scratch and at least one transfer method)"
    lines = []
    gains = {}
    for k in exp.shots:
        scratch = exp.mean_std("scratch", k)[0]
        best_m = max(
            (m for m in ("finetune", "linear_probe") if m in exp.methods),
            key=lambda m: exp.mean_std(m, k)[0],
        )
        gains[k] = 100 * (exp.mean_std(best_m, k)[0] - scratch)
        lines.append(
            f"{k:>2} shots: best transfer ({METHOD_LABELS[best_m]}) {gains[k]:+5.1f} points "
            f"over A from scratch ({100 * scratch:.1f}%)"
        )
    most = max(gains, key=lambda k: gains[k])
    lines.append(f"transfer helps most at {most} example(s) per class ({gains[most]:+.1f} points).")
    small = [k for k in exp.shots if gains[k] < 5.0]
    if small:
        lines.append(f"the gain falls below 5 points from {small[0]} examples per class on.")
    else:
        last = max(exp.shots)
        lines.append(
            f"it still matters at {last} examples per class ({gains[last]:+.1f} points): the gap "
            f"goes from {gains[min(exp.shots)]:+.1f} points at {min(exp.shots)} shot(s) to "
            f"{gains[last]:+.1f} at {last} and does not close in this range."
        )
    return "\n".join(lines)


def closing_verdict(exp: Experiment, weight: float = 0.5) -> str:
    """The multi-task vs transfer conclusion, with the numbers it rests on."""
    k = max(exp.shots)

    def pct(method: str, metric: str = "target_accuracy") -> str:
        mean, _, n = exp.mean_std(method, k, metric, weight=weight)
        return f"{100 * mean:.1f}%" if n else "n/a"

    lines = [f"At {k} examples per A class:"]
    if "finetune" in exp.methods:
        f = forgetting_numbers(exp, k) if exp.select("finetune", k)[0].source_curve else None
        drop = f" ({f['before']:.1f}% before fine-tuning, {-f['drop']:+.1f} points)" if f else ""
        lines.append(
            f"- transfer (fine-tune) reaches {pct('finetune')} on A; the same trunk with B's old "
            f"head now gives {pct('finetune', 'source_accuracy')} on B{drop}. Keeping B at its "
            "pretrained level means keeping a second copy of the pretrained network."
        )
    if "linear_probe" in exp.methods:
        lines.append(
            f"- transfer with a frozen trunk reaches {pct('linear_probe')} on A and keeps "
            f"{pct('linear_probe', 'source_accuracy')} on B: two heads on one trunk, without "
            "B's data at adaptation time — a transfer solution to the two-task problem."
        )
    if "multitask" in exp.methods:
        lines.append(
            f"- multi-task (w={weight}) reaches {pct('multitask')} on A and "
            f"{pct('multitask', 'source_accuracy')} on B, but only because B's training data "
            "was there while A was learned."
        )
    if "scratch" in exp.methods:
        lines.append(f"- A from scratch: {pct('scratch')} on A, nothing on B.")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# The interactive control
# --------------------------------------------------------------------------------------------


def build_controls(
    tasks: TwoTasks,
    budget: Budget,
    seeds: Sequence[int] = (0,),
    default_shots: Sequence[int] = (1, 5),
    weight: float = 0.5,
    runner: Callable[..., Experiment] = run_experiment,
):
    """An ipywidgets panel: pick shots per class and methods, press Run, see the new figure.

    Returns ``(panel, run)``; ``run()`` does what the button does (handy in tests). Results are
    memoised, so already-computed combinations redraw instantly.
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt
    from IPython.display import clear_output

    shots_box = widgets.SelectMultiple(
        options=list(range(1, tasks.pool_per_class + 1)),
        value=tuple(default_shots),
        description="shots/class",
        rows=5,
    )
    method_boxes = {
        m: widgets.Checkbox(value=True, description=METHOD_LABELS[m], indent=False) for m in METHODS
    }
    button = widgets.Button(description="Run and redraw", button_style="primary", icon="play")
    status = widgets.HTML()
    out = widgets.Output()

    def run(*_: object) -> Experiment | None:
        methods = [m for m, box in method_boxes.items() if box.value]
        shots = sorted(shots_box.value)
        with out:
            clear_output(wait=True)
            if not methods or not shots:
                print("Pick at least one method and one shot count.")
                return None
            exp = runner(
                tasks, shots, methods, seeds=seeds, budget=budget, weight=weight,
                track_forgetting=False,
            )  # fmt: skip
            status.value = f"{len(exp.results)} runs in {exp.seconds:.1f} s"
            plot_accuracy_vs_shots(exp, weight=weight)
            plt.show()
            print(summary_table(exp, max(shots), weight=weight))
        return exp

    button.on_click(run)
    panel = widgets.VBox(
        [
            widgets.HBox([shots_box, widgets.VBox(list(method_boxes.values()))]),
            widgets.HBox([button, status]),
            out,
        ]
    )
    return panel, run


def with_budget(budget: Budget, **changes: object) -> Budget:
    """A copy of ``budget`` with some fields changed (e.g. fewer steps for the widget)."""
    return replace(budget, **changes)
