"""episodes.sine_tasks: shapes, seeding, ranges, disjoint meta-train and meta-test tasks."""

from __future__ import annotations

import math

import pytest
import torch

from lecture_utils.episodes import sine_tasks
from lecture_utils.episodes.sine_tasks import SineTasks


@pytest.mark.parametrize("split", sine_tasks.SPLITS)
@pytest.mark.parametrize(("k_shot", "n_query", "batch_size"), [(5, 10, 25), (10, 1, 3), (1, 7, 1)])
def test_shapes(split: str, k_shot: int, n_query: int, batch_size: int) -> None:
    ep = SineTasks(split, k_shot, n_query, batch_size, seed=0, device="cpu").sample()
    assert ep.support_x.shape == ep.support_y.shape == (batch_size, k_shot, 1)
    assert ep.query_x.shape == ep.query_y.shape == (batch_size, n_query, 1)
    assert ep.amplitude.shape == ep.phase.shape == (batch_size,)
    assert ep.support_x.dtype == torch.float32
    assert sine_tasks.points_per_meta_batch(batch_size, k_shot, n_query) == (
        ep.support_x.shape[0] * (ep.support_x.shape[1] + ep.query_x.shape[1])
    )


def test_targets_are_the_sine_of_the_task() -> None:
    ep = SineTasks("meta_train", 5, 10, 8, seed=3, device="cpu").sample()
    for x, y in ((ep.support_x, ep.support_y), (ep.query_x, ep.query_y)):
        expected = ep.amplitude[:, None, None] * torch.sin(x - ep.phase[:, None, None])
        torch.testing.assert_close(y, expected)


@pytest.mark.parametrize("split", sine_tasks.SPLITS)
def test_parameter_and_input_ranges(split: str) -> None:
    tasks = SineTasks(split, 10, 20, 500, seed=1, device="cpu")
    ep = tasks.sample()
    assert 0.1 <= ep.amplitude.min() and ep.amplitude.max() <= 5.0
    assert 0.0 <= ep.phase.min() and ep.phase.max() <= math.pi
    xs = torch.cat([ep.support_x, ep.query_x], dim=1)
    assert -5.0 <= xs.min() and xs.max() <= 5.0
    # ... and the ranges are actually covered (uniform draws, 500 tasks).
    assert ep.amplitude.min() < 0.5 and ep.amplitude.max() > 4.6
    assert ep.phase.min() < 0.3 and ep.phase.max() > math.pi - 0.3
    assert xs.min() < -4.9 and xs.max() > 4.9


@pytest.mark.parametrize("split", sine_tasks.SPLITS)
def test_same_seed_same_tasks_other_seed_other_tasks(split: str) -> None:
    a = [SineTasks(split, 5, 10, 4, seed=7, device="cpu").sample() for _ in range(2)]
    torch.testing.assert_close(a[0].support_x, a[1].support_x)
    torch.testing.assert_close(a[0].amplitude, a[1].amplitude)
    other = SineTasks(split, 5, 10, 4, seed=8, device="cpu").sample()
    assert not torch.equal(a[0].amplitude, other.amplitude)


def test_sampling_does_not_touch_the_global_rng() -> None:
    state = torch.get_rng_state()
    SineTasks("meta_train", (1, 10), 10, 4, seed=0, device="cpu").sample()
    SineTasks("meta_test", 5, 10, 4, seed=0, device="cpu").pool_episode()
    assert torch.equal(state, torch.get_rng_state())


def test_meta_train_and_meta_test_use_disjoint_generator_seeds() -> None:
    train = {sine_tasks.task_seed("meta_train", s) for s in range(200)}
    test = {sine_tasks.task_seed("meta_test", s) for s in range(200)}
    assert len(train) == len(test) == 200
    assert not train & test


def test_no_meta_test_wave_is_drawn_in_meta_training() -> None:
    test = SineTasks("meta_test", 5, 10, 100, seed=0, device="cpu", pool_size=1000)
    pool = set(zip(test.pool[0].tolist(), test.pool[1].tolist(), strict=True))
    train = SineTasks("meta_train", 5, 10, 500, seed=0, device="cpu")
    drawn = set()
    for _ in range(20):
        ep = train.sample()
        drawn |= set(zip(ep.amplitude.tolist(), ep.phase.tolist(), strict=True))
    assert len(pool) == 1000 and len(drawn) == 10_000
    assert not pool & drawn


def test_meta_test_pool_is_fixed_finite_and_independent_of_k() -> None:
    five = SineTasks("meta_test", 5, 10, 300, seed=0, device="cpu", pool_size=500)
    ten = SineTasks("meta_test", 10, 3, 64, seed=0, device="cpu", pool_size=500)
    torch.testing.assert_close(five.pool[0], ten.pool[0])
    seen = torch.cat([five.sample().amplitude for _ in range(4)])  # 1200 draws from 500 waves
    assert torch.isin(seen, five.pool[0]).all()
    torch.testing.assert_close(seen[:500], five.pool[0])  # in order, then cycling
    torch.testing.assert_close(seen[500:1000], five.pool[0])


def test_pool_episode_nested_supports_and_shared_queries() -> None:
    tasks = SineTasks("meta_test", 10, 50, 100, seed=0, device="cpu", pool_size=1000)
    ten, five = tasks.pool_episode(10), tasks.pool_episode(5)
    assert ten.support_x.shape == (1000, 10, 1) and ten.query_x.shape == (1000, 50, 1)
    torch.testing.assert_close(five.support_x, ten.support_x[:, :5])
    torch.testing.assert_close(five.query_x, ten.query_x)
    torch.testing.assert_close(ten.with_support(5).support_y, five.support_y)
    torch.testing.assert_close(tasks.pool_episode(10).query_y, ten.query_y)  # same every call
    with pytest.raises(ValueError, match="meta_test"):
        SineTasks("meta_train", 5, 10, 4, seed=0, device="cpu").pool_episode()


def test_k_range_draws_one_k_per_meta_batch() -> None:
    tasks = SineTasks("meta_train", (2, 6), 10, 4, seed=0, device="cpu")
    ks = {tasks.sample().support_x.shape[1] for _ in range(100)}
    assert ks == {2, 3, 4, 5, 6}
    with pytest.raises(AttributeError, match="varies"):
        _ = tasks.k_shot


def test_make_episode_for_chosen_waves() -> None:
    gen = torch.Generator().manual_seed(0)
    ep = sine_tasks.make_episode(torch.tensor([2.0]), torch.tensor([0.5]), 3, 4, gen)
    torch.testing.assert_close(ep.support_y, 2.0 * torch.sin(ep.support_x - 0.5))
    assert ep.task(0).query_x.shape == (1, 4, 1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"split": "train"}, "Unknown split"),
        ({"k_shot": 0}, "k_shot"),
        ({"k_shot": (5, 2)}, "low <= high"),
        ({"n_query": 0}, "n_query"),
        ({"batch_size": 0}, "batch_size"),
        ({"seed": -1}, "seed"),
    ],
)
def test_bad_settings_are_clear_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SineTasks(**{"device": "cpu", **kwargs})


def test_query_inputs_are_drawn_apart_from_the_support_inputs() -> None:
    """D_test is new points of the same wave: no query x repeats a support x of its task."""
    ep = SineTasks("meta_train", k_shot=5, n_query=20, batch_size=16, seed=0).sample()
    same = (ep.query_x[:, :, None, 0] == ep.support_x[:, None, :, 0]).any()
    assert not same and ep.query_x.shape[1] == 20
    assert not torch.equal(ep.query_x[:, :5], ep.support_x)
