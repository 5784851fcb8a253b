"""lecture_utils.models.regression: the Gaussian NLL, shapes and invariances of the regression
black-box models, and the fine-tuning baseline (small synthetic tensors)."""

from __future__ import annotations

import math

import pytest
import torch

from lecture_utils.core.runtime import seeded_init
from lecture_utils.models import regression as br

B, K, Q = 3, 5, 7


def episode(x_dim: int = 1, y_dim: int = 1, k_shot: int = K, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    return (
        torch.randn(B, k_shot, x_dim, generator=gen),
        torch.randn(B, k_shot, y_dim, generator=gen),
        torch.randn(B, Q, x_dim, generator=gen),
    )


def build(family: str, **kwargs) -> br.RegressionBlackBox:
    with seeded_init(0):
        return br.build_regressor(family, **kwargs).eval()


# ---- the Gaussian negative log-likelihood --------------------------------------------------


def test_gaussian_nll_matches_torch_distributions() -> None:
    gen = torch.Generator().manual_seed(0)
    y, mean = torch.randn(4, 6, 1, generator=gen), torch.randn(4, 6, 1, generator=gen)
    sigma = 0.05 + torch.rand(4, 6, 1, generator=gen)
    expected = -torch.distributions.Normal(mean, sigma).log_prob(y).mean()
    torch.testing.assert_close(br.gaussian_nll(y, mean, sigma), expected)


def test_gaussian_nll_known_values() -> None:
    zero, one = torch.zeros(1), torch.ones(1)
    half_log_2pi = 0.5 * math.log(2 * math.pi)
    assert br.gaussian_nll(zero, zero, one).item() == pytest.approx(half_log_2pi)
    # one standard deviation off: + 1/2; sigma = e: + 1 (and the error costs 1/e^2 less).
    assert br.gaussian_nll(one, zero, one).item() == pytest.approx(half_log_2pi + 0.5)
    e = torch.full((1,), math.e)
    assert br.gaussian_nll(zero, zero, e).item() == pytest.approx(half_log_2pi + 1.0)


def test_gaussian_nll_best_sigma_is_the_error_size() -> None:
    """For a fixed error |y - mean| = d, the NLL is smallest at sigma = d."""
    y, mean = torch.full((1,), 0.7), torch.zeros(1)
    sigmas = torch.linspace(0.1, 3.0, 291)
    nll = torch.stack([br.gaussian_nll(y, mean, s.reshape(1)) for s in sigmas])
    assert sigmas[nll.argmin()].item() == pytest.approx(0.7, abs=0.01)


def test_gaussian_nll_gradients_and_bad_sigma() -> None:
    mean = torch.zeros(3, requires_grad=True)
    br.gaussian_nll(torch.ones(3), mean, torch.ones(3)).backward()
    torch.testing.assert_close(mean.grad, torch.full((3,), -1 / 3))
    with pytest.raises(ValueError, match="positive"):
        br.gaussian_nll(torch.ones(1), torch.zeros(1), torch.zeros(1))


# ---- the models --------------------------------------------------------------------------


@pytest.mark.parametrize("family", br.FAMILIES)
@pytest.mark.parametrize(("x_dim", "y_dim"), [(1, 1), (2, 2), (3, 1)])
def test_shapes(family: str, x_dim: int, y_dim: int) -> None:
    model = build(family, x_dim=x_dim, y_dim=y_dim)
    out = model(*episode(x_dim, y_dim))
    assert out.shape == (B, Q, y_dim)
    assert torch.isfinite(out).all()
    assert model(*episode(x_dim, y_dim, k_shot=1)).shape == (B, Q, y_dim)  # any K


@pytest.mark.parametrize("family", br.FAMILIES)
def test_gaussian_read_out_and_losses(family: str) -> None:
    model = build(family, gaussian=True, min_sigma=0.05)
    sx, sy, qx = episode()
    mean, sigma = model.distribution(sx, sy, qx)
    assert mean.shape == sigma.shape == (B, Q, 1)
    assert (sigma >= 0.05).all()
    torch.testing.assert_close(model(sx, sy, qx), mean)
    qy = torch.randn(B, Q, 1, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(model.loss(sx, sy, qx, qy), br.gaussian_nll(qy, mean, sigma))
    plain = build(family, gaussian=False)
    torch.testing.assert_close(
        plain.loss(sx, sy, qx, qy), torch.nn.functional.mse_loss(plain(sx, sy, qx), qy)
    )
    with pytest.raises(ValueError, match="gaussian=False"):
        plain.distribution(sx, sy, qx)


def test_neural_process_is_gaussian_by_default_and_phi_is_the_context() -> None:
    model = build("neural_process", context_dim=16)
    assert model.gaussian
    sx, sy, _ = episode()
    assert model.context(sx, sy).shape == (B, 16)
    assert model.phi_size(K) == 16


@pytest.mark.parametrize("family", ["neural_process", "attention"])
def test_set_models_ignore_the_support_order(family: str) -> None:
    model = build(family)
    sx, sy, qx = episode()
    perm = torch.randperm(K, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(model(sx, sy, qx), model(sx[:, perm], sy[:, perm], qx))


@pytest.mark.parametrize("family", br.FAMILIES)
def test_predictions_use_the_support_labels_not_the_other_queries(family: str) -> None:
    model = build(family)
    sx, sy, qx = episode()
    before = model(sx, sy, qx)
    assert not torch.allclose(before, model(sx, sy + 1.0, qx), atol=1e-5)
    # A query's prediction depends on D_train and its own x only.
    torch.testing.assert_close(model(sx, sy, qx[:, :2]), before[:, :2], rtol=1e-5, atol=1e-5)


def test_lstm_reads_the_support_in_order() -> None:
    model = build("lstm")
    sx, sy, qx = episode()
    flipped = model(sx.flip(1), sy.flip(1), qx)
    assert not torch.allclose(model(sx, sy, qx), flipped, atol=1e-6)


def test_phi_sizes() -> None:
    assert build("attention", d_model=32, depth=2).phi_size(5) == 5 * 32 * 2
    assert build("lstm", hidden=48).phi_size(5) == 96


def test_bad_inputs_are_clear_errors() -> None:
    model = build("neural_process")
    sx, sy, qx = episode()
    with pytest.raises(ValueError, match=r"\[B, points, dim\]"):
        model(sx[..., 0], sy, qx)
    with pytest.raises(ValueError, match="support_y"):
        model(sx, sy[:, :2], qx)
    with pytest.raises(ValueError, match="query_x"):
        model(sx, sy, qx[:2])
    with pytest.raises(ValueError, match="Unknown family"):
        br.build_regressor("transformer")


# ---- the fine-tuning baseline ------------------------------------------------------------


def test_mlp_task_weights_reproduce_the_module() -> None:
    with seeded_init(0):
        net = br.MLPRegressor((1, 8, 8, 1))
    x = torch.randn(B, Q, 1, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(net.apply(x, net.task_weights(B)), net(x))
    assert net.num_parameters() == (1 * 8 + 8) + (8 * 8 + 8) + (8 + 1)


def test_fine_tuning_fits_each_task_on_its_own() -> None:
    with seeded_init(0):
        net = br.MLPRegressor((1, 16, 16, 1))
    gen = torch.Generator().manual_seed(0)
    sx = torch.rand(2, 5, 1, generator=gen)
    sy = torch.stack([3 * sx[0], -2 * sx[1]])  # two different lines
    model = br.FineTuned(net, steps=300, lr=1e-2)
    weights = model.adapt(sx, sy)
    fitted = net.apply(sx, weights)
    assert (fitted - sy).pow(2).mean() < 1e-2
    # Task 0 alone gives the same fit: the tasks do not interact.
    alone = net.apply(sx[:1], model.adapt(sx[:1], sy[:1]))
    torch.testing.assert_close(alone, fitted[:1], rtol=1e-4, atol=1e-4)
    # The base network is untouched, and zero steps means the base network.
    torch.testing.assert_close(br.FineTuned(net, 0, 1e-2)(sx, sy, sx), net(sx))
    with torch.no_grad():  # evaluation code calls models under no_grad
        assert model(sx, sy, sx).shape == (2, 5, 1)


# ---- the predicted sigma keeps its floor ---------------------------------


def test_sigma_keeps_its_floor_for_very_negative_raw_outputs() -> None:
    model = br.NeuralProcess(min_sigma=0.05)
    support_x, support_y, query_x = episode()[:3]
    with torch.no_grad():
        last = model.decoder[-1]
        last.weight.zero_()
        last.bias.copy_(torch.tensor([0.0, -200.0]))  # raw sigma -200: softplus(-200) ~ 0
        _, sigma = model.distribution(support_x, support_y, query_x)
        assert sigma.min().item() == pytest.approx(0.05, abs=1e-7)  # floored, never 0
        last.bias.copy_(torch.tensor([0.0, 0.0]))
        _, sigma = model.distribution(support_x, support_y, query_x)
    # min_sigma + (1 - min_sigma) * softplus(0) = 0.05 + 0.95 * ln 2, by hand:
    assert sigma.flatten()[0].item() == pytest.approx(0.05 + 0.95 * math.log(2), abs=1e-6)
