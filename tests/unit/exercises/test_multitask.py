"""Notebook 01's checks: a right answer passes, the stub is "not implemented yet", and each
plausible mistake gets its own message."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from exercise_tables import mistake_is_named, right_passes_and_stub_fails, three_mistakes_each

from lecture_utils.exercises import multitask


def joint_loss(logits_a, y_a, logits_b, y_b, weight):
    return weight * F.cross_entropy(logits_a, y_a) + (1 - weight) * F.cross_entropy(logits_b, y_b)


def joint_loss_swapped(logits_a, y_a, logits_b, y_b, weight):
    return joint_loss(logits_a, y_a, logits_b, y_b, 1 - weight)


def joint_loss_unweighted(logits_a, y_a, logits_b, y_b, weight):
    return F.cross_entropy(logits_a, y_a) + F.cross_entropy(logits_b, y_b)


def joint_loss_summed(logits_a, y_a, logits_b, y_b, weight):
    ce_a = F.cross_entropy(logits_a, y_a, reduction="sum")
    return weight * ce_a + (1 - weight) * F.cross_entropy(logits_b, y_b, reduction="sum")


def joint_loss_weight_twice(logits_a, y_a, logits_b, y_b, weight):
    return weight * F.cross_entropy(logits_a, y_a) + weight * F.cross_entropy(logits_b, y_b)


def joint_loss_average(logits_a, y_a, logits_b, y_b, weight):
    return (F.cross_entropy(logits_a, y_a) + F.cross_entropy(logits_b, y_b)) / 2


def joint_loss_item(logits_a, y_a, logits_b, y_b, weight):
    return joint_loss(logits_a, y_a, logits_b, y_b, weight).item()


def joint_loss_detached(logits_a, y_a, logits_b, y_b, weight):
    return torch.tensor(joint_loss(logits_a, y_a, logits_b, y_b, weight).item())


def freeze_trunk(model):
    model.trunk.requires_grad_(False)
    model.head.requires_grad_(True)


def freeze_everything(model):
    model.requires_grad_(False)


def freeze_trunk_only(model):  # forgets that the head may have been frozen before
    model.trunk.requires_grad_(False)


def eval_mode_only(model):
    model.eval()


def freeze_the_head(model):
    model.trunk.requires_grad_(True)
    model.head.requires_grad_(False)


def freeze_first_layer(model):
    model.trunk[0].requires_grad_(False)
    model.head.requires_grad_(True)


def stub(*args):
    raise NotImplementedError("your turn")


RIGHT = [(multitask.check_joint_loss, joint_loss), (multitask.check_freeze_trunk, freeze_trunk)]
MISTAKES = [
    (multitask.check_joint_loss, joint_loss_swapped, "the weights are swapped"),
    (multitask.check_joint_loss, joint_loss_unweighted, "added the two losses without the weights"),
    (multitask.check_joint_loss, joint_loss_summed, "sums over the examples; use the mean"),
    (multitask.check_joint_loss, joint_loss_weight_twice, "both losses got `weight`"),
    (multitask.check_joint_loss, joint_loss_average, "averaged the two losses, ignoring `weight`"),
    (multitask.check_joint_loss, joint_loss_item, r"returned float .*\(no \.item\(\)"),
    (multitask.check_joint_loss, joint_loss_detached, "detached from the logits"),
    (multitask.check_freeze_trunk, freeze_everything, "the head is frozen as well"),
    (multitask.check_freeze_trunk, freeze_trunk_only, "the head stays frozen"),
    (multitask.check_freeze_trunk, eval_mode_only, r"model.eval\(\) .* does not freeze"),
    (multitask.check_freeze_trunk, freeze_the_head, "the wrong way round"),
    (multitask.check_freeze_trunk, freeze_first_layer, r"trunk parameters \['1.bias', '1.weight'"),
]


@pytest.mark.parametrize(("check", "right"), RIGHT, ids=lambda v: getattr(v, "__name__", ""))
def test_a_right_answer_passes_quickly_and_a_stub_is_not_implemented(check, right, capsys) -> None:
    right_passes_and_stub_fails(check, right, stub, capsys)


@pytest.mark.parametrize(
    ("check", "wrong", "message"), MISTAKES, ids=[m[1].__name__ for m in MISTAKES]
)
def test_each_plausible_mistake_is_named(check, wrong, message: str) -> None:
    mistake_is_named(check, wrong, message)


def test_every_exercise_has_at_least_three_mistakes() -> None:
    three_mistakes_each(RIGHT, MISTAKES)


def test_the_hand_computed_losses_are_right() -> None:
    """The check's constants (in units of ln 2) match torch's cross-entropy."""
    la, ya, lb, yb = multitask._joint_inputs()
    for weight, want in multitask._JOINT_WANT.items():
        got = joint_loss(la, ya, lb, yb, weight).item() / multitask.LN2
        assert got == pytest.approx(want, abs=1e-6)
