"""Notebook 02's checks: a right answer passes, the stub is "not implemented yet", and each
plausible mistake gets its own message (a division by zero included)."""

from __future__ import annotations

import pytest
from exercise_tables import mistake_is_named, right_passes_and_stub_fails, three_mistakes_each
from torch import nn

from lecture_utils.exercises import fine_tuning
from lecture_utils.training import trainer


def param_groups(layers, top_lr, factor):
    n = len(layers)
    return [
        {"params": list(layer.parameters()), "lr": top_lr / factor ** (n - 1 - i)}
        for i, layer in enumerate(layers)
    ]


def same_lr_groups(layers, top_lr, factor):
    return [{"params": list(layer.parameters()), "lr": top_lr} for layer in layers]


def reversed_lr_groups(layers, top_lr, factor):
    return [
        {"params": list(layer.parameters()), "lr": top_lr / factor**i}
        for i, layer in enumerate(layers)
    ]


def one_group(layers, top_lr, factor):
    return [{"params": [p for layer in layers for p in layer.parameters()], "lr": top_lr}]


def depth_off_by_one(layers, top_lr, factor):
    n = len(layers)
    return [
        {"params": list(layer.parameters()), "lr": top_lr / factor ** (n - i)}
        for i, layer in enumerate(layers)
    ]


def multiplied_rates(layers, top_lr, factor):
    n = len(layers)
    return [
        {"params": list(layer.parameters()), "lr": top_lr * factor ** (n - 1 - i)}
        for i, layer in enumerate(layers)
    ]


def shifted_params(layers, top_lr, factor):  # layer i's rate with layer i+1's parameters
    groups = param_groups(layers, top_lr, factor)
    params = [g["params"] for g in groups]
    return [{**g, "params": p} for g, p in zip(groups, params[1:] + params[:1], strict=True)]


def warmup_factor(step, warmup):
    return (step + 1) / warmup if step < warmup else 1.0


def warmup_from_zero(step, warmup):
    return step / warmup if step < warmup else 1.0


def warmup_unguarded(step, warmup):
    return min(1.0, (step + 1) / warmup)


def warmup_without_cap(step, warmup):
    return (step + 1) / warmup if warmup else 1.0


def warmup_one_step_long(step, warmup):
    return (step + 1) / warmup if step <= warmup else 1.0


def warmup_too_slow(step, warmup):
    return min(1.0, (step + 1) / (warmup + 1))


def stub(*args):
    raise NotImplementedError("your turn")


RIGHT = [
    (fine_tuning.check_param_groups, param_groups),
    (fine_tuning.check_warmup_factor, warmup_factor),
]
MISTAKES = [
    (fine_tuning.check_param_groups, same_lr_groups, "every layer got the same rate"),
    (fine_tuning.check_param_groups, reversed_lr_groups, "the rates are reversed"),
    (fine_tuning.check_param_groups, one_group, "1 group.* for 3 layers: make one group per"),
    (fine_tuning.check_param_groups, depth_off_by_one, "off by one: every rate is `factor` too sm"),
    (fine_tuning.check_param_groups, multiplied_rates, "grow towards the input"),
    (
        fine_tuning.check_param_groups,
        shifted_params,
        r"group 0 must hold exactly layer 0's parameters \(list\(layers\[0\]",
    ),
    (fine_tuning.check_warmup_factor, warmup_from_zero, "step 0 gives 0, a wasted step"),
    (
        fine_tuning.check_warmup_factor,
        warmup_unguarded,
        r"warmup_unguarded\(step=0, warmup=0\) raised ZeroDivisionError.*warmup=0 means no warm-up",
    ),
    (fine_tuning.check_warmup_factor, warmup_without_cap, "keeps rising above 1"),
    (fine_tuning.check_warmup_factor, warmup_one_step_long, "off by one at the end: step 4 gives"),
    (fine_tuning.check_warmup_factor, warmup_too_slow, "the warm-up is too slow"),
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


def test_a_division_by_zero_keeps_its_cause() -> None:
    with pytest.raises(AssertionError) as caught:
        fine_tuning.check_warmup_factor(warmup_unguarded)
    assert isinstance(caught.value.__cause__, ZeroDivisionError)


def test_the_hand_written_warmup_factors_match_the_training_core() -> None:
    for warmup, want in fine_tuning._WARMUP_CASES.items():
        got = [trainer.lr_factor(s, 12, "constant", warmup) for s in range(12)]
        assert got == pytest.approx(want), warmup


def test_the_hand_written_rates_match_the_formula() -> None:
    for (n, top_lr, factor), want in fine_tuning._GROUP_CASES.items():
        got = [g["lr"] for g in param_groups([nn.Linear(1, 1) for _ in range(n)], top_lr, factor)]
        assert got == pytest.approx(want)
