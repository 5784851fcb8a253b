"""Notebook 05's checks: the Gaussian negative log-likelihood and the neural process's context.

| check | the student writes |
|---|---|
| :func:`check_gaussian_nll` | the mean Gaussian negative log-likelihood |
| :func:`check_pair_context` | the neural process's φ: the mean of e(x, y) over D_train |
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from lecture_utils.exercises.common import (
    LN2,
    call,
    guarded,
    name_of,
    ok,
    rounded,
    same,
    scalar,
    tensor_of,
)

# Four points (y, mean, sigma), chosen by hand so each term is simple: (1, 1, 1) -> 0,
# (3, 1, 2) -> ln 2 + 1/2, (0, 2, 1) -> 2, (-1, 0, 1) -> 1/2, each plus the constant
# c = log(2π)/2. The mean NLL is (3 + ln 2)/4 + c.
_Y, _MEAN, _SIGMA = [[1.0, 3.0], [0.0, -1.0]], [[1.0, 1.0], [2.0, 0.0]], [[1.0, 2.0], [1.0, 1.0]]
_C = 0.5 * math.log(2 * math.pi)
_NLL = (3 + LN2) / 4 + _C
_NLL_WRONG = {
    (3 + LN2) / 4: "you left out the constant log(2π)/2 (harmless for training, but then it is "
    "not the negative log-likelihood)",
    3 / 4 + _C: "the log σ term is missing: without it nothing stops σ from growing",
    (3.5 + LN2) / 4 + _C: "you divided (y - μ)² by 2σ; divide by 2σ² (σ is the standard deviation)",
    (3 + 2 * LN2) / 4 + _C: "you used log σ² = 2 log σ; the NLL has log σ (half of log σ²)",
    (6 + LN2) / 4 + _C: "the squared term lacks its 1/2: (y - μ)² / (2σ²)",
    3 + LN2 + 4 * _C: "that is the sum over the points; take the mean",
    (3 + LN2) / 4 + 2 * _C: "the constant is log(2π)/2, not log(2π)",
    -_NLL: "wrong sign: that is the log-likelihood; the loss is its negative",
    2.25: "that is the mean squared error; the NLL also has log σ, the 1/(2σ²) weight and "
    "the constant",
}


@guarded
def check_gaussian_nll(student_fn: Callable) -> None:
    """``nll(y, mean, sigma)`` on four points whose NLL is worked out by hand."""
    name = name_of(student_fn)
    got = call(
        student_fn,
        torch.tensor(_Y),
        torch.tensor(_MEAN, requires_grad=True),
        torch.tensor(_SIGMA, requires_grad=True),
        params=("y", "mean", "sigma"),
    )
    value = scalar(got, name, "the mean NLL over all the points").item()
    if abs(value - _NLL) > 1e-5:
        for wrong, why in _NLL_WRONG.items():
            if abs(value - wrong) < 1e-5:
                raise AssertionError(f"{name}: {value:.4f} instead of {_NLL:.4f}: {why}.")
        raise AssertionError(
            f"{name}: {value:.4f} instead of {_NLL:.4f} for y = {_Y}, mean = {_MEAN}, "
            f"sigma = {_SIGMA}: −log N(y; μ, σ²) = log σ + (y−μ)²/(2σ²) + log(2π)/2, averaged."
        )
    if got.grad_fn is None:
        raise AssertionError(
            f"{name}: the NLL is detached from mean and sigma (no grad_fn): compute it with "
            "torch operations so backward() reaches the model."
        )
    ok(name, "mean Gaussian negative log-likelihood")


def _pair_features(pairs: torch.Tensor) -> torch.Tensor:
    """The check's encoder e: [x, y] -> [x, y, x·y] (not linear, and not symmetric in x, y)."""
    return torch.cat([pairs, pairs[..., :1] * pairs[..., 1:]], dim=-1)


# Two tasks of K = 4 points; phi = mean over the points of e([x, y]) = [x, y, x·y], by hand.
_PX = [[[1.0], [2.0], [3.0], [2.0]], [[0.0], [1.0], [1.0], [2.0]]]
_PY = [[[2.0], [0.0], [-1.0], [3.0]], [[1.0], [1.0], [-1.0], [-1.0]]]
_PAIR_PHI = [[2.0, 1.0, 1.25], [1.0, 0.0, -0.5]]
_PAIR_WRONG = [
    ([[1.0, 2.0, 1.25], [0.0, 1.0, -0.5]], "the pairs are [y, x]; the encoder expects [x, y]"),
    (
        [[2.0, 1.0, 2.0], [1.0, 0.0, 0.0]],
        "you averaged the points, then applied e; apply e to every pair [x_k, y_k], then average",
    ),
    ([[2.0, 1.0], [1.0, 0.0]], "e is not applied: φ is the mean of e([x_k, y_k])"),
]


@guarded
def check_pair_context(student_fn: Callable) -> None:
    """φ reads (x, y) pairs in that order, applies e to each, averages (not sums) over D_train
    and ignores its order; checked on a case computed by hand (e(x, y) = [x, y, x·y])."""
    name = name_of(student_fn)
    B, K, C = 2, 4, 3
    params = ("e", "support_x", "support_y")
    sx, sy = torch.tensor(_PX), torch.tensor(_PY)
    got = call(student_fn, _pair_features, sx, sy, params=params)
    if isinstance(got, torch.Tensor):
        for wrong, why in _PAIR_WRONG:
            if same(got, wrong):
                raise AssertionError(f"{name}: {why}.")
        if tuple(got.shape) == (K, C):
            raise AssertionError(
                f"{name}: φ has shape [{K}, {C}]: you averaged over the tasks (dim 0); average "
                "over the support points, dim 1 of [B, K, C]."
            )
        if tuple(got.shape) in {(B, K), (B, K, 1)}:
            raise AssertionError(
                f"{name}: φ has shape {list(got.shape)}: you averaged over the features; average "
                "over the support points, dim 1 of [B, K, C]."
            )
        if tuple(got.shape) == (B, 1):
            raise AssertionError(
                f"{name}: φ has shape [{B}, 1]: the pairs must be [B, K, 2], built with "
                "torch.cat([support_x, support_y], dim=-1) (the last dim, not dim 1)."
            )
    tensor_of(got, name, (B, C), floating=True)
    if same(got, [[K * v for v in row] for row in _PAIR_PHI]):
        raise AssertionError(f"{name}: φ is {K}× too large: average over D_train, not sum.")
    perm = torch.tensor([3, 1, 0, 2])
    shuffled = call(student_fn, _pair_features, sx[:, perm], sy[:, perm], params=params)
    if isinstance(shuffled, torch.Tensor) and not same(shuffled, got):
        raise AssertionError(
            f"{name}: φ changes when D_train is reordered: use every support point, averaged "
            "over dim 1 (not the first or last point)."
        )
    if not same(got, _PAIR_PHI):
        raise AssertionError(
            f"{name}: φ = {rounded(got, 4)}, expected {_PAIR_PHI} for e(x, y) = [x, y, x·y], "
            f"support_x = {_PX}, support_y = {_PY}: the mean over the K support pairs of "
            "e([x_k, y_k])."
        )
    ok(name, "φ = mean of e([x, y]) over D_train, order-invariant")
