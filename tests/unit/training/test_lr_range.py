"""The LR range test (training.lr_range) and the steps-to-accuracy helper (analysis.tables)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from lecture_utils.analysis import tables
from lecture_utils.data.labelled import LabelledImages
from lecture_utils.training import lr_range


def toy_problem(seed: int = 0) -> tuple[nn.Module, LabelledImages]:
    """A linearly separable 3-class problem and a small linear classifier."""
    gen = torch.Generator().manual_seed(seed)
    centres = torch.randn(3, 8, generator=gen) * 3
    y = torch.arange(3).repeat_interleave(40)
    x = centres[y] + torch.randn(len(y), 8, generator=gen)
    torch.manual_seed(seed)
    return nn.Linear(8, 3), LabelledImages(x, y, 3)


def test_rates_grow_geometrically_between_the_bounds() -> None:
    rates = lr_range.range_rates(1e-4, 1.0, 5)
    assert rates[0] == pytest.approx(1e-4) and rates[-1] == pytest.approx(1.0)
    assert [b / a for a, b in zip(rates, rates[1:], strict=False)] == pytest.approx([10.0] * 4)
    with pytest.raises(ValueError):
        lr_range.range_rates(1.0, 1e-4, 5)


def test_range_test_records_every_step_and_leaves_the_model_alone() -> None:
    model, data = toy_problem()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    lrs, losses = lr_range.lr_range_test(
        model, data, lr_min=1e-4, lr_max=10.0, steps=60, seed=0, device="cpu"
    )
    assert len(lrs) == len(losses) == 60
    assert lrs == pytest.approx(lr_range.range_rates(1e-4, 10.0, 60))  # the rate each step used
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    again = lr_range.lr_range_test(
        model, data, lr_min=1e-4, lr_max=10.0, steps=60, seed=0, device="cpu"
    )
    assert again == (lrs, losses)
    picked = lr_range.pick_lr(lrs, losses)
    assert 1e-4 <= picked <= 10.0
    assert min(losses[-10:]) < losses[0] or max(losses[-10:]) > losses[0]  # the loss moved


def test_picked_rate_trains_the_toy_problem() -> None:
    model, data = toy_problem()
    lrs, losses = lr_range.lr_range_test(
        model, data, lr_min=1e-5, lr_max=10.0, steps=80, seed=0, device="cpu"
    )
    picked = lr_range.pick_lr(lrs, losses)
    opt = torch.optim.Adam(model.parameters(), lr=picked)
    for _ in range(50):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(data.x), data.y)
        loss.backward()
        opt.step()
    assert (model(data.x).argmax(1) == data.y).float().mean() > 0.9


def test_pick_rules_on_a_known_curve() -> None:
    lrs = lr_range.range_rates(1e-4, 1.0, 41)
    # flat, then falling fastest around lr 1e-2, lowest at 1e-1, then exploding
    losses = [2.0 / (1 + math.exp(3 * (math.log10(r) + 2))) + 0.1 for r in lrs]
    losses = [
        v + (100 * (math.log10(r) + 1) ** 2 if r > 0.1 else 0.0)
        for v, r in zip(losses, lrs, strict=True)
    ]
    by_min = lr_range.pick_lr(lrs, losses)
    assert 3e-3 <= by_min <= 2e-2  # the smoothed minimum sits at ~0.1, divided by 10
    steep = lr_range.pick_lr(lrs, losses, rule="steepest")
    assert 3e-3 <= steep <= 3e-2


def test_a_constant_rate_sweep_is_not_a_range_test() -> None:
    """Mutation-style: a 'sweep' whose rate never rises must be refused, not read."""
    with pytest.raises(ValueError, match="increase"):
        lr_range.pick_lr([1e-3] * 10, [1.0 - 0.01 * i for i in range(10)])
    with pytest.raises(ValueError, match="rule"):
        lr_range.pick_lr([1e-3, 1e-2, 1e-1], [1.0, 0.5, 0.2], rule="max")


def test_smoothing_stops_at_a_non_finite_loss() -> None:
    assert len(lr_range.smoothed([1.0, 0.9, float("nan"), 0.5])) == 2
    assert lr_range.smoothed([1.0, 1.0]) == pytest.approx([1.0, 1.0])  # bias-corrected


def test_steps_to_reach() -> None:
    assert tables.steps_to_reach([0, 6, 12, 18], [0.1, 0.3, 0.5, 0.7], 0.5) == 12
    assert tables.steps_to_reach([0, 6, 12], [0.1, 0.3, 0.4], 0.5) is None
    assert tables.steps_to_reach([0, 6], [0.6, 0.1], 0.5) == 0  # the first time it got there
    with pytest.raises(ValueError):
        tables.steps_to_reach([0, 6], [0.1], 0.5)
    with pytest.raises(ValueError):
        tables.steps_to_reach([6, 0], [0.1, 0.2], 0.5)
