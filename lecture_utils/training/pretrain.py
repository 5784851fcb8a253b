"""Supervised pretraining, cached: the one pretrain-and-cache function of the collection.

:func:`pretrained_classifier` trains ``Classifier(ConvTrunk)`` by plain classification (one call
to :func:`lecture_utils.training.trainer.train`) and caches it in the one store under one key
recipe (:func:`cache_meta`): the exact, ordered character list, a checksum of the images and
labels, the image size, the class count, every :class:`PretrainSettings` field and the code
version. Notebooks 01 and 02 fine-tune the classifier; notebook 04 freezes its trunk
(:func:`pretrained_encoder`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from lecture_utils.core import runtime, store
from lecture_utils.data import transforms
from lecture_utils.data.labelled import LabelledImages
from lecture_utils.models.convnet import Classifier, ConvTrunk
from lecture_utils.training import trainer

AUGMENTS = ("none", "shift", "affine")


@dataclass(frozen=True)
class PretrainSettings:
    """Everything that decides a pretrained network besides its data.

    ``steps`` Adam steps of ``batch_size`` images on ``schedule`` (see
    :func:`trainer.lr_factor`) peaking at ``lr``; ``augment`` is ``"affine"`` (strength
    ``strength``, :func:`transforms.affine`), ``"shift"`` (random shifts of up to ``strength``
    pixels, :func:`transforms.shifts`) or ``"none"``; ``seed`` fixes the initialisation and the
    batches.
    """

    steps: int
    channels: int = 32
    lr: float = 3e-3
    batch_size: int = 128
    schedule: str = "one_cycle"
    augment: str = "affine"
    strength: float = 0.5
    seed: int = 0

    def __post_init__(self) -> None:
        if self.augment not in AUGMENTS:
            raise ValueError(f"augment must be one of {AUGMENTS}, got {self.augment!r}.")

    def augmentation(self) -> trainer.Augment | None:
        """The batch transform these settings describe (None when there is none)."""
        if self.augment == "none" or self.strength <= 0:
            return None
        if self.augment == "shift":
            return transforms.shifts(int(self.strength))
        return transforms.affine(self.strength)


@dataclass
class Pretrained:
    """How a network was obtained: classes, steps, the training log (None if loaded)."""

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


def new_classifier(num_classes: int, channels: int = 32, seed: int = 0) -> Classifier:
    """A freshly initialised trunk and head; the initialisation is fixed by ``seed``."""
    with runtime.seeded_init(seed):
        return Classifier(ConvTrunk(channels), num_classes)


def pretrain(
    model: nn.Module,
    data: LabelledImages,
    settings: PretrainSettings,
    *,
    device: torch.device | str | None = None,
    progress: str | bool = True,
) -> trainer.TrainLog:
    """Train ``model`` on ``data`` by cross-entropy as ``settings`` say (no cache)."""
    s = settings
    return trainer.train(
        model, data, steps=s.steps, lr=s.lr, batch_size=s.batch_size, schedule=s.schedule,
        augment=s.augmentation(), seed=s.seed, device=device, progress=progress,
    )  # fmt: skip


def cache_meta(
    data: LabelledImages, characters: Sequence[int], settings: PretrainSettings
) -> dict[str, object]:
    """The one cache-key recipe (also the checkpoint's metadata): the exact, ordered character
    list (hashed), the images and labels (checksum), image size, classes, every setting and the
    code version. A different split, image shift or setting never reuses a checkpoint."""
    text = ",".join(str(int(c)) for c in characters)
    return {
        "characters": hashlib.sha256(text.encode()).hexdigest()[:16],
        "n_characters": len(characters),
        "data": store.tensor_checksum({"x": data.x, "y": data.y}),
        "image_size": int(data.x.shape[-1]),
        "classes": data.num_classes,
        **asdict(settings),
        "code_version": store.CODE_VERSION,
    }


def pretrained_classifier(
    data: LabelledImages,
    characters: Sequence[int],
    settings: PretrainSettings,
    *,
    cache: str | None = "pretrained",
    cache_root: str | Path | None = None,
    device: torch.device | str | None = None,
    progress: str | bool = True,
) -> tuple[Classifier, Pretrained]:
    """A classifier pretrained on ``data`` (whose classes are ``characters``), and how it was
    obtained. Cached in ``store.cache_dir(cache)`` under :func:`cache_meta`; a damaged entry is
    retrained with a warning (:func:`store.cached_module`). ``cache=None`` always trains."""
    model = new_classifier(data.num_classes, settings.channels, settings.seed)
    info = Pretrained(classes=data.num_classes, steps=settings.steps)

    def fit() -> None:
        info.log = pretrain(model, data, settings, device=device, progress=progress)

    if cache is None:
        fit()
    else:
        meta = cache_meta(data, characters, settings)
        folder = store.cache_dir(cache, root=cache_root)
        info.path = folder / f"classifier-{store.cache_key(**meta)}.pt"
        model, info.loaded = store.cached_module(model, info.path, fit, meta=meta)
    return model.to(runtime.resolve_device(device)), info


# --------------------------------------------------------------------------------------------
# A frozen encoder (notebook 04): the trunk of a classifier pretrained on rotated characters
# --------------------------------------------------------------------------------------------


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


def freeze(module: nn.Module) -> nn.Module:
    """Eval mode and ``requires_grad=False`` on every parameter; returns the module."""
    module.eval()
    for p in module.parameters():
        p.requires_grad_(False)
    return module


def pretrained_encoder(
    images: torch.Tensor,
    characters: Sequence[int],
    settings: PretrainSettings,
    *,
    rotations: bool = True,
    cache: str | None = "black_box",
    cache_root: str | Path | None = None,
    device: torch.device | str | None = None,
    progress: str | bool = "pretraining encoder",
) -> tuple[ConvTrunk, Pretrained]:
    """The frozen trunk (eval mode, no gradients) of :func:`pretrained_classifier` trained on
    every drawer of ``characters`` (quarter turns as extra classes with ``rotations``)."""
    data = pretraining_data(images, characters, rotations)
    model, info = pretrained_classifier(
        data, characters, settings, cache=cache, cache_root=cache_root, device=device,
        progress=progress,
    )  # fmt: skip
    return freeze(model.trunk), info
