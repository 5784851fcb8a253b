"""Meta-training of black-box models: the one episode loop of notebooks 04, 05 and 06.

A model is anything with ``model(support_x, support_y, query_x) -> logits [B, N*Q, N]``
(:mod:`lecture_utils.models.black_box`), or a regression model with its own ``loss``.
:func:`meta_train` is the episode loop: sample a meta-batch, ``phi = f_theta(D_tr)``, predict
``D_test``, the loss on the queries only, update theta, run through
:func:`~lecture_utils.training.trainer.optimise` (steps, progress bar, clipping). The frozen
encoder the classifiers can sit on comes from :mod:`lecture_utils.training.pretrain`.

Evaluation lives in :mod:`lecture_utils.training.evaluation`, feature banks in
:mod:`lecture_utils.models.feature_bank`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import nn

from lecture_utils.core import checks, runtime
from lecture_utils.episodes.sampler import Episode, EpisodeSampler
from lecture_utils.episodes.task_batch import TaskBatch
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


def query_loss(model: nn.Module, ep: Episode) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``(loss, logits)``: cross-entropy of ``model``'s query predictions (queries only)."""
    logits = model(ep.support_x, ep.support_y, ep.query_x)
    return F.cross_entropy(logits.flatten(0, 1), ep.query_y.flatten()), logits


def model_loss(model: nn.Module, ep: TaskBatch) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``(loss, None)``: the model's own query loss ``model.loss(...)`` (e.g. the regression
    models' Gaussian NLL or MSE); there are no logits to score."""
    return model.loss(ep.support_x, ep.support_y, ep.query_x, ep.query_y), None


class TaskSource(Protocol):
    """Anything that draws a fresh meta-batch of tasks: an image or a sine-wave sampler."""

    def sample(self) -> TaskBatch: ...


LossFn = Callable[[nn.Module, TaskBatch], tuple[torch.Tensor, torch.Tensor | None]]


def meta_train(
    model: nn.Module,
    train: TaskSource,
    val: EpisodeSampler | Sequence[Episode] | None = None,
    *,
    steps: int,
    lr: float = 1e-3,
    loss: LossFn = query_loss,
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
    """Meta-train ``model`` with Adam on the query loss for ``steps`` meta-batches.

    ``loss(model, meta_batch)`` is :func:`query_loss` (cross-entropy, classification) by default,
    or :func:`model_loss` (the model's own loss, e.g. regression).

        Episodes come from ``train`` (its own generator); ``seed`` fixes any other randomness in a
        forked RNG (the global one is untouched). The model moves to ``device`` (``None``:
        :func:`runtime.get_device`) and every episode is moved to it. Every ``eval_every`` steps
        and at the end the model is scored on the same ``val_tasks`` meta-validation tasks (drawn
        once from ``val``). ``clip_grad`` clips the gradient norm (the LSTM needs it).
    """
    steps = checks.whole_number("steps", steps, 1, fix="it counts meta-batches")
    eval_every = checks.whole_number("eval_every", eval_every, 1)
    if val is not None:
        val_tasks = checks.whole_number(
            "val_tasks", val_tasks, 2, fix="an interval needs at least 2 tasks"
        )
    device = runtime.resolve_device(device)
    model.to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = trainer.make_optimizer(params, lr=lr, weight_decay=weight_decay)
    if isinstance(val, EpisodeSampler):
        val = fixed_episodes(val, val_tasks)
    history = MetaHistory(name=name)

    def loss_at(step: int) -> torch.Tensor:
        ep = train.sample().to(device)
        value, logits = loss(model, ep)
        if logits is not None:
            accuracy = (logits.argmax(-1) == ep.query_y).float().mean().item()
            history.train_accuracy.append(accuracy)
        return value

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
