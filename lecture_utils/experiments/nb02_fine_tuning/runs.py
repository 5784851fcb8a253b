"""One fine-tuning run on a target task: a pretrained ``state_dict`` and a :class:`Recipe`.

:class:`Target` holds a fine-tuning problem (few-shot ``train``, ``test`` and untouched ``fresh``
drawers); :class:`Pretrainings` holds one pretrained state per pretraining seed (fine-tuning seed
``s`` starts from one of them, the same in every arm); :func:`prepare_model` loads a pretrained
state and fits its head to the target
(re-initialised, or the matching pretraining rows kept); :func:`run_recipe` fine-tunes that
model with :func:`fine_tuning.fine_tune` and scores it. Notebook 02's experiments are built on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from lecture_utils.core import runtime
from lecture_utils.data.labelled import LabelledImages
from lecture_utils.models import convnet
from lecture_utils.training import fine_tuning
from lecture_utils.training.fine_tuning import FineTuneResult, Recipe
from lecture_utils.training.pretrain import new_classifier

State = dict[str, torch.Tensor]


@dataclass(frozen=True)
class Pretrainings:
    """One pretrained ``state_dict`` per pretraining seed. Fine-tuning seed ``s`` starts from
    ``states[s % len(states)]``: every arm run with seed ``s`` shares that pretraining, so arms
    stay paired, and intervals over the fine-tuning seeds also vary the pretraining."""

    states: tuple[State, ...]
    seeds: tuple[int, ...]

    def __post_init__(self) -> None:
        if not self.states or len(self.states) != len(self.seeds):
            raise ValueError(
                f"Pretrainings needs one state per seed, got {len(self.states)} states for "
                f"seeds {list(self.seeds)}."
            )

    def for_seed(self, seed: int) -> State:
        """The pretrained state fine-tuning seed ``seed`` starts from."""
        return self.states[seed % len(self.states)]

    def seed_for(self, seed: int) -> int:
        """The pretraining seed behind fine-tuning seed ``seed``."""
        return self.seeds[seed % len(self.seeds)]


Start = State | Pretrainings  # what a fine-tuning run starts from


def state_for(state: Start, seed: int) -> State:
    """``state`` itself, or the pretraining fine-tuning seed ``seed`` starts from."""
    return state.for_seed(seed) if isinstance(state, Pretrainings) else state


@dataclass
class Target:
    """A fine-tuning problem: few-shot ``train``, ``test`` and ``fresh`` (untouched) drawers.

    ``head_rows[i]`` is the pretraining class of target label ``i`` when the label space is
    the pretraining one (so the old head can be kept); ``None`` for a new label space, where
    "keeping" the head can only reuse rows ``0..n-1``, i.e. ``n`` unrelated pretraining classes
    (there is no right mapping: that arbitrariness is what "keep" means for new labels).
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


def prepare_model(state: Start, target: Target, reinit_head: bool, seed: int) -> convnet.Classifier:
    """Load ``state`` (for :class:`Pretrainings`, the one of ``seed``) and fit the head to
    ``target``: re-initialised (seeded), or kept (the pretraining rows ``target.head_rows``,
    else rows ``0..n-1`` for a new label space)."""
    state = state_for(state, seed)
    pre_classes, channels = state["head.weight"].shape
    n = target.train.num_classes
    model = new_classifier(pre_classes, channels, seed)
    model.load_state_dict(state)
    if reinit_head:
        with runtime.seeded_init(seed):
            model.reset_head(n)
        return model
    rows = target.head_rows if target.head_rows is not None else list(range(n))
    if len(rows) != n or max(rows) >= pre_classes:
        raise ValueError(f"cannot keep a {pre_classes}-class head for {n} target classes.")
    head = nn.Linear(channels, n)
    with torch.no_grad():
        head.weight.copy_(model.head.weight[rows])
        head.bias.copy_(model.head.bias[rows])
    model.head = head
    return model


def run_recipe(
    state: Start, target: Target, recipe: Recipe, seed: int = 0,
    device: torch.device | str | None = None, curve_every: int | None = None,
    train: LabelledImages | None = None, evaluate: Sequence[LabelledImages] | None = None,
    patience: int | None = None,
) -> FineTuneResult:  # fmt: skip
    """Fine-tune a copy of ``state`` on ``target.train`` (or ``train``); scores on
    ``target.test`` and ``target.fresh`` (or on ``evaluate``, e.g. a validation fold).
    ``patience``: early stopping on the first evaluation set (:func:`fine_tuning.fine_tune`)."""
    model = prepare_model(state, target, recipe.reinit_head, seed)
    if evaluate is None:
        evaluate = [d for d in (target.test, target.fresh) if d is not None]
    return fine_tuning.fine_tune(
        model, target.train if train is None else train, recipe, evaluate=evaluate,
        curve_every=curve_every, patience=patience, seed=seed, device=device,
    )  # fmt: skip
