"""The one training core: step budgets, schedules, seeds, devices and hooks."""

from __future__ import annotations

import math
import re

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


# -- contracts found by mutation testing (make mutate-all); each names the mutants it kills -----


def _spy_progress(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """Record every progress bar asked for (and show none)."""
    calls: list[dict] = []
    real = runtime.progress

    def spy(*args: object, **kwargs: object) -> object:
        calls.append(dict(kwargs))
        return real(*args, **{**kwargs, "disable": True})

    monkeypatch.setattr(runtime, "progress", spy)
    return calls


def _zero_loss(model: nn.Module) -> torch.Tensor:
    return sum(p.sum() for p in model.parameters()) * 0.0


def _moved(before: nn.Module, after: nn.Module) -> float:
    return max(
        (p - q).abs().max().item()
        for p, q in zip(before.parameters(), after.parameters(), strict=True)
    )


def test_fit_passes_every_setting_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """fit 4, 13 (weight decay: none by default, else Adam's), 20, 29 (clip_grad), 21, 30, 5
    (progress, on by default), 22, 31 (on_step), 27, 28 (schedule)."""
    calls = _spy_progress(monkeypatch)
    model = toy_model()
    trainer.fit(model, lambda s: _zero_loss(model), steps=3, lr=0.1)
    assert _moved(toy_model(), model) == 0.0 and calls[-1]["disable"] is False
    model = toy_model()
    trainer.fit(model, lambda s: _zero_loss(model), steps=3, lr=0.1, weight_decay=0.5)
    assert _moved(toy_model(), model) > 0.01  # Adam turns the decay term into ~lr steps
    x = toy_data().x[:8]
    model = toy_model()
    steps: list[int] = []
    log = trainer.fit(
        model, lambda s: model(x).pow(2).mean(), steps=4, lr=0.1, clip_grad=1e-12,
        schedule="cosine", progress=False, on_step=lambda s, m: steps.append(s),
    )  # fmt: skip
    assert _moved(toy_model(), model) < 1e-3  # gradients of norm 1e-12 barely move Adam
    assert calls[-1]["disable"] is True and steps == [0, 1, 2, 3]
    assert log.lr == pytest.approx([0.1 * (1 + math.cos(math.pi * t / 4)) / 2 for t in range(4)])
    log = trainer.fit(model, lambda s: _zero_loss(model), steps=4, lr=0.1, warmup=2, progress=False)
    assert log.lr[:2] == pytest.approx([0.05, 0.1])  # fit 28: the warm-up reaches the loop


def test_train_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    """train 1 (lr 1e-3), 2 (batches of 64), 3 (no weight decay), 7 (seed 0), 8 (progress on)."""
    calls = _spy_progress(monkeypatch)
    sizes: list[int] = []

    def augment(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        sizes.append(len(x))
        return x

    data = toy_data(n=100)
    model = toy_model()
    log = trainer.train(model, data, steps=2, device="cpu", augment=augment)
    assert log.lr == [1e-3, 1e-3] and sizes == [64, 64] and calls[-1]["disable"] is False
    seeded = trainer.train(toy_model(), data, steps=2, device="cpu", seed=0, progress=False)
    assert seeded.loss == log.loss
    model = toy_model()
    trainer.train(
        model, data, steps=3, device="cpu", progress=False, loss_hook=lambda loss, s, g: loss * 0
    )
    assert _moved(toy_model(), model) == 0.0


def test_train_accepts_one_example_and_feature_vectors() -> None:
    """train 10 (one example is enough), 54 (features [n, F] are 2-D data, accepted)."""
    one = LabelledImages(torch.zeros(1, 1, 6, 6), torch.zeros(1, dtype=torch.long), 4)
    assert trainer.train(toy_model(), one, steps=1, device="cpu", progress=False).steps == 1
    flat = LabelledImages(toy_data().x.flatten(1), toy_data().y, 4)
    assert trainer.train(toy_model()[1:], flat, steps=1, device="cpu", progress=False).steps == 1


def test_train_refusal_messages() -> None:
    """train 11-13 (empty data), 18, 22, 26, 27 (steps' fix), 32, 36, 40, 41 (batch_size's)."""
    empty = LabelledImages(torch.zeros(0, 1, 6, 6), torch.zeros(0, dtype=torch.long), 4)
    with pytest.raises(ValueError, match=r"^train\(\) got an empty dataset: there is nothing"):
        trainer.train(toy_model(), empty, steps=1, device="cpu", progress=False)
    with pytest.raises(ValueError, match=r"; it counts optimiser steps\.$"):
        trainer.train(toy_model(), toy_data(), steps=0, device="cpu", progress=False)
    with pytest.raises(ValueError, match=r"; pass e\.g\. 32\.$"):
        trainer.train(toy_model(), toy_data(), steps=1, batch_size=0, progress=False)


def test_steps_for_epochs_by_hand() -> None:
    """steps_for_epochs 8 (whole batches per epoch: 10 // 4 = 2), 13 (batch size 1 is 1)."""
    assert trainer.steps_for_epochs(2, 10, 4) == 4
    assert trainer.steps_for_epochs(1, 10, 1) == 10


def test_train_passes_its_settings_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """train 78 (weight_decay reaches Adam), 112, 123 (progress=False reaches the loop),
    97-104 (loss_hook gets the loss, the step and the run's generator)."""
    calls = _spy_progress(monkeypatch)
    seen: list[tuple[int, bool]] = []

    def hook(loss: torch.Tensor, step: int, g: torch.Generator) -> torch.Tensor:
        seen.append((step, isinstance(g, torch.Generator)))
        return loss * 0

    model = toy_model()
    trainer.train(
        model, toy_data(), steps=3, device="cpu", progress=False, weight_decay=0.5, loss_hook=hook
    )
    assert _moved(toy_model(), model) > 1e-3  # only the decay moved it
    assert seen == [(0, True), (1, True), (2, True)] and calls[-1]["disable"] is True


def test_index_batches_edges() -> None:
    """index_batches 1, 2 (one example is enough), 3-5 (none is refused), 10, 14, 18, 19
    (batch_size's fix), 40 (full batches only: 7 examples in 4s give one batch a pass)."""
    g = torch.Generator().manual_seed(0)
    assert next(trainer.index_batches(1, 4, g)).tolist() == [0]
    batches = trainer.index_batches(7, 4, g)
    assert [len(next(batches)) for _ in range(4)] == [4, 4, 4, 4]
    with pytest.raises(ValueError, match=r"^index_batches needs at least one example to draw"):
        next(trainer.index_batches(0, 4, g))
    with pytest.raises(ValueError, match=r"; pass e\.g\. batch_size=32\.$"):
        next(trainer.index_batches(5, 0, g))


def test_make_schedule_defaults_and_refusals() -> None:
    """make_schedule 1, 2 (constant by default), 3 (no warm-up by default, so one step is
    fine), 4 (a negative warm-up is refused)."""
    opt = trainer.make_optimizer([nn.Parameter(torch.zeros(1))], lr=0.1)
    sched = trainer.make_schedule(opt, 1)
    assert sched.get_last_lr() == [0.1]
    with pytest.raises(ValueError, match="warmup=-1 must be 0 or fewer than the 5 steps"):
        trainer.make_schedule(opt, 5, warmup=-1)
    with pytest.raises(ValueError, match="warmup=1 must be 0 or fewer than the 1 steps"):
        trainer.make_schedule(opt, 1, warmup=1)  # make_schedule 13


def test_lr_factor_by_hand() -> None:
    """lr_factor 34, 36, 38 (one_cycle rises linearly from 0.04: t = 1/20 gives
    0.04 + 0.96 * 0.05 / 0.15 = 0.36), 11, 17 (after a warm-up t counts from its end:
    step 4 of 10 with warm-up 2 is t = 2/8), 16 (the rate after the last step is 0)."""
    assert trainer.lr_factor(1, 20, "one_cycle") == pytest.approx(0.36)
    assert trainer.lr_factor(4, 10, "cosine", warmup=2) == pytest.approx(COS_QUARTER)
    assert trainer.lr_factor(1, 1, "cosine") == pytest.approx(0.0, abs=1e-12)


def test_make_optimizer_settings_and_messages() -> None:
    """make_optimizer 1 (no weight decay by default), 43 and 18-21 (a valid decay reaches
    Adam), 6, 7 (nothing to train), 9, 13, 14 (lr named), 17, 19, 22-26 (weight_decay named,
    with its fix)."""
    params = [nn.Parameter(torch.zeros(1))]
    assert trainer.make_optimizer(params, lr=0.1).param_groups[0]["weight_decay"] == 0.0
    decayed = trainer.make_optimizer(params, lr=0.1, weight_decay=0.1)
    assert decayed.param_groups[0]["weight_decay"] == 0.1
    with pytest.raises(ValueError, match=r"^Nothing to train: every parameter is frozen \("):
        trainer.make_optimizer([], lr=0.1)
    with pytest.raises(ValueError, match=r"^lr=0 must be"):
        trainer.make_optimizer(params, lr=0)
    with pytest.raises(ValueError) as info:
        trainer.make_optimizer(params, lr=0.1, weight_decay=-1)
    assert str(info.value) == (
        "weight_decay=-1 must be a finite number > 0; pass 0 for none, or e.g. 1e-4."
    )


def _optimise(**kwargs: object) -> trainer.TrainLog:
    model = nn.Linear(1, 1)
    opt = trainer.make_optimizer(model.parameters(), lr=0.1)
    return trainer.optimise(
        model, lambda s: model(torch.ones(1, 1)).sum(), optimizer=opt, **{"steps": 2, **kwargs}
    )


def test_optimise_progress_bar_and_thread_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """optimise 4, 75-79, 83-90 (the bar: on by default, named "training" or by a string,
    off for False), 5, 80 (one thread by default, unless single_thread=False)."""
    calls = _spy_progress(monkeypatch)
    threads: list[object] = []
    real = runtime.single_thread

    def spy(*args: object) -> object:
        threads.append(args[0] if args else "default")
        return real(*args)

    monkeypatch.setattr(runtime, "single_thread", spy)
    _optimise()
    _optimise(progress="pretrain", single_thread=False)
    _optimise(progress=False)
    assert [(c["desc"], c["disable"]) for c in calls] == [
        ("training", False),
        ("pretrain", False),
        ("training", True),
    ]
    assert threads == [True, False, True]


@pytest.mark.parametrize(
    ("kwargs", "fix"),
    [
        ({"steps": 0}, "it counts optimiser steps"),
        ({"warmup": -1}, "pass 0 for no warm-up"),
        ({"eval_every": 0}, "or pass None"),
        ({"clip_grad": -1.0}, "pass e.g. 1.0, or None for no clipping"),
    ],
)
def test_optimise_refusals_name_the_fix(kwargs: dict, fix: str) -> None:
    """optimise 10, 14, 18, 19, 24, 28, 32, 33, 39, 43, 47-49, 53, 56, 59-61: each refusal
    ends with its fix."""
    with pytest.raises(ValueError, match=re.escape(f"; {fix}.")):
        _optimise(**kwargs)


def test_optimise_can_evaluate_every_step() -> None:
    """optimise 46: eval_every=1 is allowed."""
    log = _optimise(steps=3, eval_every=1, evaluate=lambda m: 0.5)
    assert log.eval_steps == [1, 2, 3]


def test_optimise_hands_the_step_and_model_on_and_skips_unused_parameters() -> None:
    """optimise 93 (on_step gets the model), 97 (loss_at gets the step), 98, 99 (gradients are
    set to None, not zeroed: Adam leaves a parameter the step's loss does not use where it is,
    instead of moving it on its momentum)."""
    a, b = nn.Parameter(torch.ones(1)), nn.Parameter(torch.ones(1))
    model = nn.Module()
    model.a, model.b = a, b
    opt = trainer.make_optimizer([a, b], lr=0.1)
    seen: list[tuple] = []
    after_first: list[float] = []

    def loss_at(step: int) -> torch.Tensor:
        seen.append(("loss", step))
        if step == 1:
            after_first.append(a.item())
        return (a * b).sum() if step == 0 else b.sum()

    trainer.optimise(
        model, loss_at, steps=2, optimizer=opt, progress=False,
        on_step=lambda step, m: seen.append(("on_step", step, m is model)),
    )  # fmt: skip
    assert seen == [("on_step", 0, True), ("loss", 0), ("on_step", 1, True), ("loss", 1)]
    assert a.item() == after_first[0]  # step 1 did not use a: a did not move
