"""Reusable fine-tuning tools: freezing, unfreezing, per-layer rates, shifts, folds, a recipe.

Everything works on :meth:`convnet.Classifier.layers` (``block1 .. blockN, head``), so layer
``i`` always means the same stage of the network.

- freezing: :func:`set_trainable`, :func:`trainable_layers`; frozen layers keep their BatchNorm
  running statistics (:func:`freeze_batchnorm_of_frozen_layers`), trainable ones update theirs;
- gradual unfreezing as an ``on_step`` hook of :func:`trainer.train`
  (:func:`unfreeze_schedule`, :func:`gradual_unfreezing`);
- per-layer learning rates: :func:`layer_learning_rates`, :func:`discriminative_param_groups`;
- data: shifts (:func:`invert`, :func:`blur`, :func:`permute_labels`), :func:`kfold_indices`;
- one fine-tuning run of a :class:`Recipe` (:func:`fine_tune`), in steps.

Pretraining lives in :mod:`lecture_utils.training.pretrain`, the LR range test in
:mod:`lecture_utils.training.lr_range`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from lecture_utils.core import checks, runtime
from lecture_utils.data.labelled import LabelledImages, accuracy
from lecture_utils.models import convnet
from lecture_utils.training import trainer

SHIFTS = ("none", "invert", "blur")

# --------------------------------------------------------------------------------------------
# Freezing and BatchNorm
# --------------------------------------------------------------------------------------------


def layer_names(model: convnet.Classifier) -> list[str]:
    """``["block1", ..., "blockN", "head"]`` for ``model.layers()``."""
    n = len(model.layers())
    return [f"block{i + 1}" for i in range(n - 1)] + ["head"]


def check_layers(
    model: convnet.Classifier, layers: Iterable[int] | str, name: str = "layers"
) -> list[int]:
    """Sorted layer indices (``"all"`` = every layer); out-of-range, fractional, or no indices
    raise, naming the argument ``name``."""
    n = len(model.layers())
    if isinstance(layers, str):
        if layers != "all":
            raise ValueError(f"{name}={layers!r} must be layer indices or 'all'.")
        return list(range(n))
    fix = f"this model has {n} layers, 0..{n - 1} ({', '.join(layer_names(model))})"
    return checks.layer_indices(name, layers, n, fix)


def set_trainable(model: convnet.Classifier, layers: Iterable[int] | str) -> None:
    """Make exactly ``layers`` (indices into ``model.layers()``, or ``"all"``) trainable."""
    chosen = set(check_layers(model, layers))
    for i, layer in enumerate(model.layers()):
        for p in layer.parameters():
            p.requires_grad_(i in chosen)
    freeze_batchnorm_of_frozen_layers(model)


def trainable_layers(model: convnet.Classifier) -> list[int]:
    """Indices of the layers that have at least one trainable parameter."""
    return [
        i
        for i, layer in enumerate(model.layers())
        if any(p.requires_grad for p in layer.parameters())
    ]


def _frozen_to_eval(model: nn.Module, _inputs: object) -> None:
    for layer in model.layers():
        if not any(p.requires_grad for p in layer.parameters()):
            layer.eval()


def freeze_batchnorm_of_frozen_layers(model: convnet.Classifier) -> None:
    """Keep frozen layers in eval mode, so their BatchNorm running statistics stay fixed.

    The training loop calls ``model.train()`` every step; a forward pre-hook (installed once)
    puts every layer without trainable parameters back into eval mode before each forward.
    """
    if not getattr(model, "_bn_hook_installed", False):
        model.register_forward_pre_hook(_frozen_to_eval)
        model._bn_hook_installed = True


# --------------------------------------------------------------------------------------------
# Gradual unfreezing and per-layer learning rates
# --------------------------------------------------------------------------------------------


def unfreeze_order(n_layers: int, direction: str) -> list[int]:
    """The order in which the blocks (not the head, always trainable) are unfrozen.

    ``"top_down"`` (ULMFiT): the block next to the head first; ``"bottom_up"``: block1 first.
    """
    if direction not in ("top_down", "bottom_up"):
        raise ValueError(f"direction must be 'top_down' or 'bottom_up', got {direction!r}.")
    if n_layers < 2:
        raise ValueError(f"need at least 2 layers (blocks and a head), got {n_layers}.")
    blocks = list(range(n_layers - 1))
    return blocks[::-1] if direction == "top_down" else blocks


def unfreeze_schedule(n_layers: int, direction: str, every: int, steps: int) -> list[list[int]]:
    """Trainable layer indices at each step: the head alone, then one more block every
    ``every`` steps in ``direction`` order, until everything is trainable."""
    if every < 1 or steps < 1:
        raise ValueError(f"every={every} and steps={steps} must both be at least 1.")
    order = unfreeze_order(n_layers, direction)
    head = n_layers - 1
    return [sorted([head, *order[: step // every]]) for step in range(steps)]


def gradual_unfreezing(
    model: convnet.Classifier, direction: str, every: int, steps: int
) -> Callable[[int, nn.Module], None]:
    """Freeze all but the head now; return an ``on_step`` hook for :func:`trainer.train`
    that follows :func:`unfreeze_schedule` (the optimiser must hold every layer)."""
    schedule = unfreeze_schedule(len(model.layers()), direction, every, steps)
    set_trainable(model, schedule[0])

    def on_step(step: int, _model: nn.Module) -> None:
        if 0 < step < steps and schedule[step] != schedule[step - 1]:
            set_trainable(model, schedule[step])

    return on_step


def layer_learning_rates(top_lr: float, n_layers: int, factor: float = 2.6) -> list[float]:
    """``lr[i] = lr[i+1] / factor``, the head (last layer) at ``top_lr`` (ULMFiT: 2.6)."""
    if top_lr <= 0 or factor <= 0 or n_layers < 1:
        raise ValueError(
            f"top_lr={top_lr} and factor={factor} must be > 0 and n_layers={n_layers} >= 1."
        )
    return [top_lr / factor ** (n_layers - 1 - i) for i in range(n_layers)]


def discriminative_param_groups(
    model: convnet.Classifier, top_lr: float, factor: float = 2.6
) -> list[dict]:
    """One optimiser parameter group per layer, rates from :func:`layer_learning_rates`
    (``factor=1`` gives one rate for every layer)."""
    layers = model.layers()
    rates = layer_learning_rates(top_lr, len(layers), factor)
    return [
        {"params": list(layer.parameters()), "lr": lr, "name": name}
        for layer, lr, name in zip(layers, rates, layer_names(model), strict=True)
    ]


def recipe_param_groups(model: convnet.Classifier, recipe: Recipe) -> list[dict]:
    """One group per layer: the head at ``recipe.lr``; with ``recipe.trunk_lr`` the top block
    at ``trunk_lr`` and each block below ``recipe.factor`` times lower, otherwise
    :func:`discriminative_param_groups` from the head's rate down."""
    groups = discriminative_param_groups(model, recipe.lr, recipe.factor)
    if recipe.trunk_lr is not None:
        rates = layer_learning_rates(recipe.trunk_lr, len(groups) - 1, recipe.factor)
        for group, lr in zip(groups[:-1], rates, strict=True):
            group["lr"] = lr
    return groups


# --------------------------------------------------------------------------------------------
# Data: shifts, subsets and folds
# --------------------------------------------------------------------------------------------


def invert(x: torch.Tensor) -> torch.Tensor:
    """Input shift: white ink on black paper (``1 - x``)."""
    return 1.0 - x


def blur(x: torch.Tensor, sigma: float = 1.5) -> torch.Tensor:
    """Input shift: Gaussian blur of ``[B, 1, S, S]`` images (std ``sigma`` pixels)."""
    if sigma <= 0:
        raise ValueError(f"sigma must be > 0 pixels, got {sigma}.")
    if x.dim() != 4 or x.shape[1] != 1:
        raise ValueError(f"blur expects images shaped [B, 1, S, S], got {list(x.shape)}.")
    radius = max(1, math.ceil(3 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype)
    k = torch.exp(-(t**2) / (2 * sigma**2))
    k = k / k.sum()
    x = F.conv2d(x, k.view(1, 1, 1, -1), padding=(0, radius))
    return F.conv2d(x, k.view(1, 1, -1, 1), padding=(radius, 0))


def derangement(n: int, seed: int = 0) -> torch.Tensor:
    """A random permutation of ``0..n-1`` that moves every label (no fixed points)."""
    if n < 2:
        raise ValueError(f"a permutation without fixed points needs n >= 2 labels, got {n}.")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    perm = torch.empty(n, dtype=torch.long)
    perm[order] = order.roll(-1)
    return perm


def shift_images(data: LabelledImages, kind: str) -> LabelledImages:
    """``kind`` in ``("none", "invert", "blur")`` applied to the images; labels unchanged."""
    if kind not in SHIFTS:
        raise ValueError(f"unknown shift {kind!r}; choose one of {SHIFTS}.")
    fn = {"none": lambda x: x, "invert": invert, "blur": blur}[kind]
    return LabelledImages(fn(data.x), data.y, data.num_classes)


def permute_labels(data: LabelledImages, perm: torch.Tensor) -> LabelledImages:
    """Output shift: label ``y`` becomes ``perm[y]`` (images unchanged)."""
    if sorted(perm.tolist()) != list(range(data.num_classes)):
        raise ValueError(f"perm must be a permutation of 0..{data.num_classes - 1}.")
    return LabelledImages(data.x, perm[data.y], data.num_classes)


def subset(data: LabelledImages, idx: torch.Tensor) -> LabelledImages:
    """The examples ``idx`` of ``data``."""
    return LabelledImages(data.x[idx], data.y[idx], data.num_classes)


def kfold_indices(data: LabelledImages, k: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``k`` (train, validation) index pairs; each class's examples are dealt round-robin to
    the folds, so every fold holds out whole drawers of every class."""
    counts = torch.bincount(data.y, minlength=data.num_classes)
    if k < 2 or k > int(counts.min()):
        raise ValueError(
            f"k={k} folds need 2 <= k <= the smallest class size ({int(counts.min())})."
        )
    fold_of = torch.empty(len(data), dtype=torch.long)
    for c in range(data.num_classes):
        idx = (data.y == c).nonzero().flatten()
        fold_of[idx] = torch.arange(len(idx)) % k
    all_idx = torch.arange(len(data))
    return [(all_idx[fold_of != f], all_idx[fold_of == f]) for f in range(k)]


# --------------------------------------------------------------------------------------------
# One fine-tuning run
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recipe:
    """How to fine-tune, in optimiser steps. ``trainable``: layer indices (or ``"all"``)
    trained throughout; ``schedule``: ``None``, ``"top_down"`` or ``"bottom_up"`` gradual
    unfreezing (head first, one more block every ``unfreeze_every`` steps); ``lp_steps``: LP-FT
    (head alone at ``lp_lr`` first, then every layer); ``factor``: per-layer lr divisor from the
    head's ``lr`` down; or ``trunk_lr``: the new head keeps its own ``lr`` and the top block gets
    ``trunk_lr``, each block below ``factor`` times less (``factor=1``: one trunk rate);
    ``warmup``: steps of linear warm-up from ``lr/warmup`` (:func:`trainer.lr_factor`).

    The fair protocol of notebook 02: ``lr`` is the head's rate (chosen once on validation
    data), ``trunk_lr`` the trunk's, so a rule about the trunk changes ``trunk_lr`` only."""

    lr: float = 3e-3
    steps: int = 60
    batch_size: int = 20
    trainable: tuple[int, ...] | str = "all"
    factor: float = 1.0
    schedule: str | None = None
    unfreeze_every: int = 12
    lp_steps: int = 0
    lp_lr: float = 1e-2
    reinit_head: bool = True
    trunk_lr: float | None = None
    warmup: int = 0

    def __post_init__(self) -> None:
        for name, minimum in [("steps", 1), ("batch_size", 1), ("unfreeze_every", 1),
                              ("lp_steps", 0), ("warmup", 0)]:  # fmt: skip
            value = checks.whole_number(f"Recipe.{name}", getattr(self, name), minimum)
            object.__setattr__(self, name, value)  # np.int64(5) -> 5
        checks.positive_finite("Recipe.lr", self.lr)
        checks.positive_finite("Recipe.lp_lr", self.lp_lr)
        checks.positive_finite("Recipe.factor", self.factor, "1 gives every layer the same rate")
        if self.trunk_lr is not None:
            checks.positive_finite("Recipe.trunk_lr", self.trunk_lr, "or None for lr / factor")
        if self.trainable != "all":
            fix = "pass layer indices (0 = block1, the last = the head) or 'all'"
            checks.layer_indices("Recipe.trainable", self.trainable, 2**31, fix)
        if self.schedule not in (None, "top_down", "bottom_up"):
            raise ValueError(
                f"schedule must be None, 'top_down' or 'bottom_up', got {self.schedule!r}."
            )
        if not 0 <= self.lp_steps < self.steps or not 0 <= self.warmup < self.steps - self.lp_steps:
            msg = f"lp_steps={self.lp_steps}, warmup={self.warmup}: >= 0, sum < {self.steps} steps"
            raise ValueError(msg)


@dataclass
class FineTuneResult:
    """Accuracy on each evaluation set; on the first one (``curve``) and ``monitor()``
    (``monitor_curve``) at ``curve_steps`` (0 = before fine-tuning); with early stopping,
    ``best_step`` is the step whose weights were kept."""

    scores: list[float]
    curve: list[float] = field(default_factory=list)
    curve_steps: list[int] = field(default_factory=list)
    monitor_curve: list[float] = field(default_factory=list)
    best_step: int | None = None  # early stopping (``patience``): the step whose weights are kept


class _Tail(nn.Module):
    """Layers ``first..`` of a classifier, fed with the frozen prefix's feature maps."""

    def __init__(self, model: convnet.Classifier, first: int) -> None:
        super().__init__()
        self.stages = nn.ModuleList(model.layers()[first:])

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        for stage in self.stages:
            if not any(p.requires_grad for p in stage.parameters()):
                stage.eval()  # frozen: BatchNorm statistics stay fixed
        for stage in self.stages[:-1]:
            h = stage(h)
        return self.stages[-1](h.mean(dim=(-2, -1)))


@torch.no_grad()
def _prefix(model: convnet.Classifier, data: LabelledImages, first: int) -> LabelledImages:
    model.eval()
    device = next(model.parameters()).device
    h = data.x.to(device)
    for block in model.layers()[:first]:
        h = block(h)
    return LabelledImages(h.cpu(), data.y, data.num_classes)


def fine_tune(
    model: convnet.Classifier,
    train: LabelledImages,
    recipe: Recipe,
    *,
    evaluate: Sequence[LabelledImages] = (),
    curve_every: int | None = None,
    monitor: Callable[[], float] | None = None,
    patience: int | None = None,
    seed: int = 0,
    device: torch.device | str | None = None,
    progress: str | bool = False,
) -> FineTuneResult:
    """Fine-tune ``model`` in place on ``train`` with ``recipe`` (Adam, one param group per
    layer); return its accuracy on each set of ``evaluate``.

    Frozen layers keep their weights and BatchNorm statistics. With a frozen prefix (and no
    schedule), the prefix's features are computed once and only the tail trains (same result,
    faster). ``curve_every`` records accuracy on ``evaluate[0]`` (and ``monitor()``, e.g. an
    old task through its old head) every that many steps.

    ``patience`` (needs ``curve_every``; ``evaluate[0]`` is then a *validation* set) stops early:
    training ends once ``patience`` evaluations in a row did not beat the best validation
    accuracy, the weights of the best evaluation are restored (``best_step``), and the scores
    are those of that model; ``recipe.steps`` is then the maximum budget.
    """
    if not isinstance(recipe, Recipe):
        raise TypeError(f"recipe must be a fine_tuning.Recipe, got a {type(recipe).__name__}.")
    if curve_every is not None:
        curve_every = checks.whole_number("curve_every", curve_every, 1, fix="or pass None")
    if patience is not None:
        patience = checks.whole_number("patience", patience, 1, fix="or pass None")
        if curve_every is None:
            raise ValueError("patience needs curve_every (how often to check the validation set).")
    checks.image_tensor("train.x", train.x, 2)
    chosen = check_layers(model, recipe.trainable, "recipe.trainable")
    device = runtime.resolve_device(device)
    model.to(device)
    first = 0
    if recipe.schedule is None and not recipe.lp_steps:
        first = min(chosen)
    if recipe.schedule is None:
        set_trainable(model, recipe.trainable)
    run, data, evals = model, train, list(evaluate)
    if first > 0:
        run = _Tail(model, first)
        data, evals = _prefix(model, train, first), [_prefix(model, d, first) for d in evals]
    if curve_every is not None and not evals:
        raise ValueError("curve_every needs at least one evaluation set.")
    result = FineTuneResult([])
    best: dict = {"value": -1.0, "state": None, "since": 0}
    clock = {"offset": 0, "length": 0, "done": 0}  # the phase, and evaluations in it

    def evaluate_now(m: nn.Module) -> float:
        if monitor is not None:
            result.monitor_curve.append(float(monitor()))
        value = accuracy(m, evals[0])
        if result.curve_steps:  # step of this evaluation (the trainer also checks at the end)
            clock["done"] += 1
            step = clock["offset"] + min(clock["done"] * curve_every, clock["length"])
        else:
            step = 0
        result.curve.append(value)
        result.curve_steps.append(step)
        if patience is not None:
            if value > best["value"]:
                best.update(value=value, since=0, step=step)
                best["state"] = {k: v.detach().clone() for k, v in model.state_dict().items()}
            else:
                best["since"] += 1
                if best["since"] >= patience:
                    raise _Plateau
        return value

    common = {
        "batch_size": recipe.batch_size, "seed": seed, "device": device, "progress": progress,
        "eval_every": curve_every, "evaluate": evaluate_now if curve_every else None,
    }  # fmt: skip
    try:
        if curve_every:
            evaluate_now(run)
        offset = 0
        if recipe.lp_steps:
            set_trainable(model, [len(model.layers()) - 1])
            head = [{"params": list(model.head.parameters()), "lr": recipe.lp_lr}]
            clock.update(offset=0, length=recipe.lp_steps, done=0)
            trainer.train(run, data, steps=recipe.lp_steps, param_groups=head, **common)
            set_trainable(model, "all")
            offset = recipe.lp_steps
        on_step = None
        if recipe.schedule is not None:
            on_step = gradual_unfreezing(
                model, recipe.schedule, recipe.unfreeze_every, recipe.steps
            )
        groups = recipe_param_groups(model, recipe)[first:]
        clock.update(offset=offset, length=recipe.steps - offset, done=0)
        trainer.train(
            run, data, steps=recipe.steps - offset, param_groups=groups, on_step=on_step,
            warmup=recipe.warmup, **common,
        )  # fmt: skip
    except _Plateau:
        pass
    if patience is not None and best["state"] is not None:
        model.load_state_dict(best["state"])
        result.best_step = best["step"]
    result.scores = [accuracy(run, d) for d in evals]
    return result


class _Plateau(Exception):
    """Raised inside the training loop when the validation accuracy stopped rising."""
