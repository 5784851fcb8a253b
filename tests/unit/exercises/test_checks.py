"""The exercise checks: pass with the reference, fail with the stub and with plausible mistakes."""

from __future__ import annotations

import math
import time

import pytest
import torch
import torch.nn.functional as F

from lecture_utils.exercises import checks as ex


def stub(*args, **kwargs):
    raise NotImplementedError("your turn")


@pytest.mark.parametrize("name", list(ex.CHECKS))
def test_reference_passes_quickly(name: str, capsys: pytest.CaptureFixture) -> None:
    check, reference = ex.CHECKS[name]
    t0 = time.perf_counter()
    check(reference)
    assert time.perf_counter() - t0 < 1.0
    assert capsys.readouterr().out.startswith("✓ ")


@pytest.mark.parametrize("name", list(ex.CHECKS))
def test_stub_fails_with_not_implemented(name: str) -> None:
    check, _ = ex.CHECKS[name]
    with pytest.raises(AssertionError, match="not implemented yet: replace the stub"):
        check(stub)


def fixed_labels(n_tasks, n_way, generator):
    return torch.arange(n_way).expand(n_tasks, n_way).clone()


def global_rng_labels(n_tasks, n_way, generator):
    return torch.rand(n_tasks, n_way).argsort(dim=1)


def repeated_labels(n_tasks, n_way, generator):
    return torch.randint(0, n_way, (n_tasks, n_way), generator=generator)


def biased_labels(n_tasks, n_way, generator):  # a random cyclic shift is not uniform over rows
    shift = torch.randint(0, 2, (n_tasks, 1), generator=generator)
    return (torch.arange(n_way) + shift) % n_way


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


def queries_before_support(sf, sy, qf, label_size):
    right = ex.reference_mann_inputs(sf, sy, qf, label_size)
    return torch.cat([right[:, sf.shape[1] :], right[:, : sf.shape[1]]], 1)


def warmup_unguarded(step, warmup):
    return min(1.0, (step + 1) / warmup)


def leaky_inputs(sf, sy, qf, label_size):
    qy = torch.zeros(qf.shape[:2], dtype=torch.long)
    return torch.cat(
        [
            ex.reference_mann_inputs(sf, sy, qf, label_size)[:, : sf.shape[1]],
            torch.cat([qf, F.one_hot(qy, label_size).float()], -1),
        ],
        1,
    )


def loss_everywhere(logits, labels, n_support):
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1))


def loss_support_only(logits, labels, n_support):
    return ex.reference_query_loss(logits.flip(1), labels.flip(1), logits.shape[1] - n_support)


def summed_context(g, sf, sy, n_way):
    return g(torch.cat([sf, F.one_hot(sy, n_way).float()], -1)).sum(1)


def last_item_context(g, sf, sy, n_way):
    return g(torch.cat([sf, F.one_hot(sy, n_way).float()], -1))[:, -1]


def swapped_weights(la, ya, lb, yb, w):
    return ex.reference_joint_loss(la, ya, lb, yb, 1 - w)


def unweighted_sum(la, ya, lb, yb, w):
    return F.cross_entropy(la, ya) + F.cross_entropy(lb, yb)


def same_lr_groups(layers, top_lr, factor):
    return [{"params": list(layer.parameters()), "lr": top_lr} for layer in layers]


def reversed_lr_groups(layers, top_lr, factor):
    return [
        {"params": list(layer.parameters()), "lr": top_lr / factor**i}
        for i, layer in enumerate(layers)
    ]


def one_group(layers, top_lr, factor):
    return [{"params": [p for layer in layers for p in layer.parameters()], "lr": top_lr}]


def nll_without_constant(y, mean, sigma):
    return ex.reference_gaussian_nll(y, mean, sigma) - 0.5 * math.log(2 * math.pi)


def nll_without_log_sigma(y, mean, sigma):
    return (0.5 * ((y - mean) / sigma) ** 2 + 0.5 * math.log(2 * math.pi)).mean()


def mse(y, mean, sigma):
    return ((y - mean) ** 2).mean()


def summed_pair_context(e, sx, sy):
    return e(torch.cat([sx, sy], dim=-1)).sum(dim=1)


def swapped_pair_context(e, sx, sy):
    return e(torch.cat([sy, sx], dim=-1)).mean(dim=1)


def first_point_context(e, sx, sy):
    return e(torch.cat([sx, sy], dim=-1))[:, 0]


def freeze_everything(model):
    model.requires_grad_(False)


def freeze_trunk_only(model):  # forgets that the head may have been frozen before
    model.trunk.requires_grad_(False)


def eval_mode_only(model):
    model.eval()


def warmup_from_zero(step, warmup):
    return step / warmup if step < warmup else 1.0


def warmup_without_cap(step, warmup):
    return (step + 1) / warmup if warmup else 1.0


WRONG = [
    ("label_permutation", fixed_labels, "every task got the same labels"),
    ("label_permutation", global_rng_labels, "global RNG"),
    ("label_permutation", repeated_labels, "not a permutation of 0..N-1 in task"),
    ("label_permutation", biased_labels, "not uniformly random"),
    ("one_hot_layout", unshuffled_queries, "query rows take their labels from query_order"),
    ("one_hot_layout", query_first, "support row 0"),
    ("one_hot_layout", index_labels, "shape"),
    ("images_per_meta_batch", lambda B, N, K, Q: B * (N * K + Q), "Q per task"),
    ("images_per_meta_batch", lambda B, N, K, Q: N * (K + Q), "one task"),
    ("images_per_meta_batch", lambda B, N, K, Q: B * N * K, "left out the query"),
    ("mann_inputs", leaky_inputs, "query labels leak"),
    ("mann_inputs", lambda sf, sy, qf, n: torch.cat([sf, qf], 1), "shape"),
    ("query_loss", loss_everywhere, "includes the support positions"),
    ("query_loss", loss_support_only, "differs from the reference"),
    ("average_context", summed_context, "not sum"),
    ("average_context", last_item_context, "differs from the reference"),
    ("joint_loss", swapped_weights, "weight belongs to task A"),
    ("joint_loss", unweighted_sum, "differs from the reference"),
    ("param_groups", same_lr_groups, "expected 0.0025"),
    ("param_groups", reversed_lr_groups, "the head"),
    ("param_groups", one_group, "one per layer"),
    ("freeze_trunk", freeze_everything, "all True for the head"),
    ("mann_inputs", queries_before_support, "the query rows come first"),
    ("freeze_trunk", freeze_trunk_only, "all True for the head"),
    ("freeze_trunk", eval_mode_only, "all False for the trunk"),
    ("warmup_factor", warmup_from_zero, "a factor of 0 wastes a step"),
    ("warmup_factor", warmup_unguarded, "warmup=0 .* divides by zero"),
    ("warmup_factor", warmup_without_cap, "then stay at 1"),
    ("gaussian_nll", nll_without_constant, "constant"),
    ("gaussian_nll", nll_without_log_sigma, "log σ term is missing"),
    ("gaussian_nll", mse, "differs from the reference"),
    ("pair_context", summed_pair_context, "not sum"),
    ("pair_context", swapped_pair_context, "the encoder expects"),
    ("pair_context", first_point_context, "differs from the reference"),
]


@pytest.mark.parametrize(("name", "wrong", "message"), WRONG, ids=[w[1].__name__ for w in WRONG])
def test_plausible_mistakes_are_explained(name: str, wrong, message: str) -> None:
    check, _ = ex.CHECKS[name]
    with pytest.raises(AssertionError, match=message):
        check(wrong)


def test_every_check_has_a_mistake_test() -> None:
    assert {name for name, _, _ in WRONG} == set(ex.CHECKS)


def test_the_reference_one_hot_layout_matches_the_sampler() -> None:
    """The exercise's reference is the sampler's own homework labels."""
    from lecture_utils.episodes.sampler import EpisodeSampler

    images = torch.rand(12, 20, 28, 28)
    batch = EpisodeSampler(
        images,
        list(range(12)),
        n_way=4,
        k_shot=2,
        n_query=3,
        layout="homework",
        seed=0,
        batch_size=5,
    ).sample()
    query_order = batch.labels[:, 2:].argmax(-1)
    assert torch.equal(ex.reference_one_hot_layout(query_order, 2), batch.labels.float())


def test_the_reference_mann_inputs_match_the_package() -> None:
    from lecture_utils.models.black_box import lstm_input_sequence

    sf, qf, sy = torch.randn(2, 6, 4), torch.randn(2, 3, 4), torch.randint(0, 3, (2, 6))
    assert torch.allclose(
        ex.reference_mann_inputs(sf, sy, qf, 5), lstm_input_sequence(sf, sy, qf, 5)
    )


def test_the_reference_pair_context_matches_the_neural_process() -> None:
    from lecture_utils.models.regression import NeuralProcess

    model = NeuralProcess(context_dim=8, hidden=16)
    sx, sy = torch.randn(2, 5, 1), torch.randn(2, 5, 1)
    want = model.context(sx, sy)
    assert torch.allclose(ex.reference_pair_context(model.encoder, sx, sy), want)


def test_the_reference_gaussian_nll_matches_the_package() -> None:
    from lecture_utils.models.regression import gaussian_nll

    y, m, s = torch.randn(3, 4), torch.randn(3, 4), torch.rand(3, 4) + 0.1
    assert torch.allclose(ex.reference_gaussian_nll(y, m, s), gaussian_nll(y, m, s))
