"""Notebook 01's checks: the joint multi-task loss and a linear probe's frozen trunk.

| check | the student writes |
|---|---|
| :func:`check_joint_loss` | ``weight·CE_A + (1-weight)·CE_B`` |
| :func:`check_freeze_trunk` | a linear probe: trunk frozen, head trainable |
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from lecture_utils.exercises.common import LN2, call, guarded, name_of, ok, scalar

# Task A: 2 rows over 3 classes, logits (ln 2, 0, 0): CE is ln 2 for label 0, 2 ln 2 for label 1,
# so its mean CE is 1.5 ln 2 (sum 3 ln 2). Task B: 3 rows of zero logits over 4 classes: every
# CE is ln 4 = 2 ln 2, mean 2 ln 2 (sum 6 ln 2). Every value below is in units of ln 2.
_JOINT_WANT = {0.25: 1.875, 1.0: 1.5, 0.0: 2.0}
_JOINT_WRONG = {  # at weight = 0.25
    1.625: "the weights are swapped: `weight` multiplies task A's loss, 1 - weight task B's",
    3.5: "you added the two losses without the weights: weight·CE_A + (1 - weight)·CE_B",
    0.875: "both losses got `weight`; task B's gets 1 - weight",
    1.75: "you averaged the two losses, ignoring `weight`",
    5.25: "the per-task losses are sums over the examples; use the mean (F.cross_entropy's "
    "default reduction), so a task's weight does not depend on its batch size",
}


def _joint_inputs() -> tuple[torch.Tensor, ...]:
    logits_a = torch.tensor([[LN2, 0.0, 0.0], [LN2, 0.0, 0.0]], requires_grad=True)
    return logits_a, torch.tensor([0, 1]), torch.zeros(3, 4), torch.tensor([0, 3, 1])


@guarded
def check_joint_loss(student_fn: Callable) -> None:
    """``joint_loss(logits_a, y_a, logits_b, y_b, weight)`` on logits whose cross-entropies are
    known: task A's mean is 1.5 ln 2, task B's 2 ln 2."""
    name = name_of(student_fn)
    params = ("logits_a", "y_a", "logits_b", "y_b", "weight")
    for weight, want in _JOINT_WANT.items():
        inputs = _joint_inputs()
        loss = call(student_fn, *inputs, weight, params=params)
        got = scalar(loss, name, "the weighted sum of the two mean losses").item() / LN2
        if abs(got - want) < 1e-4:
            continue
        why = _JOINT_WRONG.get(round(got, 3), "") if weight == 0.25 else ""
        raise AssertionError(
            f"{name}: with weight={weight} the loss is {got:.4g}·ln 2, expected {want}·ln 2 "
            f"(task A's mean CE is 1.5·ln 2, task B's 2·ln 2): "
            + (why or "the loss is weight·CE_A + (1 - weight)·CE_B, each CE a mean")
            + "."
        )
    loss = call(student_fn, *_joint_inputs(), 0.25, params=params)
    if loss.grad_fn is None:
        raise AssertionError(
            f"{name}: the loss is detached from the logits (no grad_fn), so backward() cannot "
            "train the model: build it from torch operations, without .detach() or torch.tensor."
        )
    ok(name, "weight·CE_A + (1-weight)·CE_B")


def _probe(requires_grad: bool) -> nn.Module:
    model = nn.Module()
    model.trunk = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 4))
    model.head = nn.Linear(4, 2)
    return model.requires_grad_(requires_grad)


@guarded
def check_freeze_trunk(student_fn: Callable) -> None:
    """A linear probe: after the call the trunk is frozen and the head trains, whether the model
    was trainable or fully frozen before."""
    name = name_of(student_fn)
    for start in (True, False):  # a fresh model, then one whose every parameter was frozen
        model = _probe(start)
        call(student_fn, model, params=("model",))
        trunk = {n for n, p in model.trunk.named_parameters() if p.requires_grad}
        head = {n for n, p in model.head.named_parameters() if not p.requires_grad}
        n_trunk = len(list(model.trunk.parameters()))
        if trunk and not head and len(trunk) == n_trunk and start:
            if not model.training:
                raise AssertionError(
                    f"{name}: the trunk still trains: model.eval() (or torch.no_grad()) does not "
                    "freeze parameters; set requires_grad to False on the trunk's parameters."
                )
            raise AssertionError(f"{name}: the trunk still trains: freeze model.trunk.")
        if trunk and head and len(trunk) == n_trunk:
            raise AssertionError(
                f"{name}: trunk and head are the wrong way round: the trunk trains and the head "
                "is frozen. A linear probe freezes model.trunk and trains model.head."
            )
        if trunk:
            raise AssertionError(
                f"{name}: trunk parameters {sorted(trunk)} still require grad: freeze every "
                "parameter of the trunk (model.trunk.requires_grad_ covers all its layers)."
            )
        if head and start:
            raise AssertionError(
                f"{name}: the head is frozen as well ({sorted(head)}): then nothing trains. "
                "Freeze model.trunk only, and leave model.head trainable."
            )
        if head:
            raise AssertionError(
                f"{name}: on a model whose parameters were all frozen before, the head stays "
                f"frozen ({sorted(head)}): set the head's requires_grad to True explicitly."
            )
    ok(name, "trunk frozen, head trainable")
