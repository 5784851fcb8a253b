"""Episode evaluation: accuracy over meta-test tasks with a Student-t 95% interval.

A model is anything with ``model(support_x, support_y, query_x) -> logits [B, N*Q, N]``
(:mod:`lecture_utils.models.black_box`). Each task is one unit: its accuracy is the fraction of its
queries classified correctly, and the interval is :func:`lecture_utils.core.stats.t_interval` over
the per-task accuracies.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from lecture_utils.core import checks, runtime, stats
from lecture_utils.episodes.sampler import Episode, EpisodeSampler


@dataclass
class TaskAccuracy:
    """Mean accuracy over tasks and its t 95% interval (``interval``), with the raw scores."""

    interval: stats.Interval
    per_task: torch.Tensor

    @classmethod
    def from_scores(cls, per_task: torch.Tensor | Sequence[float]) -> TaskAccuracy:
        """Summarise per-task accuracies (at least 2) with :func:`stats.t_interval`."""
        scores = torch.as_tensor(per_task, dtype=torch.float64).flatten()
        if scores.numel() < 2:
            raise ValueError(f"An interval needs at least 2 tasks, got {scores.numel()}.")
        return cls(stats.t_interval(scores), scores.float())

    @property
    def mean(self) -> float:
        return self.interval.mean

    @property
    def ci95(self) -> float:
        """Half-width of the t 95% interval over tasks."""
        return self.interval.half_width

    @property
    def n_tasks(self) -> int:
        return len(self.per_task)

    def __str__(self) -> str:
        return f"{self.interval.format(100, 1, '%')} ({self.n_tasks} tasks)"


def episode_device(model: nn.Module) -> torch.device:
    """Where ``model`` lives (its first parameter or buffer; the CPU for a stateless model)."""
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return torch.device("cpu")


def task_scores(model: nn.Module, ep: Episode) -> torch.Tensor:
    """``[B]`` query accuracy of each task of the meta-batch ``ep`` (moved to the model)."""
    ep = ep.to(episode_device(model))
    logits = model(ep.support_x, ep.support_y, ep.query_x)
    return (logits.argmax(-1) == ep.query_y).float().mean(dim=1).cpu()


@torch.no_grad()
def evaluate(
    model: nn.Module,
    sampler: EpisodeSampler | Sequence[Episode],
    n_tasks: int = 1000,
    progress: bool | str = False,
) -> TaskAccuracy:
    """Accuracy on ``n_tasks`` tasks from ``sampler`` (or a fixed list of episodes), t 95% CI.

    Runs in eval mode on one torch thread, on the model's device; the mode is restored.
    """
    n_tasks = checks.whole_number("n_tasks", n_tasks, 2, fix="an interval needs at least 2 tasks")
    was_training = model.training
    model.eval()
    batches = iter(sampler)
    scores: list[torch.Tensor] = []
    desc = progress if isinstance(progress, str) else "meta-test"
    done = 0
    with runtime.single_thread():
        bar = runtime.progress(total=n_tasks, desc=desc, disable=progress is False)
        while done < n_tasks:
            ep = next(batches, None)
            if ep is None:
                break
            scores.append(task_scores(model, ep))
            done += len(scores[-1])
            bar.update(len(scores[-1]))
        bar.close()
    model.train(was_training)
    return TaskAccuracy.from_scores(torch.cat(scores)[:n_tasks])


def fixed_episodes(sampler: EpisodeSampler, n_tasks: int) -> list[Episode]:
    """Draw enough meta-batches for ``n_tasks`` tasks once, to reuse as a fixed evaluation set."""
    n_tasks = checks.whole_number("n_tasks", n_tasks, 1)
    count = math.ceil(n_tasks / sampler.batch_size)
    return [sampler.sample() for _ in range(count)]


@torch.no_grad()
def prediction_changes(
    model: nn.Module, episodes: Sequence[Episode], seed: int = 0
) -> tuple[torch.Tensor, float]:
    """Shuffle the order of every support set (with ``seed``); return (per task, the fraction
    of its query predictions that change; the largest absolute logit change)."""
    gen = torch.Generator().manual_seed(seed)
    model.eval()
    device = episode_device(model)
    rates, biggest = [], 0.0
    for ep in episodes:
        perm = torch.rand(ep.support_y.shape, generator=gen).argsort(dim=1)
        item_axes = (1,) * (ep.support_x.dim() - 2)
        sx = ep.support_x.gather(1, perm.view(*perm.shape, *item_axes).expand_as(ep.support_x))
        sy = ep.support_y.gather(1, perm)
        sx, sy, ep = sx.to(device), sy.to(device), ep.to(device)
        before = model(ep.support_x, ep.support_y, ep.query_x)
        after = model(sx, sy, ep.query_x)
        changed = before.argmax(-1) != after.argmax(-1)
        rates.append(changed.flatten(1).float().mean(1).cpu())
        biggest = max(biggest, (before - after).abs().max().item())
    return torch.cat(rates), biggest


def prediction_change_rate(
    model: nn.Module, episodes: Sequence[Episode], seed: int = 0
) -> tuple[float, float]:
    """Shuffle the order of every support set (with ``seed``); return (fraction of query
    predictions that change, largest absolute logit change)."""
    rates, biggest = prediction_changes(model, episodes, seed)
    return rates.mean().item(), biggest
