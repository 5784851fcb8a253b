"""The one training core: step budgets, schedules, seeds, devices and hooks."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from lecture_utils.core import runtime
from lecture_utils.data.labelled import LabelledImages
from lecture_utils.training import trainer

COS_QUARTER = (1 + math.cos(math.pi / 4)) / 2


def toy_data(n: int = 64, classes: int = 4, seed: int = 0) -> LabelledImages:
    gen = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % classes
    x = torch.randn(n, 1, 6, 6, generator=gen) + y[:, None, None, None].float()
    return LabelledImages(x, y, classes)


def toy_model(seed: int = 0) -> nn.Module:
    with runtime.seeded_init(seed):
        return nn.Sequential(nn.Flatten(), nn.Linear(36, 16), nn.ReLU(), nn.Linear(16, 4))


def run(seed: int = 0, **kwargs: object) -> tuple[nn.Module, trainer.TrainLog]:
    model = toy_model()
    log = trainer.train(
        model, toy_data(), steps=12, batch_size=8, seed=seed, device="cpu", progress=False,
        **kwargs,
    )  # fmt: skip
    return model, log


def test_same_seed_gives_identical_runs() -> None:
    (m1, l1), (m2, l2) = run(seed=3), run(seed=3)
    assert l1.loss == l2.loss
    for p, q in zip(m1.parameters(), m2.parameters(), strict=True):
        assert torch.equal(p, q)


def test_other_seed_gives_other_batches() -> None:
    assert run(seed=1)[1].loss != run(seed=2)[1].loss


def test_budget_is_steps() -> None:
    _, log = run()
    assert log.steps == 12 and len(log.lr) == 12


def test_global_rng_is_untouched() -> None:
    state = torch.random.get_rng_state()
    run(seed=5, augment=lambda x, g: x + 0.01 * torch.randn(x.shape, generator=g))
    toy_model(seed=9)
    assert torch.equal(state, torch.random.get_rng_state())


def test_seeded_init_is_reproducible() -> None:
    a, b, c = toy_model(1), toy_model(1), toy_model(2)
    assert torch.equal(a[1].weight, b[1].weight)
    assert not torch.equal(a[1].weight, c[1].weight)


@pytest.mark.parametrize(
    ("schedule", "warmup", "expected"),
    [
        ("constant", 0, [1.0] * 4),
        ("cosine", 0, [1.0, COS_QUARTER, 0.5, 1.0 - COS_QUARTER]),
        ("constant", 2, [0.5, 1.0, 1.0, 1.0]),
    ],
)  # fmt: skip
def test_schedule_factors(schedule: str, warmup: int, expected: list[float]) -> None:
    got = [trainer.lr_factor(s, 4, schedule, warmup) for s in range(4)]
    assert got == pytest.approx(expected)


def test_cosine_schedule_reaches_the_optimiser() -> None:
    _, log = run(schedule="cosine", lr=1e-2)
    assert log.lr[0] == pytest.approx(1e-2)
    assert log.lr[-1] < 0.05 * 1e-2
    assert all(a >= b for a, b in zip(log.lr, log.lr[1:], strict=False))


def test_one_cycle_rises_then_falls() -> None:
    factors = [trainer.lr_factor(s, 100, "one_cycle") for s in range(100)]
    peak = factors.index(max(factors))
    assert 10 <= peak <= 20 and factors[0] < 0.1 and factors[-1] < 0.01


def test_warmup_starts_small() -> None:
    _, log = run(lr=1e-2, warmup=4)
    assert log.lr[:4] == pytest.approx([2.5e-3, 5e-3, 7.5e-3, 1e-2])


def test_unknown_schedule_and_bad_budget_are_refused() -> None:
    with pytest.raises(ValueError, match="schedule"):
        run(schedule="linear")
    with pytest.raises(ValueError, match="steps"):
        trainer.train(toy_model(), toy_data(), steps=0, device="cpu", progress=False)
    with pytest.raises(ValueError, match="steps"):
        trainer.train(toy_model(), toy_data(), steps=2.5, device="cpu", progress=False)


def test_clip_grad_limits_the_gradient_norm() -> None:
    model = toy_model()
    params = list(model.parameters())

    def loss_at(step: int) -> torch.Tensor:
        return sum((p * 1e6).sum() for p in params)

    def grad_norm(clip: float | None) -> float:
        opt = torch.optim.SGD(params, lr=0.0)
        trainer.optimise(model, loss_at, steps=1, optimizer=opt, clip_grad=clip, progress=False)
        return torch.norm(torch.stack([p.grad.norm() for p in params])).item()

    assert grad_norm(0.5) == pytest.approx(0.5, rel=1e-4)
    assert grad_norm(None) > 1e6


def test_param_groups_keep_their_rates() -> None:
    model = toy_model()
    groups = [
        {"params": model[1].parameters(), "lr": 1e-4},
        {"params": model[3].parameters(), "lr": 1e-2},
    ]
    trainer.train(model, toy_data(), steps=2, param_groups=groups, device="cpu", progress=False)
    # One Adam step moves each weight by about its group's rate.
    model2 = toy_model()
    before = model2[1].weight.detach().clone(), model2[3].weight.detach().clone()
    groups2 = [
        {"params": model2[1].parameters(), "lr": 1e-4},
        {"params": model2[3].parameters(), "lr": 1e-2},
    ]
    trainer.train(model2, toy_data(), steps=1, param_groups=groups2, device="cpu", progress=False)
    assert (model2[1].weight - before[0]).abs().max().item() == pytest.approx(1e-4, rel=0.05)
    assert (model2[3].weight - before[1]).abs().max().item() == pytest.approx(1e-2, rel=0.05)


def test_frozen_parameters_do_not_move() -> None:
    model = toy_model()
    for p in model[1].parameters():
        p.requires_grad_(False)
    before = model[1].weight.detach().clone()
    trainer.train(model, toy_data(), steps=3, device="cpu", progress=False)
    assert torch.equal(before, model[1].weight)


def test_everything_frozen_is_a_clear_error() -> None:
    model = toy_model()
    for p in model.parameters():
        p.requires_grad_(False)
    with pytest.raises(ValueError, match="frozen"):
        trainer.train(model, toy_data(), steps=1, device="cpu", progress=False)


def test_hooks_and_evaluation_run_when_asked() -> None:
    seen_steps: list[int] = []
    modes: list[bool] = []

    def evaluate(model: nn.Module) -> float:
        modes.append(model.training)
        return 0.5

    _, log = run(on_step=lambda s, m: seen_steps.append(s), eval_every=5, evaluate=evaluate)
    assert seen_steps == list(range(12))
    assert log.eval_steps == [5, 10, 12] and log.eval_values == [0.5] * 3
    assert modes == [False] * 3


def test_augment_gets_the_local_generator() -> None:
    calls: list[torch.Generator] = []

    def augment(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        calls.append(g)
        return x

    run(augment=augment)
    assert len(calls) == 12 and all(isinstance(g, torch.Generator) for g in calls)


def test_model_goes_to_the_requested_device(monkeypatch: pytest.MonkeyPatch) -> None:
    moved: list[torch.device] = []
    model = toy_model()
    original = model.to

    def spy(device: torch.device) -> nn.Module:
        moved.append(torch.device(device))
        return original(device)

    monkeypatch.setattr(model, "to", spy)
    monkeypatch.setattr(trainer.runtime, "get_device", lambda: torch.device("cpu"))
    trainer.train(model, toy_data(), steps=1, device=None, progress=False)
    assert moved == [torch.device("cpu")]
    assert next(model.parameters()).device.type == "cpu"


def test_default_device_comes_from_get_device(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(trainer.runtime, "get_device", lambda: torch.device("meta"))
    with pytest.raises((RuntimeError, NotImplementedError)):
        # A model on the fake 'meta' device cannot compute a real loss: proof it was used.
        trainer.train(toy_model(), toy_data(), steps=1, device=None, progress=False)


def test_index_batches_cover_every_example_each_pass() -> None:
    gen = torch.Generator().manual_seed(0)
    batches = trainer.index_batches(10, 5, gen)
    first_pass = torch.cat([next(batches), next(batches)])
    assert sorted(first_pass.tolist()) == list(range(10))


def test_steps_for_epochs() -> None:
    assert trainer.steps_for_epochs(2, 100, 10) == 20
    assert trainer.steps_for_epochs(1, 5, 64) == 1


def test_fit_trains_only_the_trainable_parameters_with_adam() -> None:
    with runtime.seeded_init(0):
        model = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 1))
    model[0].requires_grad_(False)
    frozen = model[0].weight.detach().clone()
    before = model[1].weight.detach().clone()
    x, y = torch.ones(4, 2), torch.zeros(4, 1)
    log = trainer.fit(
        model, lambda step: (model(x) - y).pow(2).mean(), steps=3, lr=0.1, progress=False
    )
    assert log.steps == 3 and log.lr == [0.1, 0.1, 0.1]
    assert torch.equal(model[0].weight, frozen) and not torch.equal(model[1].weight, before)
    # Adam's first step moves every weight by lr (the sign of its gradient), whatever its size
    with runtime.seeded_init(0):
        again = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 1))
    again[0].requires_grad_(False)
    trainer.fit(again, lambda step: (again(x) - y).pow(2).mean(), steps=1, lr=0.1, progress=False)
    step = (again[1].weight - before).abs()
    torch.testing.assert_close(step, torch.full_like(step, 0.1))
