"""Notebook 05's checks: a right answer passes, the stub is "not implemented yet", and each
plausible mistake gets its own message."""

from __future__ import annotations

import math

import pytest
import torch
from exercise_tables import mistake_is_named, right_passes_and_stub_fails, three_mistakes_each

from lecture_utils.exercises import regression


def nll(y, mean, sigma):
    z = (y - mean) / sigma
    return (torch.log(sigma) + 0.5 * z**2 + 0.5 * math.log(2 * math.pi)).mean()


def nll_without_constant(y, mean, sigma):
    return nll(y, mean, sigma) - 0.5 * math.log(2 * math.pi)


def nll_without_log_sigma(y, mean, sigma):
    return (0.5 * ((y - mean) / sigma) ** 2 + 0.5 * math.log(2 * math.pi)).mean()


def nll_sigma_for_variance(y, mean, sigma):
    return (torch.log(sigma) + (y - mean) ** 2 / (2 * sigma) + 0.5 * math.log(2 * math.pi)).mean()


def nll_log_variance(y, mean, sigma):
    return nll(y, mean, sigma) + torch.log(sigma).mean()


def nll_without_half(y, mean, sigma):
    z = (y - mean) / sigma
    return (torch.log(sigma) + z**2 + 0.5 * math.log(2 * math.pi)).mean()


def nll_summed(y, mean, sigma):
    return nll(y, mean, sigma) * y.numel()


def log_likelihood(y, mean, sigma):
    return -nll(y, mean, sigma)


def mse(y, mean, sigma):
    return ((y - mean) ** 2).mean()


def nll_per_row(y, mean, sigma):
    z = (y - mean) / sigma
    return (torch.log(sigma) + 0.5 * z**2 + 0.5 * math.log(2 * math.pi)).mean(dim=1)


def nll_as_float(y, mean, sigma):
    return nll(y, mean, sigma).item()


def context(e, support_x, support_y):
    return e(torch.cat([support_x, support_y], dim=-1)).mean(dim=1)


def summed_pair_context(e, sx, sy):
    return e(torch.cat([sx, sy], dim=-1)).sum(dim=1)


def swapped_pair_context(e, sx, sy):
    return e(torch.cat([sy, sx], dim=-1)).mean(dim=1)


def first_point_context(e, sx, sy):
    return e(torch.cat([sx, sy], dim=-1))[:, 0]


def e_after_the_mean(e, sx, sy):
    return e(torch.cat([sx, sy], dim=-1).mean(dim=1))


def context_over_tasks(e, sx, sy):
    return e(torch.cat([sx, sy], dim=-1)).mean(dim=0)


def context_over_features(e, sx, sy):
    return e(torch.cat([sx, sy], dim=-1)).mean(dim=-1)


def pairs_on_dim_1(e, sx, sy):
    return e(torch.cat([sx, sy], dim=1)).mean(dim=1)


def stub(*args):
    raise NotImplementedError("your turn")


RIGHT = [(regression.check_gaussian_nll, nll), (regression.check_pair_context, context)]
NLL, PAIR = regression.check_gaussian_nll, regression.check_pair_context
MISTAKES = [
    (NLL, nll_without_constant, "you left out the constant"),
    (NLL, nll_without_log_sigma, "the log σ term is missing"),
    (NLL, nll_sigma_for_variance, "you divided \\(y - μ\\)² by 2σ; divide by 2σ²"),
    (NLL, nll_log_variance, "you used log σ² = 2 log σ"),
    (NLL, nll_without_half, "the squared term lacks its 1/2"),
    (NLL, nll_summed, "the sum over the points; take the mean"),
    (NLL, log_likelihood, "wrong sign"),
    (NLL, mse, "that is the mean squared error"),
    (NLL, nll_per_row, r"shape \[2\], expected a scalar .* with .mean\(\)"),
    (NLL, nll_as_float, "returned float .* keep it a tensor"),
    (PAIR, summed_pair_context, "4× too large: average over D_train, not sum"),
    (PAIR, swapped_pair_context, "the pairs are \\[y, x\\]; the encoder expects \\[x, y\\]"),
    (PAIR, first_point_context, "changes when D_train is reordered"),
    (PAIR, e_after_the_mean, "you averaged the points, then applied e"),
    (PAIR, context_over_tasks, "you averaged over the tasks \\(dim 0\\)"),
    (PAIR, context_over_features, "you averaged over the features"),
    (PAIR, pairs_on_dim_1, "the pairs must be \\[B, K, 2\\]"),
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


def test_the_hand_written_values_match_the_package() -> None:
    from lecture_utils.models.regression import NeuralProcess, gaussian_nll

    y, m, s = (torch.tensor(v) for v in (regression._Y, regression._MEAN, regression._SIGMA))
    assert gaussian_nll(y, m, s).item() == pytest.approx(regression._NLL, abs=1e-6)
    phi = context(
        regression._pair_features, torch.tensor(regression._PX), torch.tensor(regression._PY)
    )
    assert phi.tolist() == regression._PAIR_PHI
    model = NeuralProcess(context_dim=8, hidden=16)
    sx, sy = torch.randn(2, 5, 1), torch.randn(2, 5, 1)
    assert torch.allclose(context(model.encoder, sx, sy), model.context(sx, sy))
