"""EpisodeSampler randomness: every task of a meta-batch is shuffled on its own, and the
``generator=`` argument really drives the draws."""

from __future__ import annotations

import torch

from lecture_utils.episodes.sampler import EpisodeSampler

S = 6


def pool() -> torch.Tensor:
    """``[12, 20, S, S]`` random images: every image is unique."""
    return torch.rand(12, 20, S, S, generator=torch.Generator().manual_seed(0))


def distinct_rows(t: torch.Tensor) -> int:
    return len({tuple(row) for row in t.flatten(1).tolist()})


def same(a, b) -> bool:
    return all(torch.equal(x, y) for x, y in zip(vars(a).values(), vars(b).values(), strict=True))


# ---- one shuffle per task, not per meta-batch ------------------------------------------------


def test_tasks_of_one_meta_batch_get_different_position_shuffles() -> None:
    """64 tasks of 5-way 2-shot: 10!/(2!^5) = 113,400 label orders, so 64 draws never all
    coincide; one permutation shared by the meta-batch would give one distinct row."""
    ep = EpisodeSampler(pool(), n_way=5, k_shot=2, n_query=2, batch_size=64, seed=1).sample()
    assert distinct_rows(ep.support_y) > 60
    assert distinct_rows(ep.query_y) > 60


def test_tasks_of_one_meta_batch_get_different_class_assignments() -> None:
    ep = EpisodeSampler(pool(), n_way=5, batch_size=64, seed=2).sample()
    assert distinct_rows(ep.classes) > 60


def test_homework_query_rows_are_shuffled_per_task() -> None:
    """Homework layout: the query row's column order is drawn per task (5! = 120 orders)."""
    batch = EpisodeSampler(
        pool(), n_way=5, k_shot=1, n_query=1, batch_size=64, layout="homework", seed=3
    ).sample()
    query_labels = batch.labels[:, 1].argmax(-1)  # [B, N]
    assert distinct_rows(query_labels) > 30
    support_labels = batch.labels[:, 0].argmax(-1)
    assert (support_labels == torch.arange(5)).all()


# ---- generator= ------------------------------------------------------------------------------


def test_different_generators_give_different_episodes() -> None:
    a = EpisodeSampler(pool(), batch_size=4, generator=torch.Generator().manual_seed(5))
    b = EpisodeSampler(pool(), batch_size=4, generator=torch.Generator().manual_seed(6))
    assert not same(a.sample(), b.sample())


def test_same_generator_seed_gives_the_same_episodes() -> None:
    a = EpisodeSampler(pool(), batch_size=4, generator=torch.Generator().manual_seed(5))
    b = EpisodeSampler(pool(), batch_size=4, generator=torch.Generator().manual_seed(5))
    for _ in range(3):
        assert same(a.sample(), b.sample())


def test_generator_takes_precedence_over_the_default_seed() -> None:
    default = EpisodeSampler(pool(), batch_size=4).sample()  # seed=0
    with_gen = EpisodeSampler(pool(), batch_size=4, generator=torch.Generator().manual_seed(5))
    assert not same(default, with_gen.sample())


def test_the_generator_passed_is_the_one_consumed() -> None:
    gen = torch.Generator().manual_seed(5)
    state = gen.get_state()
    EpisodeSampler(pool(), batch_size=4, generator=gen).sample()
    assert not torch.equal(gen.get_state(), state), "the sampler did not draw from generator="
