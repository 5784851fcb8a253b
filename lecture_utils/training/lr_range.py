"""A learning-rate range test: raise the rate step by step, record the loss, pick a rate.

:func:`lr_range_test` trains a *copy* of the model (the caller's model is untouched) for
``steps`` Adam steps while the rate grows geometrically from ``lr_min`` to ``lr_max``, and
records the mini-batch loss at every step. :func:`pick_lr` reads a rate off that curve. Its
default rule is the usual one (Smith, 2017; fastai's "minimum / 10"): smooth the losses, find
the rate at the smallest smoothed loss, divide by 10 (the minimum itself is already at the edge
of divergence). ``rule="steepest"`` picks the rate where the smoothed loss falls fastest.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from lecture_utils.core import checks, runtime
from lecture_utils.data.labelled import LabelledImages
from lecture_utils.training import trainer

RULES = ("min_over_10", "steepest")


def range_rates(lr_min: float, lr_max: float, steps: int) -> list[float]:
    """``steps`` rates growing geometrically from ``lr_min`` to ``lr_max`` (both included)."""
    checks.positive_finite("lr_min", lr_min, "pass e.g. 1e-5")
    checks.positive_finite("lr_max", lr_max, "pass e.g. 1.0")
    steps = checks.whole_number("steps", steps, 2, fix="a range test needs at least 2 rates")
    if not 0 < lr_min < lr_max or steps < 2:
        raise ValueError(
            f"need 0 < lr_min ({lr_min}) < lr_max ({lr_max}) and steps ({steps}) >= 2."
        )
    ratio = lr_max / lr_min
    return [lr_min * ratio ** (i / (steps - 1)) for i in range(steps)]


def lr_range_test(
    model: nn.Module, data: LabelledImages, *, lr_min: float = 1e-5, lr_max: float = 1.0,
    steps: int = 200, seed: int = 0, device: torch.device | str | None = None,
    batch_size: int = 20,
) -> tuple[list[float], list[float]]:  # fmt: skip
    """Train a copy of ``model`` (its trainable parameters, Adam) on ``data`` for ``steps``
    steps at the rates of :func:`range_rates`; ``(rate of each step, loss of each step)``."""
    rates = range_rates(lr_min, lr_max, steps)  # checks lr_min, lr_max and steps
    steps = len(rates)
    batch_size = checks.whole_number("batch_size", batch_size, 1, fix="pass e.g. 20")
    checks.image_tensor("data.x", data.x, 2)
    device = runtime.resolve_device(device)
    run = copy.deepcopy(model).to(device)
    params = [p for p in run.parameters() if p.requires_grad]
    optimizer = trainer.make_optimizer(params, lr=lr_min)
    generator = torch.Generator().manual_seed(seed)
    batches = trainer.index_batches(len(data), batch_size, generator)

    def set_rate(step: int, _model: nn.Module) -> None:
        for group in optimizer.param_groups:
            group["lr"] = rates[step]

    def loss_at(step: int) -> torch.Tensor:
        idx = next(batches)
        return F.cross_entropy(run(data.x[idx].to(device)), data.y[idx].to(device))

    log = trainer.optimise(
        run, loss_at, steps=steps, optimizer=optimizer, on_step=set_rate, progress=False
    )
    return log.lr, log.loss


def smoothed(losses: Sequence[float], beta: float = 0.9) -> list[float]:
    """Exponential moving average with bias correction; a non-finite loss ends the curve."""
    out, avg = [], 0.0
    for i, loss in enumerate(losses):
        if not math.isfinite(loss):
            break
        avg = beta * avg + (1 - beta) * loss
        out.append(avg / (1 - beta ** (i + 1)))
    return out


def pick_lr(lrs: Sequence[float], losses: Sequence[float], rule: str = "min_over_10") -> float:
    """A rate read off a range test: ``"min_over_10"`` (the rate of the smallest smoothed loss,
    divided by 10; never below the first rate) or ``"steepest"`` (the fastest fall)."""
    if rule not in RULES:
        raise ValueError(f"unknown rule {rule!r}; choose one of {RULES}.")
    if len(lrs) != len(losses) or len(lrs) < 3:
        raise ValueError("need one loss per rate and at least 3 steps.")
    if any(b <= a for a, b in zip(lrs, lrs[1:], strict=False)):
        raise ValueError("the rates must increase step by step: this is not a range test.")
    curve = smoothed(losses)
    if len(curve) < 3:
        raise ValueError("the loss was not finite for the first 3 steps: lower lr_min.")
    if rule == "steepest":
        logs = [math.log(r) for r in lrs[: len(curve)]]
        slopes = [
            (curve[i + 1] - curve[i]) / (logs[i + 1] - logs[i]) for i in range(len(curve) - 1)
        ]
        return float(lrs[min(range(len(slopes)), key=slopes.__getitem__)])
    best = min(range(len(curve)), key=curve.__getitem__)
    return float(max(lrs[0], lrs[best] / 10))
