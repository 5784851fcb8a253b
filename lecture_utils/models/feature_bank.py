"""Frozen-encoder features of every character, so that black-box sweeps train in seconds.

:class:`FeatureBank` encodes every image once (and, optionally, its quarter turns) and hands
out episode samplers over the feature vectors. :class:`OnImages` and
:func:`unfreeze_onto_images` take a feature-trained model back to images.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from lecture_utils.core import runtime
from lecture_utils.data.labelled import LabelledImages, encode
from lecture_utils.data.transforms import rotation_classes
from lecture_utils.episodes.sampler import EpisodeSampler


def standardise(features: torch.Tensor) -> torch.Tensor:
    """Per-vector standardisation ``[..., F]`` (no statistics shared across images): every
    feature vector gets mean 0 and norm ``sqrt(F)``, so models train on well-scaled inputs."""
    features = features - features.mean(dim=-1, keepdim=True)
    return F.normalize(features, dim=-1) * math.sqrt(features.shape[-1])


class Standardise(nn.Module):
    """:func:`standardise` as a layer (the bank's preprocessing after an encoder)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return standardise(x)


def encode_images(
    encoder: nn.Module,
    images: torch.Tensor,
    batch_size: int = 1024,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Run a frozen ``encoder`` (eval mode, one thread) over ``images [C, D, S, S]`` ->
    ``[C, D, F]`` on the CPU. ``device=None`` means :func:`runtime.get_device`."""
    if images.dim() != 4:
        raise ValueError(f"images must be [classes, drawers, S, S], got {tuple(images.shape)}.")
    was_training = encoder.training
    x = images.flatten(0, 1).unsqueeze(1)
    flat = LabelledImages(x, torch.zeros(len(x), dtype=torch.long), 1)  # labels unused
    with runtime.single_thread():
        feats = encode(encoder, flat, batch_size=batch_size, device=device).x
    encoder.train(was_training)
    return feats.reshape(*images.shape[:2], -1)


class FeatureBank:
    """Frozen-encoder features of every character (and, optionally, its rotations).

    ``features`` is ``[rows, drawers, F]`` where row ``4c + r`` is character ``c`` turned by
    ``r`` quarter turns (``rotations=True``) or row ``c`` is character ``c``. :meth:`sampler`
    returns an :class:`EpisodeSampler` over these rows, whose episodes hold feature vectors:
    ``support_x [B, N*K, F]``, ``query_x [B, N*Q, F]``. Build models with
    ``make_encoder("features", feature_dim=bank.feature_dim)``.
    """

    def __init__(
        self,
        encoder: nn.Module,
        images: torch.Tensor,
        rotations: bool = False,
        device: torch.device | str | None = None,
    ) -> None:
        self.rotations = rotations
        if rotations:
            images = rotation_classes(images)
        self.features = standardise(encode_images(encoder, images, device=device))

    @property
    def feature_dim(self) -> int:
        """Size of the feature vector a model receives."""
        return self.features.shape[-1]

    def rows(self, characters: Sequence[int], rotations: bool = False) -> list[int]:
        """Rows of the bank for these characters (all four turns of each with ``rotations``)."""
        if rotations and not self.rotations:
            raise ValueError("This bank has no rotated features; build it with rotations=True.")
        if not self.rotations:
            return list(characters)
        turns = range(4) if rotations else range(1)
        return [4 * c + r for c in characters for r in turns]

    def sampler(
        self, characters: Sequence[int], rotations: bool = False, **kwargs: object
    ) -> EpisodeSampler:
        """An episode sampler over the features of ``characters`` (kwargs: n_way, k_shot...)."""
        return EpisodeSampler(self.features, self.rows(characters, rotations), **kwargs)


class OnImages(nn.Module):
    """Wrap a model trained on a :class:`FeatureBank` so it takes images ``[B, M, 1, S, S]``:
    the frozen encoder and the bank's preprocessing run first."""

    def __init__(self, encoder: nn.Module, model: nn.Module) -> None:
        super().__init__()
        self.encoder, self.model = encoder, model

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        b, m = x.shape[:2]
        return standardise(self.encoder(x.reshape(b * m, *x.shape[2:]))).view(b, m, -1)

    def forward(self, support_x, support_y, query_x):
        self.encoder.eval()
        return self.model(self._features(support_x), support_y, self._features(query_x))


def unfreeze_onto_images(model: nn.Module, encoder: nn.Module) -> nn.Module:
    """A copy of a feature-trained black-box ``model`` that reads images end to end: its
    encoder becomes a trainable copy of the (pretrained) ``encoder`` followed by the bank's
    standardisation. Meta-training it fine-tunes encoder and model together."""
    tuned = copy.deepcopy(model)
    trunk = copy.deepcopy(encoder)
    for p in trunk.parameters():
        p.requires_grad_(True)
    tuned.encoder = nn.Sequential(trunk, Standardise())
    return tuned
