"""Notebook 03's checks: counting a meta-batch's images, per-task label permutations and the
homework's one-hot label layout.

| check | the student writes |
|---|---|
| :func:`check_images_per_meta_batch` | Q1: the number of images in a meta-batch |
| :func:`check_label_permutation` | a fresh random label permutation per task |
| :func:`check_one_hot_layout` | the homework's one-hot labels ``[B, K+Q, N, N]`` |
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from lecture_utils.exercises.common import call, guarded, name_of, ok, tensor_of

# (B, N, K, Q) -> the number of images, counted by hand.
_COUNTS = {(1, 5, 1, 1): 10, (32, 5, 1, 1): 320, (32, 20, 5, 5): 6400, (16, 20, 1, 15): 5120}
# (2, 5, 1, 3): 40 images; what the usual mistakes give on it.
_COUNT_CASE = (2, 5, 1, 3)
_COUNT_WRONG = {
    16: "you counted Q per task; here (as in the homework) Q is per class: N·Q queries a task",
    20: "that is one task: a meta-batch holds B of them",
    10: "you left out the query images",
    8: "you left out N: each of the N classes has K support and Q query images",
    30: "K and Q are added, not multiplied: a class has K + Q images",
}


@guarded
def check_images_per_meta_batch(student_fn: Callable) -> None:
    """Q1: ``B·N·(K+Q)`` for several settings, with the usual mistakes named."""
    name = name_of(student_fn)
    params = ("batch_size", "n_way", "k_shot", "n_query")
    got = call(student_fn, *_COUNT_CASE, params=params)
    if got in _COUNT_WRONG:
        raise AssertionError(f"{name}{_COUNT_CASE} = {got}, expected 40: {_COUNT_WRONG[got]}.")
    for args, want in {_COUNT_CASE: 40, **_COUNTS}.items():
        got = call(student_fn, *args, params=params)
        if got != want:
            raise AssertionError(
                f"{name}{args} = {got}, expected {want}: a task has N·K support and N·Q query "
                "images; a meta-batch has B tasks."
            )
    ok(name, "B·N·(K+Q) images in a meta-batch")


def _is_permutation(rows: torch.Tensor, n: int) -> torch.Tensor:
    """Per row: does it hold every value 0..n-1 exactly once?"""
    return (rows.sort(dim=-1).values == torch.arange(n)).all(dim=-1)


@guarded
def check_label_permutation(student_fn: Callable) -> None:
    """Each task: a permutation of 0..N-1, fresh per task, uniform, drawn from ``generator``."""
    name = name_of(student_fn)
    params = ("n_tasks", "n_way", "generator")
    labels = call(student_fn, 4, 5, torch.Generator().manual_seed(0), params=params)
    tensor_of(labels, name, (4, 5), floating=False)
    if not _is_permutation(labels, 5).all():
        b = int((~_is_permutation(labels, 5)).nonzero()[0])
        if _is_permutation(labels.T, 4).all():
            raise AssertionError(
                f"{name}: each column is a permutation of the tasks 0..3, not each row of the "
                "labels 0..4: you shuffled along dim 0; sort each task's row (dim=1)."
            )
        raise AssertionError(
            f"{name}: labels are not a permutation of 0..N-1 in task {b}: "
            f"{labels[b].tolist()} (every label 0..4 must appear exactly once)."
        )
    many = call(student_fn, 2000, 5, torch.Generator().manual_seed(1), params=params)
    tensor_of(many, name, (2000, 5), floating=False)
    if (many == many[0]).all():
        if many[0].tolist() == list(range(5)):
            raise AssertionError(
                f"{name}: every task got the labels 0..4 in order: nothing was shuffled, so "
                "class c always has label c and a model can memorise it. Draw a permutation."
            )
        raise AssertionError(
            f"{name}: every task got the same labels {many[0].tolist()}: then class c always "
            "has the same label and a model can memorise it. Draw a new permutation per task."
        )
    share = torch.bincount(many[:, 0], minlength=5).float() / len(many)
    if (share - 0.2).abs().max() > 0.05:
        raise AssertionError(
            f"{name}: the first class gets labels 0..4 with frequencies "
            f"{[round(s, 3) for s in share.tolist()]}, expected about 0.2 each: the permutation "
            "is not uniformly random (argsort of uniform random numbers is)."
        )
    if len({tuple(r) for r in many.tolist()}) < 100:  # 120 permutations of 5: ~all appear
        raise AssertionError(
            f"{name}: only {len({tuple(r) for r in many.tolist()})} different permutations in "
            "2000 tasks (there are 120): the permutation is not uniformly random."
        )
    repeats = (many[1:] == many[:-1]).all(dim=1).float().mean().item()
    if repeats > 0.1:  # independent tasks repeat the previous permutation 1 time in 120
        raise AssertionError(
            f"{name}: {repeats:.0%} of the tasks repeat the previous task's permutation: the "
            "tasks are not independent. Draw every task's permutation afresh (one row each)."
        )
    again = [call(student_fn, 6, 5, torch.Generator().manual_seed(7), params=params)
             for _ in range(2)]  # fmt: skip
    if not torch.equal(again[0], again[1]):
        raise AssertionError(
            f"{name}: two calls with equally seeded generators gave different labels: draw "
            "every random number from the `generator` argument, not the global RNG."
        )
    ok(name, "a fresh, uniform permutation of 0..N-1 per task, reproducible from the generator")


# query_order [B=3, Q=2, N=4] and K = 2: the label of each row, written out by hand.
_QUERY_ORDER = [
    [[2, 0, 3, 1], [1, 3, 0, 2]],
    [[0, 2, 1, 3], [3, 1, 2, 0]],
    [[3, 2, 1, 0], [1, 0, 3, 2]],
]
_ORDERED = [0, 1, 2, 3]
_LAYOUT = [
    [_ORDERED, _ORDERED, [2, 0, 3, 1], [1, 3, 0, 2]],
    [_ORDERED, _ORDERED, [0, 2, 1, 3], [3, 1, 2, 0]],
    [_ORDERED, _ORDERED, [3, 2, 1, 0], [1, 0, 3, 2]],
]
_LAYOUT_WRONG = {
    "query rows first": [
        [[2, 0, 3, 1], [1, 3, 0, 2], _ORDERED, _ORDERED],
        [[0, 2, 1, 3], [3, 1, 2, 0], _ORDERED, _ORDERED],
        [[3, 2, 1, 0], [1, 0, 3, 2], _ORDERED, _ORDERED],
    ],
    "unshuffled queries": [[_ORDERED] * 4] * 3,
    "transposed": [  # each query row's inverse permutation
        [_ORDERED, _ORDERED, [1, 3, 0, 2], [2, 0, 3, 1]],
        [_ORDERED, _ORDERED, [0, 2, 1, 3], [3, 1, 2, 0]],
        [_ORDERED, _ORDERED, [3, 2, 1, 0], [1, 0, 3, 2]],
    ],
}
_LAYOUT_WHY = {
    "query rows first": "the query rows come first; the K support rows go above them (torch.cat "
    "order: support, then query_order)",
    "unshuffled queries": "the query rows are in label order like the support rows; they take "
    "their labels from query_order (shuffled columns)",
    "transposed": "row q's one-hot vectors are transposed: column n must be one_hot(query_order"
    "[b, q, n]), i.e. one-hot on the last dim",
}


@guarded
def check_one_hot_layout(student_fn: Callable) -> None:
    """The homework layout on a hand-written case: K support rows in label order, then the Q
    query rows with their labels from ``query_order``, one-hot on the last dimension."""
    name = name_of(student_fn)
    B, K, Q, N = 3, 2, 2, 4
    got = call(student_fn, torch.tensor(_QUERY_ORDER), K, params=("query_order", "k_shot"))
    if isinstance(got, torch.Tensor) and tuple(got.shape) in {(B, K + Q, N), (B, K + Q, N, 1)}:
        raise AssertionError(
            f"{name}: shape {list(got.shape)}: these are label indices, not one-hot vectors; "
            "one-hot encode them to [B, K+Q, N, N] (torch.nn.functional.one_hot(rows, N))."
        )
    if isinstance(got, torch.Tensor) and got.dim() == 4 and got.shape[1] != K + Q:
        raise AssertionError(
            f"{name}: {got.shape[1]} rows per task, expected K + Q = {K + Q}: k_shot support "
            "rows (each the labels 0..N-1), then the Q query rows."
        )
    tensor_of(got, name, (B, K + Q, N, N))
    if not got.is_floating_point():
        raise AssertionError(
            f"{name}: dtype is {got.dtype}: one_hot returns integers; add .float() (the loss and "
            "the model take float labels)."
        )
    bad = (~((got == 0) | (got == 1)).all(-1) | (got.sum(-1) != 1)).nonzero()
    if len(bad):
        b, r, n = bad[0].tolist()
        raise AssertionError(
            f"{name}: task {b}, row {r}, column {n} is {got[b, r, n].tolist()}, not a one-hot "
            "vector (one 1, the rest 0)."
        )
    labels = got.argmax(-1).tolist()
    if labels == _LAYOUT:
        ok(name, f"labels [B, K+Q, N, N] = {list(got.shape)}, support then shuffled query rows")
        return
    for mistake, wrong in _LAYOUT_WRONG.items():
        if labels == wrong:
            raise AssertionError(f"{name}: {_LAYOUT_WHY[mistake]}.")
    b, r = next((b, r) for b in range(B) for r in range(K + Q) if labels[b][r] != _LAYOUT[b][r])
    raise AssertionError(
        f"{name}: task {b}, {'support' if r < K else 'query'} row {r} has labels "
        f"{labels[b][r]}, expected {_LAYOUT[b][r]} (query_order = {_QUERY_ORDER}, k_shot = {K})."
    )
