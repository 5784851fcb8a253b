"""Fine-tuning helpers for notebook 02: freezing, unfreezing, per-layer learning rates, CV.

Everything works on :meth:`convnet.Classifier.layers` (``block1 .. block4, head``), so layer
``i`` always means the same stage of the network. The pieces:

- freezing: :func:`set_trainable`, :func:`trainable_layers`; BatchNorm statistics only update
  in trainable layers (frozen layers run their BatchNorm in eval mode, see
  :func:`freeze_batchnorm_of_frozen_layers`);
- schedules: :func:`unfreeze_schedule` / :func:`gradual_unfreezing` (top-down as in ULMFiT, or
  bottom-up), and LP-FT through :class:`Recipe`;
- per-layer learning rates: :func:`layer_learning_rates`, :func:`discriminative_param_groups`;
- data: :func:`target_split`, :func:`same_label_space_target`, shifts (:func:`invert`,
  :func:`blur`, :func:`permute_labels`), drawer-grouped :func:`kfold_indices`;
- the pretrained-model cache in ``data/`` (:func:`pretrained_state`);
- one fine-tuning run (:func:`fine_tune`), the multi-seed runner (:func:`run_arms`), verdicts
  (:func:`compare`, :func:`verdict_table`) and the ipywidgets lab (:func:`fine_tuning_lab`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from torch import nn

from . import convnet, multitask, runtime, supervised
from .supervised import LabelledImages

LAYER_NAMES = ("block1", "block2", "block3", "block4", "head")


def _on_one_thread(fn: Callable) -> Callable:
    """Run ``fn`` inside :func:`runtime.single_thread` (restored afterwards)."""

    @functools.wraps(fn)
    def wrapper(*args: object, **kwargs: object) -> object:
        with runtime.single_thread():
            return fn(*args, **kwargs)

    return wrapper


SHIFTS = ("none", "invert", "blur")


# --------------------------------------------------------------------------------------------
# Freezing and BatchNorm
# --------------------------------------------------------------------------------------------


def layer_names(model: convnet.Classifier) -> list[str]:
    """``["block1", ..., "blockN", "head"]`` for ``model.layers()``."""
    n = len(model.layers())
    return [f"block{i + 1}" for i in range(n - 1)] + ["head"]


def _check_layers(model: convnet.Classifier, layers: Iterable[int]) -> list[int]:
    n = len(model.layers())
    chosen = sorted(set(int(i) for i in layers))
    bad = [i for i in chosen if not 0 <= i < n]
    if bad:
        raise ValueError(
            f"layer indices {bad} are out of range: this model has {n} layers, 0..{n - 1} "
            f"({', '.join(layer_names(model))}); pass indices in that range."
        )
    return chosen


def set_trainable(model: convnet.Classifier, layers: Iterable[int] | str) -> None:
    """Make exactly ``layers`` (indices into ``model.layers()``, or ``"all"``) trainable."""
    n = len(model.layers())
    if isinstance(layers, str):
        if layers != "all":
            raise ValueError(f"layers must be indices or 'all', got {layers!r}.")
        layers = range(n)
    chosen = set(_check_layers(model, layers))
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


def _bn_to_eval_in_frozen_layers(model: nn.Module, _inputs: object) -> None:
    for layer in model.layers():
        if not any(p.requires_grad for p in layer.parameters()):
            layer.eval()


def freeze_batchnorm_of_frozen_layers(model: convnet.Classifier) -> None:
    """Keep frozen layers in eval mode, so their BatchNorm running statistics stay fixed.

    ``supervised.fit`` calls ``model.train()`` every epoch; a forward pre-hook puts every layer
    without trainable parameters back into eval mode before each forward pass. Trainable
    layers stay in train mode and update their BatchNorm statistics. Installed once per model.
    """
    if not getattr(model, "_bn_hook_installed", False):
        model.register_forward_pre_hook(_bn_to_eval_in_frozen_layers)
        model._bn_hook_installed = True


# --------------------------------------------------------------------------------------------
# Gradual unfreezing
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


def unfreeze_schedule(n_layers: int, direction: str, every: int, epochs: int) -> list[list[int]]:
    """Trainable layer indices during each epoch: the head alone, then one more block every
    ``every`` epochs in ``direction`` order, until everything is trainable."""
    if every < 1 or epochs < 1:
        raise ValueError(f"every={every} and epochs={epochs} must both be at least 1.")
    order = unfreeze_order(n_layers, direction)
    head = n_layers - 1
    return [sorted([head, *order[: epoch // every]]) for epoch in range(epochs)]


def gradual_unfreezing(
    model: convnet.Classifier, direction: str, every: int, epochs: int
) -> Callable[[int, nn.Module], None]:
    """Freeze all but the head now; return an ``on_epoch_end`` callback for ``fit`` that
    follows :func:`unfreeze_schedule` (the optimiser must hold every layer's parameters)."""
    schedule = unfreeze_schedule(len(model.layers()), direction, every, epochs)
    set_trainable(model, schedule[0])

    def on_epoch_end(epoch: int, _model: nn.Module) -> None:
        if epoch + 1 < epochs:
            set_trainable(model, schedule[epoch + 1])

    return on_epoch_end


# --------------------------------------------------------------------------------------------
# Discriminative learning rates
# --------------------------------------------------------------------------------------------


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
    """One optimiser parameter group per layer, learning rates from
    :func:`layer_learning_rates` (``factor=1`` gives one rate for every layer)."""
    layers = model.layers()
    rates = layer_learning_rates(top_lr, len(layers), factor)
    return [
        {"params": list(layer.parameters()), "lr": lr, "name": name}
        for layer, lr, name in zip(layers, rates, layer_names(model), strict=True)
    ]


# --------------------------------------------------------------------------------------------
# Data: target splits, shifts, folds
# --------------------------------------------------------------------------------------------


@dataclass
class Target:
    """A fine-tuning problem: few-shot ``train``, ``test`` and ``fresh`` (untouched) drawers.

    ``head_rows[i]`` is the pretraining class of target label ``i`` when the label space is
    the pretraining one (so the old head can be kept); ``None`` for a new label space.
    """

    name: str
    train: LabelledImages
    test: LabelledImages
    fresh: LabelledImages | None = None
    head_rows: list[int] | None = None

    def describe(self) -> str:
        fresh = f", {len(self.fresh)} fresh" if self.fresh is not None else ""
        return (
            f"{self.name}: {self.train.num_classes} classes, {len(self.train)} train, "
            f"{len(self.test)} test{fresh} images"
        )


def split_per_class(
    data: LabelledImages, first: int, seed: int = 0
) -> tuple[LabelledImages, LabelledImages]:
    """Split every class's examples at random: ``first`` of each into the first part."""
    counts = torch.bincount(data.y, minlength=data.num_classes)
    if first < 1 or first >= int(counts.min()):
        raise ValueError(
            f"first={first} must be at least 1 and below the smallest class size "
            f"({int(counts.min())}) so that both parts get examples of every class."
        )
    gen = torch.Generator().manual_seed(seed)
    a, b = [], []
    for c in range(data.num_classes):
        idx = (data.y == c).nonzero().flatten()
        idx = idx[torch.randperm(len(idx), generator=gen)]
        a.append(idx[:first])
        b.append(idx[first:])
    ia, ib = torch.cat(a), torch.cat(b)
    return (
        LabelledImages(data.x[ia], data.y[ia], data.num_classes),
        LabelledImages(data.x[ib], data.y[ib], data.num_classes),
    )


def target_split(
    images: torch.Tensor,
    characters: Sequence[int],
    name: str,
    shots: int = 5,
    test_per_class: int = 10,
    seed: int = 0,
) -> Target:
    """A new-label-space target: ``shots`` train drawers, ``test_per_class`` test drawers and
    the remaining drawers as ``fresh`` (never used for any choice) per character."""
    drawers = images.shape[1]
    if shots + test_per_class >= drawers:
        raise ValueError(
            f"shots={shots} + test_per_class={test_per_class} must leave at least one of the "
            f"{drawers} drawers as fresh data; lower one of them."
        )
    train, rest = supervised.drawer_split(images, characters, shots, None, seed=seed)
    test, fresh = split_per_class(rest, test_per_class, seed=seed)
    return Target(name, train, test, fresh)


def same_label_space_target(
    heldout: LabelledImages, classes: Sequence[int], name: str, shots: int = 5, seed: int = 0
) -> Target:
    """A target over pretraining classes ``classes``, from drawers held out of pretraining.

    ``heldout`` is the pretraining split's test part (labels = pretraining classes). Labels
    are renumbered ``0..n-1`` and ``head_rows`` remembers the pretraining class of each.
    """
    classes = [int(c) for c in classes]
    if not classes or max(classes) >= heldout.num_classes or min(classes) < 0:
        raise ValueError(
            "classes must be a non-empty list of pretraining classes in "
            f"0..{heldout.num_classes - 1}."
        )
    lookup = torch.full((heldout.num_classes,), -1, dtype=torch.long)
    lookup[torch.tensor(classes)] = torch.arange(len(classes))
    keep = lookup[heldout.y] >= 0
    subset = LabelledImages(heldout.x[keep], lookup[heldout.y[keep]], len(classes))
    train, test = split_per_class(subset, shots, seed=seed)
    return Target(name, train, test, None, head_rows=classes)


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
    x = nn.functional.conv2d(x, k.view(1, 1, 1, -1), padding=(0, radius))
    return nn.functional.conv2d(x, k.view(1, 1, -1, 1), padding=(radius, 0))


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


def shift_target(target: Target, kind: str, seed: int = 0) -> Target:
    """Apply an input shift (``"invert"``, ``"blur"``) or ``"permute"`` (labels) to every
    part of ``target``; the same permutation everywhere."""
    parts = [target.train, target.test, target.fresh]
    if kind == "permute":
        perm = derangement(target.train.num_classes, seed)
        new = [None if p is None else permute_labels(p, perm) for p in parts]
    else:
        new = [None if p is None else shift_images(p, kind) for p in parts]
    return replace(target, name=f"{target.name} ({kind})", train=new[0], test=new[1], fresh=new[2])


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


def subset(data: LabelledImages, idx: torch.Tensor) -> LabelledImages:
    """The examples ``idx`` of ``data``."""
    return LabelledImages(data.x[idx], data.y[idx], data.num_classes)


# --------------------------------------------------------------------------------------------
# Pretrained models: training once and caching in data/
# --------------------------------------------------------------------------------------------


def new_model(num_classes: int, channels: int = 32, seed: int = 0) -> convnet.Classifier:
    """A freshly initialised (seeded) trunk and head."""
    torch.manual_seed(seed)
    return convnet.Classifier(convnet.ConvTrunk(channels), num_classes)


def save_state(model: nn.Module, path: Path) -> None:
    """``torch.save(model.state_dict())``, written atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(model.state_dict(), tmp)
    tmp.replace(path)


def load_state(path: Path) -> dict[str, torch.Tensor]:
    """A state dict saved by :func:`save_state`, loaded with ``weights_only=True``."""
    return torch.load(Path(path), weights_only=True, map_location="cpu")


def pretrained_state(
    pretrain: LabelledImages,
    source: str = "omniglot",
    *,
    channels: int = 32,
    epochs: int = 10,
    lr: float = 3e-3,
    max_shift: int = 2,
    seed: int = 0,
    cache_dir: Path | None = None,
) -> tuple[dict[str, torch.Tensor], bool]:
    """Pretrain (or load from the cache) a classifier on ``pretrain``; return (state, cached).

    ``source``: ``"omniglot"`` (the images as they are), ``"inverted"`` (the same images,
    inverted: a shifted source) or ``"none"`` (random initialisation, nothing trained).
    Training: ``epochs`` passes in batches of 64 with Adam, the learning rate decayed from
    ``lr`` to 0 on a cosine, every image shifted by up to ``max_shift`` pixels
    (:func:`multitask.train_on_source`), on one torch thread.
    """
    if source not in ("omniglot", "inverted", "none"):
        raise ValueError(f"source must be 'omniglot', 'inverted' or 'none', got {source!r}.")
    model = new_model(pretrain.num_classes, channels, seed)
    if source == "none":
        return model.state_dict(), False
    from .omniglot import default_data_dir

    folder = Path(cache_dir) if cache_dir is not None else default_data_dir() / "finetune"
    name = f"pretrained-{source}-{pretrain.num_classes}cls-{len(pretrain)}img-c{channels}"
    path = folder / f"{name}-e{epochs}-lr{lr:g}-cos-shift{max_shift}-s{seed}.pt"
    if path.is_file():
        try:
            return load_state(path), True
        except Exception:  # a damaged cache is retrained, never trusted
            path.unlink(missing_ok=True)
    data = shift_images(pretrain, "invert") if source == "inverted" else pretrain
    batch_size = 64
    steps = epochs * max(1, len(data) // batch_size)
    with runtime.single_thread():
        multitask.train_on_source(
            model, data, steps, lr=lr, batch_size=batch_size, max_shift=max_shift, seed=seed,
            progress=f"pretrain {source}",
        )  # fmt: skip
    save_state(model, path)
    return model.state_dict(), False


# --------------------------------------------------------------------------------------------
# One fine-tuning run
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recipe:
    """How to fine-tune. ``trainable``: layer indices (or ``"all"``) trained throughout;
    ``schedule``: ``None``, ``"top_down"`` or ``"bottom_up"`` gradual unfreezing (one block
    every ``unfreeze_every`` epochs, head first); ``lp_epochs``: LP-FT (head alone at
    ``lp_lr`` first, then every layer); ``factor``: per-layer lr divisor (1 = one rate)."""

    lr: float = 3e-3
    epochs: int = 10
    batch_size: int = 20
    trainable: tuple[int, ...] | str = "all"
    factor: float = 1.0
    schedule: str | None = None
    unfreeze_every: int = 2
    lp_epochs: int = 0
    lp_lr: float = 1e-2
    reinit_head: bool = True

    def __post_init__(self) -> None:
        if self.lr <= 0 or self.epochs < 1 or self.factor <= 0:
            raise ValueError(
                f"lr={self.lr} and factor={self.factor} must be > 0 and epochs={self.epochs} >= 1."
            )
        if self.schedule not in (None, "top_down", "bottom_up"):
            raise ValueError(
                f"schedule must be None, 'top_down' or 'bottom_up', got {self.schedule!r}."
            )
        if not 0 <= self.lp_epochs < self.epochs:
            raise ValueError(
                f"lp_epochs={self.lp_epochs} must be in 0..epochs-1={self.epochs - 1}."
            )


def prepare_model(
    state: dict[str, torch.Tensor], target: Target, reinit_head: bool, seed: int
) -> convnet.Classifier:
    """Load ``state`` and fit the head to ``target``: re-initialised (seeded), or kept (the
    pretraining rows ``target.head_rows``, else rows ``0..n-1`` for a new label space)."""
    pre_classes, channels = state["head.weight"].shape
    n = target.train.num_classes
    model = new_model(pre_classes, channels, seed)
    model.load_state_dict(state)
    if reinit_head:
        torch.manual_seed(seed)
        model.reset_head(n)
        return model
    rows = target.head_rows if target.head_rows is not None else list(range(n))
    if len(rows) != n or max(rows) >= pre_classes:
        raise ValueError(
            f"cannot keep a {pre_classes}-class head for {n} target classes (rows {rows[:5]}...)."
        )
    head = nn.Linear(channels, n)
    with torch.no_grad():
        head.weight.copy_(model.head.weight[rows])
        head.bias.copy_(model.head.bias[rows])
    model.head = head
    return model


@dataclass
class RunResult:
    """Accuracy after fine-tuning, and the per-epoch test curve when it was recorded."""

    test: float
    fresh: float | None = None
    curve: list[float] = field(default_factory=list)


@_on_one_thread
def fine_tune(
    state: dict[str, torch.Tensor],
    target: Target,
    recipe: Recipe,
    seed: int = 0,
    curve: bool = False,
    train: LabelledImages | None = None,
    evaluate: Sequence[LabelledImages] | None = None,
) -> tuple[convnet.Classifier, RunResult]:
    """Fine-tune a copy of ``state`` on ``target.train`` (Adam, mini-batches) with ``recipe``.

    Frozen layers keep their BatchNorm statistics; trainable ones update them. ``train`` /
    ``evaluate`` override the target's sets (cross-validation folds). Returns the model and
    accuracies on ``target.test`` and ``target.fresh``.
    """
    model = prepare_model(state, target, recipe.reinit_head, seed)
    train = target.train if train is None else train
    test = target.test if evaluate is None else evaluate[0]
    fresh = target.fresh if evaluate is None else (evaluate[1] if len(evaluate) > 1 else None)
    n = len(model.layers())
    if recipe.schedule is None and not recipe.lp_epochs and recipe.trainable != "all":
        first = min(_check_layers(model, recipe.trainable))
        if first > 0:  # a frozen prefix: compute its features once, train only the tail
            return model, _fine_tune_tail(model, recipe, first, train, test, fresh, seed, curve)
    callback = None
    if recipe.schedule is not None:
        callback = gradual_unfreezing(model, recipe.schedule, recipe.unfreeze_every, recipe.epochs)
    else:
        set_trainable(model, recipe.trainable)
    history = supervised.History()
    common = {"batch_size": recipe.batch_size, "seed": seed, "progress": False}
    if curve:
        common["evaluate_on"] = test
    ft_epochs = recipe.epochs
    if recipe.lp_epochs:
        set_trainable(model, [n - 1])
        opt = torch.optim.Adam(model.head.parameters(), lr=recipe.lp_lr)
        history = supervised.fit(model, train, epochs=recipe.lp_epochs, optimizer=opt, **common)
        set_trainable(model, "all")
        ft_epochs -= recipe.lp_epochs
    opt = torch.optim.Adam(discriminative_param_groups(model, recipe.lr, recipe.factor))
    more = supervised.fit(
        model, train, epochs=ft_epochs, optimizer=opt, on_epoch_end=callback, **common
    )
    result = RunResult(
        test=supervised.accuracy(model, test), curve=history.accuracy + more.accuracy
    )
    if fresh is not None:
        result.fresh = supervised.accuracy(model, fresh)
    return model, result


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
def _prefix_features(model: convnet.Classifier, x: torch.Tensor, first: int) -> torch.Tensor:
    model.eval()
    h = x
    for block in model.layers()[:first]:
        h = block(h)
    return h


def _fine_tune_tail(
    model: convnet.Classifier,
    recipe: Recipe,
    first: int,
    train: LabelledImages,
    test: LabelledImages,
    fresh: LabelledImages | None,
    seed: int,
    curve: bool,
) -> RunResult:
    """Same training as :func:`fine_tune`, but the frozen blocks ``0..first-1`` run once."""
    set_trainable(model, recipe.trainable)

    def feats(d: LabelledImages) -> LabelledImages:
        return LabelledImages(_prefix_features(model, d.x, first), d.y, d.num_classes)

    tail = _Tail(model, first)
    ftrain, ftest = feats(train), feats(test)
    groups = discriminative_param_groups(model, recipe.lr, recipe.factor)[first:]
    opt = torch.optim.Adam(groups)
    history = supervised.fit(
        tail,
        ftrain,
        epochs=recipe.epochs,
        optimizer=opt,
        batch_size=recipe.batch_size,
        seed=seed,
        progress=False,
        evaluate_on=ftest if curve else None,
    )
    result = RunResult(test=supervised.accuracy(tail, ftest), curve=history.accuracy)
    if fresh is not None:
        result.fresh = supervised.accuracy(tail, feats(fresh))
    return result


def scratch_recipe(epochs: int, lr: float = 3e-3) -> Recipe:
    """Training from random initialisation: every layer, one learning rate."""
    return Recipe(lr=lr, epochs=epochs)


# --------------------------------------------------------------------------------------------
# Experiments over arms and seeds, and verdicts
# --------------------------------------------------------------------------------------------


def hyperparameter_selection(
    state: dict[str, torch.Tensor],
    target: Target,
    configs: dict[str, Recipe],
    k: int,
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """Pick a config two ways and report what each believes vs what it gets on fresh drawers.

    ``"test set"``: train every config on ``target.train``, keep the best on ``target.test``
    and report that test score. ``"k-fold CV"``: keep the best mean validation score over
    ``k`` drawer-grouped folds of ``target.train`` and report that CV score. Both then report
    the chosen config's accuracy on ``target.fresh`` (never used for any choice).
    """
    if target.fresh is None:
        raise ValueError("hyperparameter_selection needs target.fresh (untouched drawers).")
    full = {name: fine_tune(state, target, r, seed)[1] for name, r in configs.items()}
    folds = kfold_indices(target.train, k)
    cv = {}
    for name, recipe in configs.items():
        scores = [
            fine_tune(
                state,
                target,
                recipe,
                seed,
                train=subset(target.train, tr),
                evaluate=[subset(target.train, va)],
            )[1].test
            for tr, va in folds
        ]
        cv[name] = sum(scores) / len(scores)
    by_test = max(full, key=lambda n: full[n].test)
    by_cv = max(cv, key=lambda n: cv[n])
    return {
        "test set": {
            "config": by_test,
            "reported": full[by_test].test,
            "fresh": full[by_test].fresh,
        },
        "k-fold CV": {"config": by_cv, "reported": cv[by_cv], "fresh": full[by_cv].fresh},
    }


def run_arms(
    arms: dict[str, Callable[[int], float]], seeds: Sequence[int], desc: str
) -> dict[str, list[float]]:
    """Run every arm (a function of the seed returning a score) for every seed, with one
    outer progress bar for the experiment. Returns ``{arm: [score per seed]}``."""
    from tqdm.auto import tqdm

    if len(seeds) < 1:
        raise ValueError("run_arms needs at least one seed.")
    scores: dict[str, list[float]] = {name: [] for name in arms}
    with tqdm(total=len(arms) * len(seeds), desc=desc) as bar:
        for name, arm in arms.items():
            for seed in seeds:
                bar.set_postfix_str(f"{name}, seed {seed}")
                scores[name].append(float(arm(seed)))
                bar.update()
    return scores


def mean_sem(values: Sequence[float]) -> tuple[float, float]:
    """Mean and standard error of the mean (0 for a single value)."""
    t = torch.tensor(list(values), dtype=torch.float64)
    sem = float(t.std() / math.sqrt(len(t))) if len(t) > 1 else 0.0
    return float(t.mean()), sem


def fmt(values: Sequence[float]) -> str:
    """``"71.2 ± 1.3 %"``: mean ± standard error, in percent."""
    m, s = mean_sem(values)
    return f"{100 * m:.1f} ± {100 * s:.1f} %"


def compare(
    a: Sequence[float], b: Sequence[float], min_gap: float = 0.01
) -> tuple[str, float, float]:
    """Paired comparison (same seeds) of arm ``a`` against arm ``b``.

    Returns ``(outcome, mean difference, its standard error)`` where outcome is ``"better"``
    when a - b exceeds both ``min_gap`` and two standard errors, ``"worse"`` for the mirror
    case and ``"tie"`` otherwise.
    """
    if len(a) != len(b) or not a:
        raise ValueError(
            f"paired comparison needs equal, non-empty seed lists ({len(a)}, {len(b)})."
        )
    diff = [x - y for x, y in zip(a, b, strict=True)]
    m, s = mean_sem(diff)
    margin = max(min_gap, 2 * s)
    outcome = "better" if m > margin else "worse" if m < -margin else "tie"
    return outcome, m, s


def verdict_table(rows: Sequence[tuple[str, str, str]]) -> str:
    """A Markdown table: rule | what we measured | verdict."""
    lines = ["| rule | what we measured | verdict |", "|---|---|---|"]
    lines += [f"| {r} | {m} | **{v}** |" for r, m, v in rows]
    return "\n".join(lines)


def plot_sweep(
    sweeps: dict[str, dict[float, list[float]]], title: str, mark: float | None = None
) -> object:
    """Accuracy against learning rate (log axis), one line per method, standard-error bars;
    ``mark`` draws a vertical line (e.g. the pretraining learning rate)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.4))
    for i, (label, sweep) in enumerate(sweeps.items()):
        lrs = sorted(sweep)
        stats = [mean_sem(sweep[lr]) for lr in lrs]
        ax.errorbar(
            lrs,
            [m for m, _ in stats],
            yerr=[s for _, s in stats],
            marker="o",
            capsize=3,
            label=label,
            color=f"C{i}",
        )
    if mark is not None:
        ax.axvline(mark, color="gray", ls="--", label=f"pretraining lr {mark:g}")
    ax.set_xscale("log")
    ax.set_xlabel("fine-tuning learning rate (head; Adam)")
    ax.set_ylabel("test accuracy")
    ax.set_ylim(0, 1)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    return ax


def plot_arms(
    scores: dict[str, list[float]], title: str, ax: object = None, ylabel: str = "test accuracy"
) -> object:
    """Bar chart of the arms: mean with standard-error bars, individual seeds as dots."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(1.3 * len(scores) + 2, 3.2))
    names = list(scores)
    for i, name in enumerate(names):
        m, s = mean_sem(scores[name])
        ax.bar(i, m, yerr=s, capsize=4, color=f"C{i % 10}", alpha=0.75)
        ax.plot([i] * len(scores[name]), scores[name], "k.", ms=4)
    ax.set_xticks(range(len(names)), names, rotation=20, ha="right")
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 1)
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    return ax


# --------------------------------------------------------------------------------------------
# The fine-tuning lab (ipywidgets)
# --------------------------------------------------------------------------------------------


def fine_tuning_lab(
    state: dict[str, torch.Tensor],
    target: Target,
    scratch_state: dict[str, torch.Tensor],
    epochs: int = 10,
) -> tuple[object, Callable[[], None]]:
    """Widgets to pick trainable blocks, learning rate, per-layer divisor and epochs; "run"
    fine-tunes and redraws its test curve beside a from-scratch run with the same epochs.

    Returns ``(widget, run)``; call ``run()`` to run once without clicking.
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt
    from IPython.display import clear_output

    names = list(LAYER_NAMES)
    boxes = [widgets.Checkbox(value=True, description=n, indent=False) for n in names]
    lr = widgets.FloatLogSlider(value=3e-3, base=10, min=-4, max=-1, step=0.25, description="lr")
    factor = widgets.FloatSlider(value=2.6, min=1.0, max=4.0, step=0.1, description="divide/layer")
    epochs = widgets.IntSlider(value=epochs, min=2, max=30, description="epochs")
    button = widgets.Button(description="run", button_style="primary")
    out = widgets.Output()
    scratch_cache: dict[int, list[float]] = {}

    def run(_button: object = None) -> None:
        chosen = tuple(i for i, b in enumerate(boxes) if b.value)
        with out:
            clear_output(wait=True)
            if not chosen:
                print("Tick at least one layer to train.")
                return
            recipe = Recipe(lr=lr.value, epochs=epochs.value, trainable=chosen, factor=factor.value)
            _, res = fine_tune(state, target, recipe, seed=0, curve=True)
            if epochs.value not in scratch_cache:
                _, base = fine_tune(scratch_state, target, scratch_recipe(epochs.value), curve=True)
                scratch_cache[epochs.value] = base.curve
            fig, ax = plt.subplots(figsize=(6, 3.2))
            xs = range(1, epochs.value + 1)
            label = "+".join(names[i] for i in chosen)
            ax.plot(xs, res.curve, "o-", label=f"fine-tune {label}")
            ax.plot(xs, scratch_cache[epochs.value], "s--", color="gray", label="from scratch")
            ax.set_xlabel("epoch")
            ax.set_ylabel("test accuracy")
            ax.set_ylim(0, 1)
            ax.set_title(
                f"{target.name}: lr {lr.value:.1e}, divide by {factor.value:.1f} per layer"
            )
            ax.legend()
            ax.grid(alpha=0.3)
            plt.show()

    button.on_click(run)
    controls = widgets.VBox(
        [widgets.HBox(boxes), widgets.HBox([lr, factor]), widgets.HBox([epochs, button])]
    )
    return widgets.VBox([controls, out]), run
