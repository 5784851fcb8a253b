"""Labelled image sets for supervised training: drawer splits, few-shot subsets, accuracy.

A character's 20 drawings come from 20 different people ("drawers"); every split here keeps
each drawer's image on one side only, so a test image is never a training image.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from lecture_utils.core import runtime


@dataclass
class LabelledImages:
    """Images ``x`` ``[n, 1, S, S]`` (or features ``[n, F]``) with labels ``y`` in ``0..C-1``."""

    x: torch.Tensor
    y: torch.Tensor
    num_classes: int

    def __post_init__(self) -> None:
        if len(self.x) != len(self.y):
            raise ValueError(f"x has {len(self.x)} items but y has {len(self.y)} labels.")

    def __len__(self) -> int:
        return len(self.y)


def drawer_split(
    images: torch.Tensor,
    characters: Sequence[int],
    train_per_class: int,
    test_per_class: int | None = None,
    seed: int = 0,
) -> tuple[LabelledImages, LabelledImages]:
    """Split the drawers of each character into train and test sets (never shared).

    ``images`` is ``OmniglotData.images`` ``[C, 20, S, S]``; ``characters`` picks the classes
    (label ``i`` is ``characters[i]``). Each class gets ``train_per_class`` training drawers and
    ``test_per_class`` (default: all the rest) test drawers, chosen at random with ``seed``.
    """
    drawers = images.shape[1]
    test_per_class = drawers - train_per_class if test_per_class is None else test_per_class
    if train_per_class < 1 or test_per_class < 1 or train_per_class + test_per_class > drawers:
        raise ValueError(
            f"train_per_class={train_per_class} + test_per_class={test_per_class} must be at "
            f"least 1 each and at most the {drawers} drawers per character."
        )
    chars = torch.as_tensor(list(characters), dtype=torch.long)
    gen = torch.Generator().manual_seed(seed)
    order = torch.rand(len(chars), drawers, generator=gen).argsort(dim=1)
    labels = torch.arange(len(chars))

    def take(cols: torch.Tensor) -> LabelledImages:
        x = images[chars[:, None], cols].flatten(0, 1).unsqueeze(1)
        y = labels.repeat_interleave(cols.shape[1])
        return LabelledImages(x, y, len(chars))

    train = take(order[:, :train_per_class])
    test = take(order[:, train_per_class : train_per_class + test_per_class])
    return train, test


def few_shot(pool: LabelledImages, shots: int, seed: int = 0) -> LabelledImages:
    """``shots`` images per class drawn at random (with ``seed``) from a class-sorted pool."""
    return few_shot_split(pool, shots, seed)[0]


def few_shot_split(
    pool: LabelledImages, shots: int, seed: int = 0
) -> tuple[LabelledImages, LabelledImages | None]:
    """``(drawn, rest)``: :func:`few_shot`'s draw and the pool images it left out (``None``
    when it drew them all), e.g. validation data for a choice that must not see the test set."""
    per_class = len(pool) // pool.num_classes
    if not 1 <= shots <= per_class:
        raise ValueError(
            f"shots={shots} must be from 1 to the {per_class} pool drawers per class; "
            "enlarge the pool for more."
        )
    gen = torch.Generator().manual_seed(seed)
    order = torch.rand(pool.num_classes, per_class, generator=gen).argsort(dim=1)
    base = torch.arange(pool.num_classes)[:, None] * per_class
    idx = (base + order[:, :shots]).flatten()
    drawn = LabelledImages(pool.x[idx], pool.y[idx], pool.num_classes)
    if shots == per_class:
        return drawn, None
    rest = (base + order[:, shots:]).flatten()
    return drawn, LabelledImages(pool.x[rest], pool.y[rest], pool.num_classes)


@torch.no_grad()
def encode(
    encoder: nn.Module,
    data: LabelledImages,
    batch_size: int = 512,
    device: torch.device | str | None = None,
) -> LabelledImages:
    """The encoder's features (evaluation mode) of every image in ``data``, on the CPU."""
    device = runtime.resolve_device(device)
    encoder.to(device).eval()
    feats = [
        encoder(data.x[i : i + batch_size].to(device)).cpu()
        for i in range(0, len(data), batch_size)
    ]
    return LabelledImages(torch.cat(feats), data.y, data.num_classes)


@torch.no_grad()
def accuracy(
    model: nn.Module, data: LabelledImages, batch_size: int = 512, **forward_kwargs: object
) -> float:
    """Fraction of ``data`` that ``model`` classifies correctly (evaluation mode, restored)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    correct = 0
    for start in range(0, len(data), batch_size):
        x = data.x[start : start + batch_size].to(device)
        y = data.y[start : start + batch_size].to(device)
        correct += (model(x, **forward_kwargs).argmax(dim=-1) == y).sum().item()
    model.train(was_training)
    return correct / max(len(data), 1)
