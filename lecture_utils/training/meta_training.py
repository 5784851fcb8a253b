"""Meta-training of black-box models, and the supervised-pretrained encoder they can sit on.

A model is anything with ``model(support_x, support_y, query_x) -> logits [B, N*Q, N]``
(:mod:`lecture_utils.models.black_box.base`). :func:`meta_train` is the episode loop — sample a meta-batch,
``phi = f_theta(D_tr)``, predict ``D_test``, cross-entropy on the queries only, update theta —
run through :func:`lecture_utils.training.trainer.optimise` (step budget, progress bar, clipping). The
encoder pretraining is one call to :func:`lecture_utils.training.trainer.train`, cached in the one
store under a key that covers the exact pretraining characters.

Evaluation lives in :mod:`lecture_utils.training.evaluation`, feature banks in
:mod:`lecture_utils.models.feature_bank`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from lecture_utils.core import runtime, store
from lecture_utils.data import transforms
from lecture_utils.data.labelled import LabelledImages
from lecture_utils.episodes.sampler import Episode, EpisodeSampler
from lecture_utils.models.convnet import Classifier, ConvTrunk
from lecture_utils.training import trainer
from lecture_utils.training.evaluation import evaluate, fixed_episodes

# --------------------------------------------------------------------------------------------
# The meta-training loop
# --------------------------------------------------------------------------------------------


@dataclass
class MetaHistory:
    """What :func:`meta_train` records: the loop's :class:`~trainer.TrainLog` (loss and
    learning rate per step, meta-validation accuracy every ``eval_every`` steps) and the
    training accuracy per step."""

    name: str = ""
    log: trainer.TrainLog = field(default_factory=trainer.TrainLog)
    train_accuracy: list[float] = field(default_factory=list)

    @property
    def steps(self) -> list[int]:
        return list(range(1, len(self.log.loss) + 1))

    train_loss = property(lambda self: self.log.loss, doc="Query loss per step.")
    lr = property(lambda self: self.log.lr, doc="Learning rate per step.")
    val_steps = property(lambda self: self.log.eval_steps, doc="Steps when validation ran.")
    val_accuracy = property(lambda self: self.log.eval_values, doc="Meta-validation accuracy.")

    @property
    def best_val(self) -> float:
        return max(self.val_accuracy) if self.val_accuracy else float("nan")

    def steps_to(self, accuracy: float) -> int | None:
        """The first validation step at which accuracy reached ``accuracy`` (or None)."""
        return next(
            (s for s, a in zip(self.val_steps, self.val_accuracy, strict=True) if a >= accuracy),
            None,
        )


def query_loss(model: nn.Module, ep: Episode) -> tuple[torch.Tensor, torch.Tensor]:
    """``(loss, logits)``: cross-entropy of ``model``'s query predictions (queries only)."""
    logits = model(ep.support_x, ep.support_y, ep.query_x)
    return F.cross_entropy(logits.flatten(0, 1), ep.query_y.flatten()), logits


def meta_train(
    model: nn.Module,
    train: EpisodeSampler,
    val: EpisodeSampler | Sequence[Episode] | None = None,
    *,
    steps: int,
    lr: float = 1e-3,
    eval_every: int = 100,
    val_tasks: int = 200,
    weight_decay: float = 0.0,
    clip_grad: float | None = None,
    schedule: str = "constant",
    warmup: int = 0,
    progress: bool | str = True,
    name: str = "",
    seed: int = 0,
    device: torch.device | str | None = None,
) -> MetaHistory:
    """Meta-train ``model`` with Adam on query cross-entropy for ``steps`` meta-batches.

    Episodes come from ``train`` (its own generator); ``seed`` fixes any other randomness in a
    forked RNG (the global one is untouched). The model moves to ``device`` (``None``:
    :func:`runtime.get_device`) and every episode is moved to it. Every ``eval_every`` steps
    and at the end the model is scored on the same ``val_tasks`` meta-validation tasks (drawn
    once from ``val``). ``clip_grad`` clips the gradient norm (the LSTM needs it).
    """
    if eval_every < 1:
        raise ValueError(f"eval_every must be at least 1, got {eval_every}.")
    device = runtime.resolve_device(device)
    model.to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = trainer.make_optimizer(params, lr=lr, weight_decay=weight_decay)
    if isinstance(val, EpisodeSampler):
        val = fixed_episodes(val, val_tasks)
    history = MetaHistory(name=name)

    def loss_at(step: int) -> torch.Tensor:
        ep = train.sample().to(device)
        loss, logits = query_loss(model, ep)
        history.train_accuracy.append((logits.argmax(-1) == ep.query_y).float().mean().item())
        return loss

    def validate(m: nn.Module) -> float:
        return evaluate(m, val, n_tasks=val_tasks).mean

    desc = progress if isinstance(progress, str) else name or "meta-training"
    loop = dict(schedule=schedule, warmup=warmup, clip_grad=clip_grad, eval_every=eval_every)
    with runtime.seeded_init(seed):
        history.log = trainer.optimise(
            model, loss_at, steps=steps, optimizer=optimizer, **loop,
            progress=desc if progress is not False else False,
            evaluate=validate if val is not None else None,
        )  # fmt: skip
    return history


# --------------------------------------------------------------------------------------------
# A supervised-pretrained encoder (cached), for frozen features and the transfer baseline
# --------------------------------------------------------------------------------------------


@dataclass
class Pretrained:
    """How an encoder was obtained: classes, steps, the training log (None if loaded)."""

    classes: int
    steps: int
    loaded: bool = False
    log: trainer.TrainLog | None = None
    path: Path | None = None

    @property
    def final_loss(self) -> float:
        """Mean training loss over the last 50 steps (NaN when loaded from the cache)."""
        if self.log is None or not self.log.loss:
            return float("nan")
        tail = self.log.loss[-50:]
        return sum(tail) / len(tail)


def pretraining_data(
    images: torch.Tensor, characters: Sequence[int], rotations: bool = True
) -> LabelledImages:
    """Every drawer of ``characters`` as a labelled set; with ``rotations`` class ``4i + r`` is
    character ``i`` turned ``r`` quarter turns (:func:`transforms.rotation_classes`)."""
    if len(characters) < 2:
        raise ValueError(f"Pretraining needs at least 2 characters, got {len(characters)}.")
    pool = images[torch.as_tensor(list(characters), dtype=torch.long)]
    if rotations:
        pool = transforms.rotation_classes(pool)
    x = pool.flatten(0, 1).unsqueeze(1)
    y = torch.arange(len(pool)).repeat_interleave(pool.shape[1])
    return LabelledImages(x, y, len(pool))


@dataclass(frozen=True)
class PretrainSettings:
    """Everything that decides a pretrained encoder besides its characters and image size.

    ``steps`` Adam steps of ``batch_size`` images on a one-cycle schedule peaking at ``lr``;
    ``rotations`` adds quarter turns as classes; ``augment`` is the :func:`transforms.affine`
    strength (0: none); ``seed`` fixes the initialisation and the batches.
    """

    steps: int
    channels: int = 32
    rotations: bool = True
    augment: float = 0.5
    lr: float = 3e-3
    batch_size: int = 128
    seed: int = 0


def pretrain_encoder(
    images: torch.Tensor,
    characters: Sequence[int],
    settings: PretrainSettings,
    *,
    device: torch.device | str | None = None,
    progress: bool | str = "pretraining encoder",
) -> tuple[ConvTrunk, trainer.TrainLog]:
    """A ConvTrunk trained by plain classification of ``characters`` (all their drawers).

    One call to :func:`trainer.train` (use :func:`trainer.steps_for_epochs` to think in
    epochs). Returns the frozen trunk (eval mode) and the training log.
    """
    s = settings
    data = pretraining_data(images, characters, s.rotations)
    with runtime.seeded_init(s.seed):
        trunk = ConvTrunk(channels=s.channels)
        model = Classifier(trunk, data.num_classes)
    log = trainer.train(
        model,
        data,
        steps=s.steps,
        lr=s.lr,
        batch_size=s.batch_size,
        schedule="one_cycle",
        augment=transforms.affine(s.augment) if s.augment > 0 else None,
        seed=s.seed,
        device=device,
        progress=progress,
    )
    return freeze(trunk), log


def freeze(module: nn.Module) -> nn.Module:
    """Eval mode and ``requires_grad=False`` on every parameter; returns the module."""
    module.eval()
    for p in module.parameters():
        p.requires_grad_(False)
    return module


def pretraining_key(
    images: torch.Tensor, characters: Sequence[int], settings: PretrainSettings
) -> dict[str, object]:
    """What the cache key (and the checkpoint's metadata) covers: a hash of the exact, ordered
    character list, the image size and every setting (the store adds its code version)."""
    text = ",".join(str(int(c)) for c in characters)
    return {
        "kind": "blackbox_encoder",
        "characters": hashlib.sha256(text.encode()).hexdigest()[:16],
        "n_characters": len(characters),
        "image_size": int(images.shape[-1]),
        **asdict(settings),
    }


def pretrained_encoder(
    images: torch.Tensor,
    characters: Sequence[int],
    settings: PretrainSettings,
    cache: bool = True,
    **train_options: Any,
) -> tuple[ConvTrunk, Pretrained]:
    """:func:`pretrain_encoder`, cached in ``store.cache_dir("blackbox")``.

    The key (:func:`pretraining_key`) covers the exact pretraining characters: a different split
    (say, a new ``SEED``) never reuses an encoder that saw today's meta-test characters. A
    damaged entry is retrained with a warning (:func:`store.cached_module`). ``train_options``
    (``device``, ``progress``) go to :func:`pretrain_encoder`; the trunk ends on ``device``.
    """
    device = runtime.resolve_device(train_options.get("device"))
    meta = pretraining_key(images, characters, settings)
    classes = len(characters) * (4 if settings.rotations else 1)
    info = Pretrained(classes=classes, steps=settings.steps)

    def fit(trunk: ConvTrunk) -> None:
        trained, info.log = pretrain_encoder(images, characters, settings, **train_options)
        trunk.load_state_dict(trained.state_dict())

    with runtime.seeded_init(settings.seed):
        trunk = ConvTrunk(channels=settings.channels)
    if not cache:
        fit(trunk)
        return freeze(trunk).to(device), info
    info.path = store.cache_dir("blackbox") / f"encoder_{store.cache_key(**meta)}.pt"
    trunk, info.loaded = store.cached_module(trunk, info.path, lambda: fit(trunk), meta=meta)
    return freeze(trunk).to(device), info
