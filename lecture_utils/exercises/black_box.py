"""Notebook 04's checks: the MANN input sequence, the query-only loss and the averaged context.

| check | the student writes |
|---|---|
| :func:`check_mann_inputs` | the MANN input sequence, query labels zeroed |
| :func:`check_query_loss` | cross-entropy on the query positions only |
| :func:`check_average_context` | φ = mean over the support set of g([x, one-hot y]) |
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from lecture_utils.exercises.common import (
    LN2,
    LN3,
    call,
    guarded,
    name_of,
    ok,
    rounded,
    same,
    scalar,
    tensor_of,
)

# Two tasks, S = 2 support rows with 2 features, T = 1 query, label_size = 4 (more than the
# labels present, so one_hot must be told the width). The sequence, written out by hand:
_SUPPORT_X = [[[1.0, 2.0], [3.0, 4.0]], [[7.0, 8.0], [9.0, 10.0]]]
_SUPPORT_Y = [[2, 0], [1, 1]]
_QUERY_X = [[[5.0, 6.0]], [[11.0, 12.0]]]
_SEQUENCE = [
    [[1, 2, 0, 0, 1, 0], [3, 4, 1, 0, 0, 0], [5, 6, 0, 0, 0, 0]],
    [[7, 8, 0, 1, 0, 0], [9, 10, 0, 1, 0, 0], [11, 12, 0, 0, 0, 0]],
]
_QUERIES_FIRST = [
    [[5, 6, 0, 0, 0, 0], [1, 2, 0, 0, 1, 0], [3, 4, 1, 0, 0, 0]],
    [[11, 12, 0, 0, 0, 0], [7, 8, 0, 1, 0, 0], [9, 10, 0, 1, 0, 0]],
]
_LABEL_FIRST = [
    [[0, 0, 1, 0, 1, 2], [1, 0, 0, 0, 3, 4], [0, 0, 0, 0, 5, 6]],
    [[0, 1, 0, 0, 7, 8], [0, 1, 0, 0, 9, 10], [0, 0, 0, 0, 11, 12]],
]


@guarded
def check_mann_inputs(student_fn: Callable) -> None:
    """Support rows (features, one-hot label), then query rows with an all-zero label part."""
    name = name_of(student_fn)
    B, S, T, D, L = 2, 2, 1, 2, 4
    got = call(
        student_fn,
        torch.tensor(_SUPPORT_X),
        torch.tensor(_SUPPORT_Y),
        torch.tensor(_QUERY_X),
        L,
        params=("support_features", "support_y", "query_features", "label_size"),
    )
    if isinstance(got, torch.Tensor) and got.dim() == 3 and got.shape[:2] == (B, S + T):
        width = got.shape[-1] - D
        if width == 3:
            raise AssertionError(
                f"{name}: the label part has width 3, expected label_size = {L}: pass label_size "
                "to one_hot (a batch need not hold every label, so max + 1 can be too small)."
            )
        if width == 1:
            raise AssertionError(
                f"{name}: each row ends with the label index; append the one-hot label "
                "(torch.nn.functional.one_hot(support_y, label_size)) instead."
            )
    if isinstance(got, torch.Tensor) and got.dim() == 3 and got.shape[1] == S:
        raise AssertionError(
            f"{name}: {S} rows per task: the query rows are missing; append them after the "
            "support rows (torch.cat on dim 1)."
        )
    tensor_of(got, name, (B, S + T, D + L), floating=True)
    if same(got, _SEQUENCE):
        ok(name, "support (features, one-hot label) pairs, then queries with zeroed labels")
        return
    if same(got, _QUERIES_FIRST):
        raise AssertionError(
            f"{name}: the query rows come first; the support rows (features, one-hot label) must "
            "come first and the queries after them, so the model has read D_tr before it predicts."
        )
    if same(got, _LABEL_FIRST):
        raise AssertionError(
            f"{name}: each row is [one-hot label, features]; the features come first: "
            "torch.cat([features, labels], dim=-1)."
        )
    if got[:, S:, D:].abs().sum() > 0:
        raise AssertionError(
            f"{name}: query labels leak: the label part of the query rows must be all zeros "
            "(the model has to predict those labels, not read them)."
        )
    want = torch.tensor(_SEQUENCE, dtype=got.dtype)
    b, r = ((got - want).abs().sum(-1) > 1e-5).nonzero()[0].tolist()
    role = "support" if r < S else "query"
    raise AssertionError(
        f"{name}: task {b}, row {r} ({role}) is {rounded(got[b, r], 3)}, expected "
        f"{want[b, r].tolist()} for support_features = {_SUPPORT_X}, support_y = {_SUPPORT_Y}, "
        f"query_features = {_QUERY_X}, label_size = {L}."
    )


# Two tasks of 2 support + 2 query positions, 3 classes. Support logits are all zero (CE ln 3
# each); query logits put ln 2 on one class (CE ln 2 if it is the label, 2 ln 2 if not).
_Q = LN2
_LOGITS = [
    [[0, 0, 0], [0, 0, 0], [_Q, 0, 0], [0, _Q, 0]],
    [[0, 0, 0], [0, 0, 0], [0, 0, _Q], [_Q, 0, 0]],
]
_LABELS = [[1, 2, 0, 0], [0, 0, 2, 0]]  # query CEs: ln 2, 2 ln 2 | ln 2, ln 2
_QUERY_LOSS = 1.25 * LN2
_QUERY_LOSS_WRONG = {
    (4 * LN3 + 5 * LN2) / 8: "your loss includes the support positions: the model sees their "
    "labels in its input, so only the query positions n_support: measure learning",
    LN3: "that is the loss on the support positions; take positions n_support: (the queries)",
    (2 * LN3 + 5 * LN2) / 6: "off by one: you started at n_support - 1, the last support position; "
    "the queries start at position n_support",
    1.5 * LN2: "off by one: you started at n_support + 1 and missed the first query position",
    5 * LN2: "that is the sum over the query positions; take the mean",
    2.5 * LN2: "that is the sum over each task's queries, averaged over tasks; take the mean "
    "over every query position",
}


@guarded
def check_query_loss(student_fn: Callable) -> None:
    """The mean cross-entropy over the query positions only, on logits with known losses."""
    name = name_of(student_fn)
    got = call(
        student_fn,
        torch.tensor(_LOGITS, requires_grad=True),
        torch.tensor(_LABELS),
        2,
        params=("logits", "labels", "n_support"),
        hint="F.cross_entropy takes logits [M, N] and labels [M]: flatten the query slice with "
        ".reshape(-1, N) and the labels with .reshape(-1).",
    )
    loss = scalar(got, name, "the mean cross-entropy over the query positions")
    if torch.isnan(loss):
        raise AssertionError(
            f"{name}: the loss is nan: the slice you averaged over is empty. Positions are "
            "dim 1: logits[:, n_support:] and labels[:, n_support:]."
        )
    if abs(loss.item() - _QUERY_LOSS) > 1e-5:
        for value, why in _QUERY_LOSS_WRONG.items():
            if abs(loss.item() - value) < 1e-5:
                raise AssertionError(f"{name}: loss {loss.item():.4f}, expected 1.25·ln 2: {why}.")
        raise AssertionError(
            f"{name}: loss {loss.item():.4f}, expected 1.25·ln 2 = {_QUERY_LOSS:.4f} (the query "
            "CEs are ln 2, 2 ln 2 in task 0 and ln 2, ln 2 in task 1): the mean cross-entropy "
            "over positions n_support: of logits [B, T, N]."
        )
    if got.grad_fn is None:
        raise AssertionError(
            f"{name}: the loss is detached from the logits (no grad_fn): compute it with "
            "torch operations so backward() reaches the model."
        )
    ok(name, "mean cross-entropy over the query positions only")


# g squares each entry (so applying g before or after the mean differs). Support features
# [B=2, S=4, 2], labels over n_way = 3; phi = mean over S of ([x, one-hot y])**2, by hand.
_CONTEXT_X = [
    [[1.0, 2.0], [3.0, 4.0], [5.0, 0.0], [-1.0, 2.0]],
    [[0.0, 0.0], [2.0, 2.0], [4.0, -2.0], [2.0, 0.0]],
]
_CONTEXT_Y = [[0, 2, 0, 1], [1, 1, 1, 1]]
_PHI = [[9.0, 6.0, 0.5, 0.25, 0.25], [6.0, 2.0, 0.0, 1.0, 0.0]]
_PHI_WRONG = {
    "g after the mean": (
        [[4.0, 4.0, 0.25, 0.0625, 0.0625], [4.0, 0.0, 0.0, 1.0, 0.0]],
        "you averaged the pairs, then applied g; apply g to every pair, then average",
    ),
    "no g": (
        [[2.0, 2.0, 0.5, 0.25, 0.25], [2.0, 0.0, 0.0, 1.0, 0.0]],
        "g is not applied: φ is the mean of g([features, one-hot label])",
    ),
    "label first": (
        [[0.5, 0.25, 0.25, 9.0, 6.0], [0.0, 1.0, 0.0, 6.0, 2.0]],
        "the pairs are [one-hot label, features]; g expects [features, one-hot label]",
    ),
}


def _square(pairs: torch.Tensor) -> torch.Tensor:
    """The check's g: every entry squared."""
    return pairs**2


@guarded
def check_average_context(student_fn: Callable) -> None:
    """φ = mean over the support set of g([features, one-hot label]), order-invariant, on a
    case computed by hand (g squares every entry)."""
    name = name_of(student_fn)
    B, S, C = 2, 4, 5
    params = ("g", "support_features", "support_y", "n_way")
    x, y = torch.tensor(_CONTEXT_X), torch.tensor(_CONTEXT_Y)
    got = call(student_fn, _square, x, y, 3, params=params)
    if isinstance(got, torch.Tensor) and tuple(got.shape) == (B, 3):
        raise AssertionError(
            f"{name}: φ has 3 columns, expected 2 features + n_way = {C}: append the one-hot "
            "label (torch.nn.functional.one_hot(support_y, n_way)), not the label index."
        )
    if isinstance(got, torch.Tensor) and tuple(got.shape) in {(S, C), (B, S)}:
        axis = "the tasks (dim 0)" if tuple(got.shape) == (S, C) else "the features (dim -1)"
        raise AssertionError(
            f"{name}: φ has shape {list(got.shape)}, expected [{B}, {C}]: you averaged over "
            f"{axis}; average over the support set, dim 1 of [B, S, F + n_way]."
        )
    tensor_of(got, name, (B, C), floating=True)
    if same(got, [[S * v for v in row] for row in _PHI]):
        raise AssertionError(f"{name}: φ is {S}× too large: average over the support set, not sum.")
    for wrong, why in _PHI_WRONG.values():
        if same(got, wrong):
            raise AssertionError(f"{name}: {why}.")
    perm = torch.tensor([2, 0, 3, 1])
    shuffled = call(student_fn, _square, x[:, perm], y[:, perm], 3, params=params)
    if isinstance(shuffled, torch.Tensor) and not same(shuffled, got):
        raise AssertionError(
            f"{name}: φ changes when the support set is reordered: use every support item, "
            "averaged over dim 1 (not the first or last item)."
        )
    if not same(got, _PHI):
        raise AssertionError(
            f"{name}: φ = {rounded(got, 4)}, expected {_PHI} for g(z) = z**2, "
            f"support_features = {_CONTEXT_X}, support_y = {_CONTEXT_Y}, n_way = 3: the mean "
            "over the support set of g([features, one-hot label])."
        )
    ok(name, "φ = mean of g([x, one-hot y]) over D_train, order-invariant")
