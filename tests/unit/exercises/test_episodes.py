"""Notebook 03's checks: a right answer passes, the stub is "not implemented yet", and each
plausible mistake gets its own message."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from exercise_tables import mistake_is_named, right_passes_and_stub_fails, three_mistakes_each

from lecture_utils.exercises import episodes


def count_images(batch_size, n_way, k_shot, n_query):
    return batch_size * n_way * (k_shot + n_query)


def permute_labels(n_tasks, n_way, generator):
    return torch.rand(n_tasks, n_way, generator=generator).argsort(dim=1)


def fixed_labels(n_tasks, n_way, generator):
    return torch.arange(n_way).expand(n_tasks, n_way).clone()


def one_permutation_for_all(n_tasks, n_way, generator):
    return torch.randperm(n_way, generator=generator).expand(n_tasks, n_way).clone()


def global_rng_labels(n_tasks, n_way, generator):
    return torch.rand(n_tasks, n_way).argsort(dim=1)


def repeated_labels(n_tasks, n_way, generator):
    return torch.randint(0, n_way, (n_tasks, n_way), generator=generator)


def biased_labels(n_tasks, n_way, generator):  # a random cyclic shift by 0 or 1
    shift = torch.randint(0, 2, (n_tasks, 1), generator=generator)
    return (torch.arange(n_way) + shift) % n_way


def shifted_labels(n_tasks, n_way, generator):  # uniform marginals, but only N of N! orders
    shift = torch.randint(0, n_way, (n_tasks, 1), generator=generator)
    return (torch.arange(n_way) + shift) % n_way


def labels_in_pairs(n_tasks, n_way, generator):  # two tasks share each draw
    drawn = torch.rand((n_tasks + 1) // 2, n_way, generator=generator).argsort(dim=1)
    return drawn.repeat_interleave(2, dim=0)[:n_tasks]


def argsort_over_tasks(n_tasks, n_way, generator):
    return torch.rand(n_tasks, n_way, generator=generator).argsort(dim=0)


def homework_labels(query_order, k_shot):
    B, Q, N = query_order.shape
    rows = torch.cat([torch.arange(N).expand(B, k_shot, N), query_order], dim=1)
    return F.one_hot(rows, N).float()


def unshuffled_queries(query_order, k_shot):
    B, Q, N = query_order.shape
    return F.one_hot(torch.arange(N).expand(B, k_shot + Q, N), N).float()


def query_first(query_order, k_shot):
    B, Q, N = query_order.shape
    rows = torch.cat([query_order, torch.arange(N).expand(B, k_shot, N)], dim=1)
    return F.one_hot(rows, N).float()


def index_labels(query_order, k_shot):
    B, Q, N = query_order.shape
    return torch.cat([torch.arange(N).expand(B, k_shot, N), query_order], 1).float()[..., None]


def integer_one_hot(query_order, k_shot):
    return homework_labels(query_order, k_shot).long()


def transposed_one_hot(query_order, k_shot):
    return homework_labels(query_order, k_shot).transpose(-1, -2)


def one_support_row(query_order, k_shot):
    return homework_labels(query_order, 1)


def stub(*args):
    raise NotImplementedError("your turn")


RIGHT = [
    (episodes.check_images_per_meta_batch, count_images),
    (episodes.check_label_permutation, permute_labels),
    (episodes.check_one_hot_layout, homework_labels),
]
COUNT = episodes.check_images_per_meta_batch
MISTAKES = [
    (COUNT, lambda B, N, K, Q: B * (N * K + Q), "you counted Q per task"),
    (COUNT, lambda B, N, K, Q: N * (K + Q), "that is one task"),
    (COUNT, lambda B, N, K, Q: B * N * K, "you left out the query images"),
    (COUNT, lambda B, N, K, Q: B * (K + Q), "you left out N"),
    (COUNT, lambda B, N, K, Q: B * N * K * Q, "K and Q are added, not multiplied"),
    (episodes.check_label_permutation, fixed_labels, "nothing was shuffled"),
    (episodes.check_label_permutation, one_permutation_for_all, "every task got the same labels"),
    (episodes.check_label_permutation, global_rng_labels, "not the global RNG"),
    (episodes.check_label_permutation, repeated_labels, "not a permutation of 0..N-1 in task"),
    (episodes.check_label_permutation, biased_labels, "frequencies .* not uniformly random"),
    (episodes.check_label_permutation, shifted_labels, "only 5 different permutations"),
    (episodes.check_label_permutation, labels_in_pairs, "repeat the previous task's permutation"),
    (episodes.check_label_permutation, argsort_over_tasks, "you shuffled along dim 0"),
    (episodes.check_one_hot_layout, unshuffled_queries, "they take their labels from query_order"),
    (episodes.check_one_hot_layout, query_first, "the query rows come first"),
    (episodes.check_one_hot_layout, index_labels, "label indices, not one-hot vectors"),
    (episodes.check_one_hot_layout, integer_one_hot, "one_hot returns integers; add .float()"),
    (episodes.check_one_hot_layout, transposed_one_hot, "one-hot vectors are transposed"),
    (episodes.check_one_hot_layout, one_support_row, "3 rows per task, expected K \\+ Q = 4"),
]


@pytest.mark.parametrize(("check", "right"), RIGHT, ids=lambda v: getattr(v, "__name__", ""))
def test_a_right_answer_passes_quickly_and_a_stub_is_not_implemented(check, right, capsys) -> None:
    right_passes_and_stub_fails(check, right, stub, capsys)


@pytest.mark.parametrize(("check", "wrong", "message"), MISTAKES, ids=[
    f"{m[0].__name__}-{i}" for i, m in enumerate(MISTAKES)
])  # fmt: skip
def test_each_plausible_mistake_is_named(check, wrong, message: str) -> None:
    mistake_is_named(check, wrong, message)


def test_every_exercise_has_at_least_three_mistakes() -> None:
    three_mistakes_each(RIGHT, MISTAKES)


def test_the_hand_written_layout_matches_the_sampler() -> None:
    """The check's literal layout is what the sampler's homework layout builds."""
    from lecture_utils.episodes.sampler import EpisodeSampler

    batch = EpisodeSampler(
        torch.rand(12, 20, 28, 28), list(range(12)), n_way=4, k_shot=2, n_query=3,
        layout="homework", seed=0, batch_size=5,
    ).sample()  # fmt: skip
    assert torch.equal(homework_labels(batch.labels[:, 2:].argmax(-1), 2), batch.labels.float())
    got = homework_labels(torch.tensor(episodes._QUERY_ORDER), 2).argmax(-1).tolist()
    assert got == episodes._LAYOUT


def test_the_hand_written_counts_are_right() -> None:
    for args, want in episodes._COUNTS.items():
        assert count_images(*args) == want
    assert count_images(*episodes._COUNT_CASE) == 40
