"""Family 2, feedforward + average (deep sets / conditional neural process): phi = the mean of
g(x, y) over the support set, a context vector of ``context_dim`` numbers."""

from __future__ import annotations

import torch
from torch import nn

from lecture_utils.models.black_box.base import BlackBoxModel, check_widths, mlp, one_hot
from lecture_utils.models.black_box.registry import register


class FeedforwardAverage(BlackBoxModel):
    """phi = mean over the support set of g(x, y) (``context_dim`` numbers); logits = h(x, phi).

    The mean makes phi, hence every prediction, invariant to the order of the support set.
    """

    phi_description = "context vector: mean of g(x, y) over D_train"

    def __init__(
        self, encoder: nn.Module, feature_dim: int, n_way: int = 5, context_dim: int = 128,
        hidden: int = 256,
    ) -> None:  # fmt: skip
        super().__init__(encoder, feature_dim, n_way)
        check_widths(context_dim=context_dim, hidden=hidden)
        self.context_dim = context_dim
        self.g = mlp([feature_dim + n_way, hidden, hidden, context_dim])
        self.h = mlp([feature_dim + context_dim, hidden, hidden, n_way])

    def context(self, support_x: torch.Tensor, support_y: torch.Tensor) -> torch.Tensor:
        """phi ``[B, context_dim]``."""
        pairs = torch.cat([self.embed(support_x), one_hot(support_y, self.max_way)], dim=-1)
        return self.g(pairs).mean(dim=1)

    def forward(self, support_x, support_y, query_x):
        n_way = self._n_way(support_x, support_y, query_x)
        phi = self.context(support_x, support_y)
        query = self.embed(query_x)
        phi = phi[:, None, :].expand(-1, query.shape[1], -1)
        return self.h(torch.cat([query, phi], dim=-1))[..., :n_way]

    def phi_size(self, n_way: int, k_shot: int) -> int:
        return self.context_dim


register(
    "feedforward",
    lambda encoder, dim, n_way, **kw: FeedforwardAverage(encoder, dim, n_way, **kw),
    order=2,
)
