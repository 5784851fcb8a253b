"""lecture_utils.training.meta_training: the episode loop (steps, seeds, clipping, devices) and the
cached, one-cycle encoder pretraining (reproducible; its cache key covers the characters)."""

from __future__ import annotations

import pytest
import torch
from shared import PATTERN_SIZE
from torch.optim.optimizer import register_optimizer_step_pre_hook

from lecture_utils.core import runtime, store
from lecture_utils.episodes.sampler import Episode, EpisodeSampler
from lecture_utils.models import black_box
from lecture_utils.training import meta_training, trainer

S = PATTERN_SIZE  # the `images` fixture (conftest.py)


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    """Caches go to a temporary folder."""
    monkeypatch.setenv(store.DATA_DIR_ENV, str(tmp_path))
    return tmp_path


def sampler(images: torch.Tensor, classes, **kwargs) -> EpisodeSampler:
    kwargs = {"n_way": 3, "k_shot": 1, "n_query": 2, "batch_size": 4, **kwargs}
    return EpisodeSampler(images, classes, **kwargs)


def weights(model: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.state_dict().values()]


# --------------------------------------------------------------------------------------------
# The meta-training loop
# --------------------------------------------------------------------------------------------


def test_meta_train_respects_step_budget_and_records_history(images: torch.Tensor) -> None:
    model = black_box.build_model("hypernet", "pixels", image_size=S)
    train, val = sampler(images, range(8)), sampler(images, range(8, 12))
    history = meta_training.meta_train(
        model, train, val, steps=7, eval_every=3, val_tasks=8, progress=False, name="h"
    )
    assert history.steps == list(range(1, 8))
    assert len(history.train_loss) == len(history.train_accuracy) == len(history.lr) == 7
    assert history.val_steps == [3, 6, 7]  # every 3 steps, plus the end
    assert len(history.val_accuracy) == 3 and history.name == "h"
    assert all(0.0 <= a <= 1.0 for a in history.val_accuracy)
    assert history.lr == [1e-3] * 7  # constant schedule by default


def test_meta_train_twice_with_the_same_seed_is_identical(images: torch.Tensor) -> None:
    runs = []
    for _ in range(2):
        model = black_box.build_model("feedforward", "pixels", image_size=S, n_way=3, seed=4)
        h = meta_training.meta_train(
            model, sampler(images, range(12), seed=5), steps=6, progress=False, seed=4
        )
        runs.append((h.train_loss, weights(model)))
    assert runs[0][0] == runs[1][0]
    for a, b in zip(runs[0][1], runs[1][1], strict=True):
        assert torch.equal(a, b)
    # ... and the seed matters: another sampler seed gives other losses.
    model = black_box.build_model("feedforward", "pixels", image_size=S, n_way=3, seed=4)
    other = meta_training.meta_train(
        model, sampler(images, range(12), seed=6), steps=6, progress=False, seed=4
    )
    assert other.train_loss != runs[0][0]


def test_meta_train_leaves_the_global_rng_alone(images: torch.Tensor) -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    model = black_box.build_model("attention", "pixels", image_size=S, n_way=3)
    meta_training.meta_train(model, sampler(images, range(12)), steps=2, progress=False)
    torch.testing.assert_close(torch.rand(3), expected)


def largest_grad_norm_at_step(images: torch.Tensor, clip_grad: float | None) -> float:
    """Train an LSTM a few steps and return the largest gradient norm the optimiser saw."""
    norms: list[float] = []

    def record(optimizer, args, kwargs) -> None:
        grads = [p.grad for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
        norms.append(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads])).item())

    handle = register_optimizer_step_pre_hook(record)
    try:
        model = black_box.build_model("lstm", "pixels", n_way=3, image_size=S)
        meta_training.meta_train(
            model, sampler(images, range(12)), steps=3, clip_grad=clip_grad, progress=False
        )
    finally:
        handle.remove()
    assert len(norms) == 3
    return max(norms)


def test_meta_train_clips_the_gradient_norm(images: torch.Tensor) -> None:
    unclipped = largest_grad_norm_at_step(images, None)
    limit = unclipped / 10
    assert largest_grad_norm_at_step(images, limit) <= limit * (1 + 1e-4)


def test_meta_training_learns_an_easy_problem(images: torch.Tensor) -> None:
    model = black_box.build_model("hypernet", "pixels", image_size=S)
    train, test = sampler(images, range(8), batch_size=16), sampler(images, range(8, 12))
    history = meta_training.meta_train(model, train, steps=60, lr=1e-3, progress=False)
    assert sum(history.train_loss[-10:]) < 0.1 * sum(history.train_loss[:10])
    from lecture_utils.training.evaluation import evaluate

    assert evaluate(model, test, n_tasks=64).mean > 0.9


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"steps": 0}, ValueError, "steps"),
        ({"steps": 3, "eval_every": 0}, ValueError, "eval_every"),
        ({"steps": 3, "seconds": 1.0}, TypeError, "seconds"),  # budgets are steps only
        ({}, TypeError, "steps"),
    ],
)
def test_meta_train_rejects_bad_budgets(images: torch.Tensor, kwargs, error, message) -> None:
    model = black_box.build_model("lstm", "pixels", image_size=S, n_way=3)
    with pytest.raises(error, match=message):
        meta_training.meta_train(model, sampler(images, range(12)), progress=False, **kwargs)


def test_meta_train_runs_on_the_given_device(images: torch.Tensor, monkeypatch) -> None:
    moved: list[torch.device] = []
    original = Episode.to

    def spy(self, device):
        moved.append(torch.device(device))
        return original(self, device)

    monkeypatch.setattr(Episode, "to", spy)
    model = black_box.build_model("hypernet", "pixels", image_size=S)
    meta_training.meta_train(
        model, sampler(images, range(12)), steps=2, progress=False, device="cpu"
    )
    assert moved and all(d.type == "cpu" for d in moved)  # every episode goes to the model
    assert all(p.device.type == "cpu" for p in model.parameters())


def test_meta_train_uses_runtime_get_device_by_default(images: torch.Tensor, monkeypatch) -> None:
    calls: list[int] = []

    def fake_device() -> torch.device:
        calls.append(1)
        return torch.device("cpu")

    monkeypatch.setattr(runtime, "get_device", fake_device)
    model = black_box.build_model("hypernet", "pixels", image_size=S)
    meta_training.meta_train(model, sampler(images, range(12)), steps=1, progress=False)
    assert calls


def test_history_steps_to() -> None:
    log = trainer.TrainLog(eval_steps=[100, 200], eval_values=[0.5, 0.9])
    h = meta_training.MetaHistory(log=log)
    assert h.steps_to(0.8) == 200 and h.steps_to(0.95) is None and h.best_val == 0.9
    assert not hasattr(h, "seconds_to")


# ---- meta-validation tasks come from the val split, drawn once -----------


def test_validation_tasks_come_from_the_val_split_and_are_drawn_once(
    images: torch.Tensor, monkeypatch
) -> None:
    train_classes, val_classes = list(range(0, 6)), list(range(6, 12))
    train = sampler(images, train_classes)
    val = sampler(images, val_classes, seed=1)
    val_draws: list[Episode] = []
    real_sample = val.sample

    def counted_sample() -> Episode:
        val_draws.append(real_sample())
        return val_draws[-1]

    monkeypatch.setattr(val, "sample", counted_sample)
    seen: list[list[Episode]] = []
    real_evaluate = meta_training.evaluate

    def spy(model, episodes, n_tasks=1000, progress=False):
        seen.append(episodes)
        return real_evaluate(model, episodes, n_tasks=n_tasks, progress=progress)

    monkeypatch.setattr(meta_training, "evaluate", spy)
    model = black_box.build_model("feedforward", "pixels", image_size=PATTERN_SIZE, n_way=3)
    meta_training.meta_train(
        model, train, val, steps=6, eval_every=2, val_tasks=6, progress=False, device="cpu"
    )
    assert len(seen) == 3  # steps 2, 4 and 6
    batches = -(-6 // val.batch_size)
    assert len(val_draws) == batches  # drawn once, before training, not per evaluation
    for episodes in seen:  # the very same tasks at every evaluation
        assert len(episodes) == batches
        assert all(a is b for a, b in zip(episodes, val_draws, strict=True))
    drawn = torch.cat([ep.classes.flatten() for ep in val_draws]).unique().tolist()
    assert set(drawn) <= set(val_classes)  # the validation split only
