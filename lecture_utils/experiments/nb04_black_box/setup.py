"""Notebook 04's shared set-up: the data, the frozen encoder and its feature bank, and the fixed
evaluation tasks (:class:`Setup`), plus the wording of its intervals.

Kept out of :mod:`lecture_utils.experiments` so that the experiment modules of notebook 04
(``black_box``, ``black_box_sweeps``) both build on it without importing each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from lecture_utils.data.omniglot import OmniglotData
from lecture_utils.episodes.sampler import ClassSplit, Episode, EpisodeSampler
from lecture_utils.models.feature_bank import FeatureBank
from lecture_utils.training.evaluation import TaskAccuracy, evaluate, fixed_episodes
from lecture_utils.training.pretrain import Pretrained, PretrainSettings, pretrained_encoder


@dataclass
class Setup:
    """The data, the frozen encoder and its feature bank, and the fixed evaluation tasks."""

    data: OmniglotData
    split: ClassSplit
    encoder: nn.Module
    pretrained: Pretrained
    bank: FeatureBank
    seed: int
    n_test: int
    n_val: int
    n_way: int = 5
    k_shot: int = 1
    test_tasks: list[Episode] = field(default_factory=list)
    pixel_test: list[Episode] = field(default_factory=list)
    val_tasks: list[Episode] = field(default_factory=list)

    def sampler(self, chars: Sequence[int], **kwargs: object) -> EpisodeSampler:
        """Feature episodes of ``chars`` (defaults: N-way K-shot, 5 queries, 32 tasks)."""
        opts = dict(n_way=self.n_way, k_shot=self.k_shot, n_query=5, batch_size=32)
        opts["seed"] = self.seed
        return self.bank.sampler(chars, **{**opts, **kwargs})

    def pixel_sampler(self, chars: Sequence[int], **kwargs: object) -> EpisodeSampler:
        """The same episodes as images ``[B, M, 1, S, S]`` (same seed → same tasks)."""
        opts = dict(n_way=self.n_way, k_shot=self.k_shot, n_query=5, batch_size=16)
        opts["seed"] = self.seed
        return EpisodeSampler(self.data.images, chars, **{**opts, **kwargs})

    def tasks(self, split: str, n_tasks: int, seed: int, **kwargs: object) -> list[Episode]:
        """A fixed list of ``n_tasks`` feature tasks of a split (100 per meta-batch)."""
        return fixed_episodes(
            self.sampler(self.split[split], batch_size=100, seed=seed, **kwargs), n_tasks
        )

    def evaluate(self, model: nn.Module, tasks: Sequence[Episode] | None = None) -> TaskAccuracy:
        """Accuracy on the fixed meta-test tasks (or ``tasks``), t 95% interval over tasks."""
        return evaluate(model, self.test_tasks if tasks is None else tasks, self.n_test)


def prepare(
    data: OmniglotData,
    split: ClassSplit,
    *,
    pretrain_chars: Sequence[int],
    pretrain_steps: int,
    seed: int,
    n_test: int,
    n_val: int,
) -> Setup:
    """Pretrain (or load) the encoder on ``pretrain_chars``, encode every image, draw tasks."""
    settings = PretrainSettings(steps=pretrain_steps, strength=1.0, seed=seed)
    encoder, info = pretrained_encoder(data.images, pretrain_chars, settings)
    bank = FeatureBank(encoder, data.images)
    setup = Setup(data, split, encoder, info, bank, seed, n_test, n_val)
    setup.test_tasks = setup.tasks("test", 1000, seed=123 + seed)
    setup.val_tasks = setup.tasks("val", n_val, seed=7 + seed)
    pixels = setup.pixel_sampler(split["test"], batch_size=100, seed=123 + seed)
    setup.pixel_test = fixed_episodes(pixels, 1000)
    same = zip(setup.test_tasks, setup.pixel_test, strict=True)
    assert all(torch.equal(a.classes, b.classes) for a, b in same), "image/feature tasks differ"
    return setup


def describe_pretraining(setup: Setup) -> str:
    """One line on where the encoder came from (trained now, or loaded from the cache)."""
    info = setup.pretrained
    if info.loaded:
        name = info.path.name if info.path else "the cache"
        return f"encoder loaded from the cache ({name}; its key covers the exact characters)"
    return (
        f"encoder pretrained on {info.classes} classes for {info.steps} steps, final training "
        f"loss {info.final_loss:.2f} (augmented batches)"
    )
