"""Notebook 04's checks: a right answer passes, the stub is "not implemented yet", and each
plausible mistake gets its own message (queries placed first are not called a leak)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from exercise_tables import mistake_is_named, right_passes_and_stub_fails, three_mistakes_each

from lecture_utils.exercises import black_box


def mann_inputs(support_features, support_y, query_features, label_size):
    one_hot = F.one_hot(support_y, label_size).float()
    support = torch.cat([support_features, one_hot], dim=-1)
    zeros = query_features.new_zeros(*query_features.shape[:2], label_size)
    return torch.cat([support, torch.cat([query_features, zeros], dim=-1)], dim=1)


def queries_before_support(sf, sy, qf, label_size):
    right = mann_inputs(sf, sy, qf, label_size)
    return torch.cat([right[:, sf.shape[1] :], right[:, : sf.shape[1]]], 1)


def leaky_inputs(sf, sy, qf, label_size):
    fake = F.one_hot(torch.zeros(qf.shape[:2], dtype=torch.long), label_size).float()
    right = mann_inputs(sf, sy, qf, label_size)
    return torch.cat([right[:, : sf.shape[1]], torch.cat([qf, fake], -1)], 1)


def one_hot_without_width(sf, sy, qf, label_size):
    support = torch.cat([sf, F.one_hot(sy).float()], -1)
    return torch.cat([support, F.pad(qf, (0, support.shape[-1] - qf.shape[-1]))], 1)


def label_index(sf, sy, qf, label_size):
    support = torch.cat([sf, sy[..., None].float()], -1)
    return torch.cat([support, F.pad(qf, (0, 1))], 1)


def label_before_features(sf, sy, qf, label_size):
    support = torch.cat([F.one_hot(sy, label_size).float(), sf], -1)
    return torch.cat([support, F.pad(qf, (label_size, 0))], 1)


def support_only(sf, sy, qf, label_size):
    return torch.cat([sf, F.one_hot(sy, label_size).float()], -1)


def query_loss(logits, labels, n_support):
    query = logits[:, n_support:]
    flat = labels[:, n_support:].reshape(-1)
    return F.cross_entropy(query.reshape(-1, query.shape[-1]), flat)


def loss_everywhere(logits, labels, n_support):
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1))


def loss_on_support(logits, labels, n_support):
    support = logits[:, :n_support]
    return F.cross_entropy(support.reshape(-1, support.shape[-1]), labels[:, :n_support].flatten())


def loss_from_last_support(logits, labels, n_support):
    return query_loss(logits, labels, n_support - 1)


def loss_skipping_a_query(logits, labels, n_support):
    return query_loss(logits, labels, n_support + 1)


def loss_summed(logits, labels, n_support):
    query = logits[:, n_support:]
    flat = labels[:, n_support:].reshape(-1)
    return F.cross_entropy(query.reshape(-1, query.shape[-1]), flat, reduction="sum")


def loss_summed_per_task(logits, labels, n_support):
    query = logits[:, n_support:]
    each = F.cross_entropy(query.transpose(1, 2), labels[:, n_support:], reduction="none")
    return each.sum(dim=1).mean()


def loss_sliced_over_tasks(logits, labels, n_support):
    query = logits[n_support:]
    return F.cross_entropy(query.reshape(-1, query.shape[-1]), labels[n_support:].reshape(-1))


def loss_not_flattened(logits, labels, n_support):
    return F.cross_entropy(logits[:, n_support:], labels[:, n_support:])


def average_context(g, support_features, support_y, n_way):
    one_hot = F.one_hot(support_y, n_way).float()
    return g(torch.cat([support_features, one_hot], dim=-1)).mean(dim=1)


def summed_context(g, sf, sy, n_way):
    return g(torch.cat([sf, F.one_hot(sy, n_way).float()], -1)).sum(1)


def last_item_context(g, sf, sy, n_way):
    return g(torch.cat([sf, F.one_hot(sy, n_way).float()], -1))[:, -1]


def g_after_the_mean(g, sf, sy, n_way):
    return g(torch.cat([sf, F.one_hot(sy, n_way).float()], -1).mean(1))


def label_first_context(g, sf, sy, n_way):
    return g(torch.cat([F.one_hot(sy, n_way).float(), sf], -1)).mean(1)


def index_context(g, sf, sy, n_way):
    return g(torch.cat([sf, sy[..., None].float()], -1)).mean(1)


def context_over_tasks(g, sf, sy, n_way):
    return g(torch.cat([sf, F.one_hot(sy, n_way).float()], -1)).mean(0)


def context_over_features(g, sf, sy, n_way):
    return g(torch.cat([sf, F.one_hot(sy, n_way).float()], -1)).mean(-1)


def stub(*args):
    raise NotImplementedError("your turn")


RIGHT = [
    (black_box.check_mann_inputs, mann_inputs),
    (black_box.check_query_loss, query_loss),
    (black_box.check_average_context, average_context),
]
MISTAKES = [
    (black_box.check_mann_inputs, queries_before_support, "the query rows come first"),
    (black_box.check_mann_inputs, leaky_inputs, "query labels leak"),
    (black_box.check_mann_inputs, one_hot_without_width, "pass label_size to one_hot"),
    (black_box.check_mann_inputs, label_index, "ends with the label index"),
    (black_box.check_mann_inputs, label_before_features, "the features come first"),
    (black_box.check_mann_inputs, support_only, "the query rows are missing"),
    (black_box.check_query_loss, loss_everywhere, "includes the support positions"),
    (black_box.check_query_loss, loss_on_support, "that is the loss on the support positions"),
    (black_box.check_query_loss, loss_from_last_support, "you started at n_support - 1"),
    (black_box.check_query_loss, loss_skipping_a_query, "you started at n_support \\+ 1"),
    (black_box.check_query_loss, loss_summed, "sum over the query positions; take the mean"),
    (black_box.check_query_loss, loss_summed_per_task, "sum over each task's queries"),
    (black_box.check_query_loss, loss_sliced_over_tasks, "the loss is nan: .* Positions are dim 1"),
    (
        black_box.check_query_loss,
        loss_not_flattened,
        r"loss_not_flattened\(logits=tensor\[2, 4, 3\].*raised RuntimeError.*flatten",
    ),
    (black_box.check_average_context, summed_context, "4× too large: average .* not sum"),
    (black_box.check_average_context, last_item_context, "changes when the support set is reord"),
    (black_box.check_average_context, g_after_the_mean, "averaged the pairs, then applied g"),
    (black_box.check_average_context, label_first_context, "the pairs are \\[one-hot label, feat"),
    (black_box.check_average_context, index_context, "not the label index"),
    (black_box.check_average_context, context_over_features, "averaged over the features"),
    (
        black_box.check_average_context,
        context_over_tasks,
        "you averaged over the tasks \\(dim 0\\)",
    ),
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


def test_queries_placed_first_are_not_called_a_leak() -> None:
    with pytest.raises(AssertionError) as caught:
        black_box.check_mann_inputs(queries_before_support)
    assert "leak" not in str(caught.value)


def test_the_hand_written_values_match_the_package_and_torch() -> None:
    from lecture_utils.models.black_box import lstm_input_sequence

    sf, sy = torch.tensor(black_box._SUPPORT_X), torch.tensor(black_box._SUPPORT_Y)
    qf = torch.tensor(black_box._QUERY_X)
    assert torch.equal(
        lstm_input_sequence(sf, sy, qf, 4), torch.tensor(black_box._SEQUENCE).float()
    )
    loss = query_loss(torch.tensor(black_box._LOGITS), torch.tensor(black_box._LABELS), 2)
    assert loss.item() == pytest.approx(black_box._QUERY_LOSS, abs=1e-6)
    phi = average_context(
        black_box._square, torch.tensor(black_box._CONTEXT_X), torch.tensor(black_box._CONTEXT_Y), 3
    )
    assert phi.tolist() == black_box._PHI
