"""Black-box adaptation for regression: :mod:`lecture_utils.models.black_box`'s interface, real y.

Every model computes ``phi = f_theta(D_train)`` and then ``y = g_phi(x)`` in one forward pass::

    mean = model(support_x, support_y, query_x)
    # support_x [B, K, x_dim]  support_y [B, K, y_dim]  query_x [B, Q, x_dim] -> mean [B, Q, y_dim]

A model built with ``gaussian=True`` also predicts a standard deviation
(:meth:`RegressionBlackBox.distribution`) and is trained on the Gaussian negative log-likelihood
(:func:`gaussian_nll`); the others on the mean squared error (:meth:`RegressionBlackBox.loss`).

The families and what ``phi`` is in each:

1. :class:`NeuralProcess` (feedforward + average; a conditional neural process, Garnelo et al.
   2018): phi = the mean of e(x, y) over D_train, ``context_dim`` numbers.
2. :class:`AttentionRegressor`: phi = the K attended support tokens (``d_model`` numbers each,
   per layer) that the queries read.
3. :class:`LSTMRegressor`: phi = the LSTM state (h, c) after reading the (x, y) pairs.

Not meta-learned, same interface: :class:`FineTuned` adapts a plain :class:`MLPRegressor` to each
task by gradient steps on D_train (pretrained on pooled tasks, or from scratch): there phi is
the network's weights after those steps.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from lecture_utils.core import runtime
from lecture_utils.models.black_box import mlp
from lecture_utils.models.black_box.attention import AttentionBlock

FAMILIES = ("neural_process", "attention", "lstm")


def gaussian_nll(y: torch.Tensor, mean: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Mean over all entries of ``-log N(y; mean, sigma^2)``.

    ``= log(sigma) + (y - mean)^2 / (2 sigma^2) + log(2 pi) / 2``: the squared error weighted by
    the predicted precision, plus a penalty for claiming a large sigma.
    """
    if (sigma <= 0).any():
        raise ValueError("sigma must be positive.")
    z = (y - mean) / sigma
    return (torch.log(sigma) + 0.5 * z**2 + 0.5 * math.log(2 * math.pi)).mean()


def check_regression_episode(
    support_x: torch.Tensor, support_y: torch.Tensor, query_x: torch.Tensor
) -> None:
    """Validate ``[B, K, x_dim]``, ``[B, K, y_dim]`` and ``[B, Q, x_dim]``."""
    if support_x.dim() != 3 or support_y.dim() != 3 or query_x.dim() != 3:
        raise ValueError(
            "support_x, support_y and query_x must be [B, points, dim] (e.g. [B, K, 1]); got "
            f"{tuple(support_x.shape)}, {tuple(support_y.shape)} and {tuple(query_x.shape)}."
        )
    if support_y.shape[:2] != support_x.shape[:2]:
        raise ValueError(
            f"support_y {tuple(support_y.shape)} must have the [B, K] of support_x "
            f"{tuple(support_x.shape)}."
        )
    if query_x.shape[0] != support_x.shape[0] or query_x.shape[2] != support_x.shape[2]:
        raise ValueError(
            f"query_x {tuple(query_x.shape)} must have the batch size and x_dim of support_x "
            f"{tuple(support_x.shape)}."
        )
    if query_x.shape[1] == 0:
        raise ValueError(
            f"query_x {tuple(query_x.shape)} holds no query points; every task needs at least "
            "one (n_query >= 1) to be predicted and scored."
        )


class RegressionBlackBox(nn.Module):
    """Shared plumbing: output head size, Gaussian read-out, loss and input checks."""

    phi_description = ""

    def __init__(
        self, x_dim: int = 1, y_dim: int = 1, gaussian: bool = False, min_sigma: float = 0.01
    ) -> None:
        """``gaussian=True`` adds a sigma output (floored at ``min_sigma``) for the NLL."""
        super().__init__()
        self.x_dim, self.y_dim, self.gaussian, self.min_sigma = x_dim, y_dim, gaussian, min_sigma
        self.out_dim = 2 * y_dim if gaussian else y_dim

    def raw(self, support_x, support_y, query_x) -> torch.Tensor:  # pragma: no cover
        """``[B, Q, out_dim]``: the network's output before the Gaussian read-out."""
        raise NotImplementedError

    def distribution(self, support_x, support_y, query_x) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mean, sigma)``, each ``[B, Q, y_dim]`` (a Gaussian model only)."""
        if not self.gaussian:
            raise ValueError(f"{type(self).__name__} was built with gaussian=False: no sigma.")
        check_regression_episode(support_x, support_y, query_x)
        out = self.raw(support_x, support_y, query_x)
        mean, raw_sigma = out[..., : self.y_dim], out[..., self.y_dim :]
        return mean, self.min_sigma + (1 - self.min_sigma) * F.softplus(raw_sigma)

    def forward(self, support_x, support_y, query_x) -> torch.Tensor:
        if self.gaussian:
            return self.distribution(support_x, support_y, query_x)[0]
        check_regression_episode(support_x, support_y, query_x)
        return self.raw(support_x, support_y, query_x)

    def loss(self, support_x, support_y, query_x, query_y) -> torch.Tensor:
        """Query loss: Gaussian NLL for a Gaussian model, else the mean squared error."""
        if self.gaussian:
            return gaussian_nll(query_y, *self.distribution(support_x, support_y, query_x))
        return F.mse_loss(self(support_x, support_y, query_x), query_y)

    def phi_size(self, k_shot: int) -> int:  # pragma: no cover - overridden
        """Number of floats in phi for a task with K support points."""
        raise NotImplementedError


class NeuralProcess(RegressionBlackBox):
    """Feedforward + average: phi = mean_k e([x_k, y_k]); the decoder reads [x, phi].

    With ``gaussian=True`` (default) this is a conditional neural process. The mean makes phi
    invariant to the order of D_train and defined for any K.
    """

    phi_description = "context vector: the mean of e(x, y) over D_train"

    def __init__(
        self, x_dim: int = 1, y_dim: int = 1, context_dim: int = 64, hidden: int = 64, **io: Any
    ) -> None:
        """``io``: ``gaussian`` (default True here) and ``min_sigma``, as in the base class."""
        super().__init__(x_dim, y_dim, **{"gaussian": True, **io})
        self.context_dim = context_dim
        self.encoder = mlp([x_dim + y_dim, hidden, hidden, context_dim])
        self.decoder = mlp([x_dim + context_dim, hidden, hidden, self.out_dim])

    def context(self, support_x: torch.Tensor, support_y: torch.Tensor) -> torch.Tensor:
        """phi ``[B, context_dim]``."""
        return self.encoder(torch.cat([support_x, support_y], dim=-1)).mean(dim=1)

    def raw(self, support_x, support_y, query_x):
        phi = self.context(support_x, support_y)
        phi = phi[:, None, :].expand(-1, query_x.shape[1], -1)
        return self.decoder(torch.cat([query_x, phi], dim=-1))

    def phi_size(self, k_shot: int) -> int:
        return self.context_dim


class AttentionRegressor(RegressionBlackBox):
    """Tokens = MLP([x, y, 1]) for support points and MLP([x, 0, 0]) for queries; ``depth``
    blocks in which queries attend only to the support tokens (:class:`blackbox.AttentionBlock`);
    a linear read-out. No positional encoding: order-invariant in D_train.
    """

    phi_description = "the K attended support tokens of every layer (d_model numbers each)"

    def __init__(
        self, x_dim: int = 1, y_dim: int = 1, d_model: int = 64, heads: int = 4, depth: int = 2,
        **io: Any,
    ) -> None:  # fmt: skip
        """``io``: ``gaussian`` and ``min_sigma``, as in the base class."""
        super().__init__(x_dim, y_dim, **io)
        self.d_model = d_model
        self.tokenize = mlp([x_dim + y_dim + 1, d_model, d_model])
        self.blocks = nn.ModuleList(AttentionBlock(d_model, heads) for _ in range(depth))
        self.norm = nn.LayerNorm(d_model)
        self.readout = nn.Linear(d_model, self.out_dim)

    def raw(self, support_x, support_y, query_x):
        ones = support_x.new_ones(*support_x.shape[:2], 1)
        support = self.tokenize(torch.cat([support_x, support_y, ones], dim=-1))
        zeros = query_x.new_zeros(*query_x.shape[:2], self.y_dim + 1)
        query = self.tokenize(torch.cat([query_x, zeros], dim=-1))
        for block in self.blocks:
            support, query = block(support, query)
        return self.readout(self.norm(query))

    def phi_size(self, k_shot: int) -> int:
        return k_shot * self.d_model * len(self.blocks)


class LSTMRegressor(RegressionBlackBox):
    """An LSTM reads the support pairs ``[x, y, 1]``; then each query ``[x, 0, 0]`` is one more
    step from that state (the query's y is zeroed, as in the MANN), read out by an MLP.

    Each query continues from the support state on its own, so a prediction depends on D_train
    and its own x only, never on the other queries.
    """

    phi_description = "the LSTM state (h, c) after reading the (x, y) pairs of D_train"

    def __init__(self, x_dim: int = 1, y_dim: int = 1, hidden: int = 64, **io: Any) -> None:
        """``io``: ``gaussian`` and ``min_sigma``, as in the base class."""
        super().__init__(x_dim, y_dim, **io)
        self.hidden = hidden
        self.lstm = nn.LSTM(x_dim + y_dim + 1, hidden, batch_first=True)
        self.readout = mlp([hidden, hidden, self.out_dim])

    def raw(self, support_x, support_y, query_x):
        B, Q = query_x.shape[:2]
        ones = support_x.new_ones(*support_x.shape[:2], 1)
        _, (h, c) = self.lstm(torch.cat([support_x, support_y, ones], dim=-1))  # phi
        h, c = h.repeat_interleave(Q, dim=1), c.repeat_interleave(Q, dim=1)  # [1, B*Q, H]
        zeros = query_x.new_zeros(B, Q, self.y_dim + 1)
        steps = torch.cat([query_x, zeros], dim=-1).reshape(B * Q, 1, -1)
        out, _ = self.lstm(steps, (h, c))
        return self.readout(out.reshape(B, Q, self.hidden))

    def phi_size(self, k_shot: int) -> int:
        return 2 * self.hidden


def build_regressor(family: str, x_dim: int = 1, y_dim: int = 1, **kwargs) -> RegressionBlackBox:
    """One of :data:`FAMILIES`; ``kwargs`` go to the model (e.g. ``hidden=64``)."""
    if family == "neural_process":
        return NeuralProcess(x_dim, y_dim, **kwargs)
    if family == "attention":
        return AttentionRegressor(x_dim, y_dim, **kwargs)
    if family == "lstm":
        return LSTMRegressor(x_dim, y_dim, **kwargs)
    raise ValueError(f"Unknown family {family!r}; choose one of {list(FAMILIES)}.")


# --------------------------------------------------------------------------------------------
# Baselines: a plain MLP, adapted to each task by gradient steps on its K points
# --------------------------------------------------------------------------------------------


class MLPRegressor(nn.Module):
    """``x -> y`` MLP (ReLU) whose weights can carry a leading task axis.

    ``forward(x [.., M, in])`` uses the module's own weights; :meth:`apply` takes a list of
    per-task weights ``[T, in, out]`` and biases ``[T, 1, out]`` (from :meth:`task_weights`),
    so T tasks are fitted at once with independent weights.
    """

    def __init__(self, sizes: tuple[int, ...] = (1, 40, 40, 1)) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=True)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x) if i == 0 else layer(F.relu(x))
        return x

    def task_weights(self, tasks: int) -> list[torch.Tensor]:
        """A fresh copy of the weights for each of ``tasks`` tasks (leaves that need grad)."""
        out = []
        for layer in self.layers:
            out.append(layer.weight.detach().T.expand(tasks, -1, -1).clone().requires_grad_())
            out.append(layer.bias.detach().expand(tasks, 1, -1).clone().requires_grad_())
        return out

    @staticmethod
    def apply(x: torch.Tensor, weights: list[torch.Tensor]) -> torch.Tensor:
        """``x [T, M, in]`` through per-task weights (see :meth:`task_weights`)."""
        for i in range(0, len(weights), 2):
            x = torch.baddbmm(weights[i + 1], x if i == 0 else F.relu(x), weights[i])
        return x

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


class FineTuned(nn.Module):
    """Baseline with the black-box interface: copy ``net``, take ``steps`` full-batch Adam steps
    on each task's D_train (MSE, learning rate ``lr``), predict the queries.

    All tasks of the meta-batch are fitted at once, each with its own copy of the weights (the
    loss is a sum over tasks, so their gradients and Adam states never mix). ``steps=0`` gives
    ``net`` unchanged. phi = the adapted weights.
    """

    phi_description = "all the network's weights after the fine-tuning steps"

    def __init__(self, net: MLPRegressor, steps: int, lr: float) -> None:
        super().__init__()
        self.net, self.steps, self.lr = net, steps, lr

    def adapt(
        self,
        support_x: torch.Tensor,
        support_y: torch.Tensor,
        callback: Callable[[int, list[torch.Tensor]], None] | None = None,
        progress: str | bool = False,
    ) -> list[torch.Tensor]:
        """The per-task weights after ``steps`` Adam steps on D_train.

        ``callback(step, weights)`` runs after every step (e.g. to score the queries on the way);
        ``progress`` names a progress bar (off by default: the widget adapts one task at a time).
        """
        weights = self.net.task_weights(support_x.shape[0])
        if self.steps == 0:
            return weights
        optimizer = torch.optim.Adam(weights, lr=self.lr)
        desc = progress if isinstance(progress, str) else "fine-tuning"
        with torch.enable_grad():
            for step in runtime.progress(range(self.steps), desc=desc, disable=not progress):
                optimizer.zero_grad()
                pred = self.net.apply(support_x, weights)
                loss = (pred - support_y).pow(2).mean(dim=(1, 2)).sum()
                loss.backward()
                optimizer.step()
                if callback is not None:
                    callback(step + 1, weights)
        return weights

    def forward(self, support_x, support_y, query_x):
        check_regression_episode(support_x, support_y, query_x)
        weights = self.adapt(support_x, support_y)
        return self.net.apply(query_x, [w.detach() for w in weights])

    def phi_size(self, k_shot: int) -> int:
        return self.net.num_parameters()
