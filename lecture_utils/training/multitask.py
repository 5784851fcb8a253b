"""Multi-task training of a shared trunk with one head per task, on a weighted joint loss.

:func:`train_multitask` minimises ``weight·L_A + (1-weight)·L_B`` through the one training
loop (:func:`trainer.train`): the loop draws task B's batch, and :func:`joint_loss` (its
``loss_hook``) draws task A's batch from the same generator and adds A's loss.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
import torch.nn.functional as F

from lecture_utils.core import runtime
from lecture_utils.data import transforms
from lecture_utils.data.labelled import LabelledImages
from lecture_utils.models import convnet
from lecture_utils.training import trainer


def joint_loss(
    model: convnet.MultiHeadClassifier,
    target: LabelledImages,
    weight: float,
    batch_size: int,
    device: torch.device | str,
    task: str = "A",
) -> Callable[[torch.Tensor, int, torch.Generator], torch.Tensor]:
    """A ``loss_hook``: ``weight·L_task + (1-weight)·loss``, where ``loss`` is the loop's own
    loss (task B's batch) and task ``task``'s batch is drawn from the loop's generator."""
    batches: list[Iterator[torch.Tensor]] = []

    def hook(loss_b: torch.Tensor, step: int, generator: torch.Generator) -> torch.Tensor:
        if not batches:
            batches.append(trainer.index_batches(len(target), batch_size, generator))
        idx = next(batches[0])
        logits = model(target.x[idx].to(device), task)
        loss_a = F.cross_entropy(logits, target.y[idx].to(device))
        return weight * loss_a + (1.0 - weight) * loss_b

    return hook


def train_multitask(
    model: convnet.MultiHeadClassifier,
    target: LabelledImages,
    source: LabelledImages,
    weight: float,
    *,
    steps: int,
    lr: float = 3e-3,
    batch_size: int = 48,
    target_batch_size: int = 16,
    max_shift: int = 0,
    schedule: str = "cosine",
    seed: int = 0,
    device: torch.device | str | None = None,
    progress: str | bool = True,
) -> trainer.TrainLog:
    """Minimise ``weight·L_A + (1-weight)·L_B`` with heads ``"A"`` (on ``target``) and ``"B"``
    (on ``source``, each batch shifted by up to ``max_shift`` pixels). Returns the log."""
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"weight={weight} is the share of task A's loss: pick it in [0, 1].")
    device = runtime.resolve_device(device)
    model.to(device)
    return trainer.train(
        model.as_classifier("B"),
        source,
        steps=steps,
        lr=lr,
        batch_size=batch_size,
        param_groups=[{"params": list(model.parameters()), "lr": lr}],
        schedule=schedule,
        augment=transforms.shifts(max_shift) if max_shift else None,
        loss_hook=joint_loss(model, target, weight, target_batch_size, device),
        seed=seed,
        device=device,
        progress=progress,
    )
