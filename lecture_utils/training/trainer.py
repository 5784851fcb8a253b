"""The one training core: a step loop every notebook trains through.

:func:`optimise` is the loop itself (zero grad → loss → backward → clip → step → schedule, with
a progress bar and periodic evaluation). Budgets are optimiser **steps**, never seconds, so a
rerun with the same seed gives the same numbers. Everything that draws random numbers takes a
``seed`` and uses its own :class:`torch.Generator`; the global RNG is never touched.

- :func:`train` — supervised cross-entropy on :class:`~lecture_utils.data.labelled.LabelledImages`
  (used by pretraining, fine-tuning and the multi-task joint loss via ``loss_hook``);
- :func:`optimise` — the shared loop, also used by meta-training and the regression notebook;
- :func:`make_optimizer`, :func:`make_schedule`, :func:`index_batches` (initialisation under a
  seed: :func:`runtime.seeded_init`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from lecture_utils.core import checks, runtime
from lecture_utils.data.labelled import LabelledImages

SCHEDULES = ("constant", "cosine", "one_cycle")
Augment = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


@dataclass
class TrainLog:
    """What a run recorded: loss and learning rate per step, evaluations at intervals."""

    loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    eval_steps: list[int] = field(default_factory=list)
    eval_values: list[float] = field(default_factory=list)

    @property
    def steps(self) -> int:
        return len(self.loss)


def index_batches(n: int, batch_size: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
    """Endless shuffled mini-batches of ``0..n-1``: full batches only, a new order each pass."""
    if n < 1:
        raise ValueError("index_batches needs at least one example to draw from.")
    batch_size = checks.whole_number("batch_size", batch_size, 1, fix="pass e.g. batch_size=32")
    size = min(batch_size, n)
    while True:
        order = torch.randperm(n, generator=generator)
        for start in range(0, n - size + 1, size):
            yield order[start : start + size]


def make_optimizer(
    params: Iterable[torch.nn.Parameter] | list[dict],
    lr: float,
    weight_decay: float = 0.0,
) -> torch.optim.Optimizer:
    """Adam over ``params`` (plain parameters, or param groups each with its own ``lr``)."""
    params = list(params)
    if not params:
        raise ValueError("Nothing to train: every parameter is frozen (requires_grad=False).")
    checks.positive_finite("lr", lr)
    if weight_decay != 0:
        checks.positive_finite("weight_decay", weight_decay, "pass 0 for none, or e.g. 1e-4")
    for i, group in enumerate(params):
        if isinstance(group, dict) and "lr" in group:
            checks.positive_finite(f"param_groups[{i}]['lr']", group["lr"])
    return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)


def lr_factor(step: int, steps: int, schedule: str, warmup: int = 0) -> float:
    """The multiplier of each group's base rate at ``step`` (0-based) of ``steps``.

    ``constant``: 1; ``cosine``: 1 → 0 on a half cosine; ``one_cycle``: a linear rise over the
    first 15% then a cosine fall to 0. ``warmup`` > 0 first rises linearly from ``1/warmup``.
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"Unknown schedule {schedule!r}; choose one of {SCHEDULES}.")
    if warmup and step < warmup:
        return (step + 1) / warmup
    t = (step - warmup) / max(1, steps - warmup)
    if schedule == "constant":
        return 1.0
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * t))
    rise = 0.15
    if t < rise:
        return 0.04 + 0.96 * t / rise
    return 0.5 * (1.0 + math.cos(math.pi * (t - rise) / (1 - rise)))


def make_schedule(
    optimizer: torch.optim.Optimizer, steps: int, schedule: str = "constant", warmup: int = 0
) -> torch.optim.lr_scheduler.LambdaLR:
    """A per-step scheduler applying :func:`lr_factor` to every param group."""
    if warmup < 0 or warmup >= max(steps, 1) and warmup:
        raise ValueError(f"warmup={warmup} must be 0 or fewer than the {steps} steps.")
    lr_factor(0, steps, schedule, warmup)  # validates the name
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, steps, schedule, warmup)
    )


def optimise(
    model: nn.Module,
    loss_at: Callable[[int], torch.Tensor],
    *,
    steps: int,
    optimizer: torch.optim.Optimizer,
    schedule: str = "constant",
    warmup: int = 0,
    clip_grad: float | None = None,
    progress: str | bool = True,
    eval_every: int | None = None,
    evaluate: Callable[[nn.Module], float] | None = None,
    on_step: Callable[[int, nn.Module], None] | None = None,
    single_thread: bool = True,
) -> TrainLog:
    """Run ``steps`` optimiser steps of ``loss_at(step)``; the loop every trainer shares.

    ``loss_at`` draws its own batch (with the caller's generator) and returns a scalar loss.
    ``on_step(step, model)`` runs before each step (e.g. to unfreeze a block). ``evaluate(model)``
    runs every ``eval_every`` steps and after the last one, in eval mode. Small models train on
    one torch thread (restored afterwards): on a busy 2-core machine that is 3-4x faster.
    """
    steps = checks.whole_number("steps", steps, 1, fix="it counts optimiser steps")
    warmup = checks.whole_number("warmup", warmup, 0, fix="pass 0 for no warm-up")
    if eval_every is not None:
        eval_every = checks.whole_number("eval_every", eval_every, 1, fix="or pass None")
    if clip_grad is not None:
        checks.positive_finite("clip_grad", clip_grad, "pass e.g. 1.0, or None for no clipping")
    scheduler = make_schedule(optimizer, steps, schedule, warmup)
    params = [p for group in optimizer.param_groups for p in group["params"]]
    log = TrainLog()
    desc = progress if isinstance(progress, str) else "training"
    with runtime.single_thread(single_thread):
        bar = runtime.progress(range(steps), desc=desc, disable=progress is False)
        for step in bar:
            if on_step is not None:
                on_step(step, model)
            model.train()
            loss = loss_at(step)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if clip_grad is not None:
                nn.utils.clip_grad_norm_(params, clip_grad)
            log.lr.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            scheduler.step()
            log.loss.append(loss.item())
            last = step + 1 == steps
            if evaluate is not None and (last or (eval_every and (step + 1) % eval_every == 0)):
                with torch.no_grad():
                    model.eval()
                    value = float(evaluate(model))
                log.eval_steps.append(step + 1)
                log.eval_values.append(value)
                bar.set_postfix(eval=f"{value:.3f}")
    model.eval()
    return log


def fit(
    model: nn.Module,
    loss_at: Callable[[int], torch.Tensor],
    *,
    steps: int,
    lr: float,
    schedule: str = "constant",
    warmup: int = 0,
    clip_grad: float | None = None,
    weight_decay: float = 0.0,
    progress: str | bool = True,
    on_step: Callable[[int, nn.Module], None] | None = None,
) -> TrainLog:
    """Adam over every trainable parameter of ``model`` at ``lr``, run by :func:`optimise` for
    ``steps`` steps of ``loss_at(step)`` (which draws its own batch)."""
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = make_optimizer(params, lr=lr, weight_decay=weight_decay)
    return optimise(
        model, loss_at, steps=steps, optimizer=optimizer, schedule=schedule, warmup=warmup,
        clip_grad=clip_grad, progress=progress, on_step=on_step,
    )  # fmt: skip


def train(
    model: nn.Module,
    data: LabelledImages,
    *,
    steps: int,
    lr: float = 1e-3,
    batch_size: int = 64,
    param_groups: list[dict] | None = None,
    weight_decay: float = 0.0,
    schedule: str = "constant",
    warmup: int = 0,
    augment: Augment | None = None,
    loss_hook: Callable[[torch.Tensor, int, torch.Generator], torch.Tensor] | None = None,
    clip_grad: float | None = None,
    seed: int = 0,
    device: torch.device | str | None = None,
    progress: str | bool = True,
    eval_every: int | None = None,
    evaluate: Callable[[nn.Module], float] | None = None,
    on_step: Callable[[int, nn.Module], None] | None = None,
) -> TrainLog:
    """Supervised cross-entropy training of ``model`` on ``data`` for ``steps`` Adam steps.

    ``param_groups`` (each with its own ``lr``) replace the default of every trainable
    parameter at ``lr``. ``augment(x, generator)`` transforms each batch. ``loss_hook(loss,
    step, generator)`` returns the loss to minimise (e.g. the multi-task joint loss adds a term).
    ``device=None`` means :func:`runtime.get_device`; the model is moved there.
    """
    if len(data) == 0:
        raise ValueError("train() got an empty dataset: there is nothing to learn from.")
    steps = checks.whole_number("steps", steps, 1, fix="it counts optimiser steps")
    batch_size = checks.whole_number("batch_size", batch_size, 1, fix="pass e.g. 32")
    if param_groups is None:
        checks.positive_finite("lr", lr)
    checks.image_tensor("data.x", data.x, 2)
    device = runtime.resolve_device(device)
    model.to(device)
    generator = torch.Generator().manual_seed(seed)
    batches = index_batches(len(data), batch_size, generator)
    groups = param_groups or [p for p in model.parameters() if p.requires_grad]
    optimizer = make_optimizer(groups, lr=lr, weight_decay=weight_decay)

    def loss_at(step: int) -> torch.Tensor:
        idx = next(batches)
        x = data.x[idx]
        if augment is not None:
            x = augment(x, generator)
        loss = F.cross_entropy(model(x.to(device)), data.y[idx].to(device))
        return loss if loss_hook is None else loss_hook(loss, step, generator)

    return optimise(
        model,
        loss_at,
        steps=steps,
        optimizer=optimizer,
        schedule=schedule,
        warmup=warmup,
        clip_grad=clip_grad,
        progress=progress,
        eval_every=eval_every,
        evaluate=evaluate,
        on_step=on_step,
    )


def steps_for_epochs(epochs: float, n: int, batch_size: int) -> int:
    """Sugar: the number of full-batch steps in ``epochs`` passes over ``n`` examples."""
    return max(1, round(epochs * (n // max(1, min(batch_size, n)))))
